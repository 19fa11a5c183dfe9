/**
 * The paper's training recipes, each with two profiles:
 *   paper — the reference's hyper-parameters (spec §4.12 for GRPO, §5.6 for SFT), on one process;
 *   mini  — starting points for qwen2-vl-tiny on the generated benchmark on 2 CPU cores (DESIGN.md, "What a tiny
 *           model can learn on 2 cores"); plausible, not tuned: measure and adjust.
 * A profile's `why` is the trainer's first log line. `resolveTrainConfig` layers profile < `--config` file < CLI
 * flags < `--set` over the trainer's defaults (src/train/config.ts) and validates the result.
 *
 * Tensor-free.
 */
import type { BuiltKind } from "../data/build.ts";
import {
  type ConfigLayer,
  type GRPOConfig,
  type ResolvedConfig,
  type SFTConfig,
  type TrainerConfig,
  type TrainerKind,
  buildConfig,
  fileLayer,
  setLayer,
  suggest,
} from "./config.ts";

export const RECIPE_NAMES = ["ans-sft", "cot-sft", "reason-rft-stage1", "reason-rft-zero", "reason-rft"] as const;
export type RecipeName = (typeof RECIPE_NAMES)[number];

export const PROFILE_NAMES = ["paper", "mini"] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];
/** The laptop-scale profile is the project's default (DESIGN.md: the embedded default runs on 2 CPU cores). */
export const DEFAULT_PROFILE: ProfileName = "mini";

export interface RecipeProfile<K extends TrainerKind> {
  /** One line: which settings and why (the first log line of a run). */
  why: string;
  values: Partial<TrainerConfig<K>>;
  /** Extra values for one task (reward task name or any name `--task` accepts), applied after `values`. */
  taskValues?: Readonly<Record<string, Partial<TrainerConfig<K>>>>;
}

export interface Recipe<K extends TrainerKind> {
  name: RecipeName;
  trainer: K;
  summary: string;
  /** The `rft data build` output this recipe trains on. */
  data: BuiltKind;
  /** What `--model` should be. */
  startsFrom: "base model" | "Stage-1 checkpoint";
  profiles: Record<ProfileName, RecipeProfile<K>>;
}

// ---- paper: SFT (spec §5.6; all 18 SFT scripts share these) ---------------------------------------------------------
const SFT_PAPER: Partial<SFTConfig> = {
  per_device_train_batch_size: 1, // §5.6: per-device batch 1 …
  gradient_accumulation_steps: 16, // … × grad accumulation 2 × 8 GPUs = global batch 16, here on one process
  learning_rate: 1e-5, // §5.6
  lr_scheduler_type: "cosine", // §5.6
  warmup_steps: 100, // §5.6
  weight_decay: 0.1, // §5.6
  num_train_epochs: 1, // §5.6
  max_steps: -1,
  cutoff_len: 4096, // §5.6
  pad_to_multiple_of: 8, // §5.4: right padding to a multiple of 8
  bf16: true, // §5.6 precision bf16
  logging_steps: 5, // §5.6 logging / save steps 5 / 200
  save_steps: 200,
  max_pixels: 262144, // §5.6 image_resolution 262,144 px (§1.9)
  min_pixels: 3136, // §1.9 processor default
  adam_beta1: 0.9, // §5.6 AdamW 0.9/0.999, eps 1e-8; max_grad_norm 1.0; seed 42
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  max_grad_norm: 1.0,
  seed: 42,
  freeze_vision_tower: true, // §5.5: vision tower and projector frozen by default
  freeze_multi_modal_projector: true,
};

