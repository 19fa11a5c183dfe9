import { test } from "node:test";
import assert from "node:assert/strict";
import { accuracyReward, cosineBand, mathAccuracyReward } from "../../src/rewards/accuracy.ts";

// [completion, solution, expected accuracy_reward, why]
const ACCURACY: [string, string, number, string][] = [
  ["<think>5 - 2 = 3</think><answer>3</answer>", "3", 1, "tagged exact"],
  ["<think>x</think><answer> 3 \n</answer>", "3", 1, "whitespace inside the tag is stripped"],
  ["<think>x</think><answer>\n3\n</answer>", "<answer>3</answer>", 1, "solution with tags is extracted too"],
  ["<think>x</think><answer>3.0</answer>", "3", 0, "tagged: no numeric normalisation"],
  ["<think>x</think><answer>(B)</answer>", "B", 0, "tagged: no letter normalisation"],
  ["<think>x</think><answer>b</answer>", "B", 0, "case matters"],
  ["<think>x</think><answer>3 </answer><answer>4</answer>", "3", 1, "first answer block wins"],
  ["<think>x</think><answer>4</answer><answer>3</answer>", "3", 0, "later blocks are ignored"],
  ["<think>x</think><answer></answer>", "3", 0, "empty answer"],
  ["<think>x</think><answer></answer>", "", 1, "empty answer equals an empty solution"],
  ["3", "3", 1, "bare exact"],
  ["  3\n", "3", 1, "bare, stripped"],
  ["3.0", "3", 1, "no tags: symbolic 3.0 = 3"],
  ["The answer is 3.", "3", 1, "no tags: number found in prose"],
  ["There are 5 objects; removing 2 leaves 3", "3", 1, "no tags: rightmost number"],
  ["3 objects remain after removing 2", "3", 0, "no tags: the rightmost number is 2"],
  ["1,234", "1234", 1, "thousands separator"],
  ["50%", "0.5", 1, "percentage"],
  ["\\boxed{\\frac{1}{2}}", "0.5", 1, "boxed LaTeX fraction"],
  ["$\\frac{\\sqrt{3}}{2}$", "\\frac{\\sqrt{3}}{2}", 1, "LaTeX env against bare LaTeX"],
  ["B", "B", 1, "bare letter"],
  ["The answer is B", "B", 0, "letters are not extracted from prose (math_verify has no letter parser)"],
  ["", "3", 0, "empty completion"],
  ["<think>x</think><answer>4</answer>", "3", 0, "wrong"],
];

test("accuracy_reward table (spec §3.3)", () => {
  for (const [c, s, want, why] of ACCURACY) {
    assert.equal(accuracyReward(c, s), want, `${why}: ${JSON.stringify(c)} vs ${JSON.stringify(s)}`);
  }
});

test("an unclosed <answer> tag counts as no tag: whole-text comparison, then the symbolic check", () => {
  // "<answer>3" != "3"; math_verify only takes numbers preceded by start, whitespace or "=", so ">3" is not one.
  assert.equal(accuracyReward("<answer>3", "3"), 0);
  assert.equal(accuracyReward("<answer> 3", "3"), 1);
  assert.equal(accuracyReward("<answer> 4", "3"), 0);
});

test("accuracy_reward never throws on non-string input and scores it 0", () => {
  assert.equal(accuracyReward(3 as unknown as string, "3"), 0);
  assert.equal(accuracyReward("3", null as unknown as string), 0);
});

test("cosine band (spec §3.4)", () => {
  assert.equal(cosineBand(10.2, 10), 1); // 2% off
  assert.ok(Math.abs(cosineBand(11.25, 10) - 0.5) < 1e-12); // midway: t = 0.5
  assert.equal(cosineBand(13, 10), 0); // 30% off
  const a = cosineBand(10.6, 10);
  const b = cosineBand(11.8, 10);
  assert.ok(a > b && a < 1 && b > 0, "monotone ramp inside the band");
  assert.ok(Math.abs(cosineBand(-10.6, -10) - a) < 1e-12, "relative to |gt|");
  assert.equal(cosineBand(0, 0), 0, "gt = 0: the reference divides 0 by 0 and scores 0");
  assert.equal(cosineBand(0.1, 0), 0);
  assert.equal(cosineBand(NaN, 1), 0);
  assert.equal(cosineBand(Infinity, Infinity), 0);
});

test("math_accuracy_reward: band, string fallback and the tag-less symbolic check", () => {
  assert.equal(mathAccuracyReward("<answer>10.2</answer>", "10"), 1);
  assert.ok(Math.abs(mathAccuracyReward("<answer>11.25</answer>", "10") - 0.5) < 1e-12);
  assert.equal(mathAccuracyReward("<answer>13</answer>", "10"), 0);
  assert.equal(mathAccuracyReward("<answer>B</answer>", "B"), 1, "non-numeric: exact string");
  assert.equal(mathAccuracyReward("<answer>C</answer>", "B"), 0);
  assert.equal(mathAccuracyReward("<answer>0</answer>", "0"), 0, "quirk kept: tagged exact 0 against gt 0 is 0");
  assert.equal(mathAccuracyReward("0", "0"), 1, "without tags the symbolic fallback rescues it");
  assert.equal(mathAccuracyReward("<answer>1/2</answer>", "0.5"), 0, "tagged: '1/2' is not a float and not equal");
  assert.equal(mathAccuracyReward("1/2", "0.5"), 1, "untagged: symbolic");
  assert.equal(mathAccuracyReward("<answer>1_000</answer>", "1000"), 1, "Python float() accepts underscores");
});
