/**
 * The trainers' configs: one typed config per trainer (SFTConfig, GRPOConfig), each defined by ONE table below that
 * gives every field its type, default, origin and one-line doc (nanoGPT's visible defaults block; TRL's per-field
 * help). The same table drives validation (zod, before any work starts), `--set key=value` parsing, the `--help`
 * listing, the config reference in docs/training.md and the serialised config of a run.
 *
 * Field names are Hugging Face TrainingArguments' and TRL GRPOConfig's wherever one exists, so a user's settings
 * carry over; fields the reference takes from LLaMA-Factory or its own scripts keep those names.
 *
 * Defaults reproduce the reference's effective settings on ONE process (spec §4.1, §4.12 for GRPO, §5.6 for SFT):
 * its data-parallel global batch becomes gradient accumulation. Exception: `bf16` defaults to false (exact fp32 on
 * CPU); the `paper` profiles of src/train/recipes.ts turn it on.
 *
 * Layers, later wins: defaults < recipe profile < `--config FILE` (YAML or JSON) < `--set key=value` (repeatable).
 *
 * Tensor-free: the CLI can print help and validate a config without loading libtorch.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import YAML from "yaml";
import { REWARD_NAMES, REWARD_TASKS } from "../rewards/registry.ts";
import { taskFamily } from "../tasks/tasks.ts";
import type { ScheduleName } from "../nn/optim/schedule.ts";
import type { KlEstimator, LossType, ScaleRewards } from "./rl_math.ts";

// ---- field table machinery ----------------------------------------------------------------------------------------

/** How a `--set` value is read. */
export type FieldKind = "number" | "integer" | "boolean" | "string" | "enum" | "string[]" | "number[]";

/** Where a field's name comes from (docs/training.md's mapping column). */
export type FieldOrigin = "HF" | "TRL" | "TRL-script" | "LLaMA-Factory" | "reference" | "ours";

export interface FieldSpec<S extends z.ZodTypeAny = z.ZodTypeAny> {
  kind: FieldKind;
  schema: S;
  default: z.infer<S>;
  origin: FieldOrigin;
  doc: string;
  /** Allowed values (enum fields), for help and docs. */
  choices?: readonly string[];
  /** Other accepted spellings → the canonical value (enum fields). */
  aliases?: Readonly<Record<string, string>>;
  nullable: boolean;
}

type Fields = Record<string, FieldSpec>;
type ConfigOf<F extends Fields> = { -readonly [K in keyof F]: z.infer<F[K]["schema"]> };

function field<S extends z.ZodTypeAny>(
  kind: FieldKind,
  schema: S,
  def: z.infer<S>,
  origin: FieldOrigin,
  doc: string,
  choices?: readonly string[],
  aliases?: Readonly<Record<string, string>>,
): FieldSpec<S> {
  return { kind, schema, default: def, origin, doc, choices, aliases, nullable: schema.isNullable() };
}

const num = z.number().finite();
const nonNeg = num.nonnegative();
const posNum = num.positive();
const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();

const f = {
  num: (s: z.ZodNumber, d: number, o: FieldOrigin, doc: string) => field("number", s, d, o, doc),
  int: (s: z.ZodNumber, d: number, o: FieldOrigin, doc: string) => field("integer", s, d, o, doc),
  bool: (d: boolean, o: FieldOrigin, doc: string) => field("boolean", z.boolean(), d, o, doc),
  /** An optional string (a path, a name): null by default. */
  optStr: (o: FieldOrigin, doc: string) => field("string", z.string().min(1).nullable(), null as string | null, o, doc),
  /** An optional number/integer: null by default. */
  optNum: (s: z.ZodNumber, o: FieldOrigin, doc: string) => field("number", s.nullable(), null as number | null, o, doc),
  optInt: (s: z.ZodNumber, o: FieldOrigin, doc: string) =>
    field("integer", s.nullable(), null as number | null, o, doc),
  oneOf: <T extends string>(values: readonly [T, ...T[]], d: T, o: FieldOrigin, doc: string) =>
    field("enum", z.enum(values as [T, ...T[]]), d, o, doc, values),
};

// ---- option values --------------------------------------------------------------------------------------------------

export const LR_SCHEDULER_TYPES = ["linear", "cosine", "constant", "constant_with_warmup"] as const;
const _schedCheck: readonly ScheduleName[] = LR_SCHEDULER_TYPES;

/** TRL `loss_type` values we implement; rl_math.aggregateLoss has the formulas. */
export const LOSS_TYPES = ["grpo", "bnpo", "dapo", "dr_grpo"] as const;
const _lossCheck: readonly LossType[] = LOSS_TYPES;
/** The names issue 9 / DESIGN.md use, accepted as aliases of TRL's values. */
export const LOSS_TYPE_ALIASES: Readonly<Record<string, (typeof LOSS_TYPES)[number]>> = {
  "sequence-mean": "grpo",
  "token-mean": "dapo",
  "constant-norm": "dr_grpo",
};

