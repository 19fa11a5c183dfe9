/**
 * Reward plug-in for GRPO on visual counting (clevr-math): is the answer faithful to the chain's own arithmetic, and is
 * the output exactly one `<think>` block and one `<answer>` block? Use it with
 *
 *   reward_funcs: [accuracy, format, chain_consistency, strict_format]
 *   reward_weights: [1, 1, 0.5, 0.5]
 *   reward_module: examples/rewards/chain_consistency.ts
 *
 * (docs/training.md, "Reward plug-ins"). Both exports are pure, tensor-free and linear in the completion's length; they
 * never read the solution: `chain_consistency` checks faithfulness, `accuracy` checks correctness.
 *
 * Why (DESIGN.md, "What a tiny model can learn on 2 cores"): in the PyTorch prototype GRPO made the counting chains
 * unfaithful — the answer agreed with the chain's own arithmetic 49% of the time, against 98% after CoT-SFT — and the
 * Zero policy gamed the loose format check by repeating `</answer>`.
 *
 * ## chain_consistency
 *
 * Reads the chain the way our generator writes it (src/tasks/synth/counting.ts, `solveCounting`):
 *
 *   There are 8 objects: a large yellow metal cylinder, ….
 *   Step 1: subtract all metal spheres; they are …. 8 - 2 = 6 objects are left.
 *   Step 2: add 1 cylinder. 6 + 1 = 7 objects.
 *   So 7 objects are left.            (question about all objects)
 *   The cubes that are left: …. So the answer is 2.     (question about a kind of object)
 *
 * Equations are `a op b [op c …] = r` with op one of `+` (or `＋`) and `-`, `−` (U+2212), `–` (U+2013), `－`
 * (U+FF0D), `=` or `＝`, ASCII digits with an optional decimal part, any spaces in between, evaluated left to right.
 * `r` may start the next equation (`8 - 2 = 6 - 1 = 5`). Text that is not of that shape (`Step 1:`, `3-4 objects`,
 * `2 × 3 = 6`) is not an equation and is ignored.
 *
 * 1 when all of these hold, else 0:
 * - there is a `<think>…</think>` block, closed before the first `<answer>`, holding at least one equation;
 * - every equation is arithmetically right;
 * - the equations form a chain: each one starts from the previous one's result, and the first from N when a
 *   "There are N objects" sentence comes before it;
 * - a concluding sentence after the last equation agrees with it: "So N objects are left" needs N = the last
 *   result; "the answer is N" (a count of one kind among what is left) needs 0 ≤ N ≤ the last result;
 * - the first `<answer>` block (the one `accuracy` reads) holds a number equal to the chain's result: the last
 *   concluding sentence's N when one follows the last equation, else the last equation's result.
 *
 * No think block, or a think block without an equation, scores 0, not a neutral value: every generated chain has
 * at least one equation (each program has 1–4 steps), so a chain without arithmetic is not the taught form, and any
 * value above 0 would pay a policy for dropping the arithmetic it could get wrong — the "guess without doing the
 * subtraction" behaviour DESIGN.md saw in the Zero policy. (The trainer's `null`, "cannot judge", would also count 0
 * in the total but would leave such completions out of `rewards/chain_consistency/mean`, hiding exactly that
 * behaviour from the metric.)
 *
 * Weight it below accuracy (0.5 above): at weight 1, a consistent chain with a wrong answer (accuracy 0 + chain 1)
 * would tie a right answer reached by an inconsistent chain (1 + 0).
 *
 * Not checked: whether the listed objects ("they are a … and a …") number what the equation subtracts, and whether
 * the chain has one step per instruction of the question.
 *
 * ## strict_format
 *
 * 1 only when the completion is `<think>…</think>`, optional whitespace, `<answer>…</answer>`, with nothing before
 * `<think>` or after `</answer>` and exactly one of each of the four tags; else 0. The built-in `format`
 * (src/rewards/format.ts) reproduces the reference's `^<think>.*?</think>\s*<answer>.*?</answer>$`, whose lazy
 * groups can stretch over extra tags, so it gives 1 to `<think>…</think><answer>3</answer></answer></answer>` and to
 * `<think>…</think><answer>3</answer><answer>4</answer>`; strict_format gives them 0. Like `format`, it sees the text
 * decoded without special tokens, so it cannot tell a completion that stopped from one cut at
 * `max_completion_length` right after a `</answer>` (`completions/clipped_ratio` reports those).
 *
 * @example
 * chain_consistency(["<think>There are 5 objects. 5 - 2 = 3 objects are left. So 3 objects are left.</think><answer>3</answer>"]); // [1]
 * chain_consistency(["<think>5 - 2 = 4</think><answer>4</answer>"]); // [0]  (wrong equation)
 * chain_consistency(["<think>5 - 2 = 3</think><answer>4</answer>"]); // [0]  (answer disagrees with the chain)
 * strict_format(["<think>5 - 2 = 3</think>\n<answer>3</answer></answer>"]); // [0]
 */