// ---- paper: GRPO (spec §4.12 script flags + §4.1 TRL 0.15 / HF defaults) --------------------------------------------
const GRPO_PAPER: Partial<GRPOConfig> = {
  per_device_train_batch_size: 8, // §4.12: 1 prompt per device × num_generations 8 = 8 completions …
  gradient_accumulation_steps: 14, // … × accumulation 2 × 7 ranks (§4.11) = 14 prompts = 112 completions per step
  num_generations: 8, // §4.12
  max_prompt_length: 4096, // §4.12
  max_completion_length: 512, // §4.12
  learning_rate: 1e-6, // §4.1 TRL default, not overridden
  beta: 0.04, // §4.1
  temperature: 0.9, // §4.1
  top_p: 0.9, // §4.4 vLLM SamplingParams
  top_k: 50, // §4.4
  lr_scheduler_type: "linear", // §4.1: HF default, linear decay to 0, no warmup
  warmup_steps: 0,
  weight_decay: 0, // §4.1
  max_grad_norm: 1.0, // §4.1, §4.9
  seed: 42, // §4.1
  num_train_epochs: 1, // §4.12 (5 for geomath, below)
  max_steps: -1,
  bf16: true, // §4.12 --bf16
  logging_steps: 1, // §4.12
  save_steps: 100, // §4.12
  max_pixels: 480000, // §4.12 --max_pixels 480000
  min_pixels: 3136, // §4.1 default
  use_system_prompt: false, // §4.12
  reward_funcs: ["accuracy", "format"], // §3.1: every published run, weight 1 each
  reward_weights: null,
  scale_rewards: "group", // §4.8: unbiased group std + 1e-4
  kl_estimator: "k3", // §4.7
  loss_type: "grpo", // §4.9: per-sequence token mean, then batch mean
  num_iterations: 1, // §4.9: one gradient step per generated batch, no clipping in effect
  epsilon: 0.2,
  epsilon_high: null,
  freeze_vision_tower: false, // §4.3: everything trains in RL
};
const GRPO_PAPER_TASKS = { geomath: { num_train_epochs: 5 } }; // §4.12: the SP scripts run 5 epochs

// ---- mini: qwen2-vl-tiny, generated benchmark, 2 CPU cores (starting points) ------------------------------------------
const SFT_MINI: Partial<SFTConfig> = {
  per_device_train_batch_size: 16,
  gradient_accumulation_steps: 2, // batch 32: the prototype's 3,700 tokens/s at 2 threads (DESIGN.md)
  learning_rate: 1e-3, // a 4M-parameter model trains at ~1e-3; 1e-5 would barely move it
  lr_scheduler_type: "cosine",
  warmup_steps: 20,
  weight_decay: 0.1,
  num_train_epochs: 1,
  max_steps: -1,
  cutoff_len: 2048, // TRANCE prompts (rules + object list) are the longest; the tiny model has 4096 positions
  pad_to_multiple_of: 8,
  max_pixels: 50176, // 224²: the benchmark's images (≤ 168×112) keep their size, ≤ 66 visual tokens each
  min_pixels: 3136,
  bf16: false, // fp32 is as fast as bf16 autocast at this size on CPU (DESIGN.md anchors), and exact
  logging_steps: 5,
  save_steps: 100,
  save_total_limit: 2,
  freeze_vision_tower: true,
  freeze_multi_modal_projector: true,
};

const GRPO_MINI: Partial<GRPOConfig> = {
  per_device_train_batch_size: 16, // 2 groups per micro-batch …
  gradient_accumulation_steps: 4, // … × 4 = 8 prompts × G 8 = 64 completions per step (≈ 2 s on 2 cores)
  num_generations: 8,
  max_prompt_length: 1536,
  // The benchmark's CoT targets in the tiny tokenizer's tokens (2,000 of each train file, 2026-11-30): counting
  // median 109, max 183; transformation median 137, max 204; geometry max 80. 96 cut 69% of the counting chains
  // and 92% of the transformation ones before their <answer>.
  max_completion_length: 256,
  learning_rate: 1e-5, // 3e-5 drifted (KL ≈ 0.3, unfaithful chains; DESIGN.md third run)
  beta: 0.04,
  temperature: 1.0, // sample the policy as it is: groups need spread to carry a gradient
  top_p: 1.0,
  top_k: 0,
  lr_scheduler_type: "linear",
  warmup_steps: 0,
  weight_decay: 0,
  max_grad_norm: 1.0,
  num_train_epochs: 1,
  max_steps: 300, // ≈ 10 minutes: ≥ 10 minutes of GRPO was the lever the prototype runs pointed to
  max_pixels: 50176,
  min_pixels: 3136,
  bf16: false,
  logging_steps: 1,
  save_steps: 50,
  save_total_limit: 2,
  reward_funcs: ["accuracy", "format"],
  scale_rewards: "group",
  kl_estimator: "k3",
  loss_type: "grpo",
  num_iterations: 1,
  freeze_vision_tower: false,
};