export const SCALE_REWARDS = ["group", "batch", "none"] as const;
const _scaleCheck: readonly ScaleRewards[] = SCALE_REWARDS;

export const KL_ESTIMATORS = ["k1", "k2", "k3"] as const;
const _klCheck: readonly KlEstimator[] = KL_ESTIMATORS;

export const REWARD_ON_ERROR = ["raise", "zero"] as const;

void [_schedCheck, _lossCheck, _scaleCheck, _klCheck];

const lossType = z.preprocess(
  (v) => (typeof v === "string" && v in LOSS_TYPE_ALIASES ? LOSS_TYPE_ALIASES[v] : v),
  z.enum(LOSS_TYPES),
);

// =====================================================================================================================
// SFT (spec §5). Defaults: the reference's 18 SFT scripts (§5.6) on one process: 8 GPUs × 1 × 2 accumulation = 16.
// =====================================================================================================================
/** Data parallel (rft launch / torchrun), the same in both trainers; HF TrainingArguments' names. */
const DDP_FIELDS = {
  ddp_backend: f.oneOf(
    ["gloo", "nccl"] as const,
    "gloo",
    "HF",
    "c10d backend when WORLD_SIZE > 1 (nccl needs a CUDA libtorch)",
  ),
  ddp_timeout: f.int(posInt, 1800, "HF", "seconds a rank waits for the others in a collective before failing"),
  ddp_bucket_cap_mb: f.num(posNum, 25, "HF", "gradients are all-reduced in buckets of this many MiB"),
} satisfies Fields;

export const SFT_FIELDS = {
  // -- run (the CLI flags --model, --data, --image-root, --task, --out set these) --
  model_name_or_path: f.optStr("TRL-script", "checkpoint directory to start from (Hugging Face layout) [--model]"),
  dataset_name: f.optStr("TRL-script", "training file written by `rft data build` (sharegpt records) [--data]"),
  image_root: f.optStr("ours", "directory the records' image paths are relative to [--image-root]"),
  task_name: f.optStr("reference", "task of the data (a name `rft data build --task` accepts) [--task]"),
  output_dir: f.optStr("HF", "run directory: checkpoints, metrics.jsonl, config [--out]"),
  // -- batch and length --
  per_device_train_batch_size: f.int(posInt, 1, "HF", "samples per micro-batch"),
  gradient_accumulation_steps: f.int(posInt, 16, "HF", "micro-batches per optimizer step (token mean each, averaged)"),
  num_train_epochs: f.num(posNum, 1, "HF", "passes over the data (ignored when max_steps > 0)"),
  max_steps: f.int(z.number().int().min(-1), -1, "HF", "optimizer steps to run; -1 = from num_train_epochs"),
  cutoff_len: f.int(posInt, 4096, "LLaMA-Factory", "max tokens of prompt + response; longer samples are truncated"),
  pad_to_multiple_of: f.int(posInt, 8, "HF", "right padding rounds a micro-batch's length up to a multiple of this"),
  max_pixels: f.int(posInt, 262144, "reference", "image pixel cap (smart_resize); SFT images are ≤ 262,144 px"),
  min_pixels: f.int(posInt, 3136, "reference", "image pixel floor (smart_resize)"),
  // -- optimizer and schedule --
  learning_rate: f.num(nonNeg, 1e-5, "HF", "peak AdamW learning rate"),
  lr_scheduler_type: f.oneOf(LR_SCHEDULER_TYPES, "cosine", "HF", "learning-rate schedule after warmup"),
  warmup_steps: f.int(nonNegInt, 100, "HF", "linear warmup steps (overrides warmup_ratio when > 0)"),
  warmup_ratio: f.num(nonNeg.max(1), 0, "HF", "warmup as a fraction of the total steps (when warmup_steps = 0)"),
  weight_decay: f.num(nonNeg, 0.1, "HF", "AdamW decoupled weight decay"),
  adam_beta1: f.num(nonNeg.max(1), 0.9, "HF", "AdamW β1"),
  adam_beta2: f.num(nonNeg.max(1), 0.999, "HF", "AdamW β2"),
  adam_epsilon: f.num(posNum, 1e-8, "HF", "AdamW ε"),
  max_grad_norm: f.num(nonNeg, 1.0, "HF", "clip the global gradient norm to this; 0 = no clipping"),
  // -- model --
  freeze_vision_tower: f.bool(true, "LLaMA-Factory", "do not train visual.patch_embed and visual.blocks"),
  freeze_multi_modal_projector: f.bool(true, "LLaMA-Factory", "do not train the patch merger (visual.merger)"),
  bf16: f.bool(false, "HF", "bfloat16 autocast for forward/backward (weights and optimizer stay fp32)"),
  // -- bookkeeping --
  seed: f.int(nonNegInt, 42, "HF", "seed of data order, init and sampling"),
  logging_steps: f.int(posInt, 5, "HF", "write metrics every this many optimizer steps"),
  save_steps: f.int(posInt, 200, "HF", "write OUT/checkpoint-<step>/ every this many optimizer steps"),
  save_total_limit: f.optInt(posInt, "HF", "keep at most this many checkpoints; null = all"),
  ...DDP_FIELDS,
} satisfies Fields;

