/**
 * The report page in headless Chromium (Debian's `chromium`, installed by scripts/setup.sh; the test skips with a
 * message when it is missing): the charts drew (Chart.js instances with the runs' data, the line colour on the
 * canvas), the tables hold ours and the paper's rows, no console error, and nothing was requested from outside.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import puppeteer from "puppeteer-core";
import { type RunInput, readEvalDir, readRunDir, writeReport } from "../../src/eval/report.ts";
import { aggregateSeeds } from "../../src/eval/seeds.ts";
import { tickLabel } from "../../src/eval/report_svg.ts";
import { evalDir, grpoRunDir, seededResults, sftRunDir, tmp } from "./report_fixtures.ts";

const CHROMIUM = process.env.RFT_CHROMIUM ?? "/usr/bin/chromium";
const SKIP = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (scripts/setup.sh installs Debian's chromium)`;

function launch(profile: string) {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
  });
}

test(
  "report.html in headless Chromium: every chart drew its run's data, tables present, no console error",
  { skip: SKIP },
  async () => {
    const root = tmp();
    const grpo = grpoRunDir(root, "grpo-run", 30, "reason-rft");
    const sft = sftRunDir(root, "sft-run", 12);
    const ev = evalDir(root, "ev", "visual-counting", "runs/tiny", "zero-shot", [
      ["clevr-math", "id", 40, 0.5],
      ["super-clevr", "ood", 40, 0.25],
    ]);
    const out = join(root, "report");
    writeReport(out, { results: readEvalDir(ev), runs: [readRunDir(grpo), readRunDir(sft)] });
    const page = pathToFileURL(join(out, "report.html")).href;

    const profile = mkdtempSync(join(tmpdir(), "rft-chromium-"));
    const browser = await launch(profile);
    try {
      const tab = await browser.newPage();
      await tab.setViewport({ width: 1200, height: 900 });
      const errors: string[] = [];
      const requests: string[] = [];
      tab.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      tab.on("pageerror", (e) => errors.push(String(e)));
      await tab.setRequestInterception(true);
      tab.on("request", (r) => {
        requests.push(r.url());
        if (r.url() === page) void r.continue();
        else void r.abort();
      });
      await tab.goto(page, { waitUntil: "load" });

      const charts = await tab.evaluate(() => {
        // Runs in the page; typed by hand (the project's tsconfig has no DOM library).
        interface Canvas {
          id: string;
          width: number;
          height: number;
          getContext(kind: "2d"): {
            getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
          };
        }
        const w = globalThis as unknown as {
          Chart: {
            getChart(c: Canvas):
              | {
                  data: { datasets: { label: string; data: unknown[] }[] };
                  scales: { y: { ticks: { value: number; label: string }[] } };
                }
              | undefined;
          };
          document: { querySelectorAll(selector: string): Iterable<Canvas> };
        };
        return [...w.document.querySelectorAll("canvas")].map((c) => {
          const chart = w.Chart.getChart(c);
          // Pixels of the first series' colour (#1f77b4), antialiasing tolerated.
          const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          let line = 0;
          for (let i = 0; i < px.length; i += 4)
            if (
              px[i + 3]! > 128 &&
              Math.abs(px[i]! - 31) < 40 &&
              Math.abs(px[i + 1]! - 119) < 40 &&
              Math.abs(px[i + 2]! - 180) < 40
            )
              line++;
          return {
            id: c.id,
            width: c.width,
            datasets: chart ? chart.data.datasets.map((d) => [d.label, d.data.length]) : null,
            yTicks: chart ? chart.scales.y.ticks.map((t) => [t.value, t.label] as [number, string]) : [],
            line,
          };
        });
      });
      assert.deepEqual(errors, [], "no console errors");
      assert.deepEqual(requests, [page], "the page requested nothing but itself");
      // The page labels its y ticks with the SVG charts' tickLabel (the same function, sent as source).
      for (const c of charts) for (const [v, label] of c.yTicks) assert.equal(label, tickLabel(v), `${c.id} tick ${v}`);
      const lrTicks = charts.find((c) => c.id === "run-0-4")!.yTicks;
      assert.ok(lrTicks.length > 1 && lrTicks.every(([v, l]) => v === 0 || /e-/.test(l)), JSON.stringify(lrTicks));
      assert.equal(await tab.$eval("#chart-errors", (e) => e.textContent), "");
      // GRPO: 9 chart groups; SFT: loss, learning rate, gradient norm.
      assert.equal(charts.length, 12);
      const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
      assert.deepEqual(byId["run-0-0"]!.datasets, [
        ["reward", 30],
        ["rewards/accuracy", 30],
        ["rewards/format", 30],
      ]);
      assert.deepEqual(byId["run-0-1"]!.datasets, [["kl", 30]]);
      assert.deepEqual(byId["run-0-2"]!.datasets, [
        ["completions/mean_length", 30],
        ["completions/max_length", 30],
      ]);
      assert.deepEqual(byId["run-0-3"]!.datasets, [["loss", 30]]);
      assert.deepEqual(byId["run-0-4"]!.datasets, [["learning_rate", 30]]);
      assert.deepEqual(byId["run-1-3"]!.datasets, [["loss", 12]]);
      assert.deepEqual(byId["run-1-4"]!.datasets, [["learning_rate", 12]]);
      for (const c of charts) {
        assert.ok(c.width > 100, `${c.id} laid out`);
        assert.ok(c.line > 50, `${c.id}: the line is drawn (${c.line} pixels of its colour)`);
      }

      const rows = await tab.$$eval("#task-visual-counting tbody tr", (trs) =>
        trs.map((tr) => [...tr.children].map((td) => td.textContent)),
      );
      assert.deepEqual(rows[0], ["Zero-Shot", "50.00", "25.00", "50.00", "25.00", "37.50"]);
      assert.deepEqual(rows[1], ["paper Qwen2-VL-2B Zero-Shot", "82.40", "32.00", "82.40", "32.00", "57.20"]);
      assert.equal(rows.length, 11);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  },
);

test(
  "report.html over seeds in headless Chromium: one chart per metric group with mean lines and bands, ± tables",
  { skip: SKIP },
  async () => {
    const root = tmp();
    // Three seeds of one GRPO run, their rewards shifted apart so that the band has a width.
    const runs: RunInput[] = [1, 2, 3].map((seed) => {
      const r = readRunDir(grpoRunDir(root, `grpo-${seed}`, 20, "reason-rft"), `counting/reason-rft (seed ${seed})`);
      r.metrics = r.metrics.map((m) => ({ ...m, reward: m.reward! + 0.05 * seed }));
      return r;
    });
    const out = join(root, "report");
    writeReport(out, { results: aggregateSeeds(seededResults()), runs });
    const page = pathToFileURL(join(out, "report.html")).href;
    const profile = mkdtempSync(join(tmpdir(), "rft-chromium-"));
    const browser = await launch(profile);
    try {
      const tab = await browser.newPage();
      await tab.setViewport({ width: 1200, height: 900 });
      const errors: string[] = [];
      tab.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      tab.on("pageerror", (e) => errors.push(String(e)));
      await tab.goto(page, { waitUntil: "load" });
      const charts = await tab.evaluate(() => {
        // Runs in the page; typed by hand (the project's tsconfig has no DOM library).
        interface Item {
          text: string;
        }
        interface ChartLike {
          data: { datasets: { label: string; data: unknown[]; fill?: unknown }[] };
          legend: { legendItems: Item[] };
        }
        const w = globalThis as unknown as {
          Chart: { getChart(c: unknown): ChartLike | undefined };
          document: { querySelectorAll(selector: string): Iterable<{ id: string }> };
        };
        return [...w.document.querySelectorAll("canvas")].map((c) => {
          const chart = w.Chart.getChart(c)!;
          return {
            id: c.id,
            datasets: chart.data.datasets.map((d) => [d.label, d.data.length, d.fill ?? null]),
            legend: chart.legend.legendItems.map((i) => i.text),
          };
        });
      });
      assert.deepEqual(errors, [], "no console errors");
      assert.equal(await tab.$eval("#chart-errors", (e) => e.textContent), "");
      // One section for the three seeds: the GRPO fixture's 9 chart groups, not 27.
      assert.equal(charts.length, 9);
      const kl = charts.find((c) => c.id === "run-0-1")!;
      assert.deepEqual(kl.datasets, [
        ["kl (min)", 20, false],
        ["kl (max)", 20, "-1"],
        ["kl", 20, false],
      ]);
      assert.deepEqual(kl.legend, ["kl"], "bands are not in the legend");
      assert.deepEqual(charts.find((c) => c.id === "run-0-0")!.legend, [
        "reward",
        "rewards/accuracy",
        "rewards/format",
      ]);
      assert.equal(await tab.$$eval("section.run", (s) => s.length), 1);

      const rows = await tab.$$eval("#task-visual-counting table:first-of-type tbody tr", (trs) =>
        trs.map((tr) => [...tr.children].map((td) => td.textContent)),
      );
      assert.deepEqual(rows[2], [
        "Reason-RFT",
        "51.0 ± 2.3",
        "42.7 ± 2.4",
        "51.0 ± 2.3 ≈",
        "42.7 ± 2.4 ▲",
        "46.8 ± 1.6 ▲",
      ]);
      assert.deepEqual(rows[3], ["paper Qwen2-VL-2B Zero-Shot", "82.40", "32.00", "82.40", "32.00", "57.20"]);
      const seeds = await tab.$$eval("#task-visual-counting table.seeds tbody tr", (trs) =>
        trs.map((tr) => [...tr.children].map((td) => td.textContent)),
      );
      assert.deepEqual(seeds[1], [
        "CoT-SFT",
        "50.0 / 55.0 / 53.0",
        "40.0 / 38.0 / 42.0",
        "50.0 / 55.0 / 53.0",
        "40.0 / 38.0 / 42.0",
        "45.0 / 46.5 / 47.5",
      ]);
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  },
);
