/**
 * `rft plan`: memory per rank of SFT and GRPO for a preset or a checkpoint's config.json (src/train/plan.ts does the
 * arithmetic; docs/scaling.md has every formula). Tensor-free: libtorch is not loaded.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type CommandSpec, type ParsedOptions, UsageError } from "../args.ts";
import {
  ConfigError,
  PRESET_NAMES,
  parseConfigText,
  presetConfig,
  type Qwen2VLConfig,
} from "../../models/qwen2vl/config.ts";
import {
  PLAN_DTYPES,
  type FitResult,
  type Plan,
  type PlanDtype,
  type PlanSettings,
  type TrainerPlan,
  configDtype,
  defaultPlanSettings,
  formatBytes,
  largestMicroBatch,
  parseBytes,
  planMemory,
} from "../../train/plan.ts";

/** Short names accepted for the presets (case-insensitive). */
const PRESET_ALIASES: Record<string, string> = {
  tiny: "qwen2-vl-tiny",
  "2b": "qwen2-vl-2b",
  "7b": "qwen2-vl-7b",
  "qwen2-vl-2b-instruct": "qwen2-vl-2b",
  "qwen2-vl-7b-instruct": "qwen2-vl-7b",
  ...Object.fromEntries(PRESET_NAMES.map((n) => [n, n])),
};

/** A preset name or a checkpoint directory (its config.json only) → config and a description of the source. */
export function resolvePlanModel(arg: string): { config: Qwen2VLConfig; source: string } {
  if (existsSync(arg)) {
    const file = statSync(arg).isDirectory() ? join(arg, "config.json") : arg;
    if (!existsSync(file))
      throw new UsageError(`--model: ${arg} has no config.json (a checkpoint directory needs one)`);
    try {
      return { config: parseConfigText(readFileSync(file, "utf8"), { source: file }).config, source: file };
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`--model: ${e.message}`);
      throw e;
    }
  }
  const preset = PRESET_ALIASES[arg.toLowerCase()];
  if (!preset)
    throw new UsageError(
      `--model: '${arg}' is neither a preset (${Object.keys(PRESET_ALIASES).join(", ")}) nor an existing checkpoint directory`,
    );
  return { config: presetConfig(preset), source: `preset ${preset}` };
}

function int(opts: ParsedOptions, name: string): number | undefined {
  const v = opts[name];
  return typeof v === "number" ? v : undefined;
}

/** The settings from the flags over the trainers' defaults. */
export function planSettingsFromFlags(opts: ParsedOptions, config: Qwen2VLConfig): PlanSettings {
  const world = int(opts, "world-size")!;
  const dtype = (opts.dtype as PlanDtype | undefined) ?? configDtype(config);
  const s = defaultPlanSettings(dtype, world);
  s.zero = opts.zero === "3" ? 3 : 0;
  s.bf16 = opts.bf16 === true;
  const mb = int(opts, "micro-batch");
  if (mb !== undefined) {
    s.sftMicroBatch = mb;
    s.grpoMicroBatch = mb;
  }
  const px = int(opts, "max-pixels");
  if (px !== undefined) {
    s.sftMaxPixels = px;
    s.grpoMaxPixels = px;
  }
  const set = <K extends keyof PlanSettings>(flag: string, key: K) => {
    const v = opts[flag];
    if (typeof v === "number") (s as Record<K, unknown>)[key] = v;
  };
  set("generations", "generations");
  set("completion-length", "completionLength");
  set("prompt-tokens", "promptTextTokens");
  set("images", "images");
  set("prompts-per-step", "promptsPerStep");
  set("beta", "beta");
  return s;
}

const num = (n: number) => n.toLocaleString("en-US");

function trainerText(t: TrainerPlan, p: Plan): string[] {
  const s = p.settings;
  const q = t.sequence;
  const what = t.trainer === "sft" ? `${t.microBatch} record(s)` : `${t.microBatch} completion(s)`;
  const frozen =
    t.trainer === "sft"
      ? s.sftFreezeVisionTower
        ? `vision tower${s.sftFreezeProjector ? " and merger" : ""} frozen`
        : "everything trains"
      : s.grpoFreezeVisionTower
        ? "vision tower frozen"
        : "everything trains, vision tower included";
  const head =
    t.trainer === "sft"
      ? `SFT: micro-batch ${what}; sequence ${q.total} = image ${q.imageTokens} + prompt text ${q.promptText} + response ${q.completion} tokens; ${frozen} (trainer default unless changed)`
      : `GRPO: micro-batch ${what}; G ${s.generations}, ${Math.ceil(s.promptsPerStep / s.worldSize)} prompt(s) per rank per round; sequence ${q.total} = image ${q.imageTokens} + prompt text ${q.promptText} + completion ${q.completion} tokens; ${frozen}; β ${s.beta}`;
  const rows = t.lines.map((l) => `  ${l.label.padEnd(54)} ${formatBytes(l.bytes).padStart(11)}   ${l.detail}`);
  const phases = Object.entries(t.phases)
    .map(([k, b]) => `${k} ${formatBytes(t.persistentBytes + b)}`)
    .join(", ");
  return [
    head,
    ...rows,
    `  ${"total per rank".padEnd(54)} ${formatBytes(t.total).padStart(11)}   ${num(t.total)} B at the peak (${t.peakPhase}); phases: ${phases}`,
  ];
}

