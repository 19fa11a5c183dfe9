/**
 * Spatial-transformation (TRANCE) function matching (spec §3.5 and the scorer of §6.2).
 *
 * Answers are sequences of calls `func(object_id, value)`. Predicted and true calls are matched greedily in four
 * stages: exact, then same function and object, then same function and value, then same function; each matched
 * pair earns `item_score × stage weight`, with item_score = repeat_penalty / max(|P|, |S|) over the unique calls.
 *
 * Order: the reference iterates Python sets, whose order changes between processes; we use first-occurrence order,
 * so results are deterministic. Only the partial stages can depend on the order, and only in rare ties.
 */
import { answerTagContent, extractAnswer } from "./text.ts";

/** One call `func(object_id, value)`. */
export interface FunctionCall {
  func: string;
  object: string;
  value: string;
}

// The reference regex `(\w+)\((\w+),\s*'?(\w+)'?\)` with Python's Unicode \w; no word boundaries, no vocabulary.
// Run as a regex it is quadratic on a long word not followed by "(" (it retries from every letter), so the matches
// are found by a scan from each "(" that gives the same matches in the same order.
const WORD_AT = /[\p{L}\p{N}_]+/uy;
const WORD_CHAR = /^[\p{L}\p{N}_]$/u;
const SPACES_AT = /\s*/y;

/** End of the word run starting exactly at `i`, or -1 when no word character is there. */
function wordEnd(text: string, i: number): number {
  WORD_AT.lastIndex = i;
  return WORD_AT.test(text) ? WORD_AT.lastIndex : -1;
}

/** Length (1 or 2 code units) of the word character (code point) ending just before `i`, or 0. */
function wordCharBefore(text: string, i: number, lo: number): number {
  const c = text.charCodeAt(i - 1);
  if (c < 128) return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 ? 1 : 0;
  if (c >= 0xdc00 && c <= 0xdfff && i - 2 >= lo) {
    const h = text.charCodeAt(i - 2);
    if (h >= 0xd800 && h <= 0xdbff) return WORD_CHAR.test(text.slice(i - 2, i)) ? 2 : 0;
  }
  return WORD_CHAR.test(text[i - 1]!) ? 1 : 0;
}

/**
 * Every call found in the text, in order, duplicates included.
 *
 * Why the scan is the regex: `\w+` is greedy and none of "(", ",", "'", ")" or whitespace is a word character, so a
 * match's function name is the whole word run before a "(" (from the end of the previous match on), and each later
 * step has exactly one way to continue. Runs before different "(" are disjoint, so the scan is linear.
 *
 * @example
 * parseFunctionCalls("change_color(1, red), change_size(2, 'small')");
 * // [{func:"change_color",object:"1",value:"red"}, {func:"change_size",object:"2",value:"small"}]
 */
export function parseFunctionCalls(text: string): FunctionCall[] {
  const out: FunctionCall[] = [];
  let from = 0; // where the regex would resume: the end of the previous match
  for (let paren = text.indexOf("("); paren >= 0; paren = text.indexOf("(", Math.max(paren + 1, from))) {
    let start = paren;
    for (let w = wordCharBefore(text, start, from); start > from && w > 0; w = wordCharBefore(text, start, from))
      start -= w;
    if (start === paren) continue;
    const objEnd = wordEnd(text, paren + 1);
    if (objEnd < 0 || text[objEnd] !== ",") continue;
    SPACES_AT.lastIndex = objEnd + 1;
    SPACES_AT.test(text);
    let v = SPACES_AT.lastIndex;
    if (text[v] === "'") v++;
    const valueEnd = wordEnd(text, v);
    if (valueEnd < 0) continue;
    let end: number;
    if (text[valueEnd] === ")") end = valueEnd + 1;
    else if (text[valueEnd] === "'" && text[valueEnd + 1] === ")") end = valueEnd + 2;
    else continue;
    out.push({ func: text.slice(start, paren), object: text.slice(paren + 1, objEnd), value: text.slice(v, valueEnd) });
    from = end;
  }
  return out;
}

const key = (c: FunctionCall): string => `${c.func}\u0000${c.object}\u0000${c.value}`;

/** Unique calls in first-occurrence order. */
export function uniqueCalls(calls: readonly FunctionCall[]): FunctionCall[] {
  const seen = new Set<string>();
  return calls.filter((c) => (seen.has(key(c)) ? false : (seen.add(key(c)), true)));
}

/** Weights of the three partial stages: (func, object), (func, value), func only. */
export type PartialWeights = readonly [number, number, number];

export const FULL_ONLY: PartialWeights = [0, 0, 0];
export const PARTIAL: PartialWeights = [0.5, 0.5, 0.25];
export const PENALTY: PartialWeights = [-0.25, -0.25, -0.5];