// =====================================================================================================================
// GRPO (spec §4). Defaults: TRL 0.15's as the reference ran them plus its scripts' overrides (§4.1, §4.12), on one
// process: 7 ranks × 1 prompt × 2 accumulation = 14 prompts × 8 completions = 112 completions per optimizer step.
// Batch sizes count COMPLETIONS, as in TRL (the reference's custom trainer counted prompts).
// =====================================================================================================================
export const GRPO_FIELDS = {
  // -- run --
  model_name_or_path: f.optStr(
    "TRL-script",
    "checkpoint to start from, also the reference model if beta > 0 [--model]",
  ),
  dataset_name: f.optStr("TRL-script", "RL file written by `rft data build` (id, image, problem, solution) [--data]"),
  image_root: f.optStr("ours", "directory the records' image paths are relative to [--image-root]"),
  task_name: field(
    "enum",
    z.enum(REWARD_TASKS).nullable(),
    null as (typeof REWARD_TASKS)[number] | null,
    "reference",
    "reward task: picks the question template and the rewards [--task]",
    REWARD_TASKS,
  ),
  output_dir: f.optStr("HF", "run directory: checkpoints, metrics.jsonl, config [--out]"),
  // -- batch --
  per_device_train_batch_size: f.int(posInt, 8, "HF", "completions per micro-batch (log-prob and update forwards)"),
  gradient_accumulation_steps: f.int(posInt, 14, "HF", "micro-batches per optimizer step; one generation per step"),
  num_generations: f.int(posInt, 8, "TRL", "G: completions sampled per prompt (a group)"),
  num_train_epochs: f.num(posNum, 1, "HF", "passes over the prompts (ignored when max_steps > 0)"),
  max_steps: f.int(z.number().int().min(-1), -1, "HF", "optimizer steps to run; -1 = from num_train_epochs"),
  // -- generation --
  max_prompt_length: f.int(posInt, 4096, "TRL", "max prompt tokens (images expanded)"),
  max_completion_length: f.int(posInt, 512, "TRL", "max generated tokens per completion"),
  temperature: f.num(posNum, 0.9, "TRL", "sampling temperature"),
  top_p: f.num(posNum.max(1), 0.9, "TRL", "nucleus sampling; 1 = off"),
  top_k: f.int(nonNegInt, 50, "TRL", "top-k sampling; 0 = off"),
  max_pixels: f.int(posInt, 480000, "reference", "image pixel cap (smart_resize) for rollouts and log-probs"),
  min_pixels: f.int(posInt, 3136, "reference", "image pixel floor (smart_resize)"),
  use_system_prompt: f.bool(false, "reference", "put the task's system prompt first (the reference's scripts: false)"),
  prompt_templates: f.optStr("ours", "JSON file of prompt templates replacing ours (src/tasks/prompts.ts keys)"),
  // -- rewards --
  reward_funcs: field(
    "string[]",
    z.array(z.string().min(1)).min(1),
    ["accuracy", "format"] as string[],
    "reference",
    "reward names: built-in (accuracy, format, reasoning, length, math-accuracy) or exports of reward_module",
  ),
  reward_weights: field(
    "number[]",
    z.array(num).nullable(),
    null as number[] | null,
    "TRL",
    "one weight per reward_funcs entry; null = all 1",
  ),
  reward_module: f.optStr("ours", "TypeScript/JavaScript module exporting extra reward functions (sync or async)"),
  reward_timeout: f.num(posNum, 30, "ours", "seconds a plug-in reward may take for one batch"),
  reward_on_error: f.oneOf(REWARD_ON_ERROR, "raise", "ours", "a throwing plug-in reward: stop naming it, or score 0"),
  // -- objective --
  scale_rewards: f.oneOf(SCALE_REWARDS, "group", "TRL", "advantage scaling: group std (reference), batch std, none"),
  beta: f.num(nonNeg, 0.04, "TRL", "KL coefficient; 0 loads no reference model"),
  kl_estimator: f.oneOf(KL_ESTIMATORS, "k3", "ours", "per-token KL estimator (reference: k3)"),
  loss_type: field(
    "enum",
    lossType,
    "grpo" as (typeof LOSS_TYPES)[number],
    "TRL",
    "aggregation: grpo = sequence-mean (reference), dapo = token-mean, dr_grpo = constant-norm, bnpo",
    LOSS_TYPES,
    LOSS_TYPE_ALIASES,
  ),
  num_iterations: f.int(posInt, 1, "TRL", "μ: policy epochs (optimizer steps) per generated batch"),
  epsilon: f.num(nonNeg, 0.2, "TRL", "ε_low: lower clip of the ratio at 1 − epsilon"),
  epsilon_high: f.optNum(nonNeg, "TRL", "ε_high: upper clip of the ratio at 1 + epsilon_high; null = epsilon"),
  dynamic_sampling: f.bool(false, "ours", "drop zero-variance groups and sample more prompts to refill (DAPO)"),
  dynamic_sampling_max_rounds: f.int(posInt, 4, "ours", "generation rounds per step at most when dynamic_sampling"),
  // -- optimizer and schedule --
  learning_rate: f.num(nonNeg, 1e-6, "HF", "peak AdamW learning rate"),
  lr_scheduler_type: f.oneOf(LR_SCHEDULER_TYPES, "linear", "HF", "learning-rate schedule after warmup"),
  warmup_steps: f.int(nonNegInt, 0, "HF", "linear warmup steps (overrides warmup_ratio when > 0)"),
  warmup_ratio: f.num(nonNeg.max(1), 0, "HF", "warmup as a fraction of the total steps (when warmup_steps = 0)"),
  weight_decay: f.num(nonNeg, 0, "HF", "AdamW decoupled weight decay"),
  adam_beta1: f.num(nonNeg.max(1), 0.9, "HF", "AdamW β1"),
  adam_beta2: f.num(nonNeg.max(1), 0.999, "HF", "AdamW β2"),
  adam_epsilon: f.num(posNum, 1e-8, "HF", "AdamW ε"),
  max_grad_norm: f.num(nonNeg, 1.0, "HF", "clip the global gradient norm to this; 0 = no clipping"),
  // -- model --
  freeze_vision_tower: f.bool(false, "LLaMA-Factory", "do not train the vision tower (RL trains everything, §4.3)"),
  bf16: f.bool(false, "HF", "bfloat16 autocast for forward/backward (weights and optimizer stay fp32)"),
  // -- bookkeeping --
  seed: f.int(nonNegInt, 42, "HF", "seed of data order, init and sampling"),
  logging_steps: f.int(posInt, 1, "HF", "write metrics every this many optimizer steps"),
  save_steps: f.int(posInt, 100, "HF", "write OUT/checkpoint-<step>/ every this many optimizer steps"),
  save_total_limit: f.optInt(posInt, "HF", "keep at most this many checkpoints; null = all"),
  ...DDP_FIELDS,
} satisfies Fields;

