import { test } from "node:test";
import assert from "node:assert/strict";
import {
  funcReward,
  matchCalls,
  onlyFullFuncReward,
  parseFunctionCalls,
  penaltyFuncReward,
  tranceScore,
  uniqueCalls,
} from "../../src/rewards/functions.ts";

const S = "color(1,red), position(2,front)";
const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ""} ${a} vs ${b}`);

test("spec §3.5 worked example 1: one exact, one same func+object", () => {
  const c = "<think>…</think><answer>color(1,red), position(2,left)</answer>";
  close(onlyFullFuncReward(c, S), 0.5);
  close(funcReward(c, S), 0.75);
  close(penaltyFuncReward(c, S), 0.375);
});

test("spec §3.5 worked example 2: repeated calls are penalised", () => {
  close(onlyFullFuncReward("<answer>color(1,red), color(1,red)</answer>", "color(1,red)"), 0.5);
  close(funcReward("<answer>color(1,red), color(1,red), color(1,red)</answer>", "color(1,red)"), 1 / 3);
});

test("call parsing: quotes, spacing, no vocabulary check, Unicode word characters", () => {
  assert.deepEqual(parseFunctionCalls("change_size(2, 'small') change_color(1,red)"), [
    { func: "change_size", object: "2", value: "small" },
    { func: "change_color", object: "1", value: "red" },
  ]);
  assert.deepEqual(parseFunctionCalls("foo(bar, baz)"), [{ func: "foo", object: "bar", value: "baz" }]);
  assert.deepEqual(parseFunctionCalls("f(1,\n  x)"), [{ func: "f", object: "1", value: "x" }], "\\s* spans newlines");
  assert.deepEqual(parseFunctionCalls("farbe(1, grün)"), [{ func: "farbe", object: "1", value: "grün" }]);
  assert.deepEqual(
    parseFunctionCalls("f(1 , x) g(1,x y) h(1)"),
    [],
    "space before the comma, two-word values and one argument do not match",
  );
  assert.equal(uniqueCalls(parseFunctionCalls("a(1,x) a(1,x) b(2,y)")).length, 2);
});

test("partial stages in order: func+object, then func+value, then func only", () => {
  const sol = "change_color(1, red), change_size(2, small), change_shape(3, cube)";
  const pred = "<answer>change_color(1, blue), change_size(5, small), change_shape(4, sphere)</answer>";
  const counts = matchCalls(
    uniqueCalls(parseFunctionCalls("change_color(1, blue), change_size(5, small), change_shape(4, sphere)")),
    uniqueCalls(parseFunctionCalls(sol)),
  );
  assert.deepEqual(counts, { exact: 0, funcObject: 1, funcValue: 1, funcOnly: 1 });
  close(funcReward(pred, sol), (0.5 + 0.5 + 0.25) / 3);
  close(penaltyFuncReward(pred, sol), (-0.25 - 0.25 - 0.5) / 3);
  assert.equal(onlyFullFuncReward(pred, sol), 0);
});

test("each true call is matched at most once", () => {
  // Two predictions share the func+object of one true call: only one of them can take it.
  const sol = "change_color(1, red)";
  const pred = "<answer>change_color(1, blue), change_color(1, green)</answer>";
  close(funcReward(pred, sol), 0.5 / 2);
});

test("extra predicted calls dilute the item score (max(|P|, |S|))", () => {
  close(onlyFullFuncReward("<answer>a(1,x), b(2,y), c(3,z), d(4,w)</answer>", "a(1,x)"), 0.25);
  close(onlyFullFuncReward("<answer>a(1,x)</answer>", "a(1,x), b(2,y), c(3,z), d(4,w)"), 0.25);
});

test("no call in the prediction, or none in the solution: 0 (the reference divides by zero and catches it)", () => {
  assert.equal(onlyFullFuncReward("<answer>nothing here</answer>", S), 0);
  assert.equal(funcReward("", S), 0);
  assert.equal(funcReward("<answer>a(1,x)</answer>", "no calls"), 0);
  assert.equal(penaltyFuncReward("<answer></answer>", ""), 0);
});

test("the RL reward reads the first <answer> block across lines; without one, the whole text", () => {
  const multi = "<think>try change_color(1, blue)</think>\n<answer>\ncolor(1,red),\nposition(2,front)\n</answer>";
  assert.equal(onlyFullFuncReward(multi, S), 1);
  // Without a block the <think> text counts too.
  close(onlyFullFuncReward("I guess color(1,red) then position(2,front) and size(3,large)", S), 2 / 3);
});

test("evaluation score (spec §6.2): partial credit, no repeat penalty, DOTALL fix vs reference quirk", () => {
  close(tranceScore("<answer>color(1,red), color(1,red)</answer>", "color(1,red)"), 1, "no repeat penalty");
  close(tranceScore("<answer>color(1,red), position(2,left)</answer>", S), 0.75);
  assert.equal(tranceScore("<answer>nothing</answer>", S), 0);
  assert.equal(tranceScore("<answer>a(1,x)</answer>", "none"), 0);
  const multi =
    "<think>placeholder func(object_id, value)</think>\n<answer>\ncolor(1,red), position(2,front)\n</answer>";
  assert.equal(tranceScore(multi, S, true), 1, "our default finds the multi-line block");
  // The reference (no DOTALL) misses the block and scans everything, including func(object_id, value):
  // P = {func(object_id,value), color(1,red), position(2,front)}, S has 2 items → 2/3.
  close(tranceScore(multi, S, false), 2 / 3);
});
