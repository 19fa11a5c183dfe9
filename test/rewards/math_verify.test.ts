import { test } from "node:test";
import assert from "node:assert/strict";
import { mathEqual, normalizeLatex, parseMath, verifyMath } from "../../src/rewards/math_verify.ts";

const num = (text: string): number | undefined => {
  const v = parseMath(text).value;
  return v?.kind === "number" ? v.value : undefined;
};

test("numbers: separators, decimals, percentages, currency", () => {
  assert.equal(num("3"), 3);
  assert.equal(num("3.0"), 3);
  assert.equal(num("-4"), -4);
  assert.equal(num(".5"), 0.5);
  assert.equal(num("1,234"), 1234);
  assert.equal(num("1 234 567"), 1234567);
  assert.equal(num("2,5"), 2.5, "comma decimal when not a thousands group");
  assert.equal(num("25%"), 0.25);
  assert.equal(num("25 percent"), 0.25);
  assert.equal(num("costs $12"), 12);
});

test("priorities: anchored answers beat later numbers; rightmost wins within a priority", () => {
  assert.equal(num("The final answer is 7. Checking: 3 + 4 = 7, and 9 is wrong"), 7);
  assert.equal(num("I think \\boxed{12} but 13 also appears"), 12);
  assert.equal(num("Answer: 6 (we had 2 and 4)"), 6);
  assert.equal(num("Answer: 5 - 2 = 3, as counted"), 3, "after the last = following the anchor");
  assert.equal(num("The answer: 4 = 4 and nothing else 9"), 4);
  assert.equal(num("there are 3 red and 5 blue"), 5);
  assert.equal(num("5-2=3"), 3);
  assert.equal(num("1/2"), 0.5, "a plain expression is evaluated");
  assert.equal(num("2^3"), 8);
});

test("LaTeX: environments, fractions, roots, degrees, units, equations", () => {
  assert.equal(num("$\\frac{1}{4}$"), 0.25);
  assert.equal(num("\\(\\dfrac{3}{4}\\)"), 0.75);
  assert.equal(num("\\[ 2\\sqrt{3} \\]"), 2 * Math.sqrt(3));
  assert.equal(num("$30^\\circ$"), 30);
  assert.equal(num("$12 \\text{ cm}$"), 12);
  assert.equal(num("$x = 5$"), 5);
  assert.equal(num("$50\\%$"), 0.5);
  assert.equal(num("\\frac{\\sqrt{3}}{2}"), Math.sqrt(3) / 2, "bare LaTeX as a whole (our addition)");
  assert.equal(num("$-\\frac{3}{4}$"), -0.75, "fast path keeps the sign");
  assert.equal(num("$\\frac{2.5}{5}$"), 0.5);
  assert.equal(num("3 / 4"), 0.75);
  assert.notEqual(num("$\\frac{1}{0}$"), Infinity, "division by zero is not a number answer");
  assert.equal(normalizeLatex("\\left( \\dfrac{1}{2} \\right)."), "( \\frac{1}{2} )");
});

test("no candidate: letters and prose give nothing; raw fallback keeps the first candidate's text", () => {
  assert.deepEqual(parseMath("B"), {});
  assert.deepEqual(parseMath("no numbers here"), {});
  assert.equal(parseMath("about 3.50 units").raw, "3.50");
});

test("verify: numeric to 6 decimals, symbolic, raw strings", () => {
  assert.equal(mathEqual("0.333333", "$\\frac{1}{3}$"), true);
  assert.equal(mathEqual("0.333", "$\\frac{1}{3}$"), false);
  assert.equal(mathEqual("$\\sqrt{12}$", "$2\\sqrt{3}$"), true);
  assert.equal(mathEqual("$x+1$", "$1+x$"), true, "symbolic equality of expressions");
  assert.equal(mathEqual("$x+1$", "$x+2$"), false);
  assert.equal(mathEqual("3", "4"), false);
  assert.equal(
    mathEqual("B", "B"),
    false,
    "no parse on either side: verify is false (exact match is the caller's job)",
  );
  assert.equal(verifyMath({ raw: "abc" }, { raw: "abc" }), true);
  assert.equal(verifyMath({}, {}), false);
});

test("parseMath is memoised but returns equal results for equal inputs", () => {
  const a = parseMath("The answer is 42");
  const b = parseMath("The answer is 42");
  assert.deepEqual(a, b);
  assert.equal(num("The answer is 42"), 42);
});
