/**
 * Format and style rewards (spec §3.6–3.8).
 */
import { lengthCorrect } from "./accuracy.ts";

const JS_SPACE = /^\s$/;

/**
 * Whether `text` matches `^<t0>[\s\S]*?</t0>\s*<t1>[\s\S]*?</t1> … \s*<tn>[\s\S]*?</tn>$` (JS `\s`, `$` only at the very
 * end), decided in linear time. The regex backtracks over every `</tk>` followed by `<tk+1>` and rescans the rest of
 * the text from each, which is quadratic; taking, at each stage, the first closing tag that is followed by optional
 * whitespace and the next opening tag leaves the most room for the later stages, so it finds a match whenever the
 * regex does.
 */
export function matchesTagSequence(text: string, tags: readonly string[]): boolean {
  const first = `<${tags[0]}>`;
  if (!text.startsWith(first)) return false;
  let pos = first.length;
  for (let k = 0; k + 1 < tags.length; k++) {
    const close = `</${tags[k]}>`;
    const open = `<${tags[k + 1]}>`;
    let next = -1;
    // A closing tag cannot overlap itself or sit inside the whitespace that follows the previous one, so the
    // whitespace runs skipped here are disjoint: the loop is linear.
    for (let p = text.indexOf(close, pos); p >= 0; p = text.indexOf(close, p + close.length)) {
      let q = p + close.length;
      while (q < text.length && JS_SPACE.test(text[q]!)) q++;
      if (text.startsWith(open, q)) {
        next = q + open.length;
        break;
      }
    }
    if (next < 0) return false;
    pos = next;
  }
  const last = `</${tags[tags.length - 1]}>`;
  return text.endsWith(last) && text.length - last.length >= pos;
}

const THINK_ANSWER = ["think", "answer"] as const;
const CAPTION_THINK_ANSWER = ["summary", "caption", "think", "answer"] as const;

/**
 * 1 when the whole completion is `<think>…</think>`, optional whitespace, `<answer>…</answer>` (nothing before or
 * after, not even a newline), else 0.
 *
 * @example
 * formatReward("<think>5-2=3</think>\n<answer>3</answer>");  // 1
 * formatReward("<think>5-2=3</think><answer>3</answer>\n"); // 0 (trailing text)
 */
export function formatReward(completion: string): number {
  return typeof completion === "string" && matchesTagSequence(completion, THINK_ANSWER) ? 1 : 0;
}

/**
 * Like formatReward over `<summary>`, `<caption>`, `<think>`, `<answer>` in that order.
 *
 * @example
 * captionFormatReward("<summary>s</summary><caption>c</caption><think>t</think><answer>a</answer>"); // 1
 */
export function captionFormatReward(completion: string): number {
  return typeof completion === "string" && matchesTagSequence(completion, CAPTION_THINK_ANSWER) ? 1 : 0;
}

// No multiline flag in the reference: `^` only matches at the very start of the text.
const STEP_MARKERS = /Step \p{Nd}+:|^\p{Nd}+\.|\n-|\n\*|First,|Second,|Next,|Finally,/gu;

/**
 * min(1, markers/3), counting "Step N:", a leading "N.", "\n-", "\n*", "First,", "Second,", "Next,", "Finally,".
 * Range [0, 1].
 *
 * @example
 * reasoningStepsReward("Step 1: look. Step 2: count. Step 3: answer."); // 1
 * reasoningStepsReward("First, count the cubes.");                      // 1/3
 */
export function reasoningStepsReward(completion: string): number {
  if (typeof completion !== "string") return 0;
  const n = completion.match(STEP_MARKERS)?.length ?? 0;
  return Math.min(1, n / 3);
}

/** The step from which the length reward is active (LENGTH_REWARD_START_POINT). */
export const LENGTH_REWARD_START_STEP = 800;
/** Scale applied once active. */
export const LENGTH_REWARD_SCALE = 0.05;

/**
 * Kimi-1.5 length reward (spec §3.8), lengths in characters. **Group-relative**: min and max are taken over each group
 * of `groupSize` consecutive completions (GRPO's completions of one prompt), so an item's value depends on its group
 * and nothing else. With λ = 0.5 − (len − min)/(max − min): a correct completion gets λ, a wrong one min(0, λ); a
 * group of equal lengths gives 0; before step 800 everything is 0, afterwards the value is scaled by 0.05.
 * Range [−0.025, 0.025].
 *
 * The reference computes min/max over whatever its reward call receives (the whole per-device batch, spec §3.8), so
 * its value changed with the batch composition; `groupSize` makes the set explicit. Without it the whole call is one
 * group (the reference's behaviour). The length of the call must be a multiple of `groupSize`.
 *
 * @example
 * lengthReward(["<answer>3</answer>", "<think>long…</think><answer>3</answer>"], ["3", "3"], 900); // [0.025, -0.025]
 * lengthReward(["<answer>3</answer>", "<think>l</think><answer>3</answer>", "<answer>4</answer>", "x"], ["3", "3", "3", "3"], 900, 2); // [0.025, -0.025, -0.025, 0] (pairs)
 */
export function lengthReward(
  completions: readonly string[],
  solutions: readonly string[],
  step: number,
  groupSize = completions.length,
): number[] {
  if (completions.length === 0) return [];
  if (!Number.isInteger(groupSize) || groupSize < 1 || completions.length % groupSize !== 0) {
    throw new Error(`lengthReward: ${completions.length} completions do not split into groups of ${groupSize}`);
  }
  const out: number[] = [];
  for (let g = 0; g < completions.length; g += groupSize) {
    const group = completions.slice(g, g + groupSize);
    const lens = group.map((c) => (typeof c === "string" ? c.length : 0));
    let min = Infinity;
    let max = -Infinity;
    for (const l of lens) {
      if (l < min) min = l;
      if (l > max) max = l;
    }
    group.forEach((c, i) => {
      if (max === min || step < LENGTH_REWARD_START_STEP) return out.push(0);
      const lambda = 0.5 - (lens[i]! - min) / (max - min);
      const sol = solutions[g + i];
      const ok = typeof c === "string" && typeof sol === "string" && lengthCorrect(c, sol);
      out.push(LENGTH_REWARD_SCALE * (ok ? lambda : Math.min(0, lambda)));
    });
  }
  return out;
}