const PAPER_SFT_WHY =
  "global batch 16, lr 1e-5 cosine after 100 warmup steps, weight decay 0.1, bf16, vision tower and merger frozen";
const MINI_SFT_WHY =
  "starting point for qwen2-vl-tiny on the generated benchmark on 2 CPU cores: batch 32 at lr 1e-3 (a 4M-parameter model), fp32";
const PAPER_GRPO_WHY =
  "14 prompts × G 8 per step, lr 1e-6, β 0.04 (k3), temperature 0.9, sequence-mean loss, one policy step per rollout, bf16";
const MINI_GRPO_WHY =
  "starting point for qwen2-vl-tiny on 2 CPU cores: 8 prompts × G 8 per step, lr 1e-5 (3e-5 drifted), β 0.04, ≤ 256 new tokens, 300 steps";

export const RECIPES: {
  "ans-sft": Recipe<"sft">;
  "cot-sft": Recipe<"sft">;
  "reason-rft-stage1": Recipe<"sft">;
  "reason-rft-zero": Recipe<"grpo">;
  "reason-rft": Recipe<"grpo">;
} = {
  "ans-sft": {
    name: "ans-sft",
    trainer: "sft",
    summary: "answer-only SFT on the full train set (baseline)",
    data: "ans-sft",
    startsFrom: "base model",
    profiles: {
      paper: { why: `reference ANS-SFT (spec §5.6): ${PAPER_SFT_WHY}`, values: SFT_PAPER },
      mini: { why: MINI_SFT_WHY, values: SFT_MINI },
    },
  },
  "cot-sft": {
    name: "cot-sft",
    trainer: "sft",
    summary: "chain-of-thought SFT on the full train set (baseline)",
    data: "cot-sft",
    startsFrom: "base model",
    profiles: {
      paper: { why: `reference CoT-SFT (spec §5.6): ${PAPER_SFT_WHY}`, values: SFT_PAPER },
      mini: { why: MINI_SFT_WHY, values: SFT_MINI },
    },
  },
  "reason-rft-stage1": {
    name: "reason-rft-stage1",
    trainer: "sft",
    summary: "Reason-RFT Stage 1: CoT-SFT on the small Stage-1 split",
    data: "stage1-cot-sft",
    startsFrom: "base model",
    profiles: {
      paper: {
        // §5.6/§10.13: 1.6k samples / 16 = 100 steps, all inside the 100-step warmup (kept: it is what ran).
        why: `reference Stage-1 CoT-SFT (spec §5.6): ${PAPER_SFT_WHY}; on 1.6k samples all 100 steps are warmup (§10.13)`,
        values: SFT_PAPER,
      },
      mini: {
        why: "starting point for qwen2-vl-tiny: the scarce Stage-1 labels 4 times over at batch 16, lr 1e-3: long enough for consistent chains (DESIGN.md)",
        values: {
          ...SFT_MINI,
          per_device_train_batch_size: 16,
          gradient_accumulation_steps: 1,
          num_train_epochs: 4,
          warmup_steps: 10,
          save_steps: 50,
        },
      },
    },
  },
  "reason-rft-zero": {
    name: "reason-rft-zero",
    trainer: "grpo",
    summary: "GRPO from the base model on the full RL set (Reason-RFT-Zero)",
    data: "rl",
    startsFrom: "base model",
    profiles: {
      paper: {
        why: `reference Reason-RFT-Zero (spec §4.12): ${PAPER_GRPO_WHY}`,
        values: GRPO_PAPER,
        taskValues: GRPO_PAPER_TASKS,
      },
      mini: { why: MINI_GRPO_WHY, values: GRPO_MINI },
    },
  },
  "reason-rft": {
    name: "reason-rft",
    trainer: "grpo",
    summary: "Reason-RFT Stage 2: GRPO from the Stage-1 checkpoint on the Stage-2 RL split",
    data: "rl-stage2",
    startsFrom: "Stage-1 checkpoint",
    profiles: {
      paper: {
        why: `reference Reason-RFT Stage 2 (spec §4.12): ${PAPER_GRPO_WHY}`,
        values: GRPO_PAPER,
        taskValues: GRPO_PAPER_TASKS,
      },
      mini: { why: MINI_GRPO_WHY, values: GRPO_MINI },
    },
  },
};

