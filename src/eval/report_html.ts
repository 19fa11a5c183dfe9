/**
 * The self-contained report page: the task tables and, per training run, line charts of its metrics.jsonl (reward
 * components, KL, completion length, loss, learning rate, and gradient norm, entropy, zero-variance groups when
 * logged). Chart.js (a dependency, MIT) is read from node_modules at report time and inlined, so the page needs no
 * network; the chart data sits in a JSON script element.
 *
 * Several seeds: runs named `<name> (seed N)` (seeds.ts `splitSeedName`) are drawn together, one section per name:
 * each metric as the mean over the seeds that logged the step, with a band from the seeds' minimum to maximum, so a
 * chart keeps one line per metric however many seeds there are. With their standard errors (seeds.ts), the tables
 * print `mean ± SE`, the noise marks and a per-seed table. Tensor-free.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Report, RunInput, RunSummary, TaskTable } from "./report.ts";
import { fmtMetric, hasSeedTable, headerCells, rowCells, seedCells, seedLine } from "./report.ts";
import { splitSeedName } from "./seeds.ts";
import { esc, tickLabel } from "./report_svg.ts";

export interface ChartSeries {
  label: string;
  /** [step, value] pairs (over seeds: the mean of the seeds that logged the step). */
  points: [number, number][];
  /** Over seeds: [step, min, max] of the seeds that logged the step. */
  band?: [number, number, number][];
}

export interface ChartSpec {
  /** DOM id of the canvas. */
  id: string;
  run: string;
  title: string;
  series: ChartSeries[];
  /** Over seeds: how many runs the lines average. */
  seeds?: number;
}

/** Runs drawn together: one run, or the runs `<base> (seed N)` of several seeds (in input order). */
export interface RunGroup {
  name: string;
  /** Indices into the runs. */
  indices: number[];
  /** Seed ids of the runs (a group of seeds). */
  seeds?: number[];
}

/**
 * The runs grouped for drawing: runs named `<base> (seed N)` with the same base form one group (at the place of its
 * first run) when there are two or more; every other run is a group of its own, named as it is.
 */
export function runGroups(runs: readonly RunInput[]): RunGroup[] {
  const bases = runs.map((r) => splitSeedName(r.name));
  const count = new Map<string, number>();
  for (const b of bases) if (b.seed !== undefined) count.set(b.base, (count.get(b.base) ?? 0) + 1);
  const out: RunGroup[] = [];
  const byBase = new Map<string, RunGroup>();
  runs.forEach((r, i) => {
    const b = bases[i]!;
    if (b.seed === undefined || count.get(b.base)! < 2) {
      out.push({ name: r.name, indices: [i] });
      return;
    }
    const g = byBase.get(b.base);
    if (g) {
      g.indices.push(i);
      g.seeds!.push(b.seed);
    } else {
      const ng = { name: b.base, indices: [i], seeds: [b.seed] };
      byBase.set(b.base, ng);
      out.push(ng);
    }
  });
  return out;
}

interface ChartGroup {
  title: string;
  /** Metric names, or patterns (every logged metric that matches; the series is named after the metric). */
  keys: (string | RegExp)[];
}

/** The charts of a run, in order; a group is drawn when at least one of its metrics was logged. */
export const CHART_GROUPS: readonly ChartGroup[] = [
  { title: "Rewards", keys: ["reward", /^rewards\/.+\/mean$/] },
  { title: "KL", keys: ["kl"] },
  { title: "Completion length", keys: ["completions/mean_length", "completions/max_length", "completions/min_length"] },
  { title: "Loss", keys: ["loss"] },
  { title: "Learning rate", keys: ["learning_rate"] },
  { title: "Gradient norm", keys: ["grad_norm"] },
  { title: "Entropy", keys: ["entropy"] },
  {
    title: "Zero-variance groups, clipped completions",
    keys: ["frac_reward_zero_std", "completions/clipped_ratio", "clip_ratio/region_mean"],
  },
  { title: "Seconds per step", keys: [/^time\/.+$/] },
];

/** [step, value] of one metric of a run. */
function metricPoints(run: RunInput, metric: string): [number, number][] {
  const points: [number, number][] = [];
  for (const m of run.metrics) {
    const y = m[metric];
    if (typeof y === "number" && Number.isFinite(y) && typeof m.step === "number") points.push([m.step, y]);
  }
  return points;
}

