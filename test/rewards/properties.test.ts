import { test } from "node:test";
import assert from "node:assert/strict";
import { accuracyReward, mathAccuracyReward } from "../../src/rewards/accuracy.ts";
import { captionFormatReward, formatReward, lengthReward, reasoningStepsReward } from "../../src/rewards/format.ts";
import { funcReward, onlyFullFuncReward, penaltyFuncReward, tranceScore } from "../../src/rewards/functions.ts";
import { REWARD_TASKS, rewardSet, scoreBatch } from "../../src/rewards/registry.ts";
import { answerScore } from "../../src/tasks/score.ts";
import { randomTexts } from "./random_text.ts";

type Pair = (c: string, s: string) => number;

// Documented ranges of each reward.
const PAIR_REWARDS: [string, Pair, number, number, boolean][] = [
  ["accuracyReward", accuracyReward, 0, 1, true],
  ["mathAccuracyReward", mathAccuracyReward, 0, 1, false],
  ["onlyFullFuncReward", onlyFullFuncReward, 0, 1, false],
  ["funcReward", funcReward, 0, 1, false],
  ["penaltyFuncReward", penaltyFuncReward, -0.5, 1, false],
  ["tranceScore", (c, s) => tranceScore(c, s), 0, 1, false],
  ["tranceScore (reference quirks)", (c, s) => tranceScore(c, s, false), 0, 1, false],
  ["answerScore", (c, s) => answerScore(c, s), 0, 1, true],
];
const SINGLE_REWARDS: [string, (c: string) => number, number, number][] = [
  ["formatReward", formatReward, 0, 1],
  ["captionFormatReward", captionFormatReward, 0, 1],
  ["reasoningStepsReward", reasoningStepsReward, 0, 1],
];

const completions = randomTexts(1, 600);
const solutions = randomTexts(2, 600, 8);

test("pair rewards never throw, stay finite and in range on random text", () => {
  for (const [name, f, lo, hi, binary] of PAIR_REWARDS) {
    completions.forEach((c, i) => {
      const v = f(c, solutions[i]!);
      assert.ok(
        Number.isFinite(v) && v >= lo - 1e-12 && v <= hi + 1e-12,
        `${name} = ${v} for ${JSON.stringify(c)} / ${JSON.stringify(solutions[i])}`,
      );
      if (binary) assert.ok(v === 0 || v === 1, `${name} must be 0 or 1, got ${v}`);
    });
  }
});

test("single-text rewards never throw and stay in range", () => {
  for (const [name, f, lo, hi] of SINGLE_REWARDS) {
    for (const c of completions) {
      const v = f(c);
      assert.ok(Number.isFinite(v) && v >= lo && v <= hi, `${name} = ${v} for ${JSON.stringify(c)}`);
    }
  }
});

test("the random corpus exercises both outcomes of the main rewards (the property test is not vacuous)", () => {
  // Any think/answer contents, wrapped correctly, pass the format check; a trailing character fails it.
  completions.forEach((c, i) => {
    const wrapped = `<think>${c}</think>\n<answer>${solutions[i]}</answer>`;
    assert.equal(formatReward(wrapped), 1, JSON.stringify(wrapped));
    assert.equal(formatReward(wrapped + "x"), 0);
  });
  const withSelf = completions.map((c) => accuracyReward(c, c));
  assert.ok(
    withSelf.every((v) => v === 1),
    "a completion always matches itself as solution",
  );
  const calls = completions.filter((c) => /\w\(\w+,\s*'?\w+'?\)/.test(c));
  assert.ok(calls.length > 20, "some texts contain function calls");
  assert.ok(calls.some((c) => funcReward(c, c) > 0));
});

test("length reward stays within ±0.025 for random groups and steps", () => {
  for (let g = 0; g < 50; g++) {
    const group = completions.slice(g * 8, g * 8 + 8);
    const sols = solutions.slice(g * 8, g * 8 + 8);
    for (const step of [0, 799, 800, 5000]) {
      const r = lengthReward(group, sols, step);
      assert.equal(r.length, group.length);
      for (const v of r) assert.ok(Number.isFinite(v) && Math.abs(v) <= 0.025 + 1e-12, `length reward ${v}`);
      if (step < 800) assert.ok(r.every((v) => v === 0));
    }
  }
});

test("every registry task scores random batches without throwing; totals are weighted sums", () => {
  for (const task of REWARD_TASKS) {
    const set = rewardSet(task, { funcs: ["accuracy", "format", "reasoning"], weights: { format: 0.5 } });
    const { rewards, total } = scoreBatch(set, completions.slice(0, 64), solutions.slice(0, 64), { step: 1000 });
    total.forEach((t, i) => {
      // onNull "zero" (the default): an unjudgeable item counts 0.
      const expect = (rewards.accuracy![i] ?? 0) + 0.5 * rewards.format![i]! + rewards.reasoning![i]!;
      assert.ok(Math.abs(t! - expect) < 1e-12, `${task} item ${i}`);
    });
  }
});

test("pathological inputs stay fast (no catastrophic regex backtracking)", () => {
  const hostile = [
    " " + "1+".repeat(2000) + "1a",
    "1 ".repeat(2000) + "a",
    "\\boxed{".repeat(2000),
    "<answer>".repeat(2000),
    "<think>".repeat(2000) + "</think>",
    "$".repeat(3000) + "x",
    "answer ".repeat(2000),
    "f(1,".repeat(2000),
  ];
  for (const h of hostile) {
    const t0 = performance.now();
    accuracyReward(h, "3");
    formatReward(h);
    captionFormatReward(h);
    funcReward(h, "a(1,x)");
    reasoningStepsReward(h);
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `${JSON.stringify(h.slice(0, 12))}… took ${ms.toFixed(0)} ms`);
  }
});
