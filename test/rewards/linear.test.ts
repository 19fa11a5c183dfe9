/**
 * The rewards and scorers scan text in linear time (issue 8 item 3) and still agree with the reference's regexes
 * (kept here as the specification) on every input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { accuracyReward, mathAccuracyReward } from "../../src/rewards/accuracy.ts";
import { captionFormatReward, formatReward, reasoningStepsReward } from "../../src/rewards/format.ts";
import { funcReward, parseFunctionCalls, tranceScore } from "../../src/rewards/functions.ts";
import { MAX_MATH_CHARS, parseMath } from "../../src/rewards/math_verify.ts";
import { MAX_COMPLETION_CHARS, answerTagContent, pyStrip, textTooLong } from "../../src/rewards/text.ts";
import { rewardSet, scoreBatch } from "../../src/rewards/registry.ts";
import { answerScore } from "../../src/tasks/score.ts";
import { Rng } from "../../src/data/rng.ts";
import { randomTexts } from "./random_text.ts";

const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
// The reference's patterns, as the code used them before the linear scanners replaced them.
const REF = {
  answerDotAll: /<answer>([\s\S]*?)<\/answer>/,
  answerNoDotAll: /<answer>([^\n]*?)<\/answer>/,
  thinkAnswer: /^<think>[\s\S]*?<\/think>\s*<answer>[\s\S]*?<\/answer>$/,
  caption:
    /^<summary>[\s\S]*?<\/summary>\s*<caption>[\s\S]*?<\/caption>\s*<think>[\s\S]*?<\/think>\s*<answer>[\s\S]*?<\/answer>$/,
  call: /([\p{L}\p{N}_]+)\(([\p{L}\p{N}_]+),\s*'?([\p{L}\p{N}_]+)'?\)/gu,
  strip: new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g"),
};

// Texts dense in the tags and delimiters the scanners look for, so every branch is met.
const DENSE = [
  "<answer>",
  "</answer>",
  "<think>",
  "</think>",
  "<summary>",
  "</summary>",
  "<caption>",
  "</caption>",
  "\n",
  " ",
  "\t",
  "\u00a0",
  "\u3000",
  "\u200b",
  "x",
  "3",
  "f(",
  "(",
  ")",
  ",",
  "'",
  "a",
  "_",
  "é",
  "𝐀",
  "\ud835",
  "🙂",
  "1, ",
];
function denseTexts(seed: number, count: number): string[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    let s = "";
    for (let i = rng.int(30); i > 0; i--) s += rng.pick(DENSE);
    return s;
  });
}

const ALL = [...randomTexts(71, 3000), ...denseTexts(72, 6000)];

test("answer extraction, format checks, call parsing and strip agree with the reference regexes", () => {
  for (const t of ALL) {
    const at = JSON.stringify(t);
    assert.equal(answerTagContent(t), REF.answerDotAll.exec(t)?.[1], `DOTALL ${at}`);
    assert.equal(answerTagContent(t, false), REF.answerNoDotAll.exec(t)?.[1], `no DOTALL ${at}`);
    assert.equal(formatReward(t), REF.thinkAnswer.test(t) ? 1 : 0, `format ${at}`);
    assert.equal(captionFormatReward(t), REF.caption.test(t) ? 1 : 0, `caption format ${at}`);
    const want = [...t.matchAll(REF.call)].map((m) => ({ func: m[1], object: m[2], value: m[3] }));
    assert.deepEqual(parseFunctionCalls(t), want, `calls ${at}`);
    assert.equal(pyStrip(t), t.replace(REF.strip, ""), `strip ${at}`);
  }
  // Hand-picked cases the random texts may miss.
  const cases = [
    "<think>a</think> <answer>b</think>\n<answer>c</answer>",
    "<think></think></think>\n<answer></answer>",
    "<think>x</think><answer></answer></answer>",
    "<think>x</think><answer></answer>\n",
    "<answer>a\n</answer><answer>b</answer>",
    "<answer>a<answer>b\n<answer>c</answer>",
    "f(g(x, y), h(1,'2'), k(1,'2), m(1, 2'), n( 1,2)",
    "𝐀𝐁(𝐂, 𝐃)",
  ];
  for (const t of cases) {
    assert.equal(answerTagContent(t), REF.answerDotAll.exec(t)?.[1], t);
    assert.equal(answerTagContent(t, false), REF.answerNoDotAll.exec(t)?.[1], t);
    assert.equal(formatReward(t), REF.thinkAnswer.test(t) ? 1 : 0, t);
    assert.deepEqual(
      parseFunctionCalls(t),
      [...t.matchAll(REF.call)].map((m) => ({ func: m[1], object: m[2], value: m[3] })),
      t,
    );
  }
});

// The time bound is generous (the machine has 2 shared cores): a quadratic scan of 10 MB takes minutes, not seconds.
const LIMIT_MS = 1000;

function timed(what: string, f: () => unknown): void {
  const t0 = performance.now();
  f();
  const ms = performance.now() - t0;
  assert.ok(ms < LIMIT_MS, `${what}: ${ms.toFixed(0)} ms`);
}

test("a 10 MB completion is scored in under a second (issue 8: lazy <answer> search without a closing tag)", () => {
  const tenMb = (unit: string) => unit.repeat(Math.ceil(10_000_000 / unit.length)) + "2";
  const unclosed = tenMb("<answer>"); // the case at 10 MB
  const numbers = tenMb("1 "); // tag-less numbers: the symbolic fallback
  const words = tenMb("abc"); // one long word without "(": the function-call regex retried from every letter
  const spaces = tenMb(" "); // one long inner whitespace run
  for (const [name, c] of Object.entries({ unclosed, numbers, words, spaces })) {
    timed(`accuracy ${name}`, () => assert.equal(accuracyReward(c, "2"), name === "spaces" ? 1 : 0));
    timed(`math-accuracy ${name}`, () => mathAccuracyReward(c, "2"));
    timed(`format ${name}`, () => assert.equal(formatReward(c), 0));
    timed(`caption format ${name}`, () => captionFormatReward(c));
    timed(`reasoning ${name}`, () => reasoningStepsReward(c));
    timed(`trance ${name}`, () => funcReward(c, "a(1, x)"));
    timed(`scorer ${name}`, () => answerScore(c, "2"));
    timed(`trance scorer ${name}`, () => tranceScore(c, "a(1, x)", false));
  }
  const closed = "<think>" + "x".repeat(10_000_000) + "</think><answer>2</answer>";
  timed("tagged", () => assert.deepEqual(scoreBatch(rewardSet("clevr-math"), [closed], ["2"]).total, [2]));
});

test("the symbolic fallback is bounded by MAX_MATH_CHARS (math_verify gives up by timeout, we by size)", () => {
  const pad = " ".repeat(MAX_MATH_CHARS - 20);
  assert.equal(parseMath(pad + "the answer is 3").value?.kind, "number");
  assert.deepEqual(parseMath(pad + "so the answer is 3 indeed, 3"), {});
  assert.equal(accuracyReward(pad + "so the answer is 3 indeed, 3", "3"), 0);
});

test("texts over MAX_COMPLETION_CHARS are named in a clear message", () => {
  assert.equal(textTooLong("abc", "x"), undefined);
  const big = "a".repeat(MAX_COMPLETION_CHARS + 1);
  assert.match(
    textTooLong(big, 'line 3: field "completion"')!,
    /line 3: field "completion" is 16,777,217 characters, over the limit of 16,777,216 \(MAX_COMPLETION_CHARS\)/,
  );
});