/** One metric over seeds: per step, the mean and the [min, max] of the seeds that logged it. */
function seedSeries(label: string, perRun: readonly [number, number][][]): ChartSeries {
  const bySteps = new Map<number, number[]>();
  for (const pts of perRun)
    for (const [x, y] of pts) {
      const ys = bySteps.get(x) ?? [];
      ys.push(y);
      bySteps.set(x, ys);
    }
  const steps = [...bySteps.keys()].sort((a, b) => a - b);
  return {
    label,
    points: steps.map((x) => {
      const ys = bySteps.get(x)!;
      return [x, ys.reduce((a, b) => a + b, 0) / ys.length];
    }),
    band: steps.map((x) => {
      const ys = bySteps.get(x)!;
      return [x, Math.min(...ys), Math.max(...ys)];
    }),
  };
}

/**
 * The chart specs of the runs (`run-<i>-<j>` ids, i the index of the run group of `runGroups`, which is the run's
 * index when no runs are grouped by seed).
 */
export function runCharts(runs: readonly RunInput[]): ChartSpec[] {
  const out: ChartSpec[] = [];
  runGroups(runs).forEach((grp, i) => {
    const members = grp.indices.map((k) => runs[k]!);
    const names = new Set<string>();
    for (const run of members) for (const m of run.metrics) for (const k of Object.keys(m)) names.add(k);
    CHART_GROUPS.forEach((g, j) => {
      const series: ChartSeries[] = [];
      for (const key of g.keys) {
        const matched =
          typeof key === "string"
            ? names.has(key)
              ? [[key, key] as const]
              : []
            : [...names].filter((n) => key.test(n)).map((n) => [n, n.replace(/\/mean$/, "")] as const);
        for (const [metric, label] of matched) {
          if (members.length === 1) {
            const points = metricPoints(members[0]!, metric);
            if (points.length) series.push({ label, points });
          } else {
            const s = seedSeries(
              label,
              members.map((run) => metricPoints(run, metric)),
            );
            if (s.points.length) series.push(s);
          }
        }
      }
      if (series.length)
        out.push({
          id: `run-${i}-${j}`,
          run: grp.name,
          title: g.title,
          series,
          ...(members.length > 1 ? { seeds: members.length } : {}),
        });
    });
  });
  return out;
}

/** Chart.js's minified UMD build from node_modules. */
export function chartJsSource(): string {
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve("chart.js");
  } catch {
    throw new Error("the chart.js package is not installed (run npm install): rft report inlines it into report.html");
  }
  const path = join(dirname(main), "chart.umd.min.js");
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`${path}: cannot read Chart.js's UMD build: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** Text safe inside a <script> element. */
function scriptText(s: string): string {
  return s.replace(/<\/script/gi, "<\\/script").replace(/<!--/g, "<\\!--");
}

const TASK_TITLES: Record<string, string> = {
  "visual-counting": "Visual counting",
  "structure-perception": "Structure perception",
  "spatial-transformation": "Spatial transformation",
};

function tableHtml(t: TaskTable): string {
  const head = headerCells(t)
    .map((h) => `<th>${esc(h)}</th>`)
    .join("");
  const body = t.rows
    .map((r) => {
      const cells = rowCells(t, r)
        .map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`))
        .join("");
      return `<tr class="${r.source}">${cells}</tr>`;
    })
    .join("\n");
  const notes = t.notes.length ? `<ul class="notes">${t.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>` : "";
  const unit = t.noise
    ? `${seedLine(t)} Bold rows are ours.`
    : "Accuracy in %. ID avg / OOD avg: unweighted mean of the row's ID / OOD sets; AVG: unweighted mean of all its sets. Bold rows are ours.";
  let perSeed = "";
  if (hasSeedTable(t)) {
    const rows = t.rows
      .filter((r) => r.source === "ours")
      .map(
        (r) =>
          `<tr>${seedCells(t, r)
            .map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`))
            .join("")}</tr>`,
      )
      .join("\n");
    perSeed = `<p class="unit">Per seed (${esc(t.seeds!.map((s) => `seed ${s}`).join(" / "))}), accuracy in %:</p>
<table class="seeds"><thead><tr>${head}</tr></thead><tbody>
${rows}
</tbody></table>
`;
  }
  return `<section class="task" id="task-${t.task}">
