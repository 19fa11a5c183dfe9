/**
 * Accuracy rewards for visual counting and structure perception (spec §3.3, §3.4).
 *
 * Both compare the extracted answer of the completion with the extracted answer of the solution and, only when the
 * completion has no `<answer>` tag, fall back to symbolic equivalence (math_verify semantics, see math_verify.ts).
 * They never throw: whatever would raise in the reference scores 0, as the reference's caller observes.
 */
import { mathEqual } from "./math_verify.ts";
import { extractAnswer, hasAnswerTag, pyFloat } from "./text.ts";

/**
 * Exact-match accuracy (the reward of every published VC/SP run): 1 when the extracted answers are identical
 * strings; otherwise, for a completion without `<answer>` tags, 1 when the full texts are mathematically equal.
 * Range {0, 1}.
 *
 * With tags there is no normalisation at all: `<answer>3.0</answer>` against "3" scores 0 (spec §3.3).
 *
 * @example
 * accuracyReward("<think>5-2</think><answer>3</answer>", "3"); // 1
 * accuracyReward("<think>5-2</think><answer>3.0</answer>", "3"); // 0
 * accuracyReward("3.0", "3");                                     // 1 (no tags: symbolic check)
 */
export function accuracyReward(completion: string, solution: string): number {
  if (typeof completion !== "string" || typeof solution !== "string") return 0;
  if (extractAnswer(completion) === extractAnswer(solution)) return 1;
  if (!hasAnswerTag(completion) && mathEqual(solution, completion)) return 1;
  return 0;
}

/** Tolerance band of mathAccuracyReward, relative to |ground truth|. */
export const MATH_TOLERANCE = { full: 0.05, zero: 0.2 } as const;

/**
 * The cosine-band numeric reward (defined but unused by the reference scripts). With both answers numeric and
 * d = |pred − gt|: 1 when d < 5%·|gt|, 0 when d > 20%·|gt|, and a cosine ramp from 1 to 0 in between. Non-numeric
 * answers need exact string equality; the math_verify fallback then applies to tag-less completions.
 * Range [0, 1].
 *
 * Reference behaviours kept (the reward its caller observed): a ground truth of 0 makes the band divide 0 by 0,
 * which the reference catches, so a tagged exact "0" scores 0 (spec §3.4, §10.15); a non-finite value scores 0.
 *
 * @example
 * mathAccuracyReward("<answer>10.2</answer>", "10");  // 1      (2% off)
 * mathAccuracyReward("<answer>11.25</answer>", "10"); // 0.5    (12.5% off: half-way down the ramp)
 * mathAccuracyReward("<answer>13</answer>", "10");    // 0      (30% off)
 */
export function mathAccuracyReward(completion: string, solution: string): number {
  if (typeof completion !== "string" || typeof solution !== "string") return 0;
  const pred = extractAnswer(completion);
  const gold = extractAnswer(solution);
  let reward = 0;
  const p = pyFloat(pred);
  const g = pyFloat(gold);
  if (p !== undefined && g !== undefined) reward = cosineBand(p, g);
  else if (pred === gold) reward = 1;
  if (reward === 0 && !hasAnswerTag(completion) && mathEqual(solution, completion)) reward = 1;
  return reward;
}

/** The band of mathAccuracyReward for two numbers; 0 where the reference divides by zero or meets NaN/∞. */
export function cosineBand(pred: number, gt: number): number {
  if (!Number.isFinite(pred) || !Number.isFinite(gt)) return 0;
  const d = Math.abs(pred - gt);
  const lo = MATH_TOLERANCE.full * Math.abs(gt);
  const hi = MATH_TOLERANCE.zero * Math.abs(gt);
  if (d < lo) return 1;
  if (d > hi) return 0;
  if (hi - lo === 0) return 0; // gt = 0 and d = 0: ZeroDivisionError in the reference, caught as 0
  const t = (d - lo) / (hi - lo);
  return 0.5 * (Math.cos(Math.PI * t) + 1);
}

/**
 * Correctness as the length reward defines it (spec §3.8): equal extracted strings, equal floats, or (without tags)
 * symbolic equality.
 */
export function lengthCorrect(completion: string, solution: string): boolean {
  const pred = extractAnswer(completion);
  const gold = extractAnswer(solution);
  if (pred === gold) return true;
  const p = pyFloat(pred);
  const g = pyFloat(gold);
  if (p !== undefined && g !== undefined && p === g) return true;
  return !hasAnswerTag(completion) && mathEqual(solution, completion);
}
