/**
 * The report's static SVG charts (src/eval/report_svg.ts): tick values and labels, the mapping of points to pixels,
 * seed bands, escaping, degenerate series; and writeReport's charts/ directory with report.md's links to it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chartSvg, niceTicks, tickLabel } from "../../src/eval/report_svg.ts";
import { writeReport, type RunInput } from "../../src/eval/report.ts";
import type { ChartSpec } from "../../src/eval/report_html.ts";

test("ticks are round numbers covering the range; labels switch to exponents for tiny values", () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.37, 7.3), [2, 4, 6]);
  assert.deepEqual(niceTicks(1, 1700, 6), [500, 1000, 1500]);
  assert.deepEqual(niceTicks(2, 2), [2]);
  assert.equal(tickLabel(0), "0");
  assert.equal(tickLabel(1500), "1500");
  assert.equal(tickLabel(0.25), "0.25");
  assert.equal(tickLabel(3e-4), "3.0e-4");
  assert.equal(tickLabel(2e6), "2.0e6");
});

const polyline = (svg: string, i = 0) =>
  [...svg.matchAll(/<polyline points="([^"]+)"/g)][i]![1]!.split(" ").map((p) => p.split(",").map(Number));

test("chartSvg maps the data range onto the plot area, one line per series with its legend", () => {
  const spec: ChartSpec = {
    id: "run-0-0",
    run: "counting/reason-rft <seed>",
    title: "Rewards",
    series: [
      {
        label: "reward",
        points: [
          [0, 0],
          [5, 0.5],
          [10, 1],
        ],
      },
      {
        label: "rewards/format",
        points: [
          [0, 1],
          [10, 1],
        ],
      },
    ],
  };
  const svg = chartSvg(spec);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.equal(svg, chartSvg(spec), "deterministic");
  // y from 0 to 1 padded by 5% each side; plot area x 58..466, y 46..236 (480 × 270, margins 58/14/46/34).
  const first = polyline(svg, 0);
  assert.deepEqual(first[0], [58, 227.4]);
  assert.deepEqual(first[2], [466, 54.6]);
  assert.deepEqual(polyline(svg, 1)[1], [466, 54.6]);
  assert.match(svg, />reward<\/text>/);
  assert.match(svg, />rewards\/format<\/text>/);
  assert.match(svg, /counting\/reason-rft &lt;seed&gt; — Rewards/);
  assert.doesNotMatch(svg, /<seed>/);
  assert.doesNotMatch(svg, /NaN|Infinity/);
});

test("chartSvg: a band over seeds, a single point, a flat line and no data", () => {
  const band = chartSvg({
    id: "run-1-3",
    run: "counting/cot-sft",
    title: "Loss",
    seeds: 3,
    series: [
      {
        label: "loss",
        points: [
          [1, 2],
          [2, 1.5],
        ],
        band: [
          [1, 1.8, 2.2],
          [2, 1.2, 1.9],
        ],
      },
    ],
  });
  assert.match(band, /<polygon points="[^"]+" fill="#0072B2" fill-opacity="0\.15"/);
  assert.match(band, /mean of 3 seeds, band min–max/);
  const one = chartSvg({ id: "a", run: "r", title: "KL", series: [{ label: "kl", points: [[7, 0.01]] }] });
  assert.match(one, /<circle /);
  assert.doesNotMatch(one, /NaN|Infinity/);
  const flat = chartSvg({
    id: "b",
    run: "r",
    title: "KL",
    series: [
      {
        label: "kl",
        points: [
          [1, 0],
          [9, 0],
        ],
      },
    ],
  });
  assert.doesNotMatch(flat, /NaN|Infinity/);
  assert.match(chartSvg({ id: "c", run: "r", title: "KL", series: [] }), /no data/);
});

test("writeReport writes charts/<id>.svg, links the main ones from report.md, and drops charts of runs now gone", () => {
  const out = mkdtempSync(join(tmpdir(), "rft-svg-"));
  try {
    const grpo = (name: string): RunInput => ({
      name,
      trainer: "grpo",
      metrics: [1, 2, 3].map((step) => ({ step, reward: step / 3, kl: step / 100, loss: 0.1, learning_rate: 1e-5 })),
    });
    writeReport(out, { results: [], runs: [grpo("counting/reason-rft"), grpo("counting/reason-rft-zero")] });
    const files = readdirSync(join(out, "charts")).sort();
    assert.ok(files.includes("run-0-0.svg") && files.includes("run-1-0.svg"), files.join(" "));
    for (const f of files) assert.match(readFileSync(join(out, "charts", f), "utf8"), /^<svg /);
    const md = readFileSync(join(out, "report.md"), "utf8");
    assert.match(md, /### Curves/);
    assert.match(md, /!\[counting\/reason-rft: Rewards\]\(charts\/run-0-0\.svg\)/);
    assert.match(md, /!\[counting\/reason-rft-zero: KL\]\(charts\/run-1-1\.svg\)/);
    assert.doesNotMatch(md, /Learning rate\]\(/, "report.md shows the main groups only");
    // A second report with one run: the other run's charts go; a file of the user's in charts/ stays.
    writeFileSync(join(out, "charts", "notes.txt"), "mine\n");
    writeReport(out, { results: [], runs: [grpo("counting/reason-rft")] });
    const after = readdirSync(join(out, "charts"));
    assert.ok(!after.some((f) => f.startsWith("run-1-")), after.join(" "));
    assert.ok(after.includes("run-0-0.svg") && after.includes("notes.txt"));
    // No runs: no charts directory is made.
    const bare = join(out, "bare");
    mkdirSync(bare);
    writeReport(bare, { results: [] });
    assert.ok(!existsSync(join(bare, "charts")));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
