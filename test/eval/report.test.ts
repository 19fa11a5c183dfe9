import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type ResultRow,
  buildReport,
  classifyDir,
  readEvalDir,
  readReportDir,
  readRunDir,
  reportMarkdown,
  writeReport,
} from "../../src/eval/report.ts";
import { reportHtml, runCharts, runGroups } from "../../src/eval/report_html.ts";
import { aggregateSeeds } from "../../src/eval/seeds.ts";
import { PAPER_RESULTS, VC_DOMAIN_SHIFT } from "../../src/eval/paper_results.ts";
import { rft } from "../cli/run_rft.ts";
import { evalDir, grpoRunDir, seededResults, sftRunDir, tmp } from "./report_fixtures.ts";

/** Two VC evals (one inferred Reason-RFT from its checkpoint's run, one zero-shot), one ST eval, one GRPO run. */
function fixture() {
  const root = tmp();
  const run = grpoRunDir(root, "rft-run", 6, "reason-rft");
  mkdirSync(join(run, "checkpoint-6"));
  writeFileSync(join(run, "checkpoint-6", "config.json"), "{}");
  const evRft = evalDir(root, "ev-rft", "visual-counting", join(run, "checkpoint-6"), "cot-sft", [
    ["clevr-math", "id", 40, 0.75],
    ["super-clevr", "ood", 40, 0.5],
    ["clevr-math-ood-steps", "ood", 40, 0.25],
  ]);
  const evZero = evalDir(root, "ev-zero", "visual-counting", "runs/tiny", "zero-shot", [
    ["clevr-math", "id", 40, 0.5],
    ["super-clevr", "ood", 40, 0.25],
    ["clevr-math-ood-steps", "ood", 40, 0.125],
  ]);
  const evSt = evalDir(root, "ev-st", "spatial-transformation", "runs/sft", "cot-sft", [
    ["trance", "id", 20, 0.6],
    ["trance-left", "ood", 20, 0.3],
    ["trance-right", "ood", 20, 0.2, 2],
  ]);
  return { root, run, evRft, evZero, evSt };
}

test("readEvalDir: rows from summary.json; the paradigm from --paradigm, the checkpoint's run recipe, or zero-shot", () => {
  const f = fixture();
  const rft = readEvalDir(f.evRft);
  assert.deepEqual(
    rft.map((r) => [r.task, r.paradigm, r.set, r.split, r.n, r.accuracy]),
    [
      ["visual-counting", "reason-rft", "clevr-math", "id", 40, 0.75],
      ["visual-counting", "reason-rft", "super-clevr", "ood", 40, 0.5],
      ["visual-counting", "reason-rft", "clevr-math-ood-steps", "ood", 40, 0.25],
    ],
  );
  assert.equal(readEvalDir(f.evZero)[0]!.paradigm, "zero-shot");
  const st = readEvalDir(f.evSt);
  assert.equal(st[0]!.paradigm, undefined, "cot-sft strategy with no run config: no paradigm");
  assert.equal(st[2]!.failed, 2);
  assert.equal(readEvalDir(f.evSt, { paradigm: "cot-sft" })[0]!.paradigm, "cot-sft");
  assert.equal(readEvalDir(f.evSt, { label: "mine" })[0]!.label, "mine");
  assert.deepEqual(classifyDir(f.evRft), { eval: true, run: false, report: false });
  assert.deepEqual(classifyDir(f.run), { eval: false, run: true, report: false });
  assert.throws(() => classifyDir(f.root), /neither an eval output \(summary\.json\), a training run/);
});