/** The `rft train` flags that set config fields (the `[--flag]` in the docs): flag name → field, same in both trainers. */
export const TRAIN_FLAG_FIELDS = {
  model: "model_name_or_path",
  data: "dataset_name",
  "image-root": "image_root",
  task: "task_name",
  out: "output_dir",
} as const satisfies Record<string, keyof typeof SFT_FIELDS & keyof typeof GRPO_FIELDS>;

export type SFTConfig = ConfigOf<typeof SFT_FIELDS>;
export type GRPOConfig = ConfigOf<typeof GRPO_FIELDS>;
export type TrainerKind = "sft" | "grpo";
export type TrainerConfig<K extends TrainerKind> = K extends "sft" ? SFTConfig : GRPOConfig;

export const TRAINER_FIELDS: { sft: typeof SFT_FIELDS; grpo: typeof GRPO_FIELDS } = {
  sft: SFT_FIELDS,
  grpo: GRPO_FIELDS,
};

function fieldsOf(kind: TrainerKind): Fields {
  return TRAINER_FIELDS[kind];
}

/** The defaults of a trainer's config (a fresh object). */
export function defaultConfig<K extends TrainerKind>(kind: K): TrainerConfig<K> {
  const out: Record<string, unknown> = {};
  for (const [k, spec] of Object.entries(fieldsOf(kind)))
    out[k] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  return out as TrainerConfig<K>;
}

// ---- errors -------------------------------------------------------------------------------------------------------

export interface ConfigIssue {
  /** The fields involved (one for a type error, several for a cross-field rule). */
  fields: string[];
  message: string;
}

/** A config that cannot run; the message lists every problem, each naming its field(s) and where the value came from. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly issues: ConfigIssue[],
    header = "invalid training config",
  ) {
    super(`${header}:\n${issues.map((i) => `  - ${i.message}`).join("\n")}`);
  }
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The closest known names to `name` (edit distance ≤ 1/3 of its length, or a prefix/substring match). */
export function suggest(name: string, known: readonly string[]): string[] {
  const lower = name.toLowerCase().replace(/-/g, "_");
  const scored = known
    .map((k) => ({ k, d: lower === k ? 0 : levenshtein(lower, k) }))
    .filter(({ k, d }) => d <= Math.max(2, Math.floor(lower.length / 3)) || k.includes(lower) || lower.includes(k));
  scored.sort((a, b) => a.d - b.d);
  return scored.slice(0, 3).map((s) => s.k);
}

