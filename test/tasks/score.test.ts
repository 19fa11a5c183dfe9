import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { accuracyReward } from "../../src/rewards/accuracy.ts";
import { answerScore, formatScoreTable, itemType, scoreItem, scorePredictions } from "../../src/tasks/score.ts";
import type { Benchmark } from "../../src/tasks/tasks.ts";

interface FixtureItem {
  id: string;
  answer: string;
  pred: string;
  expected: number;
  expected_reference_quirks?: number;
}

const load = (name: string): FixtureItem[] =>
  JSON.parse(
    readFileSync(fileURLToPath(new URL(`../fixtures/score/${name}.json`, import.meta.url)), "utf8"),
  ) as FixtureItem[];

const close = (a: number, b: number, msg: string) => assert.ok(Math.abs(a - b) < 1e-9, `${msg}: ${a} vs ${b}`);

const FIXTURES: [string, Benchmark[]][] = [
  ["clevr-math", ["clevr-math", "super-clevr"]],
  ["geomath", ["geomath", "geometry3k"]],
  ["trance", ["trance", "trance-left", "trance-right"]],
];

test("per-item scores on the fixtures, for every benchmark of the family", () => {
  for (const [file, tasks] of FIXTURES) {
    const items = load(file);
    for (const task of tasks) {
      const report = scorePredictions(task, items, file);
      report.items.forEach((it, i) => close(it.score as number, items[i]!.expected, `${task} ${items[i]!.id}`));
      assert.deepEqual(report.items[0]!.id, items[0]!.id, "input fields are kept");
    }
  }
});

test("averages are explicit sums over counts, per type and overall (×100)", () => {
  const items = load("geomath");
  const r = scorePredictions("geomath", items, "geomath.json");
  const choice = items.filter((i) => ["A", "B", "C", "D"].includes(i.answer));
  const numeric = items.filter((i) => !["A", "B", "C", "D"].includes(i.answer));
  const mean = (xs: FixtureItem[]) => (100 * xs.reduce((s, x) => s + x.expected, 0)) / xs.length;
  assert.deepEqual(
    r.types.map((t) => [t.type, t.count]),
    [
      ["choice", choice.length],
      ["non_choice", numeric.length],
    ],
  );
  close(r.types[0]!.average, mean(choice), "choice");
  close(r.types[1]!.average, mean(numeric), "non_choice");
  close(r.overall.average, mean(items), "overall is the count-weighted mean");
  assert.equal(r.overall.count, items.length);
  const table = formatScoreTable(r);
  assert.match(table, /choice\s+4\s+2\.00\s+50\.00/);
  assert.match(table, /overall\s+9\s+5\.00\s+55\.56/);
  assert.equal(scorePredictions("trance", [], "e.json").overall.average, 0, "empty file: 0 with count 0");
});

test("types: choice/non_choice for structure perception only", () => {
  assert.equal(itemType("geometry3k", "B"), "choice");
  assert.equal(itemType("geometry3k", "12"), "non_choice");
  assert.equal(itemType("clevr-math", "B"), "default");
  assert.equal(itemType("trance", "f(1,x)"), "default");
});

test("scorer vs RL reward: the scorer also checks tagged answers symbolically (spec §10.3)", () => {
  const pred = "<think>x</think><answer>3.0</answer>";
  assert.equal(answerScore(pred, "3"), 1);
  assert.equal(accuracyReward(pred, "3"), 0);
});

test("enhance (closed-source): substring leniency for tag-less predictions only", () => {
  assert.equal(answerScore("The answer is D", "D"), 0);
  assert.equal(answerScore("The answer is D", "D", true), 1);
  assert.equal(answerScore("12 apples", "2", true), 1, "lenient as documented: '2' is in '12'");
  assert.equal(answerScore("<answer>12</answer>", "2", true), 0, "tagged predictions are not rescued");
});

test("TRANCE reference quirk: no DOTALL in the scorer's <answer> regex", () => {
  for (const it of load("trance")) {
    const want = it.expected_reference_quirks ?? it.expected;
    close(scoreItem("trance", it.pred, it.answer, { referenceQuirks: true }), want, it.id);
  }
});

test("bad prediction files name the item and field", () => {
  assert.throws(() => scorePredictions("geomath", {}, "p.json"), /p.json: expected a JSON array/);
  assert.throws(() => scorePredictions("geomath", [1], "p.json"), /p.json: item 0: expected an object/);
  assert.throws(
    () => scorePredictions("geomath", [{ id: "x", answer: "A" }], "p.json"),
    /p.json: item 0 \(id "x"\): field "pred" is missing/,
  );
  assert.throws(
    () => scorePredictions("geomath", [{ answer: 3, pred: "3" }], "p.json"),
    /p.json: item 0: field "answer": expected a string, got number/,
  );
  assert.throws(
    () => scorePredictions("trance", [{ answer: "a", pred: null }], "p.json"),
    /field "pred": expected a string, got null/,
  );
});