test("buildReport: exact per-set scores and averages per task, ours in paradigm order, the paper's rows beside", () => {
  const f = fixture();
  const rep = buildReport({
    results: [...readEvalDir(f.evRft), ...readEvalDir(f.evZero), ...readEvalDir(f.evSt, { paradigm: "cot-sft" })],
    runs: [readRunDir(f.run)],
  });
  assert.deepEqual(
    rep.tables.map((t) => t.task),
    ["visual-counting", "spatial-transformation"],
  );
  const [vc, st] = rep.tables;
  assert.deepEqual(vc!.columns, [
    { set: "clevr-math", split: "id", n: 40 },
    { set: "super-clevr", split: "ood", n: 40 },
    { set: "clevr-math-ood-steps", split: "ood", n: 40 },
  ]);
  const ours = vc!.rows.filter((r) => r.source === "ours");
  assert.deepEqual(
    ours.map((r) => [r.label, r.scores, r.id_avg, r.ood_avg, r.avg]),
    [
      ["Zero-Shot", { "clevr-math": 50, "super-clevr": 25, "clevr-math-ood-steps": 12.5 }, 50, 18.75, 29.1667],
      ["Reason-RFT", { "clevr-math": 75, "super-clevr": 50, "clevr-math-ood-steps": 25 }, 75, 37.5, 50],
    ],
  );
  // The paper's ten Qwen2-VL rows follow ours; VC comes from §9.2 (pooled Super-CLEVR).
  const paper = vc!.rows.filter((r) => r.source === "paper");
  assert.equal(paper.length, 10);
  const p2b = paper.find((r) => r.model === "Qwen2-VL-2B" && r.paradigm === "reason-rft")!;
  assert.deepEqual(
    [p2b.label, p2b.scores, p2b.id_avg, p2b.ood_avg, p2b.avg, p2b.printed_avg],
    ["paper Qwen2-VL-2B Reason-RFT", { "clevr-math": 96.8, "super-clevr": 51.2 }, 96.8, 51.2, 74, 74],
  );
  assert.match(p2b.cite!, /§9\.2/);
  assert.ok(vc!.notes.some((n) => /no clevr-math-ood-steps set: our averages include it/.test(n)));

  assert.deepEqual(
    st!.columns.map((c) => [c.set, c.split, c.n]),
    [
      ["trance", "id", 20],
      ["trance-left", "ood", 20],
      ["trance-right", "ood", 20],
    ],
  );
  const cot = st!.rows[0]!;
  assert.deepEqual(
    [cot.label, cot.scores, cot.failed, cot.id_avg, cot.ood_avg, cot.avg],
    ["CoT-SFT", { trance: 60, "trance-left": 30, "trance-right": 20 }, { "trance-right": 2 }, 60, 25, 36.6667],
  );
  const p7b = st!.rows.find((r) => r.model === "Qwen2-VL-7B" && r.paradigm === "reason-rft-zero")!;
  assert.deepEqual([p7b.scores, p7b.avg], [{ trance: 67.67, "trance-left": 57.2, "trance-right": 56.15 }, 60.34]);

  assert.deepEqual(rep.runs[0]!.recipe, "reason-rft");
  assert.equal(rep.runs[0]!.steps, 6);
  assert.equal(rep.runs[0]!.last["rewards/accuracy/mean"], 0.5);
  assert.ok(rep.results.every((r) => r.accuracy === null || (r.accuracy >= 0 && r.accuracy <= 1)));
});