import { answerTagContent, pyStrip } from "../../src/rewards/text.ts";

// ---- the chain ------------------------------------------------------------------------------------------------------

const PLUS = new Set(["+", "＋"]);
const MINUS = new Set(["-", "−", "–", "－"]);
const EQUALS = new Set(["=", "＝"]);

/** One written equation: `operands[0] ops[0] operands[1] … = result`, and where it starts and ends in the text. */
export interface Equation {
  operands: number[];
  ops: ("+" | "-")[];
  result: number;
  start: number;
  end: number;
}

type Token =
  | { kind: "num"; value: number; start: number; end: number }
  | { kind: "op"; op: "+" | "-" }
  | { kind: "eq" }
  | { kind: "other" };

const isDigit = (c: number) => c >= 48 && c <= 57;
const isSpace = (ch: string) => /\s/.test(ch);

/** The equations of `text`, in order, found in one left-to-right pass (linear time). */
export function parseEquations(text: string): Equation[] {
  const out: Equation[] = [];
  // The expression being read: operands and operators so far, where it starts; `sawEq` once its `=` is read.
  let operands: number[] = [];
  let ops: ("+" | "-")[] = [];
  let start = 0;
  let sawEq = false;
  const reset = () => {
    operands = [];
    ops = [];
    sawEq = false;
  };
  const begin = (t: Extract<Token, { kind: "num" }>) => {
    operands = [t.value];
    ops = [];
    start = t.start;
    sawEq = false;
  };
  const onToken = (t: Token) => {
    if (t.kind === "num") {
      if (sawEq) {
        if (ops.length > 0) out.push({ operands, ops, result: t.value, start, end: t.end });
        begin(t); // the result may start the next equation: `8 - 2 = 6 - 1 = 5`
      } else if (operands.length === ops.length && operands.length > 0) operands.push(t.value);
      else begin(t); // a first number, or two numbers in a row: start again from the later one
    } else if (t.kind === "op") {
      if (!sawEq && operands.length === ops.length + 1) ops.push(t.op);
      else reset();
    } else if (t.kind === "eq") {
      if (!sawEq && operands.length > 0 && operands.length === ops.length + 1) sawEq = true;
      else reset();
    } else reset();
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (isDigit(text.charCodeAt(i))) {
      let j = i;
      while (j < text.length && isDigit(text.charCodeAt(j))) j++;
      if (text[j] === "." && isDigit(text.charCodeAt(j + 1))) {
        j++;
        while (j < text.length && isDigit(text.charCodeAt(j))) j++;
      }
      // A number glued to a letter ("x2", "2nd") is not an operand.
      const glued = (k: number) => k >= 0 && k < text.length && /[\p{L}_]/u.test(text[k]!);
      onToken(
        glued(i - 1) || glued(j)
          ? { kind: "other" }
          : { kind: "num", value: Number(text.slice(i, j)), start: i, end: j },
      );
      i = j;
      continue;
    }
    if (PLUS.has(ch)) onToken({ kind: "op", op: "+" });
    else if (MINUS.has(ch)) onToken({ kind: "op", op: "-" });
    else if (EQUALS.has(ch)) onToken({ kind: "eq" });
    else if (!isSpace(ch)) onToken({ kind: "other" });
    i++;
  }
  return out;
}

/** Left-to-right value of an equation's left side. */
function leftValue(e: Equation): number {
  let v = e.operands[0]!;
  e.ops.forEach((op, k) => (v = op === "+" ? v + e.operands[k + 1]! : v - e.operands[k + 1]!));
  return v;
}

const same = (a: number, b: number) => Math.abs(a - b) < 1e-9;

