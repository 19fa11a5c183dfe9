/**
 * `rft demo`: the main job (`npm start`). Generates the mini benchmark, trains the tiny base model, runs the paper's
 * five paradigms per task, evaluates them on the ID and OOD test sets and writes the report (src/demo/pipeline.ts).
 */
import { type CommandSpec, UsageError } from "../args.ts";
import { DEMO_PARADIGMS, DEMO_TASKS, PRESETS, type DemoTask, scaledBudget } from "../../demo/presets.ts";
import { TASK_ALIASES } from "../../tasks/synth/generate.ts";
import type { ResultRow } from "../../eval/report.ts";

/** Parses --tasks (comma-separated; the reference's names are accepted): the demo's tasks in their fixed order. */
export function parseDemoTasks(values: readonly string[]): DemoTask[] {
  const picked = new Set<DemoTask>();
  for (const raw of values.flatMap((v) => v.split(","))) {
    const name = raw.trim();
    if (!name) continue;
    const t = TASK_ALIASES[name];
    if (!t || t === "instruct")
      throw new UsageError(`--tasks: unknown task '${name}' (one of: ${DEMO_TASKS.join(", ")})`);
    picked.add(t);
  }
  if (picked.size === 0) throw new UsageError(`--tasks: no task given (one of: ${DEMO_TASKS.join(", ")})`);
  return DEMO_TASKS.filter((t) => picked.has(t));
}

const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? "   -" : (x * 100).toFixed(1).padStart(5);

/** The terminal table: per task, one row per paradigm with every set's accuracy and the ID / OOD averages (%). */
export function formatDemoTable(results: readonly ResultRow[]): string {
  const lines: string[] = [];
  for (const task of [...new Set(results.map((r) => r.task))]) {
    const mine = results.filter((r) => r.task === task);
    const sets = [...new Map(mine.map((r) => [r.set, r.split])).entries()].sort((a, b) =>
      a[1] === b[1] ? 0 : a[1] === "id" ? -1 : 1,
    );
    const w = 16;
    const cols = sets.map(([s, sp]) => `${s} (${sp.toUpperCase()})`);
    const withSe = mine.some((r) => r.se !== undefined);
    const cw = Math.max(withSe ? 11 : 7, ...cols.map((c) => c.length));
    const n = mine[0]?.n;
    const seeds = mine[0]?.seeds?.length;
    lines.push(
      `${task} (accuracy %, ${n ?? "?"} items per set${withSe ? `, mean ± SE over ${seeds ?? "?"} seeds and the items` : ""})`,
    );
    lines.push(
      ["paradigm".padEnd(w), ...cols.map((c) => c.padStart(cw)), "ID avg".padStart(7), "OOD avg".padStart(8)].join(" "),
    );
    for (const p of DEMO_PARADIGMS) {
      const rows = mine.filter((r) => r.paradigm === p);
      if (!rows.length) continue;
      const acc = (set: string) => rows.find((r) => r.set === set)?.accuracy ?? null;
      const cell = (set: string) => {
        const se = rows.find((r) => r.set === set)?.se;
        return pct(acc(set)) + (withSe ? (se === undefined ? "      " : ` ±${(se * 100).toFixed(1).padStart(4)}`) : "");
      };
      const avg = (split: string) => {
        const xs = rows.filter((r) => r.split === split).map((r) => r.accuracy);
        return xs.length && xs.every((x) => x !== null)
          ? (xs as number[]).reduce((a, x) => a + x, 0) / xs.length
          : null;
      };
      lines.push(
        [
          p.padEnd(w),
          ...sets.map(([s]) => cell(s).padStart(cw)),
          pct(avg("id")).padStart(7),
          pct(avg("ood")).padStart(8),
        ].join(" "),
      );
    }
    lines.push("");
  }
  return lines.join("\n").trimEnd();
}