test("reportMarkdown: the paper's layout, per-set cells, averages, failures, and n per cell when counts differ", () => {
  const f = fixture();
  const md = reportMarkdown(
    buildReport({
      results: [...readEvalDir(f.evZero), ...readEvalDir(f.evRft), ...readEvalDir(f.evSt, { paradigm: "cot-sft" })],
      runs: [readRunDir(f.run)],
    }),
  );
  const lines = md.split("\n");
  assert.ok(lines.includes("## Visual counting (visual-counting)"));
  assert.ok(
    lines.includes(
      "| Method | clevr-math ID (n=40) | super-clevr OOD (n=40) | clevr-math-ood-steps OOD (n=40) | ID avg | OOD avg | AVG |",
    ),
  );
  assert.ok(lines.includes("| **Zero-Shot** | 50.00 | 25.00 | 12.50 | 50.00 | 18.75 | 29.17 |"));
  assert.ok(lines.includes("| **Reason-RFT** | 75.00 | 50.00 | 25.00 | 75.00 | 37.50 | 50.00 |"));
  assert.ok(lines.includes("| paper Qwen2-VL-2B Zero-Shot | 82.40 | 32.00 | – | 82.40 | 32.00 | 57.20 |"));
  assert.ok(lines.includes("| **CoT-SFT** | 60.00 | 30.00 | 20.00 (2 failed) | 60.00 | 25.00 | 36.67 |"));
  assert.ok(lines.includes("| paper Qwen2-VL-2B Reason-RFT | 74.61 | 64.05 | 64.08 | 74.61 | 64.06 | 67.58 |"));
  assert.ok(lines.includes("## Training runs"));
  assert.ok(lines.some((l) => l.startsWith("| rft-run | grpo | reason-rft (mini) | 6 |")));
  assert.ok(md.indexOf("**Zero-Shot**") < md.indexOf("**Reason-RFT**"), "paradigm order");

  // Rows with different counts for a set: the header has no n, each cell names its own.
  const rows: ResultRow[] = [
    { task: "structure-perception", paradigm: "ans-sft", set: "geomath", split: "id", n: 10, accuracy: 0.3 },
    { task: "structure-perception", paradigm: "reason-rft", set: "geomath", split: "id", n: 20, accuracy: 0.45 },
    { task: "structure-perception", paradigm: "reason-rft", set: "geometry3k", split: "ood", n: 20, accuracy: null },
  ];
  const md2 = reportMarkdown(buildReport({ results: rows, paper: false }));
  assert.ok(md2.includes("| Method | geomath ID | geometry3k OOD (n=20) | ID avg | OOD avg | AVG |"), md2);
  assert.ok(md2.includes("| **ANS-SFT** | 30.00 (n=10) | – | 30.00 | – | 30.00 |"), md2);
  assert.ok(md2.includes("| **Reason-RFT** | 45.00 (n=20) | – | 45.00 | – | – |"), md2);
  assert.ok(!md2.includes("paper"), "paper: false leaves the paper out");
});

test("buildReport refuses malformed rows and two results for one cell, naming them", () => {
  const row: ResultRow = {
    task: "visual-counting",
    paradigm: "cot-sft",
    set: "clevr-math",
    split: "id",
    n: 5,
    accuracy: 0.2,
  };
  assert.throws(
    () => buildReport({ results: [row, { ...row, source: "b" }] }),
    /two results for visual-counting, row "CoT-SFT", set clevr-math/,
  );
  assert.throws(() => buildReport({ results: [{ ...row, accuracy: 20 }] }), /"accuracy" must be in \[0, 1\]/);
  assert.throws(() => buildReport({ results: [{ ...row, task: "nope" as never }] }), /unknown task "nope"/);
  assert.throws(() => buildReport({ results: [{ ...row, split: "x" as never }] }), /"split" must be "id" or "ood"/);
  // Aliases of the task are accepted (the demo may pass short names).
  assert.equal(buildReport({ results: [{ ...row, task: "vc" as never }] }).tables[0]!.task, "visual-counting");
});

test("readEvalDir / readRunDir: clear errors naming the file; a torn last metrics line is skipped", () => {
  const root = tmp();
  mkdirSync(join(root, "bad"));
  writeFileSync(join(root, "bad", "summary.json"), JSON.stringify({ model: "m", sets: [] }));
  assert.throws(() => readEvalDir(join(root, "bad")), /bad\/summary\.json: "task" must name a task family/);
  writeFileSync(join(root, "bad", "summary.json"), "{");
  assert.throws(() => readEvalDir(join(root, "bad")), /summary\.json: not valid JSON/);

  const run = sftRunDir(root, "sft", 3);
  writeFileSync(join(run, "metrics.jsonl"), readFileSync(join(run, "metrics.jsonl"), "utf8") + '{"step": 4, "lo');
  const r = readRunDir(run);
  assert.equal(r.metrics.length, 3);
  assert.deepEqual([r.trainer, r.recipe, r.profile], ["sft", "cot-sft", "mini"]);
  writeFileSync(join(run, "metrics.jsonl"), '{"step": 1, "loss": 1}\nnot json\n{"step": 3, "loss": 1}\n');
  assert.throws(() => readRunDir(run), /metrics\.jsonl:2: not valid JSON/);
});

