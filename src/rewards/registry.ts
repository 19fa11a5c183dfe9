/**
 * Reward sets by GRPO task name (spec §3.1).
 *
 * Each task maps the reward names `accuracy`, `format`, `reasoning` and, for VC/SP only, `length` and
 * `math-accuracy` (the cosine-band reward the reference defines but leaves commented out) to functions. Every
 * reference script trains with `accuracy` + `format` at weight 1 each, so that is the default; the others are
 * opt-in. The total of a completion is the weighted sum of its rewards.
 *
 * "Cannot score": a reward returns `null` for an item it cannot judge (see `RewardValue`); `scoreBatch` lists such
 * items per reward name, and its caller chooses with `onNull` whether they count as 0 or drop out of the total.
 */
import { accuracyReward, mathAccuracyReward } from "./accuracy.ts";
import { captionFormatReward, formatReward, lengthReward, reasoningStepsReward } from "./format.ts";
import { funcReward, onlyFullFuncReward, parseFunctionCalls, penaltyFuncReward } from "./functions.ts";
import { MAX_COMPLETION_CHARS, pyStrip } from "./text.ts";

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

/**
 * A reward's value for one item, or `null` when the item cannot be judged. The registry's rewards return null for:
 * a completion or solution that is not a string or is longer than MAX_COMPLETION_CHARS; for the answer-matching
 * rewards (accuracy, math-accuracy), a solution that is empty after stripping; for the TRANCE rewards, a solution in
 * which no `func(object, value)` call can be found. (The reference scores all of these 0; `onNull: "zero"` gives
 * the same totals.)
 */
export type RewardValue = number | null;

/** What a batch reward is told besides the texts. */
export interface RewardContext {
  /** The trainer's global step (the length reward is 0 before step 800). */
  step: number;
  /** Completions per group (consecutive items); group-relative rewards take min/max within a group. */
  groupSize: number;
}

/** Scores a batch: completions[i] against solutions[i]. */
export type BatchReward = (
  completions: readonly string[],
  solutions: readonly string[],
  ctx: RewardContext,
) => RewardValue[];

export interface RewardSpec {
  name: RewardName;
  /** Function name in the reference, for logs and docs. */
  reference: string;
  weight: number;
  /** The value of an item depends on the other items of its group (the length reward): scoreBatch needs groupSize. */
  groupRelative: boolean;
  score: BatchReward;
}

/** Whether a text can be scored at all: a string no longer than MAX_COMPLETION_CHARS. */
const usable = (t: unknown): t is string => typeof t === "string" && t.length <= MAX_COMPLETION_CHARS;

/** Extra "cannot judge" tests on the solution, per reward kind. */
const answerSolution = (s: string): boolean => pyStrip(s) !== "";
const callSolution = (s: string): boolean => parseFunctionCalls(s).length > 0;

const perItem =
  (f: (completion: string, solution: string) => number, judgeable: (s: string) => boolean = () => true): BatchReward =>
  (completions, solutions) => {
    const ok = new Map<string, boolean>(); // a group shares its solution: test it once
    return completions.map((c, i) => {
      const s = solutions[i];
      if (!usable(c) || !usable(s)) return null;
      let j = ok.get(s);
      if (j === undefined) ok.set(s, (j = judgeable(s)));
      return j ? f(c, s) : null;
    });
  };

const perCompletion =
  (f: (completion: string) => number): BatchReward =>
  (completions) =>
    completions.map((c) => (usable(c) ? f(c) : null));

const groupLength: BatchReward = (completions, solutions, ctx) => {
  // An unusable item still has a length; it takes part in its group's min/max as the reference's would, and is null.
  const safe = completions.map((c) => (typeof c === "string" ? c : ""));
  const values = lengthReward(safe, solutions, ctx.step, ctx.groupSize);
  return values.map((v, i) => (usable(completions[i]) && usable(solutions[i]) ? v : null));
};

type Entry = { reference: string; score: BatchReward; groupRelative?: boolean };