export const command: CommandSpec = {
  name: "demo",
  summary: "the paper at mini scale: benchmark, tiny base model, five paradigms per task, ID/OOD report (npm start)",
  options: {
    out: { type: "string", help: "work directory: every stage is cached here, and the report", default: "runs/demo" },
    quick: { type: "boolean", help: "the quick preset (the default): within 15 minutes on 2 cores" },
    full: { type: "boolean", help: "the full preset: long enough to compare the paradigms (hours; see docs)" },
    tasks: {
      type: "strings",
      help: `tasks, comma-separated (${DEMO_TASKS.join(", ")}; reference names accepted) [default: all three]`,
    },
    seed: {
      type: "number",
      help: "seed of the benchmark, weights, data order and sampling",
      default: 0,
      integer: true,
      min: 0,
    },
    seeds: {
      type: "number",
      help: "fine-tuning seeds per task (seed, seed+1, ...): the report gives mean ± standard error; more can be added to a finished run",
      default: 1,
      integer: true,
      min: 1,
      max: 100,
    },
    "steps-scale": {
      type: "number",
      help: "multiply every training step count by this (at least 1 step each)",
      default: 1,
      min: 0.001,
      max: 100,
    },
    limit: { type: "number", help: "test items per set (overrides the preset's cap)", integer: true, min: 1 },
    size: {
      type: "string",
      help: "benchmark size (overrides the preset's: full)",
      choices: ["small", "full"] as const,
    },
    workers: {
      type: "number",
      help: "training processes per stage (rft launch; same global batch, so the same results up to float noise); on 2 cores 2 train 1.5-1.75x faster (docs/scaling.md)",
      default: 1,
      integer: true,
      min: 1,
      max: 64,
    },
    force: { type: "boolean", help: "start over in an --out made with other settings (or holding other files)" },
    json: { type: "boolean", help: "print report.json's results and seconds as JSON on stdout instead of the table" },
  },
  details: [
    "Examples:",
    "  npm start                                   # = rft demo: the quick preset into runs/demo/",
    "  rft demo --tasks counting                   # one task only",
    "  rft demo --out runs/demo2 --seed 1          # another seed in another work directory",
    "  rft demo --tasks counting --size small --steps-scale 0.1 --limit 4   # a smoke run (about a minute)",
    "  rft demo --full --out runs/demo-full --workers 2   # the full preset (hours on 2 cores; resumable)",
    "  rft demo --full --tasks counting --seeds 3 --workers 2   # three fine-tuning seeds: mean ± SE (docs/results.md)",
    "",
    "Stages (each cached in --out; a repeated run skips finished stages, an interrupted training resumes from its",
    "latest checkpoint, an interrupted evaluation by item id): the benchmark (rft data synth), a random qwen2-vl-tiny",
    "with a tokenizer trained on the benchmark's text, the base model (SFT on the instruct set), then per task the",
    "training files (rft data build), ANS-SFT, CoT-SFT, Reason-RFT-Zero (GRPO from the base), Reason-RFT (Stage-1",
    "CoT-SFT, then GRPO on the Stage-2 split), and the evaluation of the base (zero-shot) and of each paradigm on the",
    "task's ID and OOD test sets. Output: OUT/report.md, OUT/report.html, OUT/report.json.",
    "",
    "The quick run shows the pipeline, not which paradigm is better: at minutes of compute the paradigms are not",
    "separated (the report says what it can and cannot show). docs/evaluation.md (rft demo) has the budgets and times.",
  ].join("\n"),
  async run(opts) {
    if (opts.quick && opts.full) throw new UsageError("--quick and --full exclude each other");
    const preset = opts.full ? "full" : "quick";
    const tasks = parseDemoTasks((opts.tasks as string[] | undefined) ?? [DEMO_TASKS.join(",")]);
    const budget = scaledBudget(PRESETS[preset], {
      stepsScale: opts["steps-scale"] as number,
      limit: opts.limit as number | undefined,
      size: opts.size as "small" | "full" | undefined,
    });
    const { runDemo } = await import("../../demo/pipeline.ts");
    const res = await runDemo({
      out: String(opts.out),
      preset,
      budget,
      tasks,
      seed: opts.seed as number,
      seeds: opts.seeds as number,
      force: Boolean(opts.force),
      workers: opts.workers as number,
    });
    if (opts.json) {
      console.log(
        JSON.stringify(
          { out: res.out, seconds: res.seconds, stage_seconds: res.stageSeconds, results: res.results },
          null,
          2,
        ),
      );
      return 0;
    }
    console.log("");
    console.log(formatDemoTable(res.results));
    console.log("");
    const cached = res.ran.length === 0 ? " (every stage from the cache)" : "";
    console.log(
      `${preset} demo: ${res.seconds.toFixed(1)} s this run${cached}; ${res.stageSeconds.toFixed(1)} s of stage time in total`,
    );
    console.log(`report: ${res.out}/report.md, report.html, report.json`);
    if (preset === "quick")
      console.log(
        "note: at this budget the paradigms are not separated; the table shows the pipeline runs, not which is better.",
      );
    return 0;
  },
};