test("runCharts: reward components, KL, completion length, loss and learning rate of a GRPO run; loss and lr of SFT", () => {
  const root = tmp();
  const charts = runCharts([readRunDir(grpoRunDir(root, "g", 4)), readRunDir(sftRunDir(root, "s", 3))]);
  const g = charts.filter((c) => c.id.startsWith("run-0-"));
  assert.deepEqual(
    g.map((c) => [c.title, c.series.map((s) => s.label)]),
    [
      ["Rewards", ["reward", "rewards/accuracy", "rewards/format"]],
      ["KL", ["kl"]],
      ["Completion length", ["completions/mean_length", "completions/max_length"]],
      ["Loss", ["loss"]],
      ["Learning rate", ["learning_rate"]],
      ["Gradient norm", ["grad_norm"]],
      ["Entropy", ["entropy"]],
      ["Zero-variance groups, clipped completions", ["frac_reward_zero_std", "completions/clipped_ratio"]],
      ["Seconds per step", ["time/generate", "time/reward", "time/logprob", "time/update"]],
    ],
  );
  assert.deepEqual(g[1]!.series[0]!.points, [
    [1, 0.001],
    [2, 0.002],
    [3, 0.003],
    [4, 0.004],
  ]);
  const s = charts.filter((c) => c.id.startsWith("run-1-"));
  assert.deepEqual(
    s.map((c) => c.title),
    ["Loss", "Learning rate", "Gradient norm"],
  );
});

test("writeReport: three files and the marker; own earlier output rewritten; foreign dirs and inputs refused", () => {
  const f = fixture();
  const out = join(f.root, "report");
  const input = { results: readEvalDir(f.evRft), runs: [readRunDir(f.run)], extra: { seconds: 12.5 } };
  writeReport(out, input, { inputs: [f.evRft, f.run] });
  for (const name of ["report.md", "report.json", "report.html", ".rft-output"]) assert.ok(existsSync(join(out, name)));
  const json = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.equal(json.kind, "rft-report");
  assert.equal(json.seconds, 12.5);
  assert.deepEqual(
    json.results.map((r: ResultRow) => [r.task, r.paradigm, r.set, r.split, r.n, r.accuracy]),
    [
      ["visual-counting", "reason-rft", "clevr-math", "id", 40, 0.75],
      ["visual-counting", "reason-rft", "super-clevr", "ood", 40, 0.5],
      ["visual-counting", "reason-rft", "clevr-math-ood-steps", "ood", 40, 0.25],
    ],
  );
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.match(html, /Chart\.js v4/, "Chart.js is inlined");
  assert.ok(!/<script[^>]+src=|<link|<img/i.test(html), "nothing loaded from outside the page");

  writeReport(out, { results: readEvalDir(f.evZero) }); // an earlier report: rewritten
  assert.match(readFileSync(join(out, "report.md"), "utf8"), /\*\*Zero-Shot\*\*/);
  assert.throws(() => writeReport(f.run, input), /--out .*rft-run is not empty.*refusing/);
  assert.throws(() => writeReport(f.evRft, input, { inputs: [f.evRft] }), /is also an input/);
  writeReport(join(f.run, "..", "forced"), input, { force: true });
  // owned: the caller's directory (the demo's work directory) is written into as it is, its marker kept.
  writeReport(f.evRft, input, { owned: true });
  assert.ok(existsSync(join(f.evRft, "report.html")));
  assert.equal(JSON.parse(readFileSync(join(f.evRft, ".rft-output"), "utf8")).kind, "eval");
});