function unknownKeyMessage(kind: TrainerKind, key: string, source: string): string {
  const known = Object.keys(fieldsOf(kind));
  const hint = suggest(key, known);
  const mean = hint.length ? ` Did you mean ${hint.map((h) => `"${h}"`).join(" or ")}?` : "";
  return `unknown ${kind.toUpperCase()} config field "${key}" (${source}).${mean} Valid fields: ${known.join(", ")}`;
}

// ---- layers -------------------------------------------------------------------------------------------------------

/** Values from one source (a recipe profile, a file, --set); `source` is named in errors. */
export interface ConfigLayer {
  source: string;
  values: Readonly<Record<string, unknown>>;
}

export interface ResolvedConfig<K extends TrainerKind> {
  trainer: K;
  config: TrainerConfig<K>;
  /** Where each field's value came from: "default" or a layer's source. */
  sources: Record<string, string>;
}

/**
 * Merges layers over the defaults (later wins), then validates: unknown keys, each field's type and range, then the
 * cross-field rules. Throws one ConfigError listing every problem.
 */
export function buildConfig<K extends TrainerKind>(kind: K, layers: readonly ConfigLayer[] = []): ResolvedConfig<K> {
  const fields = fieldsOf(kind);
  const merged: Record<string, unknown> = defaultConfig(kind);
  const sources: Record<string, string> = Object.fromEntries(Object.keys(fields).map((k) => [k, "default"]));
  const issues: ConfigIssue[] = [];
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer.values)) {
      if (!Object.prototype.hasOwnProperty.call(fields, k)) {
        issues.push({ fields: [k], message: unknownKeyMessage(kind, k, layer.source) });
        continue;
      }
      merged[k] = v;
      sources[k] = layer.source;
    }
  }
  if (issues.length) throw new ConfigError(issues);
  const config = validateConfig(kind, merged, sources);
  return { trainer: kind, config, sources };
}

/** Validates a complete config object (types, ranges, cross-field rules); returns it with aliases normalised. */
export function validateConfig<K extends TrainerKind>(
  kind: K,
  values: Readonly<Record<string, unknown>>,
  sources: Readonly<Record<string, string>> = {},
): TrainerConfig<K> {
  const fields = fieldsOf(kind);
  const shape = Object.fromEntries(Object.entries(fields).map(([k, s]) => [k, s.schema]));
  const from = (k: string) => (sources[k] && sources[k] !== "default" ? ` (from ${sources[k]})` : "");
  const issues: ConfigIssue[] = [];
  for (const k of Object.keys(values))
    if (!Object.prototype.hasOwnProperty.call(fields, k))
      issues.push({ fields: [k], message: unknownKeyMessage(kind, k, sources[k] ?? "config") });
  const parsed = z.object(shape).safeParse(values);
  if (!parsed.success) {
    for (const iss of parsed.error.issues) {
      const k = String(iss.path[0] ?? "?");
      const aliases = fields[k]?.aliases;
      const also = aliases ? ` (or ${Object.keys(aliases).join(", ")})` : "";
      issues.push({ fields: [k], message: `${k}${from(k)}: ${iss.message}${also}; got ${JSON.stringify(values[k])}` });
    }
  }
  if (issues.length) throw new ConfigError(issues);
  const config = parsed.data! as TrainerConfig<K>;
  const cross = kind === "sft" ? crossCheckSFT(config as SFTConfig) : crossCheckGRPO(config as GRPOConfig);
  if (cross.length)
    throw new ConfigError(
      cross.map((c) => ({
        fields: c.fields,
        message: `${c.message} [${c.fields.map((k) => `${k}${from(k)}`).join(", ")}]`,
      })),
    );
  return config;
}

// ---- cross-field rules ----------------------------------------------------------------------------------------------

function crossCheckCommon(c: SFTConfig | GRPOConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  if (c.min_pixels > c.max_pixels)
    out.push({
      fields: ["min_pixels", "max_pixels"],
      message: `min_pixels (${c.min_pixels}) exceeds max_pixels (${c.max_pixels})`,
    });
  if (c.min_pixels < 28 * 28)
    out.push({ fields: ["min_pixels"], message: `min_pixels (${c.min_pixels}) is below one merged patch (784 px)` });
  if (c.max_steps === 0)
    out.push({
      fields: ["max_steps"],
      message: "max_steps must be -1 (use num_train_epochs) or a positive number of steps",
    });
  return out;
}

function crossCheckSFT(c: SFTConfig): ConfigIssue[] {
  const out = crossCheckCommon(c);
  if (
    c.task_name !== null &&
    taskFamily(c.task_name) === undefined &&
    !(REWARD_TASKS as readonly string[]).includes(c.task_name)
  )
    out.push({ fields: ["task_name"], message: `unknown task "${c.task_name}"` });
  if (c.cutoff_len < 2) out.push({ fields: ["cutoff_len"], message: `cutoff_len (${c.cutoff_len}) must be ≥ 2` });
  return out;
}

