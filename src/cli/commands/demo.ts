/**
 * `rft demo`: the main job (`npm start`). Generates the mini benchmark, trains the tiny base model, runs the paper's
 * five paradigms per task, evaluates them on the ID and OOD test sets and writes the report (src/demo/pipeline.ts).
 */
import { type CommandSpec, UsageError } from "../args.ts";
import {
  DEMO_PARADIGMS,
  DEMO_TASKS,
  PRESETS,
  TRAINED_PARADIGMS,
  VARIANT_NAME,
  type DemoTask,
  scaledBudget,
} from "../../demo/presets.ts";
import { TASK_ALIASES } from "../../tasks/synth/generate.ts";
import type { ResultRow } from "../../eval/report.ts";
import type { DemoVariant } from "../../demo/pipeline.ts";

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

const VARIANT_FLAGS = ["paradigms", "set-sft", "set-stage1", "set-grpo", "stage1-size"] as const;

/** --variant and its flags (which need it): the variant, or undefined without --variant. */
export function parseVariant(opts: Record<string, unknown>): DemoVariant | undefined {
  const name = opts.variant as string | undefined;
  if (name === undefined) {
    const stray = VARIANT_FLAGS.filter((f) => opts[f] !== undefined);
    if (stray.length) throw new UsageError(`--${stray[0]} needs --variant NAME (the run's own arms keep the preset)`);
    return undefined;
  }
  if (!VARIANT_NAME.test(name))
    throw new UsageError(`--variant ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' only`);
  const trained = TRAINED_PARADIGMS;
  const picked = ((opts.paradigms as string[] | undefined) ?? ["reason-rft"]).flatMap((v) =>
    v
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  );
  for (const p of picked)
    if (!(trained as readonly string[]).includes(p))
      throw new UsageError(`--paradigms: '${p}' is not a paradigm a variant trains (one of: ${trained.join(", ")})`);
  if (!picked.length) throw new UsageError(`--paradigms: none given (one of: ${trained.join(", ")})`);
  const sets = (flag: string) => {
    const xs = (opts[flag] as string[] | undefined) ?? [];
    for (const x of xs)
      if (!/^[A-Za-z_][A-Za-z0-9_.]*=/.test(x))
        throw new UsageError(`--${flag} ${JSON.stringify(x)}: expected KEY=VALUE`);
    return xs.length ? { [flag.slice(4)]: xs } : {};
  };
  return {
    name,
    paradigms: trained.filter((p) => picked.includes(p)),
    sets: { ...sets("set-sft"), ...sets("set-stage1"), ...sets("set-grpo") },
    ...(opts["stage1-size"] !== undefined ? { stage1Size: opts["stage1-size"] as number } : {}),
  };
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
    // The paradigm's id as the row name; a variant's rows carry its name ("reason-rft [lr5e-6]").
    const name = (r: ResultRow) =>
      r.paradigm !== undefined && (r.label === undefined || r.variant !== undefined)
        ? r.paradigm + (r.variant !== undefined ? ` [${r.variant}]` : "")
        : (r.label ?? "");
    const w = Math.max(16, ...mine.map((r) => name(r).length + 1));
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
    // Per paradigm, the run's own row first, then a variant's (same paradigm, its own label).
    const groups = DEMO_PARADIGMS.flatMap((p) => {
      const rows = mine.filter((r) => r.paradigm === p);
      return [...new Set(rows.map(name))].map((label) => ({ label, rows: rows.filter((r) => name(r) === label) }));
    });
    for (const { label, rows } of groups) {
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
          label.padEnd(w),
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
    force: {
      type: "boolean",
      help: "start over in an --out made with other settings (or holding other files); with --variant: redo that variant",
    },
    variant: {
      type: "string",
      help: "an attempt: train --paradigms again with the --set-* overrides in OUT/variants/NAME, beside the run's own arms (same benchmark, base, seeds); its report goes there",
    },
    paradigms: {
      type: "strings",
      help: `with --variant: the paradigms it trains again, comma-separated (${TRAINED_PARADIGMS.join(", ")}) [default: reason-rft]`,
    },
    "set-sft": {
      type: "strings",
      help: "with --variant: KEY=VALUE config override of ANS-SFT and CoT-SFT (repeatable)",
    },
    "set-stage1": {
      type: "strings",
      help: "with --variant: KEY=VALUE config override of Reason-RFT's Stage 1 (repeatable)",
    },
    "set-grpo": {
      type: "strings",
      help: "with --variant: KEY=VALUE config override of GRPO, Reason-RFT-Zero and Stage 2 (repeatable)",
    },
    "stage1-size": {
      type: "number",
      help: "with --variant: records of the Stage-1 CoT split (more or fewer CoT labels; default the benchmark's 5%)",
      integer: true,
      min: 1,
    },
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
    "  rft demo --full --tasks counting --seeds 3 --workers 2 --variant lr5e-6 --set-grpo learning_rate=5e-6",
    "                                              # an attempt: Reason-RFT's GRPO again at another learning rate",
    "",
    "Stages (each cached in --out; a repeated run skips finished stages, an interrupted training resumes from its",
    "latest checkpoint, an interrupted evaluation by item id): the benchmark (rft data synth), a random qwen2-vl-tiny",
    "with a tokenizer trained on the benchmark's text, the base model (SFT on the instruct set), then per task the",
    "training files (rft data build), ANS-SFT, CoT-SFT, Reason-RFT-Zero (GRPO from the base), Reason-RFT (Stage-1",
    "CoT-SFT, then GRPO on the Stage-2 split), and the evaluation of the base (zero-shot) and of each paradigm on the",
    "task's ID and OOD test sets. Output: OUT/report.md, OUT/report.html, OUT/report.json.",
    "",
    "A variant (--variant NAME) trains and evaluates --paradigms again with --set-sft/--set-stage1/--set-grpo",
    "overrides (any training config field, e.g. learning_rate, beta, num_generations, temperature, loss_type,",
    "reward_funcs with reward_module) or another --stage1-size, for every seed, in OUT/variants/NAME; it reuses the",
    "run's benchmark and base model, and its training files and Stage-1 model unless it changes them. Its report",
    "(OUT/variants/NAME/report.*) puts its rows, tagged [NAME], beside the run's own.",
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
    const variant = parseVariant(opts);
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
      ...(variant ? { variant } : {}),
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