test("rft report: the CLI writes the report from eval and run directories; bad flags exit 2, foreign --out 1", () => {
  const f = fixture();
  const out = join(f.root, "rep");
  const r = rft(["report", f.evZero, f.evSt, f.run, "--paradigm", `${f.evSt}=cot-sft`, "--out", out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /\| \*\*CoT-SFT\*\* \| 60\.00 \| 30\.00 \| 20\.00 \(2 failed\) \| 60\.00 \| 25\.00 \| 36\.67 \|/,
  );
  assert.match(r.stdout, /wrote .*report\.md, .*report\.json, .*report\.html/);
  // An earlier report is an input too: its result rows join the new tables.
  const again = join(f.root, "rep2");
  const r2 = rft(["report", out, f.evRft, "--out", again]);
  assert.equal(r2.status, 0, r2.stderr);
  for (const row of [
    "| **Zero-Shot** | 50.00 | 25.00 | 12.50 |",
    "| **Reason-RFT** | 75.00 | 50.00 | 25.00 |",
    "| **CoT-SFT** | 60.00 |",
  ])
    assert.ok(r2.stdout.includes(row), row);
  const bad = rft(["report", f.evSt, "--paradigm", `${f.evSt}=grpo`, "--out", out]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--paradigm .*=grpo: one of zero-shot, ans-sft, cot-sft, reason-rft-zero, reason-rft/);
  const other = rft(["report", f.evSt, "--label", `${f.evZero}=x`, "--out", out]);
  assert.equal(other.status, 2);
  assert.match(other.stderr, /is not one of the directories given/);
  const none = rft(["report", "--out", out]);
  assert.equal(none.status, 2);
  const foreign = rft(["report", f.evSt, "--out", f.evZero]);
  assert.equal(foreign.status, 1);
  assert.match(foreign.stderr, /holds a eval written by rft eval, not a report|not empty/);
});

test("paper numbers: each Qwen2-VL row's printed AVG is the mean of its sets but for the known rows (spec §9)", () => {
  const off: string[] = [];
  for (const [task, rows] of Object.entries(PAPER_RESULTS)) {
    assert.equal(rows.length, 10, task);
    for (const r of rows) {
      const xs = Object.values(r.sets);
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      if (Math.abs(m - r.printedAvg) > 0.0051) off.push(`${task} ${r.model} ${r.paradigm}`);
    }
  }
  // 2B Reason-RFT-Zero on ST prints 33.74 = mean(DS-L 34.07, DS-R 33.41), not the mean of the three (36.54).
  assert.deepEqual(off, ["spatial-transformation Qwen2-VL-2B reason-rft-zero"]);
  const st = buildReport({
    results: [{ task: "spatial-transformation", set: "trance", split: "id", n: 1, accuracy: 1 }],
  }).tables[0]!;
  assert.ok(
    st.notes.includes("paper Qwen2-VL-2B Reason-RFT-Zero: the paper prints AVG 33.74; the mean of its sets is 36.54."),
    st.notes.join("\n"),
  );
  // §9.1's VC columns: AVG is the mean of the three, except the 2B Reason-RFT row (61.73 computed, 61.77 printed).
  const offVc: string[] = [];
  for (const [model, rows] of Object.entries(VC_DOMAIN_SHIFT))
    for (const [p, v] of Object.entries(rows))
      if (Math.abs((v[0]! + v[1]! + v[2]!) / 3 - v[3]!) > 0.0051) offVc.push(`${model} ${p}`);
  assert.deepEqual(offVc, ["Qwen2-VL-2B reason-rft"]);
});

test("reports over seeds: mean ± SE per cell and average, ▲/≈ noise marks, a per-seed table, the definitions", () => {
  // Zero-Shot is far below; CoT-SFT and Reason-RFT are within 2 SE of each other on every average.
  const rep = buildReport({ results: aggregateSeeds(seededResults()), paper: false });
  const md = reportMarkdown(rep);
  const lines = md.split("\n");
  for (const l of [
    "Accuracy in %, mean over 3 seeds (1, 2, 3) ± one standard error (seeds and test items; notes below). ▲: the best of our rows on that average; ≈: within 2 SE of the best: not separated from it; no mark: separated (lower). ID avg / OOD avg: unweighted mean of the row's ID / OOD sets; AVG: of all its sets.",
    "| Method | clevr-math ID (n=500) | super-clevr OOD (n=500) | ID avg | OOD avg | AVG |",
    "| **Zero-Shot** | 21.0 ± 1.9 | 11.0 ± 1.5 | 21.0 ± 1.9 | 11.0 ± 1.5 | 16.0 ± 1.3 |",
    "| **CoT-SFT** | 52.7 ± 2.7 | 40.0 ± 2.5 | 52.7 ± 2.7 ▲ | 40.0 ± 2.5 ≈ | 46.3 ± 1.7 ≈ |",
    "| **Reason-RFT** | 51.0 ± 2.3 | 42.7 ± 2.4 | 51.0 ± 2.3 ≈ | 42.7 ± 2.4 ▲ | 46.8 ± 1.6 ▲ |",
    "Per seed (seed 1 / seed 2 / seed 3), accuracy in %:",
    "| Zero-Shot | 20.0 / 22.0 / 21.0 | 10.0 / 12.0 / 11.0 | 20.0 / 22.0 / 21.0 | 10.0 / 12.0 / 11.0 | 15.0 / 17.0 / 16.0 |",
    "| Reason-RFT | 52.0 / 50.0 / 51.0 | 41.0 / 44.0 / 43.0 | 52.0 / 50.0 / 51.0 | 41.0 / 44.0 / 43.0 | 46.5 / 47.0 / 47.0 |",
  ])
    assert.ok(lines.includes(l), `${l}\n---\n${md}`);
  assert.match(md, /- ± is one standard error \(SE\) in %: SE = √\(SE_seeds² \+ SE_items²\)/);
  assert.match(md, /- Noise: a row's average is marked ≈ when it is within 2 SE of the best/);

  const t = rep.tables[0]!;
  assert.deepEqual(t.seeds, [1, 2, 3]);
  assert.deepEqual(t.noise, {
    z: 2,
    id_avg: { best: "CoT-SFT", within: ["Reason-RFT"], separated: ["Zero-Shot"] },
    ood_avg: { best: "Reason-RFT", within: ["CoT-SFT"], separated: ["Zero-Shot"] },
    avg: { best: "Reason-RFT", within: ["CoT-SFT"], separated: ["Zero-Shot"] },
  });
  const rft = t.rows.find((r) => r.label === "Reason-RFT")!;
  // SEs in %, computed by hand (seeds.test.ts checks the formulas): √(sd²/3 + p̄(1 − p̄)/500).
  assert.deepEqual(
    [rft.scores_se, rft.id_se, rft.ood_se, rft.avg_se],
    [{ "clevr-math": 2.309, "super-clevr": 2.3812 }, 2.309, 2.3812, 1.5813],
  );
  assert.deepEqual(rft.seed_avgs, { id_avg: [52, 50, 51], ood_avg: [41, 44, 43], avg: [46.5, 47, 47] });

  // The page: the same cells, the per-seed table, the definitions.
  const html = reportHtml(rep, [], { chartJs: "" });
  assert.ok(html.includes("<td>51.0 ± 2.3 ≈</td><td>42.7 ± 2.4 ▲</td><td>46.8 ± 1.6 ▲</td>"), html);
  assert.ok(html.includes('<table class="seeds">'));
  assert.ok(html.includes("within 2 SE of the best: not separated from it"));
});

test("reports over seeds: a row missing in a seed is said so; report.json keeps the SEs and the noise summary", () => {
  const perSeed = seededResults();
  perSeed[2]!.results = perSeed[2]!.results.filter((r) => r.paradigm !== "reason-rft");
  const f = fixture();
  const out = join(f.root, "seeded");
  writeReport(out, { results: aggregateSeeds(perSeed) });
  const md = readFileSync(join(out, "report.md"), "utf8");
  assert.ok(md.includes("| **Reason-RFT** | 51.0 ± 2.4 (2 of 3 seeds) | 42.5 ± 2.7 (2 of 3 seeds) |"), md);
  assert.ok(md.includes("| Reason-RFT | 52.0 / 50.0 / – | 41.0 / 44.0 / – |"), md);
  assert.ok(md.includes("- Reason-RFT: no result in seed 3 for clevr-math, super-clevr;"), md);
  // The paper's rows keep their plain cells beside ours.
  assert.ok(md.includes("| paper Qwen2-VL-2B Reason-RFT | 96.80 | 51.20 | 96.80 | 51.20 | 74.00 |"), md);

  const json = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  const r = json.results.find((x: ResultRow) => x.paradigm === "reason-rft" && x.set === "clevr-math");
  assert.deepEqual(
    [r.seeds, r.seed_accuracies],
    [
      [1, 2],
      [0.52, 0.5],
    ],
  );
  assert.ok(Math.abs(r.se - Math.hypot(0.01, Math.sqrt((0.51 * 0.49) / 500))) < 1e-12, String(r.se));
  assert.deepEqual(json.tables[0].noise.ood_avg, {
    best: "Reason-RFT",
    within: ["CoT-SFT"],
    separated: ["Zero-Shot"],
  });
  // An earlier seeded report read back keeps its SEs (rft report DIR).
  const again = join(f.root, "again");
  writeReport(again, { results: readReportDir(out) });
  assert.equal(readFileSync(join(again, "report.md"), "utf8"), md);
});

test("single-seed results (no se): no ±, no marks, no seed fields, no per-seed table, the page's plain script", () => {
  const f = fixture();
  const rep = buildReport({ results: [...readEvalDir(f.evRft), ...readEvalDir(f.evZero)], runs: [readRunDir(f.run)] });
  const md = reportMarkdown(rep);
  assert.ok(!/±|≈|▲|Per seed/.test(md), md);
  assert.ok(md.includes("Accuracy in %. ID avg / OOD avg: unweighted mean of the row's ID / OOD sets;"));
  const t = rep.tables[0]!;
  assert.equal("noise" in t || "seeds" in t, false);
  for (const r of t.rows)
    for (const k of ["scores_se", "id_se", "ood_se", "avg_se", "seeds", "seed_scores", "seed_avgs"])
      assert.equal(k in r, false, `${r.label}: ${k}`);
  const html = reportHtml(rep, [readRunDir(f.run)], { chartJs: "" });
  assert.ok(!/±|rftBand|mean of \d+ seeds/.test(html));
});

test("runs over seeds: '<name> (seed N)' grouped, one line per metric (mean) with a min–max band", () => {
  const run = (name: string, rewards: (number | undefined)[]) => ({
    name,
    metrics: rewards.map((reward, i) => ({ step: i + 1, ...(reward !== undefined ? { reward } : {}), loss: 1 })),
  });
  const runs = [
    run("base (instruct SFT)", [0.1]),
    run("counting/reason-rft (seed 1)", [0.2, 0.4, 0.6]),
    run("counting/cot-sft (seed 1)", [0.5]),
    run("counting/reason-rft (seed 2)", [0.4, 0.6, undefined]),
    run("counting/reason-rft (seed 3)", [0.3, 0.2, 0.9]),
    run("counting/other (seed 1)", [0.7]),
    run("counting/cot-sft (seed 2)", [0.5]),
  ];
  assert.deepEqual(runGroups(runs), [
    { name: "base (instruct SFT)", indices: [0] },
    { name: "counting/reason-rft", indices: [1, 3, 4], seeds: [1, 2, 3] },
    { name: "counting/cot-sft", indices: [2, 6], seeds: [1, 2] },
    { name: "counting/other (seed 1)", indices: [5] },
  ]);
  const charts = runCharts(runs);
  const rewards = charts.find((c) => c.id === "run-1-0")!;
  assert.deepEqual([rewards.run, rewards.title, rewards.seeds], ["counting/reason-rft", "Rewards", 3]);
  const s = rewards.series[0]!;
  assert.equal(s.label, "reward");
  const want: [number, number, number, number][] = [
    [1, 0.3, 0.2, 0.4],
    [2, 0.4, 0.2, 0.6],
    [3, 0.75, 0.6, 0.9], // seed 2 logged no reward at step 3: the mean of the other two
  ];
  want.forEach(([x, m, lo, hi], i) => {
    assert.equal(s.points[i]![0], x);
    assert.ok(Math.abs(s.points[i]![1] - m) < 1e-12, `mean at step ${x}: ${s.points[i]![1]}`);
    assert.deepEqual(s.band![i], [x, lo, hi]);
  });
  assert.equal(charts.find((c) => c.id === "run-0-0")!.series[0]!.band, undefined, "a single run: no band");

  const rep = buildReport({ results: [], runs });
  const html = reportHtml(rep, runs, { chartJs: "" });
  assert.ok(html.includes("<h3>counting/reason-rft <small>(3 seeds)</small></h3>"), html);
  assert.ok(html.includes('<p class="meta">seeds 1, 2, 3 · 3 / 3 / 3 logged steps</p>'));
  assert.ok(html.includes("last step, mean over seeds (min–max): reward 0.75 (0.6–0.9) · loss 1"));
  assert.ok(html.includes("Rewards <small>(mean of 3 seeds; band: min–max)</small>"));
  assert.ok(html.includes("<h3>counting/other (seed 1)</h3>"));
  assert.ok(html.includes("rftBand"), "the page's script draws the bands");
  // The markdown still lists every seed's run.
  assert.ok(reportMarkdown(rep).includes("| counting/reason-rft (seed 2) | – | – | 3 |"));
});