function crossCheckGRPO(c: GRPOConfig): ConfigIssue[] {
  const out = crossCheckCommon(c);
  const G = c.num_generations;
  if (G < 2)
    out.push({
      fields: ["num_generations"],
      message: `num_generations (${G}) must be ≥ 2: advantages compare a completion with its group`,
    });
  const gen = generationBatchSize(c);
  if (G >= 2 && gen % G !== 0)
    out.push({
      fields: ["per_device_train_batch_size", "gradient_accumulation_steps", "num_generations"],
      message:
        `the generation batch per_device_train_batch_size × gradient_accumulation_steps = ` +
        `${c.per_device_train_batch_size} × ${c.gradient_accumulation_steps} = ${gen} completions must hold whole ` +
        `groups of num_generations = ${G} (e.g. per_device_train_batch_size ${G} or gradient_accumulation_steps ${G})`,
    });
  if (c.epsilon_high !== null && c.epsilon_high < c.epsilon)
    out.push({
      fields: ["epsilon", "epsilon_high"],
      message: `epsilon_high (${c.epsilon_high}) is below epsilon (${c.epsilon}); clip-higher needs epsilon_high ≥ epsilon`,
    });
  if (c.epsilon >= 1)
    out.push({
      fields: ["epsilon"],
      message: `epsilon (${c.epsilon}) must be < 1: the lower clip 1 − epsilon must stay positive`,
    });
  const names = c.reward_funcs;
  const dup = names.filter((n, i) => names.indexOf(n) !== i);
  if (dup.length)
    out.push({
      fields: ["reward_funcs"],
      message: `reward_funcs lists ${[...new Set(dup)].join(", ")} more than once`,
    });
  const builtIn = REWARD_NAMES as readonly string[];
  const plugins = names.filter((n) => !builtIn.includes(n));
  if (plugins.length && c.reward_module === null)
    out.push({
      fields: ["reward_funcs", "reward_module"],
      message: `reward_funcs names ${plugins.join(", ")}, which ${plugins.length > 1 ? "are" : "is"} not built in (${builtIn.join(", ")}); set reward_module to the module that exports ${plugins.length > 1 ? "them" : "it"}`,
    });
  if (c.reward_weights !== null && c.reward_weights.length !== names.length)
    out.push({
      fields: ["reward_weights", "reward_funcs"],
      message: `reward_weights has ${c.reward_weights.length} entries for ${names.length} reward_funcs`,
    });
  return out;
}

/** Completions generated per optimizer step: per_device_train_batch_size × gradient_accumulation_steps. */
export function generationBatchSize(
  c: Pick<GRPOConfig, "per_device_train_batch_size" | "gradient_accumulation_steps">,
): number {
  return c.per_device_train_batch_size * c.gradient_accumulation_steps;
}

/** How one GRPO optimizer step is laid out (all derived from the config). */
export interface GrpoBatchPlan {
  /** Prompts sampled per generation (= completions / G). */
  promptsPerStep: number;
  /** Completions per generation (whole groups). */
  completionsPerStep: number;
  /** Micro-batches per optimizer step, each of per_device_train_batch_size completions. */
  microBatches: number;
  completionsPerMicroBatch: number;
  /** Optimizer steps taken on each generated batch (num_iterations). */
  stepsPerGeneration: number;
}

export function grpoBatchPlan(c: GRPOConfig): GrpoBatchPlan {
  const completions = generationBatchSize(c);
  return {
    promptsPerStep: completions / c.num_generations,
    completionsPerStep: completions,
    microBatches: c.gradient_accumulation_steps,
    completionsPerMicroBatch: c.per_device_train_batch_size,
    stepsPerGeneration: c.num_iterations,
  };
}

/** Reward weights in reward_funcs order (null → all 1). */
export function rewardWeights(c: Pick<GRPOConfig, "reward_funcs" | "reward_weights">): number[] {
  return c.reward_weights ?? c.reward_funcs.map(() => 1);
}

// ---- sequence budget (needs the model) ------------------------------------------------------------------------------

/**
 * Upper bound of the visual tokens of one image at `maxPixels`: smart_resize keeps h'·w' ≤ max_pixels, and a merged
 * token covers (patch · merge)² pixels (28² for Qwen2-VL), plus `<|vision_start|>` and `<|vision_end|>`.
 */
export function imageTokenBound(maxPixels: number, patchSize = 14, mergeSize = 2): number {
  return Math.floor(maxPixels / (patchSize * mergeSize) ** 2) + 2;
}

export interface SequenceBudget {
  /** The model's max_position_embeddings (config.json). */
  maxPositionEmbeddings: number;
  /** Tokens the images of the largest sample take at the config's max_pixels (e.g. imageTokenBound × images). */
  imageTokens: number;
  /** Text tokens of the longest prompt, when known; 0 otherwise. */
  promptTextTokens?: number;
}

