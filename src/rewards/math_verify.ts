/**
 * Symbolic answer equivalence in the manner of math_verify 0.3.3 (spec §3.9), on @cortex-js/compute-engine.
 *
 * `parseMath(text)` finds answer candidates by priority (an anchored "final answer … is", then `\boxed{}`, then
 * "answer:", then "answer", then any LaTeX environment, fraction, expression or number). Within a priority the
 * rightmost candidate is tried first; the first one that parses is the answer. Like math_verify it also keeps the raw
 * text of the first candidate as a string fallback. `verifyMath(gold, pred)` is true when any pair of parsed values is
 * equal (numerically to 6 decimals, or symbolically) or the raw strings are identical.
 *
 * Numbers lose thousands separators, `%`/"percent" divides by 100, `^\circ` and trailing `\text{unit}` are dropped,
 * and `x = 3` compares as `3`. What is not emulated: SymPy's relations, intervals, matrices and its 3 s timeout.
 *
 * Size bound: math_verify gives up on a text whose parse exceeds its timeout (no value, so no match). We give up by
 * size instead: a text longer than MAX_MATH_CHARS is not searched for candidates (parseMath returns `{}`), because
 * the candidate patterns backtrack over long runs of digits, spaces and LaTeX delimiters (quadratic time) and every
 * candidate may cost a compute-engine parse. Everything else in the rewards and scorers is linear in the text.
 */
import { ComputeEngine } from "@cortex-js/compute-engine";

/** compute-engine's expression type (not re-exported by its package entry point). */
type BoxedExpression = ReturnType<ComputeEngine["parse"]>;

/** A parsed answer value: a plain number, or an expression compute-engine understood. */
export type MathValue = { kind: "number"; value: number } | { kind: "expr"; expr: BoxedExpression };

/** What parseMath found: at most one value, plus the raw text of the first candidate (math_verify's fallback). */
export interface ParsedMath {
  value?: MathValue;
  raw?: string;
}

let engine: ComputeEngine | undefined;
function ce(): ComputeEngine {
  engine ??= new ComputeEngine();
  return engine;
}

// ---- number and expression syntax (after math_verify's expression extractor) ---------------------------------------

const NUMBER = String.raw`(?:(?<int1>-?[1-9]\d{0,2}(?:[ ,]\d{3})+)(?<dec1>\.\d+)?|(?<int2>-?\d+)(?<dec2>[.,]\d+)|(?<dec3>\.\d+)|(?<int3>-?\d+))(?<pct>\s*(?:%|[Pp]ercent(?:age)?|[Pp]ct))?`;
const OPS = String.raw`+\-*×/^()÷`;
const EXPR = String.raw`(?<expr>-?\(?-?\d[\d.\s${OPS}]*[${OPS}][\d.\s${OPS}]+\)?)`;
const PREFIX = String.raw`(?:^|\s|=)(?:\*\*)?`;
const SUFFIX = String.raw`(?:\*\*)?(?=[.,:)$]|\s|$)`;
const CURRENCY = "[$€£¥₹]?";

const LATEX_ENV = String.raw`(?:\$\$(?<ldd>(?:[^$]|\$(?!\$))+?)\$\$|\\\[(?<lb>(?:[^\\]|\\(?!\]))+?)\\\]|(?<![\\\d])\$(?<ld>(?:\\\$|[^\n$])+?)(?<!\\)\$|\\\((?<lp>(?:[^\\\n]|\\(?!\)))+?)\\\)|(?<lf>-?\\[dt]?frac\{-?\d+(?:[.,]\d+)?\}\{-?\d+(?:[.,]\d+)?\}))(?<lpct>\s*(?:\\?%|[Pp]ercent(?:age)?|[Pp]ct))?`;

// After an "answer" anchor: the value after the last "=" within 100 characters, else the first value within 50
// characters that is not itself followed by "=" ("Answer: 5 - 2 = 3" gives 3).
const AFTER_ANSWER = String.raw`(?:[\s\S]{0,100}=\s*|[\s\S]{0,50}?)(?:${LATEX_ENV}|${PREFIX}${CURRENCY}(?:${EXPR}${SUFFIX}|${NUMBER}))(?!\s*=)`;

interface Tier {
  re: RegExp;
}

/** Candidate patterns by priority (lower first), each global so all matches are found. */
const TIERS: Tier[] = [
  {
    re: new RegExp(
      String.raw`final answer[\s\S]{0,100}?\s+is:?\s*(?:${LATEX_ENV}|${CURRENCY}${EXPR}|${CURRENCY}${NUMBER})`,
      "gi",
    ),
  },
  { re: /\\(?:boxed|fbox)\s*\{/g }, // braces are balanced by hand below
  { re: new RegExp(String.raw`answer:${AFTER_ANSWER}`, "gi") },
  { re: new RegExp(String.raw`answer${AFTER_ANSWER}`, "gi") },
  { re: new RegExp(String.raw`${LATEX_ENV}|${PREFIX}${CURRENCY}(?:${EXPR}${SUFFIX}|${NUMBER})`, "g") },
];

interface Candidate {
  start: number;
  end: number;
  raw: string;
  parse(): MathValue | undefined;
}

/** For every "{" of the text, the index of its matching "}" (one pass with a stack); unmatched braces are absent. */
function closingBraces(text: string): Map<number, number> {
  const close = new Map<number, number>();
  const open: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") open.push(i);
    else if (c === "}" && open.length > 0) close.set(open.pop()!, i);
  }
  return close;
}