export function isRecipeName(name: string): name is RecipeName {
  return (RECIPE_NAMES as readonly string[]).includes(name);
}

/** The recipe of a name; the error lists the recipes and the closest match. */
export function getRecipe(name: string): Recipe<"sft"> | Recipe<"grpo"> {
  if (!isRecipeName(name)) {
    const hint = suggest(name, RECIPE_NAMES);
    throw new Error(
      `unknown recipe "${name}"${hint.length ? ` (did you mean "${hint[0]}"?)` : ""}; recipes: ${RECIPE_NAMES.join(", ")}`,
    );
  }
  return RECIPES[name];
}

export interface ResolveOptions {
  recipe: string;
  profile?: string;
  /** Task name (`--task`): picks task-specific profile values; also sets `task_name` unless a layer sets it. */
  task?: string;
  /** `--config FILE` (YAML or JSON). */
  configFile?: string;
  /** Fields set by dedicated CLI flags (--model → model_name_or_path, --data → dataset_name, ...). */
  flags?: Readonly<Record<string, unknown>>;
  /** Repeated `--set key=value`. */
  sets?: readonly string[];
}

export interface ResolvedRun<K extends TrainerKind = TrainerKind> extends ResolvedConfig<K> {
  recipe: Recipe<K>;
  profile: ProfileName;
  why: string;
  /** The trainer's first log line: recipe, profile and why. */
  headline: string;
}

/**
 * Resolves a run's config: defaults < recipe profile (then its task values) < `--config` file < CLI flags < `--set`,
 * validated (ConfigError naming the fields and where each value came from). Reads the config file, nothing else.
 */
export function resolveTrainConfig(o: ResolveOptions): ResolvedRun<"sft"> | ResolvedRun<"grpo"> {
  const recipe = getRecipe(o.recipe);
  const profileName = o.profile ?? DEFAULT_PROFILE;
  if (!(PROFILE_NAMES as readonly string[]).includes(profileName))
    throw new Error(
      `unknown profile "${profileName}" for recipe ${recipe.name}; profiles: ${PROFILE_NAMES.join(", ")}`,
    );
  const profile = recipe.profiles[profileName as ProfileName] as RecipeProfile<TrainerKind>;
  const label = `recipe ${recipe.name}/${profileName}`;
  const layers: ConfigLayer[] = [{ source: label, values: profile.values }];
  if (o.task !== undefined) {
    layers.push({
      source: `${label} (task ${o.task})`,
      values: { task_name: o.task, ...(profile.taskValues?.[o.task] ?? {}) },
    });
  }
  if (o.configFile !== undefined) layers.push(fileLayer(o.configFile));
  if (o.flags && Object.keys(o.flags).length) layers.push({ source: "command line", values: o.flags });
  if (o.sets && o.sets.length) layers.push(setLayer(recipe.trainer, o.sets));
  const resolved = buildConfig(recipe.trainer, layers);
  const headline = `recipe ${recipe.name}, profile ${profileName}: ${profile.why}`;
  return { ...resolved, recipe, profile: profileName as ProfileName, why: profile.why, headline } as
    ResolvedRun<"sft"> | ResolvedRun<"grpo">;
}