/**
 * Checks that a sample fits the model's positions at max_pixels, before any work starts. GRPO: the prompt's image
 * tokens (+ text) fit max_prompt_length and max_prompt_length + max_completion_length ≤ max_position_embeddings.
 * SFT: the image tokens (+ text) fit cutoff_len (truncation must not cut image tokens, spec §5.3) and cutoff_len ≤
 * max_position_embeddings. Token counts bound M-RoPE positions from above (an image advances the position by its
 * grid side, not its token count), so the check is conservative. Throws a ConfigError naming the fields.
 */
export function checkSequenceBudget(kind: TrainerKind, c: SFTConfig | GRPOConfig, b: SequenceBudget): void {
  const issues: ConfigIssue[] = [];
  const P = b.maxPositionEmbeddings;
  const prompt = b.imageTokens + (b.promptTextTokens ?? 0);
  const what = b.promptTextTokens
    ? `images (${b.imageTokens} tokens) + prompt text (${b.promptTextTokens})`
    : `images (${b.imageTokens} tokens)`;
  if (kind === "grpo") {
    const g = c as GRPOConfig;
    if (prompt > g.max_prompt_length)
      issues.push({
        fields: ["max_prompt_length", "max_pixels"],
        message: `at max_pixels ${g.max_pixels} the ${what} exceed max_prompt_length (${g.max_prompt_length}); raise max_prompt_length or lower max_pixels`,
      });
    if (g.max_prompt_length + g.max_completion_length > P)
      issues.push({
        fields: ["max_prompt_length", "max_completion_length"],
        message: `max_prompt_length + max_completion_length = ${g.max_prompt_length} + ${g.max_completion_length} exceeds the model's max_position_embeddings (${P})`,
      });
  } else {
    const s = c as SFTConfig;
    if (prompt >= s.cutoff_len)
      issues.push({
        fields: ["cutoff_len", "max_pixels"],
        message: `at max_pixels ${s.max_pixels} the ${what} do not fit cutoff_len (${s.cutoff_len}) with room for a response; truncation would cut image tokens`,
      });
    if (s.cutoff_len > P)
      issues.push({
        fields: ["cutoff_len"],
        message: `cutoff_len (${s.cutoff_len}) exceeds the model's max_position_embeddings (${P})`,
      });
  }
  if (issues.length) throw new ConfigError(issues, "the config does not fit the model");
}

// ---- sources: files and --set ---------------------------------------------------------------------------------------

/** Reads a YAML or JSON config file (a flat mapping of field names to values); errors name the file. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = path.endsWith(".json") ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new Error(
      `config file ${path}: not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message}`,
    );
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data))
    throw new Error(
      `config file ${path}: expected a mapping of field names to values, got ${Array.isArray(data) ? "a list" : typeof data}`,
    );
  return data as Record<string, unknown>;
}

function parseScalar(kind: FieldKind, raw: string, where: string): unknown {
  const s = raw.trim();
  switch (kind) {
    case "number":
    case "integer": {
      const v = s === "" ? NaN : Number(s);
      if (!Number.isFinite(v)) throw new Error(`${where}: expected a number, got "${raw}"`);
      return v;
    }
    case "boolean": {
      const l = s.toLowerCase();
      if (["true", "1", "yes", "on"].includes(l)) return true;
      if (["false", "0", "no", "off"].includes(l)) return false;
      throw new Error(`${where}: expected true or false, got "${raw}"`);
    }
    default:
      return raw;
  }
}

/**
 * Parses one `--set key=value` for a trainer. The value is read by the field's type: numbers ("1e-5", "-1"), booleans
 * (true/false/1/0/yes/no), strings as written, lists as `a,b,c` or `[a, b]` (YAML flow), `null` for nullable fields.
 * Unknown keys are refused with the valid ones and the closest matches.
 */
export function parseSetArg(kind: TrainerKind, expr: string): [string, unknown] {
  const eq = expr.indexOf("=");
  if (eq <= 0) throw new Error(`--set expects key=value, got "${expr}"`);
  const key = expr.slice(0, eq).trim();
  const raw = expr.slice(eq + 1);
  const spec = fieldsOf(kind)[key];
  if (!spec) throw new ConfigError([{ fields: [key], message: unknownKeyMessage(kind, key, `--set ${expr}`) }]);
  const where = `--set ${expr}`;
  if (spec.nullable && raw.trim() === "null") return [key, null];
  if (spec.kind === "string[]" || spec.kind === "number[]") {
    let items: unknown[];
    const t = raw.trim();
    if (t.startsWith("[")) {
      try {
        items = YAML.parse(t) as unknown[];
      } catch (e) {
        throw new Error(`${where}: not a list: ${(e as Error).message}`);
      }
      if (!Array.isArray(items)) throw new Error(`${where}: not a list`);
    } else items = t === "" ? [] : t.split(",").map((x) => x.trim());
    return [key, items.map((x) => (spec.kind === "number[]" ? parseScalar("number", String(x), where) : String(x)))];
  }
  return [key, parseScalar(spec.kind, raw, where)];
}