export interface MatchCounts {
  exact: number;
  funcObject: number;
  funcValue: number;
  funcOnly: number;
}

const STAGES: ((p: FunctionCall, s: FunctionCall) => boolean)[] = [
  (p, s) => p.func === s.func && p.object === s.object,
  (p, s) => p.func === s.func && p.value === s.value,
  (p, s) => p.func === s.func,
];

/** Greedy stage-by-stage matching of unique predicted against unique true calls; returns the pair counts. */
export function matchCalls(pred: readonly FunctionCall[], sol: readonly FunctionCall[]): MatchCounts {
  const solKeys = new Set(sol.map(key));
  const predKeys = new Set(pred.map(key));
  let predLeft = pred.filter((p) => !solKeys.has(key(p)));
  let solLeft = sol.filter((s) => !predKeys.has(key(s)));
  const exact = pred.length - predLeft.length;
  const [funcObject, funcValue, funcOnly] = STAGES.map((same) => {
    let n = 0;
    const unmatched: FunctionCall[] = [];
    for (const p of predLeft) {
      const j = solLeft.findIndex((s) => same(p, s));
      if (j < 0) unmatched.push(p);
      else {
        n++;
        solLeft = solLeft.filter((_, i) => i !== j);
      }
    }
    predLeft = unmatched;
    return n;
  }) as [number, number, number];
  return { exact, funcObject, funcValue, funcOnly };
}

function weighted(c: MatchCounts, itemScore: number, w: PartialWeights): number {
  return itemScore * (c.exact + w[0] * c.funcObject + w[1] * c.funcValue + w[2] * c.funcOnly);
}

/**
 * The RL reward of spec §3.5 for one completion: prediction = extracted `<answer>` (DOTALL), solution calls from the
 * raw solution text, with the repeat penalty |unique|/|all| on the prediction. A prediction without any call is 0
 * (the reference divides by zero there and catches it).
 */
export function functionMatchReward(completion: string, solution: string, weights: PartialWeights): number {
  if (typeof completion !== "string" || typeof solution !== "string") return 0;
  const all = parseFunctionCalls(extractAnswer(completion));
  if (all.length === 0) return 0;
  const pred = uniqueCalls(all);
  const sol = uniqueCalls(parseFunctionCalls(solution));
  const repeatPenalty = pred.length / all.length;
  const itemScore = repeatPenalty / Math.max(pred.length, sol.length);
  return weighted(matchCalls(pred, sol), itemScore, weights);
}

/**
 * Exact matches only (`only_full_func_accuracy_reward`, the ST reward of the reference scripts). Range [0, 1].
 *
 * @example
 * onlyFullFuncReward("<answer>color(1,red), position(2,left)</answer>", "color(1,red), position(2,front)"); // 0.5
 * onlyFullFuncReward("<answer>color(1,red), color(1,red)</answer>", "color(1,red)");                     // 0.5 (repeat penalty)
 */
export function onlyFullFuncReward(completion: string, solution: string): number {
  return functionMatchReward(completion, solution, FULL_ONLY);
}

/**
 * Partial credit 0.5 / 0.5 / 0.25 (`func_accuracy_reward`). Range [0, 1].
 *
 * @example
 * funcReward("<answer>color(1,red), position(2,left)</answer>", "color(1,red), position(2,front)"); // 0.75
 */
export function funcReward(completion: string, solution: string): number {
  return functionMatchReward(completion, solution, PARTIAL);
}

/**
 * Negative weights −0.25 / −0.25 / −0.5 for near misses (`penalty_func_accuracy_reward`). Range [−0.5, 1].
 *
 * @example
 * penaltyFuncReward("<answer>color(1,red), position(2,left)</answer>", "color(1,red), position(2,front)"); // 0.375
 */
export function penaltyFuncReward(completion: string, solution: string): number {
  return functionMatchReward(completion, solution, PENALTY);
}

/**
 * The TRANCE evaluation score (spec §6.2): partial credit 0.5/0.5/0.25, no repeat penalty, 0 when the ground truth
 * has no call. `dotAll: false` reproduces the reference's regex, which misses multi-line `<answer>` blocks and then
 * scans the whole completion (spec §10.2); the default finds them. Range [0, 1].
 *
 * @example
 * tranceScore("<answer>change_color(1, red)</answer>", "change_color(1, red), change_size(2, small)"); // 0.5
 */
export function tranceScore(pred: string, answer: string, dotAll = true): number {
  const inner = answerTagContent(pred, dotAll);
  const P = uniqueCalls(parseFunctionCalls(inner ?? pred));
  const S = uniqueCalls(parseFunctionCalls(answer));
  if (S.length === 0 || P.length === 0) return 0;
  return weighted(matchCalls(P, S), 1 / Math.max(P.length, S.length), PARTIAL);
}