function numberFromGroups(g: Record<string, string | undefined>): number | undefined {
  let s: string;
  if (g.int1 !== undefined) s = g.int1.replace(/[ ,]/g, "") + (g.dec1 ?? "");
  else if (g.int2 !== undefined) s = g.int2 + g.dec2!.replace(",", ".");
  else if (g.dec3 !== undefined) s = "0" + g.dec3;
  else if (g.int3 !== undefined) s = g.int3;
  else return undefined;
  const v = Number(s);
  if (!Number.isFinite(v)) return undefined;
  return g.pct ? v / 100 : v;
}

/** Normalises LaTeX (or a plain expression) before compute-engine parses it. */
export function normalizeLatex(src: string): string {
  let s = src.trim();
  s = s.replace(/\\[dt]frac/g, "\\frac");
  s = s.replace(/\\left|\\right|\\!|\\,|\\;|\\:|\\quad|\\qquad|\\displaystyle/g, "");
  s = s.replace(/\^\s*\{?\s*\\circ\s*\}?|°/g, "");
  s = s.replace(/\\\$|\$/g, "");
  s = s.replace(/(?:\\(?:text|mathrm|mbox)\{[^{}]*\}\s*)+$/, "").trim();
  s = s.replace(/[.。]\s*$/, "");
  s = s.replace(/×/g, "\\times ").replace(/÷/g, "\\div ").replace(/\*/g, "\\cdot ");
  // "x = 3" → "3" when the left side is a single symbol (math_verify's equation handling).
  const eq = /^\s*[A-Za-z](?:_\{?\w+\}?)?\s*=\s*([^=]+)$/.exec(s);
  if (eq) s = eq[1]!.trim();
  return s;
}

function percentScale(s: string): { body: string; scale: number } {
  const m = /^(.*?)\s*(?:\\?%|[Pp]ercent(?:age)?|[Pp]ct)$/.exec(s);
  return m ? { body: m[1]!, scale: 0.01 } : { body: s, scale: 1 };
}

const DEC = String.raw`(?:\d+(?:\.\d*)?|\.\d+)`;
const PLAIN_NUMBER = new RegExp(`^-?${DEC}$`);
const SIMPLE_FRACTION = new RegExp(String.raw`^(-?)(?:\\frac\{(-?${DEC})\}\{(-?${DEC})\}|(${DEC})\s*/\s*(${DEC}))$`);

/** Fast path for the commonest answers (numbers and numeric fractions), which need no compute-engine parse. */
function simpleNumber(body: string): number | undefined {
  if (PLAIN_NUMBER.test(body)) return Number(body);
  const m = SIMPLE_FRACTION.exec(body);
  if (!m) return undefined;
  const num = Number(m[2] ?? m[4]);
  const den = Number(m[3] ?? m[5]);
  if (den === 0) return undefined;
  return (m[1] ? -1 : 1) * (num / den);
}

/** Parses LaTeX or a plain expression into a MathValue; undefined when compute-engine cannot make sense of it. */
export function parseLatexValue(src: string): MathValue | undefined {
  const { body, scale } = percentScale(normalizeLatex(src));
  if (body === "") return undefined;
  const simple = simpleNumber(body);
  if (simple !== undefined) return { kind: "number", value: simple * scale };
  let expr: BoxedExpression;
  try {
    expr = ce().parse(body);
  } catch {
    return undefined;
  }
  if (!expr.isValid || expr.operator === "Tuple" || expr.operator === "Error") return undefined;
  if (scale !== 1) expr = ce().box(["Multiply", expr, ["Rational", 1, 100]]);
  const n = expr.N().re;
  if (Number.isFinite(n) && expr.unknowns.length === 0) return { kind: "number", value: n };
  return { kind: "expr", expr };
}

function latexGroup(g: Record<string, string | undefined>): string | undefined {
  const body = g.ldd ?? g.lb ?? g.ld ?? g.lp ?? g.lf;
  if (body === undefined) return undefined;
  return g.lpct ? `${body}\\%` : body;
}

function candidateFromMatch(m: RegExpExecArray): Candidate {
  const g = m.groups ?? {};
  const start = m.index;
  const end = m.index + m[0].length;
  const latex = latexGroup(g);
  if (latex !== undefined) return { start, end, raw: latex.trim(), parse: () => parseLatexValue(latex) };
  if (g.expr !== undefined) {
    const e = g.expr;
    return { start, end, raw: e.trim(), parse: () => parseLatexValue(e) };
  }
  const rawNum = (m[0].match(new RegExp(NUMBER + "$"))?.[0] ?? m[0]).trim();
  return {
    start,
    end,
    raw: rawNum,
    parse: () => {
      const v = numberFromGroups(g);
      return v === undefined ? undefined : { kind: "number", value: v };
    },
  };
}

