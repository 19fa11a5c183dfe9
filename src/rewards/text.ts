/**
 * Text helpers shared by rewards and scorers: Python-compatible strip, `<answer>` extraction and float parsing.
 * The reference is Python; these reproduce the Python behaviours its rewards depend on.
 */

// Characters Python's str.strip() removes (str.isspace), which differ slightly from String.prototype.trim.
const PY_SPACE_CODES = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
  0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

function isPySpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c > 0x20 && PY_SPACE_CODES.has(c));
}

/** Python `str.strip()` with no argument. One pass from each end (a regex `\s+$` rescans long inner runs). */
export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isPySpace(s.charCodeAt(a))) a++;
  while (b > a && isPySpace(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * Longest completion (and solution) the rewards and scorers accept, in UTF-16 code units: 16 Mi characters. Every
 * extraction is linear, so a text of this size scores in well under a second; the bound keeps a runaway or hostile
 * input from holding a trainer or `rft score` (the registry reports such an item as unscorable, the commands refuse
 * it with an error naming the line or item).
 */
export const MAX_COMPLETION_CHARS = 16 * 1024 * 1024;

/** Why a text is refused: longer than MAX_COMPLETION_CHARS. `what` names it, e.g. "line 3: field \"completion\"". */
export function textTooLong(text: string, what: string): string | undefined {
  return text.length > MAX_COMPLETION_CHARS
    ? `${what} is ${text.length.toLocaleString("en")} characters, over the limit of ${MAX_COMPLETION_CHARS.toLocaleString("en")} (MAX_COMPLETION_CHARS)`
    : undefined;
}

const OPEN = "<answer>";
const CLOSE = "</answer>";

/**
 * Content of the first `<answer>…</answer>` block, or undefined: what the first match of the reference's lazy
 * `<answer>(.*?)</answer>` (with DOTALL by default) captures. `dotAll: false` reproduces spec §6.2's TRANCE scorer,
 * whose `.` does not cross a newline.
 *
 * Found with indexOf in one pass over the text (linear time): the regex rescans the rest of the text from every
 * `<answer>` when no closing tag follows, which is quadratic.
 */
export function answerTagContent(text: string, dotAll = true): string | undefined {
  if (dotAll) {
    // The leftmost opening tag is the one that matches if any does: a closing tag after a later opening tag also
    // follows the first.
    const i = text.indexOf(OPEN);
    if (i < 0) return undefined;
    const j = text.indexOf(CLOSE, i + OPEN.length);
    return j < 0 ? undefined : text.slice(i + OPEN.length, j);
  }
  // Without DOTALL a match lies within one line: the first line whose first opening tag is closed on that line.
  let close = -1;
  for (let i = text.indexOf(OPEN); i >= 0;) {
    const from = i + OPEN.length;
    if (close < from) close = text.indexOf(CLOSE, from);
    if (close < 0) return undefined; // no closing tag after this opening tag, so none after any later one
    const nl = text.indexOf("\n", from);
    if (nl < 0 || nl > close) return text.slice(from, close);
    i = text.indexOf(OPEN, nl + 1); // every opening tag before the newline meets it before a closing tag
  }
  return undefined;
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
  return answerTagContent(text) !== undefined;
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
