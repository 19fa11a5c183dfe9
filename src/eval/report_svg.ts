/**
 * Static SVG line charts of the report's training curves (the same `ChartSpec`s report.html draws with Chart.js), so
 * report.md and docs can show the curves without a browser or a script: one file per chart, `charts/<id>.svg`. A
 * chart over several seeds draws each metric's mean with a translucent min–max band, like the page.
 *
 * Tensor-free, dependency-free, deterministic (the same spec gives the same bytes).
 */
import type { ChartSpec } from "./report_html.ts";

const W = 480;
const H = 270;
const M = { left: 58, right: 14, top: 46, bottom: 34 };
/** Line colours (colour-blind-safe Okabe–Ito order, as many series as a chart has in practice). */
const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

/** Text safe in XML and HTML content and attribute values (report.html uses it too). */
export const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
/** Coordinates with one decimal: small files, stable bytes. */
const c = (x: number) => (Math.round(x * 10) / 10).toString();

/** About `n` round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** A tick label: plain for ordinary magnitudes, exponent form for tiny or huge ones (learning rates, token counts). */
export function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace("e+", "e");
  return Number(v.toPrecision(4)).toString();
}

/** The chart as a standalone SVG document. */
export function chartSvg(spec: ChartSpec): string {
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series) {
    for (const [x, y] of s.points) {
      xs.push(x);
      ys.push(y);
    }
    for (const [x, lo, hi] of s.band ?? []) {
      xs.push(x);
      ys.push(lo, hi);
    }
  }
  const title = `${spec.run} — ${spec.title}${spec.seeds ? ` (mean of ${spec.seeds} seeds, band min–max)` : ""}`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="16" font-size="12" font-weight="bold">${esc(title)}</text>`,
  ];
  if (!xs.length) {
    out.push(`<text x="${M.left}" y="${H / 2}">no data</text>`, "</svg>");
    return out.join("\n") + "\n";
  }
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const px = (x: number) => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  // Axes, grid and ticks.
  for (const t of niceTicks(y0, y1)) {
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${c(py(t))}" y2="${c(py(t))}" stroke="#e4e4e4"/>`,
      `<text x="${M.left - 4}" y="${c(py(t) + 4)}" text-anchor="end">${esc(tickLabel(t))}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1, 6))
    out.push(`<text x="${c(px(t))}" y="${H - M.bottom + 14}" text-anchor="middle">${esc(tickLabel(t))}</text>`);
  out.push(
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#888"/>`,
    `<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#888"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 4}" text-anchor="middle">step</text>`,
  );
  // Series: band first, then the line; the legend in rows under the title.
  let lx = M.left;
  let ly = 32;
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    if (s.band?.length) {
      const upper = s.band.map(([x, , hi]) => `${c(px(x))},${c(py(hi))}`);
      const lower = s.band.map(([x, lo]) => `${c(px(x))},${c(py(lo))}`).reverse();
      out.push(
        `<polygon points="${[...upper, ...lower].join(" ")}" fill="${color}" fill-opacity="0.15" stroke="none"/>`,
      );
    }
    const pts = s.points.map(([x, y]) => `${c(px(x))},${c(py(y))}`).join(" ");
    out.push(
      s.points.length === 1
        ? `<circle cx="${c(px(s.points[0]![0]))}" cy="${c(py(s.points[0]![1]))}" r="2.5" fill="${color}"/>`
        : `<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="1.5"/>`,
    );
    const width = 18 + s.label.length * 6.2 + 12;
    if (lx + width > W - M.right && lx > M.left) [lx, ly] = [M.left, ly + 13];
    out.push(
      `<line x1="${c(lx)}" x2="${c(lx + 14)}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${c(lx + 18)}" y="${ly}">${esc(s.label)}</text>`,
    );
    lx += width;
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