<h2>${esc(TASK_TITLES[t.task] ?? t.task)} <small>(${esc(t.task)})</small></h2>
<p class="unit">${esc(unit)}</p>
<table><thead><tr>${head}</tr></thead><tbody>
${body}
</tbody></table>
${perSeed}${notes}</section>`;
}

/** The section of a group of seeds' runs: the seeds' summaries, last values as mean (min–max). */
function seedRunHtml(grp: RunGroup, i: number, sums: readonly RunSummary[], charts: readonly ChartSpec[]): string {
  const one = <K extends "trainer" | "recipe" | "profile">(k: K) => {
    const v = new Set(sums.map((s) => s[k]));
    return v.size === 1 ? sums[0]![k] : undefined;
  };
  const trainer = one("trainer");
  const recipe = one("recipe");
  const profile = one("profile");
  const meta = [
    `seeds ${grp.seeds!.join(", ")}`,
    trainer && `trainer ${trainer}`,
    recipe && `recipe ${recipe}${profile ? ` (profile ${profile})` : ""}`,
    `${sums.map((s) => s.steps).join(" / ")} logged steps`,
  ]
    .filter(Boolean)
    .join(" · ");
  const keys = [...new Set(sums.flatMap((s) => Object.keys(s.last)))].filter((k) => k !== "step");
  const last = keys
    .map((k) => {
      const vs = sums.map((s) => s.last[k]).filter((v): v is number => typeof v === "number");
      const m = vs.reduce((a, b) => a + b, 0) / vs.length;
      const range =
        vs.length > 1 && Math.min(...vs) !== Math.max(...vs)
          ? ` (${fmtMetric(Math.min(...vs))}–${fmtMetric(Math.max(...vs))})`
          : "";
      return `${esc(k)} ${esc(fmtMetric(m))}${esc(range)}`;
    })
    .join(" · ");
  const mine = charts.filter((c) => c.id.startsWith(`run-${i}-`));
  const canvases = mine.length
    ? mine
        .map(
          (c) =>
            `<figure class="chart"><figcaption>${esc(c.title)} <small>(mean of ${c.seeds} seeds; band: min–max)</small></figcaption><div class="box"><canvas id="${c.id}" role="img" aria-label="${esc(`${grp.name}: ${c.title}, mean of ${c.seeds} seeds`)}"></canvas></div></figure>`,
        )
        .join("\n")
    : `<p>No steps logged.</p>`;
  return `<section class="run"><h3>${esc(grp.name)} <small>(${sums.length} seeds)</small></h3><p class="meta">${esc(meta)}</p>${last ? `<p class="last">last step, mean over seeds (min–max): ${last}</p>` : ""}
<div class="charts">${canvases}</div></section>`;
}

function runHtml(rep: Report, runs: readonly RunInput[], charts: readonly ChartSpec[]): string {
  if (runs.length === 0) return "";
  const parts = runGroups(runs).map((grp, i) => {
    if (grp.indices.length > 1)
      return seedRunHtml(
        grp,
        i,
        grp.indices.map((k) => rep.runs[k]!),
        charts,
      );
    const run = runs[grp.indices[0]!]!;
    const s = rep.runs[grp.indices[0]!]!;
    const meta = [
      s.trainer && `trainer ${s.trainer}`,
      s.recipe && `recipe ${s.recipe}${s.profile ? ` (profile ${s.profile})` : ""}`,
      `${s.steps} logged step${s.steps === 1 ? "" : "s"}`,
      s.dir && `from ${s.dir}`,
    ]
      .filter(Boolean)
      .join(" · ");
    const mine = charts.filter((c) => c.id.startsWith(`run-${i}-`));
    const canvases = mine.length
      ? mine
          .map(
            (c) =>
              `<figure class="chart"><figcaption>${esc(c.title)}</figcaption><div class="box"><canvas id="${c.id}" role="img" aria-label="${esc(`${run.name}: ${c.title}`)}"></canvas></div></figure>`,
          )
          .join("\n")
      : `<p>No steps logged.</p>`;
    const last = Object.entries(s.last)
      .filter(([k]) => k !== "step")
      .map(([k, v]) => `${esc(k)} ${esc(fmtMetric(v))}`)
      .join(" · ");
    return `<section class="run"><h3>${esc(run.name)}</h3><p class="meta">${esc(meta)}</p>${last ? `<p class="last">last step: ${last}</p>` : ""}
<div class="charts">${canvases}</div></section>`;
  });
  return `<h2>Training runs</h2>\n${parts.join("\n")}`;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#1d2430}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px;margin-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d5dae1;padding:3px 8px;text-align:right;white-space:nowrap}
thead th{background:#f1f3f6}thead th:first-child{text-align:left}tr.ours+tr.paper>*{border-top:2px solid #8a93a3}tbody th{text-align:left;font-weight:normal}
tr.ours th,tr.ours td{font-weight:600;background:#fbfcf0}tr.paper{color:#556}
.unit,.meta,.last,.notes{color:#556;font-size:13px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
figure.chart{margin:0;border:1px solid #e3e6ea;padding:6px}figcaption{font-weight:600;font-size:13px}
.box{position:relative;height:220px}
#chart-errors{color:#b00}
`;