const START = /\bthere (?:are|is) (\d+) objects?\b/gi;
const LEFT = /\bso (\d+) objects? (?:are|is) left\b/gi;
const ANSWER_IS = /\bthe answer is (\d+)\b/gi;

interface Statement {
  n: number;
  index: number;
  kind: "start" | "left" | "answer";
}

function statements(think: string): Statement[] {
  const out: Statement[] = [];
  for (const [re, kind] of [
    [START, "start"],
    [LEFT, "left"],
    [ANSWER_IS, "answer"],
  ] as const)
    for (const m of think.matchAll(re)) out.push({ n: Number(m[1]), index: m.index, kind });
  return out.sort((a, b) => a.index - b.index);
}

/** The first `<think>` block's content when it closes before the first `<answer>`, else undefined. */
function thinkPart(text: string): string | undefined {
  const open = text.indexOf("<think>");
  if (open < 0) return undefined;
  const close = text.indexOf("</think>", open + 7);
  if (close < 0) return undefined;
  const answer = text.indexOf("<answer>");
  if (answer >= 0 && answer < close) return undefined;
  return text.slice(open + 7, close);
}

const NUMBER = /^[+-]?\d+(?:\.\d+)?$/;

/**
 * Why a completion scores 0 under chain_consistency, or "ok" when it scores 1. Exported for tests and for
 * inspecting rollouts; the reward is `checkChain(c) === "ok" ? 1 : 0`.
 */
export function checkChain(
  completion: unknown,
):
  | "ok"
  | "not a string"
  | "no think block"
  | "no equation"
  | "wrong equation"
  | "broken chain"
  | "conclusion disagrees"
  | "no numeric answer"
  | "answer disagrees" {
  if (typeof completion !== "string") return "not a string";
  const think = thinkPart(completion);
  if (think === undefined) return "no think block";
  const eqs = parseEquations(think);
  if (eqs.length === 0) return "no equation";
  if (!eqs.every((e) => same(leftValue(e), e.result))) return "wrong equation";
  for (let k = 1; k < eqs.length; k++) if (!same(eqs[k]!.operands[0]!, eqs[k - 1]!.result)) return "broken chain";
  const said = statements(think);
  const last = eqs[eqs.length - 1]!;
  // The start count: the last "There are N objects" before the first equation.
  const start = said.filter((s) => s.kind === "start" && s.index < eqs[0]!.start).pop();
  if (start && !same(start.n, eqs[0]!.operands[0]!)) return "broken chain";
  let result = last.result;
  for (const s of said) {
    if (s.index < last.end || s.kind === "start") continue;
    if (s.kind === "left" ? !same(s.n, last.result) : s.n > last.result) return "conclusion disagrees";
    result = s.n;
  }
  const inner = answerTagContent(completion);
  const answer = inner === undefined ? "" : pyStrip(inner);
  if (!NUMBER.test(answer)) return "no numeric answer";
  return same(Number(answer), result) ? "ok" : "answer disagrees";
}

/**
 * 1 when the `<think>` arithmetic is right, chained, and the `<answer>` equals its result; else 0 (see the module
 * comment). Never reads the solutions.
 */
export function chain_consistency(completions: readonly string[]): number[] {
  return completions.map((c) => (checkChain(c) === "ok" ? 1 : 0));
}

// ---- strict format ----------------------------------------------------------------------------------------------

function count(text: string, tag: string): number {
  let n = 0;
  for (let p = text.indexOf(tag); p >= 0; p = text.indexOf(tag, p + tag.length)) n++;
  return n;
}

/** 1 for exactly `<think>…</think>` + whitespace + `<answer>…</answer>`, one tag of each, nothing outside. */
export function strictFormat(text: unknown): number {
  if (typeof text !== "string") return 0;
  const tags = ["<think>", "</think>", "<answer>", "</answer>"];
  if (!tags.every((t) => count(text, t) === 1)) return 0;
  if (!text.startsWith("<think>") || !text.endsWith("</answer>")) return 0;
  const closeThink = text.indexOf("</think>");
  const openAnswer = text.indexOf("<answer>");
  if (openAnswer < closeThink) return 0;
  return /^\s*$/.test(text.slice(closeThink + 8, openAnswer)) ? 1 : 0;
}

export function strict_format(completions: readonly string[]): number[] {
  return completions.map(strictFormat);
}
