/**
 * Seeded random "completion-like" text for property tests: a mix of tags (whole, partial, nested), numbers,
 * LaTeX, function calls, step markers, Unicode and whitespace, so parsers meet both plausible and hostile input.
 */
import { Rng } from "../../src/data/rng.ts";

const PIECES = [
  "<think>",
  "</think>",
  "<answer>",
  "</answer>",
  "<summary>",
  "</summary>",
  "<caption>",
  "</caption>",
  "<answer",
  "</answ",
  "3",
  "3.0",
  "-2",
  "1,234",
  "2,5",
  "50%",
  ".5",
  "007",
  "1e3",
  "inf",
  "nan",
  "0",
  "\\boxed{",
  "}",
  "{",
  "\\frac{1}{2}",
  "$",
  "$$",
  "\\(",
  "\\)",
  "\\[",
  "\\]",
  "\\sqrt{3}",
  "^\\circ",
  "\\text{cm}",
  "x = 4",
  "change_color(1, red)",
  "change_size(2, 'small')",
  "f(",
  ")",
  ",",
  "func(object_id, value)",
  "a(1,x)",
  "Step 1:",
  "First,",
  "Finally,",
  "\n-",
  "\n*",
  "1.",
  "A",
  "B",
  "(C)",
  "The answer is",
  "final answer is",
  "Answer:",
  "=",
  "+",
  "/",
  "^",
  "×",
  "÷",
  " ",
  "  ",
  "\n",
  "\t",
  "\u00a0",
  "\u3000",
  "é",
  "grün",
  "数",
  "🙂",
  "\u200b",
  "\\",
  "'",
  '"',
];

/** A random string of up to `maxPieces` pieces. */
export function randomText(rng: Rng, maxPieces = 40): string {
  const n = rng.int(maxPieces + 1);
  let s = "";
  for (let i = 0; i < n; i++) {
    s += rng.next() < 0.15 ? String.fromCharCode(32 + rng.int(95)) : rng.pick(PIECES);
  }
  return s;
}

/** `count` random texts from one seed. */
export function randomTexts(seed: number, count: number, maxPieces = 40): string[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => randomText(rng, maxPieces));
}