/**
 * A page script that draws every chart spec with Chart.js; errors are shown on the page and logged. `helpers` adds
 * functions, `datasets` is the statement that fills `datasets` from the chart spec `c` (in scope: colors), `plugins`
 * the options.plugins literal.
 */
function chartScript(helpers: string, datasets: string, plugins: string): string {
  return `
(function(){
  var spec = JSON.parse(document.getElementById("rft-report-data").textContent);
  var colors = ["#1f77b4","#d62728","#2ca02c","#ff7f0e","#9467bd","#8c564b","#e377c2","#17becf"];
  var tick = ${tickLabel.toString()};${helpers}
  window.rftCharts = [];
  spec.charts.forEach(function(c){
    try {
      var canvas = document.getElementById(c.id);
      var datasets = [];
${datasets}
      var chart = new Chart(canvas, {
        type: "line",
        data: { datasets: datasets },
        options: { animation: false, responsive: true, maintainAspectRatio: false,
                   interaction: { mode: "nearest", intersect: false },
                   plugins: ${plugins},
                   scales: { x: { type: "linear", title: { display: true, text: "step" } },
                             y: { ticks: { callback: tick } } } }
      });
      window.rftCharts.push(chart);
    } catch (e) {
      console.error("chart " + c.id + ": " + e);
      var p = document.getElementById("chart-errors");
      if (p) p.textContent += "chart " + c.id + " failed: " + e + "\\n";
    }
  });
})();
`;
}

/** The page's script: one line per series. */
const INIT = chartScript(
  "",
  `      c.series.forEach(function(s, k){
        datasets.push({ label: s.label, data: s.points.map(function(p){ return { x: p[0], y: p[1] }; }),
                        borderColor: colors[k % colors.length], backgroundColor: colors[k % colors.length],
                        borderWidth: 1.5, pointRadius: s.points.length > 60 ? 0 : 2, tension: 0 });
      });`,
  `{ legend: { display: true, labels: { boxWidth: 12 } } }`,
);

/**
 * The script for pages with runs over seeds: as INIT, and a series with a band gets two more datasets before its
 * line, the band's lower and upper edges (the upper filled down to the lower, in the line's colour, translucent),
 * left out of the legend and the tooltips. Pages without seeds keep INIT.
 */
const INIT_SEEDS = chartScript(
  `
  function edge(s, i, color, fill){
    return { label: s.label + (i === 1 ? " (min)" : " (max)"), rftBand: true,
             data: s.band.map(function(p){ return { x: p[0], y: p[i] }; }),
             borderColor: "transparent", backgroundColor: color + "33", borderWidth: 0, pointRadius: 0,
             pointHitRadius: 0, fill: fill, tension: 0 };
  }
  function notBand(item, data){ return !data.datasets[item.datasetIndex].rftBand; }`,
  `      c.series.forEach(function(s, k){
        var color = colors[k % colors.length];
        if (s.band) { datasets.push(edge(s, 1, color, false)); datasets.push(edge(s, 2, color, "-1")); }
        datasets.push({ label: s.label, data: s.points.map(function(p){ return { x: p[0], y: p[1] }; }),
                        borderColor: color, backgroundColor: color,
                        borderWidth: 1.5, pointRadius: s.points.length > 60 ? 0 : 2, tension: 0, fill: false });
      });`,
  `{ legend: { display: true, labels: { boxWidth: 12, filter: notBand } },
                              tooltip: { filter: function(item){ return !item.dataset.rftBand; } } }`,
);

/** report.html (see the module comment). */
export function reportHtml(rep: Report, runs: readonly RunInput[], opts: { chartJs?: string } = {}): string {
  const charts = runCharts(runs);
  const data = JSON.stringify({ charts }).replace(/</g, "\\u003c");
  const tables = rep.tables.length ? rep.tables.map(tableHtml).join("\n") : "<p>No evaluation results.</p>";
  const notes = rep.notes.map((n) => `<p>${esc(n)}</p>`).join("\n");
  const lib = charts.length ? `<script>${scriptText(opts.chartJs ?? chartJsSource())}</script>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(rep.title)}</title><style>${STYLE}</style></head>
<body>
<h1>${esc(rep.title)}</h1>
${notes}
${tables}
${runHtml(rep, runs, charts)}
<pre id="chart-errors"></pre>
<script type="application/json" id="rft-report-data">${data}</script>
${lib}
${charts.length ? `<script>${charts.some((c) => c.seeds) ? INIT_SEEDS : INIT}</script>` : ""}
</body></html>
`;
}