const ACCURACY: Record<RewardTask, Entry> = {
  "clevr-math": { reference: "accuracy_reward", score: perItem(accuracyReward, answerSolution) },
  geomath: { reference: "accuracy_reward", score: perItem(accuracyReward, answerSolution) },
  trance: { reference: "func_accuracy_reward", score: perItem(funcReward, callSolution) },
  "trance-only-full": {
    reference: "only_full_func_accuracy_reward",
    score: perItem(onlyFullFuncReward, callSolution),
  },
  "trance-penalty": { reference: "penalty_func_accuracy_reward", score: perItem(penaltyFuncReward, callSolution) },
  "trance-full-caption": {
    reference: "only_full_func_accuracy_reward",
    score: perItem(onlyFullFuncReward, callSolution),
  },
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
      return { reference: "len_reward", score: groupLength, groupRelative: true };
    case "math-accuracy":
      if (task.startsWith("trance")) throw new Error(`reward "math-accuracy" is not available for task ${task}`);
      return { reference: "math_accuracy_reward", score: perItem(mathAccuracyReward, answerSolution) };
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
    return {
      name: name as RewardName,
      reference: e.reference,
      weight,
      groupRelative: e.groupRelative ?? false,
      score: e.score,
    };
  });
}

/** What scoreBatch does with an item some reward could not judge (returned null for). */
export type OnNull = "zero" | "skip";

export interface ScoreBatchOptions {
  /** The trainer's global step (default 0). */
  step?: number;
  /**
   * Consecutive completions per group (GRPO's num_generations). Required when the set has a group-relative reward
   * (the length reward); the batch length must be a multiple of it.
   */
  groupSize?: number;
  /**
   * "zero" (default, the reference's totals): a null counts as 0 in the total. "skip": an item with any null has
   * total null, and the caller leaves it out (e.g. of the group's advantage statistics and the loss).
   */
  onNull?: OnNull;
}

export interface ScoredBatch {
  /** Per reward name, one value per completion (null: that reward could not judge the item). */
  rewards: Record<string, RewardValue[]>;
  /** Weighted sum per completion; null for the items in `skipped` (onNull "skip"). */
  total: (number | null)[];
  /** Per reward name that returned any null: the indices of those items. */
  nulls: Record<string, number[]>;
  /** Items whose total is null (onNull "skip"), in order. */
  skipped: number[];
}

/**
 * Scores a batch with a reward set.
 *
 * @example
 * scoreBatch(rewardSet("clevr-math"), ["<think>1+2</think><answer>3</answer>"], ["3"]).total; // [2]
 * scoreBatch(rewardSet("clevr-math"), ["<answer>3</answer>", "<answer>3</answer>"], ["3", " "], { onNull: "skip" }).total; // [1, null]
 */
export function scoreBatch(
  set: readonly RewardSpec[],
  completions: readonly string[],
  solutions: readonly string[],
  opts: ScoreBatchOptions = {},
): ScoredBatch {
  if (completions.length !== solutions.length) {
    throw new Error(`scoreBatch: ${completions.length} completions but ${solutions.length} solutions`);
  }
  const onNull = opts.onNull ?? "zero";
  if (onNull !== "zero" && onNull !== "skip") throw new Error(`scoreBatch: onNull must be "zero" or "skip"`);
  const relative = set.filter((r) => r.groupRelative).map((r) => r.name);
  const groupSize = opts.groupSize ?? (relative.length ? undefined : Math.max(1, completions.length));
  if (groupSize === undefined) {
    throw new Error(
      `scoreBatch: reward "${relative[0]}" is group-relative: pass groupSize (completions per prompt, e.g. num_generations)`,
    );
  }
  if (!Number.isInteger(groupSize) || groupSize < 1 || (completions.length > 0 && completions.length % groupSize)) {
    throw new Error(`scoreBatch: ${completions.length} completions do not split into groups of ${groupSize}`);
  }
  const ctx: RewardContext = { step: opts.step ?? 0, groupSize };
  const rewards: Record<string, RewardValue[]> = {};
  const nulls: Record<string, number[]> = {};
  const total: (number | null)[] = completions.map(() => 0);
  for (const r of set) {
    const values = r.score(completions, solutions, ctx);
    rewards[r.name] = values;
    values.forEach((v, i) => {
      if (v === null) {
        (nulls[r.name] ??= []).push(i);
        if (onNull === "skip") total[i] = null;
      } else if (total[i] !== null) total[i]! += r.weight * v;
    });
  }
  const skipped: number[] = [];
  total.forEach((t, i) => t === null && skipped.push(i));
  return { rewards, total, nulls, skipped };
}
