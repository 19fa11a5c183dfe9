import { test } from "node:test";
import assert from "node:assert/strict";
import { REWARD_TASKS, rewardSet, scoreBatch } from "../../src/rewards/registry.ts";

test("every task defaults to accuracy + format with weight 1 (as every reference script)", () => {
  for (const task of REWARD_TASKS) {
    const set = rewardSet(task);
    assert.deepEqual(
      set.map((r) => [r.name, r.weight]),
      [
        ["accuracy", 1],
        ["format", 1],
      ],
      task,
    );
  }
});

test("accuracy and format functions per task (spec §3.1), checked by behaviour", () => {
  const c = "<think>t</think><answer>color(1,red), position(2,left)</answer>";
  const s = "color(1,red), position(2,front)";
  const acc = (task: string) => scoreBatch(rewardSet(task), [c], [s]).rewards.accuracy![0];
  assert.equal(acc("trance"), 0.75);
  assert.equal(acc("trance-only-full"), 0.5);
  assert.equal(acc("trance-penalty"), 0.375);
  assert.equal(acc("trance-full-caption"), 0.5);
  assert.equal(acc("clevr-math"), 0, "exact string accuracy");
  assert.equal(scoreBatch(rewardSet("geomath"), ["<think>t</think><answer>B</answer>"], ["B"]).rewards.accuracy![0], 1);
  const fmt = (task: string, text: string) => scoreBatch(rewardSet(task), [text], ["x"]).rewards.format![0];
  const caption = "<summary>s</summary><caption>c</caption><think>t</think><answer>a</answer>";
  assert.equal(fmt("trance-full-caption", caption), 1);
  assert.equal(fmt("trance-full-caption", c), 0);
  assert.equal(fmt("trance", c), 1);
  assert.equal(fmt("trance", caption), 0);
  assert.deepEqual(
    rewardSet("trance-full-caption").map((r) => r.reference),
    ["only_full_func_accuracy_reward", "caption_format_reward"],
  );
});

test("opt-in rewards: reasoning for all, length and math-accuracy only for clevr-math/geomath", () => {
  assert.deepEqual(
    rewardSet("clevr-math", { funcs: ["accuracy", "format", "reasoning", "length"] }).map((r) => r.name),
    ["accuracy", "format", "reasoning", "length"],
  );
  assert.throws(() => rewardSet("trance", { funcs: ["length"] }), /not available for task trance/);
  assert.throws(() => rewardSet("trance-only-full", { funcs: ["math-accuracy"] }), /not available/);
  const set = rewardSet("geomath", { funcs: ["math-accuracy"] });
  assert.ok(Math.abs(scoreBatch(set, ["<answer>11.25</answer>"], ["10"]).total[0]! - 0.5) < 1e-12);
  const len = rewardSet("clevr-math", { funcs: ["length"] });
  const r = scoreBatch(len, ["<answer>3</answer>", "<think>long reasoning</think><answer>3</answer>"], ["3", "3"], {
    step: 900,
    groupSize: 2,
  });
  assert.deepEqual(r.rewards.length, [0.025, -0.025]);
});

test("weights multiply into the total", () => {
  const set = rewardSet("clevr-math", { weights: { accuracy: 2, format: 0.5 } });
  const r = scoreBatch(
    set,
    ["<think>a</think><answer>3</answer>", "3", "<think>a</think><answer>4</answer>"],
    ["3", "3", "3"],
  );
  assert.deepEqual(r.rewards.accuracy, [1, 1, 0]);
  assert.deepEqual(r.rewards.format, [1, 0, 1]);
  assert.deepEqual(r.total, [2.5, 2, 0.5]);
});

test("bad registry requests name the problem", () => {
  assert.throws(() => rewardSet("vqa"), /unknown reward task "vqa"/);
  assert.throws(() => rewardSet("trance", { funcs: ["speed"] }), /unknown reward "speed"/);
  assert.throws(() => rewardSet("trance", { funcs: ["format", "format"] }), /listed twice/);
  assert.throws(() => rewardSet("trance", { funcs: [] }), /at least one/);
  assert.throws(() => rewardSet("trance", { weights: { format: NaN } }), /finite/);
  assert.throws(() => scoreBatch(rewardSet("trance"), ["a"], []), /1 completions but 0 solutions/);
});

test("a reward may return null (cannot judge): reported per reward and item, and onNull decides the total", () => {
  const set = rewardSet("clevr-math");
  const completions = ["<think>a</think><answer>3</answer>", "<think>a</think><answer>3</answer>", "3"];
  const solutions = ["3", "  ", "3"]; // an empty ground truth cannot be judged
  const zero = scoreBatch(set, completions, solutions, { onNull: "zero" });
  assert.deepEqual(zero.rewards.accuracy, [1, null, 1]);
  assert.deepEqual(zero.rewards.format, [1, 1, 0]);
  assert.deepEqual(zero.nulls, { accuracy: [1] });
  assert.deepEqual(zero.total, [2, 1, 1], "zero: the null counts 0");
  assert.deepEqual(zero.skipped, []);
  const skip = scoreBatch(set, completions, solutions, { onNull: "skip" });
  assert.deepEqual(skip.total, [2, null, 1], "skip: the item drops out");
  assert.deepEqual(skip.skipped, [1]);
  assert.deepEqual(scoreBatch(set, completions, solutions).total, zero.total, "zero is the default");
  assert.throws(() => scoreBatch(set, completions, solutions, { onNull: "drop" as "skip" }), /onNull/);

  // TRANCE: a solution without any call; any reward: a non-string or over-long text.
  const t = scoreBatch(
    rewardSet("trance"),
    ["<think>a</think><answer>f(1, x)</answer>", "x"],
    ["no calls here", "f(1, x)"],
  );
  assert.deepEqual(t.rewards.accuracy, [null, 0]);
  const bad = scoreBatch(rewardSet("geomath"), [3 as unknown as string, "x".repeat(16 * 1024 * 1024 + 1)], ["3", "3"]);
  assert.deepEqual(bad.nulls, { accuracy: [0, 1], format: [0, 1] });
});

test("the length reward is group-relative: an item's value depends only on its own group", () => {
  const len = rewardSet("clevr-math", { funcs: ["length"] });
  const groupA = ["<answer>3</answer>", "<think>a bit longer</think><answer>3</answer>"];
  const groupB = ["<answer>4</answer>", "<think>a much, much longer chain of thought</think><answer>3</answer>"];
  const alone = scoreBatch(len, groupA, ["3", "3"], { step: 900, groupSize: 2 }).rewards.length;
  const together = scoreBatch(len, [...groupA, ...groupB], ["3", "3", "3", "3"], { step: 900, groupSize: 2 });
  assert.deepEqual(together.rewards.length!.slice(0, 2), alone, "group A does not see group B's lengths");
  // One group over the whole batch (the reference's per-call min/max) gives group A other values.
  const whole = scoreBatch(len, [...groupA, ...groupB], ["3", "3", "3", "3"], { step: 900, groupSize: 4 });
  assert.notDeepEqual(whole.rewards.length!.slice(0, 2), alone);
  assert.throws(() => scoreBatch(len, groupA, ["3", "3"], { step: 900 }), /group-relative: pass groupSize/);
  assert.throws(() => scoreBatch(len, groupA, ["3", "3"], { step: 900, groupSize: 3 }), /groups of 3/);
});
