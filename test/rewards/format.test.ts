import { test } from "node:test";
import assert from "node:assert/strict";
import { captionFormatReward, formatReward, lengthReward, reasoningStepsReward } from "../../src/rewards/format.ts";

const FORMAT: [string, number, string][] = [
  ["<think>a</think><answer>b</answer>", 1, "minimal"],
  ["<think>\nline 1\nline 2\n</think>\n\n<answer>\n3\n</answer>", 1, "newlines inside and between"],
  ["<think></think><answer></answer>", 1, "empty parts are allowed"],
  [" <think>a</think><answer>b</answer>", 0, "leading space"],
  ["<think>a</think><answer>b</answer>\n", 0, "trailing newline"],
  ["<think>a</think><answer>b</answer> done", 0, "trailing text"],
  ["<think>a</think>so<answer>b</answer>", 0, "text between the blocks"],
  ["<answer>b</answer>", 0, "no think"],
  ["<think>a</think>", 0, "no answer"],
  ["<answer>b</answer><think>a</think>", 0, "wrong order"],
  [
    "<think>a</think><answer>b</answer><answer>c</answer>",
    1,
    "a second answer block still full-matches (lazy .*? can extend)",
  ],
  ["<THINK>a</THINK><answer>b</answer>", 0, "tags are case-sensitive"],
];

test("format_reward table (spec §3.6)", () => {
  for (const [c, want, why] of FORMAT) assert.equal(formatReward(c), want, `${why}: ${JSON.stringify(c)}`);
});

test("caption_format_reward needs summary, caption, think, answer in order", () => {
  assert.equal(
    captionFormatReward("<summary>s</summary>\n<caption>c</caption>\n<think>t</think>\n<answer>a</answer>"),
    1,
  );
  assert.equal(captionFormatReward("<caption>c</caption><summary>s</summary><think>t</think><answer>a</answer>"), 0);
  assert.equal(captionFormatReward("<think>t</think><answer>a</answer>"), 0);
  assert.equal(formatReward("<summary>s</summary><caption>c</caption><think>t</think><answer>a</answer>"), 0);
});

test("reasoning_steps_reward counts markers, ^ only at the start of the text", () => {
  assert.equal(reasoningStepsReward("Step 1: a. Step 2: b. Step 3: c."), 1);
  assert.equal(reasoningStepsReward("Step 1: a. Step 2: b. Step 3: c. Step 4: d."), 1, "capped at 1");
  assert.equal(reasoningStepsReward("First, a."), 1 / 3);
  assert.equal(reasoningStepsReward("1. a\n2. b\n3. c"), 1 / 3, "only the first numbered line counts (no MULTILINE)");
  assert.equal(reasoningStepsReward("x\n- a\n- b"), 2 / 3);
  assert.equal(reasoningStepsReward("x\n* a\nNext, b\nFinally, c"), 1);
  assert.equal(reasoningStepsReward("nothing"), 0);
});

test("len_reward: λ by character length, correct vs wrong, step gate, equal lengths", () => {
  const short = "<answer>3</answer>"; // 18 chars
  const mid = "<think>ab</think><answer>3</answer>"; // 35 chars
  const long = "<think>abcdefghijklmnopqrstuvwxyz0123</think><answer>3</answer>"; // longer
  const sols = ["3", "3", "3"];
  const r = lengthReward([short, mid, long], sols, 800);
  const lens = [short.length, mid.length, long.length];
  const lam = lens.map((l) => 0.5 - (l - lens[0]!) / (lens[2]! - lens[0]!));
  r.forEach((v, i) => assert.ok(Math.abs(v - 0.05 * lam[i]!) < 1e-12, `item ${i}`));
  // A wrong long answer keeps its negative λ, a wrong short one gets min(0, λ) = 0.
  const wrong = lengthReward(["<answer>4</answer>", long], ["3", "3"], 1000);
  assert.equal(wrong[0], 0);
  assert.ok(Math.abs(wrong[1]! - 0.05 * -0.5) < 1e-12);
  assert.deepEqual(lengthReward([short, long], ["3", "3"], 799), [0, 0], "inactive before step 800");
  assert.deepEqual(lengthReward([short, short], ["3", "3"], 900), [0, 0], "equal lengths");
  assert.deepEqual(lengthReward([], [], 900), []);
  // Float equality counts as correct: "3.0" vs "3" inside tags.
  assert.ok(lengthReward(["<answer>3.0</answer>", long], ["3", "3"], 900)[0]! > 0);
});
