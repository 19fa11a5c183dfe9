/**
 * Text helpers shared by rewards and scorers: Python-compatible strip, `<answer>` extraction and float parsing.
 * The reference is Python; these reproduce the Python behaviours its rewards depend on.
 */

// Characters Python's str.strip() removes (str.isspace), which differ slightly from String.prototype.trim.
const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const LEADING = new RegExp(`^[${PY_SPACE}]+`);
const TRAILING = new RegExp(`[${PY_SPACE}]+$`);

/** Python `str.strip()` with no argument. */
export function pyStrip(s: string): string {
  return s.replace(LEADING, "").replace(TRAILING, "");
}

const ANSWER_DOTALL = /<answer>([\s\S]*?)<\/answer>/;
// Python `.` without DOTALL matches anything but "\n".
const ANSWER_NO_DOTALL = /<answer>([^\n]*?)<\/answer>/;

/** Content of the first `<answer>…</answer>` (non-greedy), or undefined. `dotAll: false` reproduces spec §6.2's TRANCE scorer. */
export function answerTagContent(text: string, dotAll = true): string | undefined {
  const m = (dotAll ? ANSWER_DOTALL : ANSWER_NO_DOTALL).exec(text);
  return m ? m[1] : undefined;
}

/**
 * Spec §3.2 `extract`: the first `<answer>` block's content, stripped; without a block, the whole text stripped.
 *
 * @example
 * extractAnswer("<think>2+1</think><answer> 3 </answer>"); // "3"
 * extractAnswer("  3 ");                                  // "3"
 */
export function extractAnswer(text: string, dotAll = true): string {
  const inner = answerTagContent(text, dotAll);
  return pyStrip(inner ?? text);
}

/** Whether the text has a complete `<answer>…</answer>` block (DOTALL). */
export function hasAnswerTag(text: string): boolean {
  return ANSWER_DOTALL.test(text);
}

const DIGITS = "\\d(?:_?\\d)*";
const PY_FLOAT = new RegExp(
  `^[+-]?(?:(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?|inf(?:inity)?|nan)$`,
  "i",
);

/**
 * Python `float(s)`: surrounding whitespace, sign, `_` digit separators, exponents, inf/nan. Undefined when Python
 * would raise ValueError.
 *
 * @example
 * pyFloat(" 3.0 "); // 3
 * pyFloat("1_000"); // 1000
 * pyFloat("3,5");   // undefined
 */
export function pyFloat(s: string): number | undefined {
  const t = pyStrip(s);
  if (!PY_FLOAT.test(t)) return undefined;
  const lower = t.toLowerCase().replace(/_/g, "");
  if (lower.endsWith("nan")) return NaN;
  if (lower.endsWith("inf") || lower.endsWith("infinity")) return lower.startsWith("-") ? -Infinity : Infinity;
  return Number(lower);
}
