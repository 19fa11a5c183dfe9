/**
 * Reward sets by GRPO task name (spec §3.1).
 *
 * Each task maps the reward names `accuracy`, `format`, `reasoning` and, for VC/SP only, `length` and
 * `math-accuracy` (the cosine-band reward the reference defines but leaves commented out) to functions. Every
 * reference script trains with `accuracy` + `format` at weight 1 each, so that is the default; the others are
 * opt-in. The total of a completion is the weighted sum of its rewards.
 */
import { accuracyReward, mathAccuracyReward } from "./accuracy.ts";
import { captionFormatReward, formatReward, lengthReward, reasoningStepsReward } from "./format.ts";
import { funcReward, onlyFullFuncReward, penaltyFuncReward } from "./functions.ts";

/** GRPO task names of the reference. */
export const REWARD_TASKS = [
  "clevr-math",
  "geomath",
  "trance",
  "trance-only-full",
  "trance-penalty",
  "trance-full-caption",
] as const;
export type RewardTask = (typeof REWARD_TASKS)[number];

export const REWARD_NAMES = ["accuracy", "format", "reasoning", "length", "math-accuracy"] as const;
export type RewardName = (typeof REWARD_NAMES)[number];

export const DEFAULT_REWARDS: readonly RewardName[] = ["accuracy", "format"];

/** Scores a batch: completions[i] against solutions[i]; `step` is the trainer's global step. */
export type BatchReward = (completions: readonly string[], solutions: readonly string[], step: number) => number[];

export interface RewardSpec {
  name: RewardName;
  /** Function name in the reference, for logs and docs. */
  reference: string;
  weight: number;
  score: BatchReward;
}

const perItem =
  (f: (completion: string, solution: string) => number): BatchReward =>
  (completions, solutions) =>
    completions.map((c, i) => f(c, solutions[i] ?? ""));

const perCompletion =
  (f: (completion: string) => number): BatchReward =>
  (completions) =>
    completions.map((c) => f(c));

type Entry = { reference: string; score: BatchReward };

const ACCURACY: Record<RewardTask, Entry> = {
  "clevr-math": { reference: "accuracy_reward", score: perItem(accuracyReward) },
  geomath: { reference: "accuracy_reward", score: perItem(accuracyReward) },
  trance: { reference: "func_accuracy_reward", score: perItem(funcReward) },
  "trance-only-full": { reference: "only_full_func_accuracy_reward", score: perItem(onlyFullFuncReward) },
  "trance-penalty": { reference: "penalty_func_accuracy_reward", score: perItem(penaltyFuncReward) },
  "trance-full-caption": { reference: "only_full_func_accuracy_reward", score: perItem(onlyFullFuncReward) },
};

function entry(task: RewardTask, name: RewardName): Entry {
  switch (name) {
    case "accuracy":
      return ACCURACY[task];
    case "format":
      return task === "trance-full-caption"
        ? { reference: "caption_format_reward", score: perCompletion(captionFormatReward) }
        : { reference: "format_reward", score: perCompletion(formatReward) };
    case "reasoning":
      return { reference: "reasoning_steps_reward", score: perCompletion(reasoningStepsReward) };
    case "length":
      if (task.startsWith("trance"))
        throw new Error(`reward "length" is not available for task ${task} (the reference asserts this)`);
      return { reference: "len_reward", score: lengthReward };
    case "math-accuracy":
      if (task.startsWith("trance")) throw new Error(`reward "math-accuracy" is not available for task ${task}`);
      return { reference: "math_accuracy_reward", score: perItem(mathAccuracyReward) };
  }
}

export interface RewardSetOptions {
  /** Reward names (default accuracy + format). */
  funcs?: readonly string[];
  /** Weight per reward name (default 1). */
  weights?: Readonly<Record<string, number>>;
}

export function isRewardTask(name: string): name is RewardTask {
  return (REWARD_TASKS as readonly string[]).includes(name);
}

/**
 * The reward functions and weights of a task.
 *
 * @example
 * rewardSet("clevr-math").map((r) => `${r.name}×${r.weight}`); // ["accuracy×1", "format×1"]
 */
export function rewardSet(task: string, opts: RewardSetOptions = {}): RewardSpec[] {
  if (!isRewardTask(task)) throw new Error(`unknown reward task "${task}" (one of: ${REWARD_TASKS.join(", ")})`);
  const names = opts.funcs ?? DEFAULT_REWARDS;
  if (names.length === 0) throw new Error("at least one reward function is needed");
  const seen = new Set<string>();
  return names.map((name) => {
    if (!(REWARD_NAMES as readonly string[]).includes(name)) {
      throw new Error(`unknown reward "${name}" (one of: ${REWARD_NAMES.join(", ")})`);
    }
    if (seen.has(name)) throw new Error(`reward "${name}" listed twice`);
    seen.add(name);
    const weight = opts.weights?.[name] ?? 1;
    if (!Number.isFinite(weight)) throw new Error(`weight of reward "${name}" must be a finite number`);
    const e = entry(task, name as RewardName);
    return { name: name as RewardName, reference: e.reference, weight, score: e.score };
  });
}

export interface ScoredBatch {
  /** Per reward name, one value per completion. */
  rewards: Record<string, number[]>;
  /** Weighted sum per completion. */
  total: number[];
}

/**
 * Scores a batch with a reward set.
 *
 * @example
 * scoreBatch(rewardSet("clevr-math"), ["<think>1+2</think><answer>3</answer>"], ["3"], 0).total; // [2]
 */
export function scoreBatch(
  set: readonly RewardSpec[],
  completions: readonly string[],
  solutions: readonly string[],
  step = 0,
): ScoredBatch {
  if (completions.length !== solutions.length) {
    throw new Error(`scoreBatch: ${completions.length} completions but ${solutions.length} solutions`);
  }
  const rewards: Record<string, number[]> = {};
  const total = completions.map(() => 0);
  for (const r of set) {
    const values = r.score(completions, solutions, step);
    rewards[r.name] = values;
    values.forEach((v, i) => (total[i]! += r.weight * v));
  }
  return { rewards, total };
}