function boxedCandidates(text: string, re: RegExp): Candidate[] {
  const out: Candidate[] = [];
  let close: Map<number, number> | undefined;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    close ??= closingBraces(text);
    const brace = m.index + m[0].length - 1;
    const end = close.get(brace);
    if (end === undefined) continue;
    const content = text.slice(brace + 1, end);
    out.push({ start: m.index, end: end + 1, raw: content.trim(), parse: () => parseLatexValue(content) });
  }
  return out.sort((a, b) => b.end - a.end || a.start - b.start);
}

function tierCandidates(text: string, tier: Tier): Candidate[] {
  if (tier === TIERS[1]) return boxedCandidates(text, tier.re);
  const out: Candidate[] = [];
  tier.re.lastIndex = 0;
  for (let m = tier.re.exec(text); m; m = tier.re.exec(text)) {
    if (m[0].length === 0) {
      tier.re.lastIndex++;
      continue;
    }
    out.push(candidateFromMatch(m));
  }
  // Rightmost first: by end descending, then start ascending (math_verify's ordering).
  return out.sort((a, b) => b.end - a.end || a.start - b.start);
}

/**
 * Our addition, tried just before the unanchored tier: a short text that is one LaTeX expression without `$`
 * delimiters whose value is a number (e.g. a ground truth `\frac{\sqrt{3}}{2}`), which math_verify would read as its
 * last number.
 */
function wholeLatexCandidate(text: string): Candidate[] {
  const t = text.trim();
  if (t.length === 0 || t.length > 200 || !t.includes("\\") || /[\n$]/.test(t)) return [];
  const numeric = (): MathValue | undefined => {
    const v = parseLatexValue(t);
    return v?.kind === "number" ? v : undefined; // prose with a backslash must not become a product of letters
  };
  return [{ start: 0, end: t.length, raw: t, parse: numeric }];
}

function parseUncached(text: string): ParsedMath {
  let raw: string | undefined;
  for (const tier of TIERS) {
    const cands =
      tier === TIERS[TIERS.length - 1]
        ? [...wholeLatexCandidate(text), ...tierCandidates(text, tier)]
        : tierCandidates(text, tier);
    for (const c of cands) {
      raw ??= c.raw;
      const value = c.parse();
      if (value) return { value, raw };
    }
  }
  return raw === undefined ? {} : { raw };
}

/**
 * Longest text parseMath searches for an answer (characters). Tag-less completions and `<answer>` contents longer
 * than this never match symbolically; the worst inputs at this size parse in well under a second.
 */
export const MAX_MATH_CHARS = 8192;

const CACHE_LIMIT = 2048;
const cache = new Map<string, ParsedMath>();

/**
 * Extracts and parses the answer of a text (see the module comment). Results are memoised, so parsing the same
 * ground truth for each completion of a group costs one parse.
 *
 * @example
 * parseMath("so the final answer is \\boxed{\\frac{1}{2}}").value; // { kind: "number", value: 0.5 }
 */
export function parseMath(text: string): ParsedMath {
  if (text.length > MAX_MATH_CHARS) return {};
  const hit = cache.get(text);
  if (hit) return hit;
  const r = parseUncached(text);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(text, r);
  return r;
}

function numbersEqual(a: number, b: number): boolean {
  if (a === b) return true;
  // math_verify compares numbers rounded to 6 decimal places.
  const scale = 1e6;
  if (Math.abs(a) < 1e9 && Math.abs(b) < 1e9) return Math.round(a * scale) === Math.round(b * scale);
  return Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

function valuesEqual(a: MathValue, b: MathValue): boolean {
  if (a.kind === "number" && b.kind === "number") return numbersEqual(a.value, b.value);
  try {
    const ea = a.kind === "expr" ? a.expr : ce().number(a.value);
    const eb = b.kind === "expr" ? b.expr : ce().number(b.value);
    return ea.isSame(eb) || ea.isEqual(eb) === true;
  } catch {
    return false;
  }
}

/**
 * math_verify's `verify(gold, target)`: true when the parsed values are equal or the raw fallback strings are
 * identical. Never throws.
 *
 * @example
 * verifyMath(parseMath("1,234"), parseMath("The answer is 1234.")); // true
 * verifyMath(parseMath("50%"), parseMath("0.5"));                  // true
 */
export function verifyMath(gold: ParsedMath, pred: ParsedMath): boolean {
  if (gold.value && pred.value && valuesEqual(gold.value, pred.value)) return true;
  return gold.raw !== undefined && gold.raw === pred.raw;
}

/** Shorthand for `verifyMath(parseMath(gold), parseMath(pred))`. */
export function mathEqual(gold: string, pred: string): boolean {
  try {
    const g = parseMath(gold);
    if (g.value === undefined && g.raw === undefined) return false; // nothing to compare with: skip parsing pred
    return verifyMath(g, parseMath(pred));
  } catch {
    return false;
  }
}
