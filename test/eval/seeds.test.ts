import { test } from "node:test";
import assert from "node:assert/strict";
import type { ResultRow } from "../../src/eval/report.ts";
import {
  aggregateSeeds,
  averageSe,
  itemSe,
  noiseAgainstBest,
  splitSeedName,
  withinNoise,
} from "../../src/eval/seeds.ts";

const close = (a: number | undefined, b: number, what: string) =>
  assert.ok(a !== undefined && Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

const row = (paradigm: string, set: string, split: "id" | "ood", accuracy: number | null, n = 100): ResultRow => ({
  task: "visual-counting",
  paradigm,
  set,
  split,
  n,
  accuracy,
});

test("aggregateSeeds: mean, se_seeds, se_items and se of three seeds, by hand", () => {
  const out = aggregateSeeds([
    { seed: 1, results: [row("cot-sft", "clevr-math", "id", 0.5)] },
    { seed: 2, results: [row("cot-sft", "clevr-math", "id", 0.6)] },
    { seed: 3, results: [row("cot-sft", "clevr-math", "id", 0.7)] },
  ]);
  assert.equal(out.length, 1);
  const r = out[0]!;
  assert.deepEqual(
    [r.task, r.paradigm, r.set, r.split, r.n, r.seeds, r.seed_accuracies],
    ["visual-counting", "cot-sft", "clevr-math", "id", 100, [1, 2, 3], [0.5, 0.6, 0.7]],
  );
  close(r.accuracy!, 0.6, "mean");
  // sample sd of (.5, .6, .7) = 0.1; / √3
  close(r.se_seeds, 0.05773502691896258, "se_seeds");
  // √(.6 · .4 / 100)
  close(r.se_items, 0.04898979485566356, "se_items");
  // √(.01/3 + .0024)
  close(r.se, 0.07571877794400365, "se");
});

test("aggregateSeeds: one seed has se_seeds 0; a row missing in a seed or null there uses the other seeds", () => {
  const one = aggregateSeeds([{ seed: 7, results: [row("ans-sft", "super-clevr", "ood", 0.2, 400)] }])[0]!;
  assert.equal(one.se_seeds, 0);
  close(one.se_items, Math.sqrt((0.2 * 0.8) / 400), "se_items");
  close(one.se, one.se_items!, "se = se_items for one seed");

  const out = aggregateSeeds([
    { seed: 1, results: [row("reason-rft", "clevr-math", "id", 0.4), row("zero-shot", "clevr-math", "id", 0.1)] },
    { seed: 2, results: [row("reason-rft", "clevr-math", "id", 0.6), row("zero-shot", "clevr-math", "id", null)] },
    { seed: 3, results: [row("zero-shot", "clevr-math", "id", 0.3)] },
  ]);
  const rft = out.find((r) => r.paradigm === "reason-rft")!;
  assert.deepEqual(
    [rft.seeds, rft.seed_accuracies],
    [
      [1, 2],
      [0.4, 0.6],
    ],
  );
  close(rft.accuracy!, 0.5, "mean of the two seeds");
  // sd(.4, .6) = .1414..., / √2 = 0.1
  close(rft.se_seeds, 0.1, "se_seeds over two seeds");
  const zero = out.find((r) => r.paradigm === "zero-shot")!;
  assert.deepEqual(
    [zero.seeds, zero.seed_accuracies],
    [
      [1, 2, 3],
      [0.1, null, 0.3],
    ],
  );
  close(zero.accuracy!, 0.2, "null accuracy left out");

  const none = aggregateSeeds([{ seed: 1, results: [row("cot-sft", "x", "id", null)] }])[0]!;
  assert.equal(none.accuracy, null);
  assert.equal(none.se, undefined);
});

test("aggregateSeeds: failures summed, model and source dropped; clear errors for bad input", () => {
  const a = { ...row("cot-sft", "trance", "id", 0.5), task: "st" as never, failed: 1, model: "a/ck", source: "a" };
  const b = { ...row("cot-sft", "trance", "id", 0.5), task: "spatial-transformation" as const, failed: 2 };
  const [r] = aggregateSeeds([
    { seed: 1, results: [a] },
    { seed: 2, results: [b] },
  ]);
  assert.deepEqual([r!.task, r!.failed, r!.model, r!.source], ["spatial-transformation", 3, undefined, undefined]);
  // A variant's rows keep their label and variant name beside the run's own row of the same paradigm.
  const v = { ...row("cot-sft", "trance", "id", 0.25), label: "CoT-SFT [x]", variant: "x" };
  const both = aggregateSeeds([
    { seed: 1, results: [a, v] },
    { seed: 2, results: [b, v] },
  ]);
  assert.deepEqual(
    both.map((x) => [x.label, x.variant, x.accuracy]),
    [
      [undefined, undefined, 0.5],
      ["CoT-SFT [x]", "x", 0.25],
    ],
  );

  assert.throws(
    () =>
      aggregateSeeds([
        { seed: 1, results: [row("cot-sft", "clevr-math", "id", 0.5, 100)] },
        { seed: 2, results: [row("cot-sft", "clevr-math", "id", 0.5, 50)] },
      ]),
    /visual-counting, row "cot-sft", set clevr-math: 50 items in seed 2, 100 in another/,
  );
  assert.throws(
    () =>
      aggregateSeeds([
        { seed: 1, results: [row("cot-sft", "clevr-math", "id", 0.5)] },
        { seed: 1, results: [row("cot-sft", "clevr-math", "id", 0.5)] },
      ]),
    /seed 1 is given twice/,
  );
  assert.throws(
    () => aggregateSeeds([{ seed: 1, results: [row("a", "s", "id", 0.5), row("a", "s", "id", 0.4)] }]),
    /seed 1: two results for visual-counting, row "a", set s/,
  );
  assert.throws(
    () =>
      aggregateSeeds([
        { seed: 1, results: [row("a", "s", "id", 0.5)] },
        { seed: 2, results: [row("a", "s", "ood", 0.5)] },
      ]),
    /split "ood" in seed 2, "id" in another/,
  );
});

test("averageSe: the average per seed first; item parts propagated; by hand", () => {
  const out = aggregateSeeds(
    [
      [0.5, 0.3],
      [0.6, 0.3],
      [0.7, 0.6],
    ].map(([a, b], i) => ({
      seed: i + 1,
      results: [row("reason-rft", "clevr-math", "id", a!), row("reason-rft", "super-clevr", "ood", b!)],
    })),
  );
  const avg = averageSe(out)!;
  // per-seed AVG: .4, .45, .65 → mean .5, sd √.0175, / √3
  assert.deepEqual(avg.seeds, [1, 2, 3]);
  avg.per_seed!.forEach((x, i) => close(x!, [0.4, 0.45, 0.65][i]!, `per seed ${i}`));
  close(avg.mean, 0.5, "mean");
  close(avg.se_seeds, 0.07637626158259735, "se_seeds");
  // both sets: √(.24/100); √(2 · .0024)/2
  close(avg.se_items, 0.034641016151377546, "se_items");
  close(avg.se, 0.08386497083606084, "se");
  // One set: its own SE.
  const id = averageSe(out.filter((r) => r.split === "id"))!;
  close(id.se, out[0]!.se!, "one set");

  // A seed missing a set: its average is null; SE_seeds from the complete seeds.
  const gap = aggregateSeeds([
    { seed: 1, results: [row("a", "s1", "id", 0.5), row("a", "s2", "id", 0.7)] },
    { seed: 2, results: [row("a", "s1", "id", 0.7), row("a", "s2", "id", 0.9)] },
    { seed: 3, results: [row("a", "s1", "id", 0.9)] },
  ]);
  const g = averageSe(gap)!;
  assert.deepEqual(g.per_seed, [0.6, 0.8, null]);
  close(g.mean, 0.7, "mean of the complete seeds");
  close(g.se_seeds, 0.1, "sd(.6, .8)/√2");

  // Rows with se but no per-seed data: the total SEs propagated.
  const plain = averageSe([
    { ...row("a", "s1", "id", 0.5), se: 0.03 },
    { ...row("a", "s2", "id", 0.7), se: 0.04 },
  ])!;
  close(plain.se, 0.025, "√(.03² + .04²)/2");
  assert.equal(averageSe([row("a", "s1", "id", 0.5)]), null, "no se: null");
});

test("withinNoise: |a − b| < z·√(se_a² + se_b²), both ways; noiseAgainstBest names best, within, separated", () => {
  // threshold 2·√(.02² + .02²) = .0566
  assert.equal(withinNoise({ mean: 0.5, se: 0.02 }, { mean: 0.55, se: 0.02 }), true);
  assert.equal(withinNoise({ mean: 0.55, se: 0.02 }, { mean: 0.5, se: 0.02 }), true);
  assert.equal(withinNoise({ mean: 0.5, se: 0.02 }, { mean: 0.6, se: 0.02 }), false);
  assert.equal(withinNoise({ mean: 0.5, se: 0.02 }, { mean: 0.55, se: 0.02 }, 1), false, "z = 1");
  assert.equal(withinNoise({ mean: 0.5, se: 0 }, { mean: 0.5, se: 0 }), true, "equal means");
  assert.equal(withinNoise({ mean: 0.5, se: 0 }, { mean: 0.51, se: 0 }), false);

  assert.deepEqual(
    noiseAgainstBest([
      { label: "A", mean: 0.3, se: 0.02 },
      { label: "B", mean: 0.62, se: 0.02 },
      { label: "C", mean: 0.6, se: 0.02 },
      { label: "D", mean: null, se: 0.01 },
    ]),
    { best: "B", within: ["C"], separated: ["A"] },
  );
  assert.equal(noiseAgainstBest([{ label: "A", mean: null, se: undefined }]), null);
  close(itemSe(0.5, 100), 0.05, "itemSe");
  assert.equal(itemSe(0.5, 0), 0);
});

test("splitSeedName: the seed suffix of a run name", () => {
  assert.deepEqual(splitSeedName("counting/reason-rft (seed 2)"), { base: "counting/reason-rft", seed: 2 });
  assert.deepEqual(splitSeedName("base (instruct SFT)"), { base: "base (instruct SFT)" });
  assert.deepEqual(splitSeedName("base (instruct SFT) (seed 10)"), { base: "base (instruct SFT)", seed: 10 });
});