function fitText(trainer: "sft" | "grpo", f: FitResult, memory: number, unit: string): string {
  const name = trainer.toUpperCase();
  const mem = `${formatBytes(memory)} (${num(memory)} B)`;
  if (f.largest === 0)
    return (
      `${name}: no micro-batch fits ${mem} per rank: 1 ${unit} needs ${formatBytes(f.total)}; the largest item is ` +
      `${f.dominant!.label} (${formatBytes(f.dominant!.bytes)}), peak in the ${f.dominant!.phase} phase` +
      (f.dominant!.phase === "generation"
        ? " (generation does not depend on the micro-batch: lower --generations, --prompts-per-step or --max-pixels, or add ranks)"
        : "")
    );
  const next =
    f.next === null
      ? trainer === "grpo"
        ? ` (all ${f.cap} completions of a rank's round fit in one micro-batch)`
        : ""
      : `; ${f.largest + 1} would need ${formatBytes(f.next)}`;
  return `${name}: largest micro-batch that fits ${mem} per rank: ${f.largest} ${unit} (${formatBytes(f.total)})${next}`;
}

export const command: CommandSpec = {
  name: "plan",
  summary: "memory per rank of SFT and GRPO (weights, gradients, optimizer, activations, KV cache) for a model",
  options: {
    model: { type: "string", required: true, help: "preset (tiny, 2b, 7b, qwen2-vl-*) or checkpoint directory" },
    "world-size": { type: "number", integer: true, min: 1, required: true, help: "ranks (data-parallel processes)" },
    generations: { type: "number", integer: true, min: 1, help: "GRPO: completions per prompt G [default: 8]" },
    "max-pixels": {
      type: "number",
      integer: true,
      min: 784,
      help: "pixel cap per image [default: SFT 262144, GRPO 480000]",
    },
    "completion-length": {
      type: "number",
      integer: true,
      min: 1,
      help: "generated (GRPO) / supervised (SFT) tokens [default: 512]",
    },
    "prompt-tokens": {
      type: "number",
      integer: true,
      min: 0,
      help: "prompt text tokens, images excluded [default: 128]",
    },
    images: { type: "number", integer: true, min: 1, help: "images per sample [default: 1]" },
    "prompts-per-step": {
      type: "number",
      integer: true,
      min: 1,
      help: "GRPO prompts per optimizer step over all ranks [default: 14]",
    },
    beta: { type: "number", min: 0, help: "GRPO KL coefficient; 0 = no reference model [default: 0.04]" },
    dtype: { type: "string", choices: PLAN_DTYPES, help: "weight dtype [default: the config's torch_dtype]" },
    bf16: { type: "boolean", help: "bfloat16 autocast (the trainers' bf16 field): activations in 2 bytes" },
    zero: { type: "string", choices: ["0", "3"], default: "0", help: "0 = replicated state; 3 = ZeRO-3 sharding" },
    "micro-batch": {
      type: "number",
      integer: true,
      min: 1,
      help: "SFT records / GRPO completions per micro-batch [default: SFT 1, GRPO 8]",
    },
    memory: {
      type: "string",
      help: "memory per rank (24GiB, 80GB, 512MiB, bytes): print the largest micro-batch that fits",
    },
    json: { type: "boolean", help: "print JSON" },
  },
  details: [
    "Per-rank bytes of our implementation (no gradient checkpointing, eager attention, AdamW moments in the weight",
    "dtype); docs/scaling.md gives the formula of every line. The trainers' defaults apply unless a flag changes",
    "them: SFT freezes the vision tower and merger, GRPO trains everything.",
    "",
    "Examples:",
    "  rft plan --model tiny --world-size 1",
    "  rft plan --model 2b --world-size 8 --zero 3 --memory 80GB",
    "  rft plan --model runs/tiny/final --world-size 2 --micro-batch 4 --json",
  ].join("\n"),
  run(opts) {
    const { config, source } = resolvePlanModel(String(opts.model));
    const settings = planSettingsFromFlags(opts, config);
    let plan: Plan;
    try {
      plan = planMemory(config, settings);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    let memory: number | undefined;
    if (opts.memory !== undefined) {
      try {
        memory = parseBytes(String(opts.memory));
      } catch (e) {
        throw new UsageError(`--memory: ${(e as Error).message}`);
      }
    }
    const fit = memory
      ? {
          memory,
          sft: largestMicroBatch(config, settings, "sft", memory),
          grpo: largestMicroBatch(config, settings, "grpo", memory),
        }
      : undefined;
    if (opts.json) {
      console.log(JSON.stringify({ source, ...plan, ...(fit ? { fit } : {}) }, null, 2));
      return 0;
    }
    const s = plan.settings;
    const out = [
      `${source}: ${num(plan.model.parameters)} parameters (${plan.model.layers} layers × ${plan.model.hiddenSize}, vocab ${plan.model.vocab}); ` +
        `W ${s.worldSize} rank(s), ${s.zero === 3 ? "ZeRO-3 (weights, gradients, optimizer state sharded)" : "ZeRO-0 (every rank holds everything)"}, ` +
        `weights ${s.dtype}${s.bf16 ? ", bf16 autocast" : ""}. Bytes per rank.`,
      "",
      ...trainerText(plan.sft, plan),
      "",
      ...trainerText(plan.grpo, plan),
      "",
      `Host RAM besides: the trainers' example cache holds up to ${plan.hostExampleCache.capacity} prepared examples with float32 pixels: ` +
        `SFT ${formatBytes(plan.hostExampleCache.sft)}, GRPO ${formatBytes(plan.hostExampleCache.grpo)} when the data set has that many.`,
    ];
    if (fit) {
      out.push(
        "",
        fitText("sft", fit.sft, fit.memory, "record(s)"),
        fitText("grpo", fit.grpo, fit.memory, "completion(s)"),
      );
    }
    console.log(out.join("\n"));
    return 0;
  },
};
