/**
 * scripts/analysis/chain_audit.ts: the per-set audit of counting predictions (faithful chains, the chain's object
 * count against the scene's) and its discovery of a demo run's evaluations.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditItems, auditRun, seenCount, type ScoredItem } from "../../scripts/analysis/chain_audit.ts";

const scene = (n: number) => ({ objects: Array.from({ length: n }, () => ({})) });
const chain = (start: number, gone: number, answer: number) =>
  `<think>There are ${start} objects: many. Step 1: subtract all cubes. ${start} - ${gone} = ${start - gone} objects are left. So ${start - gone} objects are left.</think>\n<answer>${answer}</answer>`;

const ITEMS: ScoredItem[] = [
  { pred: chain(6, 2, 4), score: 1, scene: scene(6) }, // faithful, seen right, correct
  { pred: chain(5, 2, 3), score: 0, scene: scene(6) }, // faithful, seen wrong (a perception error), wrong
  { pred: chain(6, 2, 5), score: 0, scene: scene(6) }, // seen right, answer disagrees with the chain
  { pred: "<think>There are 6 objects. 6 - 2 = 3</think><answer>3</answer>", score: 0, scene: scene(6) }, // bad sum
  { pred: "<answer>4</answer>", score: 1, scene: scene(6) }, // no chain at all
];

test("auditItems: accuracy over all items; faithful and seen over the items with a chain; the reasons", () => {
  const a = auditItems(ITEMS);
  assert.equal(a.n, 5);
  assert.equal(a.accuracy, 2 / 5);
  assert.equal(a.strict, 4 / 5); // every item but the bare answer
  assert.equal(a.chains, 4);
  assert.equal(a.faithful, 2 / 4);
  assert.equal(a.seen, 3 / 4);
  assert.equal(a.accuracyFaithfulSeen, 1); // only the first item is both, and it is right
  assert.deepEqual(a.reasons, { "answer disagrees": 1, "wrong equation": 1 });
});

test("auditItems: answer-only predictions leave the chain columns empty (NaN), not zero", () => {
  const a = auditItems([{ pred: "<answer>3</answer>", score: 1, scene: scene(3) }, { pred: 7 }]);
  assert.equal(a.chains, 0);
  assert.ok(Number.isNaN(a.faithful) && Number.isNaN(a.seen) && Number.isNaN(a.accuracyFaithfulSeen));
  assert.equal(a.accuracy, 1 / 2);
});

test("seenCount reads the think block only", () => {
  assert.equal(seenCount(chain(7, 1, 6)), 7);
  assert.equal(seenCount("<answer>There are 3 objects</answer>"), undefined);
  assert.equal(seenCount("<think>There is 1 object.</think>"), 1);
});

test("auditRun finds the run's, the seeds' and the variants' counting evaluations, and nothing else", () => {
  const out = mkdtempSync(join(tmpdir(), "rft-audit-"));
  try {
    const put = (dir: string, set: string, items: ScoredItem[]) => {
      mkdirSync(join(out, dir), { recursive: true });
      writeFileSync(join(out, dir, `${set}_with_score.json`), JSON.stringify(items));
    };
    put("counting/eval/reason-rft", "clevr-math", ITEMS);
    put("counting/eval/ans-sft", "super-clevr", ITEMS.slice(4));
    put("seed-1/counting/eval/cot-sft", "clevr-math", ITEMS.slice(0, 1));
    put("variants/chain/counting/eval/reason-rft", "clevr-math", ITEMS.slice(1, 2));
    put("geometry/eval/reason-rft", "geomath", ITEMS); // another task
    writeFileSync(join(out, "counting/eval/reason-rft/clevr-math.json"), "[]"); // predictions without scores
    const rows = auditRun(out);
    assert.deepEqual(
      rows.map((r) => [r.where, r.paradigm, r.set, r.audit.n]),
      [
        ["counting/eval/ans-sft", "ans-sft", "super-clevr", 1],
        ["counting/eval/reason-rft", "reason-rft", "clevr-math", 5],
        ["seed-1/counting/eval/cot-sft", "cot-sft", "clevr-math", 1],
        ["variants/chain/counting/eval/reason-rft", "reason-rft", "clevr-math", 1],
      ],
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