/** A layer from repeated `--set` arguments (a later repeat of a key wins). */
export function setLayer(kind: TrainerKind, exprs: readonly string[]): ConfigLayer {
  const values: Record<string, unknown> = {};
  for (const e of exprs) {
    const [k, v] = parseSetArg(kind, e);
    values[k] = v;
  }
  return { source: "--set", values };
}

/** A layer from a `--config FILE`. */
export function fileLayer(path: string): ConfigLayer {
  return { source: `config file ${path}`, values: readConfigFile(path) };
}

// ---- output: the run directory, help and docs ------------------------------------------------------------------

/** The config as pretty JSON, fields in table order (loadable again with --config). */
export function configToJson(kind: TrainerKind, c: SFTConfig | GRPOConfig): string {
  const ordered = Object.fromEntries(Object.keys(fieldsOf(kind)).map((k) => [k, (c as Record<string, unknown>)[k]]));
  return JSON.stringify(ordered, null, 2) + "\n";
}

/** The config as YAML with each field's doc as a comment, preceded by `header` comment lines (loadable again). */
export function configToYaml(kind: TrainerKind, c: SFTConfig | GRPOConfig, header: readonly string[] = []): string {
  const lines = header.map((h) => `# ${h}`);
  for (const [k, spec] of Object.entries(fieldsOf(kind))) {
    const v = (c as Record<string, unknown>)[k];
    // Plain scalars where YAML reads them back unchanged; JSON (valid YAML flow) for strings and lists.
    const value = typeof v === "string" && /^[\w./-]+$/.test(v) && YAML.parse(v) === v ? v : JSON.stringify(v);
    lines.push(`${k}: ${value}  # ${spec.doc}`);
  }
  return lines.join("\n") + "\n";
}

export interface RunConfigMeta {
  recipe?: string;
  profile?: string;
  why?: string;
}

/**
 * Writes the resolved config into a run directory as config.json (the fields only, so `--config OUT/config.json`
 * reproduces the run) and config.yaml (the same with docs, plus the trainer, recipe, profile and why as comments).
 * Each file is written to a temporary name and renamed into place.
 */
export function writeRunConfig(
  dir: string,
  kind: TrainerKind,
  c: SFTConfig | GRPOConfig,
  meta: RunConfigMeta = {},
): void {
  const header = [`trainer: ${kind}`];
  if (meta.recipe) header.push(`recipe: ${meta.recipe}${meta.profile ? ` (profile ${meta.profile})` : ""}`);
  if (meta.why) header.push(`why: ${meta.why}`);
  const put = (name: string, text: string) => {
    const tmp = join(dir, `.${name}.tmp-${process.pid}`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, name));
  };
  put("config.json", configToJson(kind, c));
  put("config.yaml", configToYaml(kind, c, header));
}

function showDefault(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? `[${v.join(", ")}]` : String(v);
}

/** `--help` lines: every field with its default and doc. */
export function configHelp(kind: TrainerKind): string {
  const rows = Object.entries(fieldsOf(kind)).map(([k, s]) => {
    const choices = s.choices ? ` (${s.choices.join("|")})` : "";
    return `  ${k} = ${showDefault(s.default)}`.padEnd(44) + ` ${s.doc}${choices}`;
  });
  return rows.join("\n");
}

const ORIGIN_TEXT: Record<FieldOrigin, string> = {
  HF: "HF TrainingArguments",
  TRL: "TRL GRPOConfig",
  "TRL-script": "TRL ModelConfig / ScriptArguments",
  "LLaMA-Factory": "LLaMA-Factory",
  reference: "reference script",
  ours: "ours",
};

/** The markdown table of a trainer's fields (docs/training.md embeds it; a test keeps them equal). */
export function configReferenceMarkdown(kind: TrainerKind): string {
  const rows = [`| field | default | name from | meaning |`, `|---|---|---|---|`];
  for (const [k, s] of Object.entries(fieldsOf(kind))) {
    const aliases = s.aliases
      ? ` Also accepted: ${Object.entries(s.aliases)
          .map(([a, v]) => `\`${a}\` (= \`${v}\`)`)
          .join(", ")}.`
      : "";
    const choices = s.choices ? ` One of: ${s.choices.map((c) => `\`${c}\``).join(", ")}.${aliases}` : "";
    rows.push(
      `| \`${k}\` | \`${showDefault(s.default)}\` | ${ORIGIN_TEXT[s.origin]} | ${s.doc.replace(/\|/g, "\\|")}.${choices} |`,
    );
  }
  return rows.join("\n");
}
