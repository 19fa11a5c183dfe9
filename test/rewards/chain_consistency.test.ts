// The chain-consistency reward plug-in (examples/rewards/chain_consistency.ts): hand-made completions, every chain
// the counting generator writes (all splits, 1–4 steps) scoring 1 with its answer and 0 with a perturbed one, the
// strict format against the built-in format's loopholes, and a 2-step GRPO run through the real trainer with
// reward_module pointing at the shipped file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  chain_consistency,
  checkChain,
  parseEquations,
  strict_format,
} from "../../examples/rewards/chain_consistency.ts";
import { COUNT_CANVAS, makeCountingItem, solveCounting, type CountingScene } from "../../src/tasks/synth/counting.ts";
import { thinkAnswer } from "../../src/tasks/synth/types.ts";
import { formatReward } from "../../src/rewards/format.ts";
import { makeTrainInputs, metrics, rft, trainArgs } from "../train/fixtures.ts";

const PLUGIN = fileURLToPath(new URL("../../examples/rewards/chain_consistency.ts", import.meta.url));

const ta = (think: string, answer: string) => `<think>${think}</think>\n<answer>${answer}</answer>`;

test("chain_consistency: hand-made completions", () => {
  const cases: [string, ReturnType<typeof checkChain>][] = [
    // the generator's form
    [
      ta(
        "There are 7 objects: a, b, c, d, e, f and g.\nStep 1: subtract all cubes; they are a and b. 7 - 2 = 5 objects are left.\nSo 5 objects are left.",
        "5",
      ),
      "ok",
    ],
    [ta("7 - 2 = 5", " 5 "), "ok"], // bare equation, padded answer (accuracy's strip)
    [ta("7-2=5", "5"), "ok"], // no spaces
    [ta("7 − 2 = 5", "5"), "ok"], // U+2212 minus
    [ta("7 – 2 = 5", "5"), "ok"], // en dash
    [ta("7 - 2 = 4", "4"), "wrong equation"],
    [ta("7 − 2 = 4", "4"), "wrong equation"],
    [ta("7 - 2 = 5", "4"), "answer disagrees"],
    [ta("7 - 2 = 5. So 5 objects are left.", "4"), "answer disagrees"],
    // several equations, chained, with an addition
    [ta("There are 8 objects. 8 - 2 = 6 objects are left. 6 + 3 = 9 objects. 9 - 4 = 5 objects are left.", "5"), "ok"],
    [ta("8 - 2 = 6 - 1 = 5", "5"), "ok"],
    [ta("8 - 2 - 1 = 5", "5"), "ok"],
    [ta("8 - 2 = 6. 6 + 3 = 10.", "10"), "wrong equation"], // the last one is wrong
    [ta("8 - 2 = 7. 7 + 3 = 10.", "10"), "wrong equation"], // the first one is wrong
    [ta("8 - 2 = 6. 7 + 3 = 10.", "10"), "broken chain"], // right sums that do not connect
    [ta("There are 9 objects. 8 - 2 = 6.", "6"), "broken chain"], // start count disagrees
    // conclusions
    [ta("8 - 2 = 6 objects are left. So 5 objects are left.", "5"), "conclusion disagrees"],
    [ta("8 - 2 = 6 objects are left. The cubes that are left: they are a and b. So the answer is 2.", "2"), "ok"],
    [ta("8 - 2 = 6 objects are left. So the answer is 2.", "6"), "answer disagrees"],
    [ta("8 - 2 = 6 objects are left. So the answer is 7.", "7"), "conclusion disagrees"], // more than are left
    // no chain to check
    ["<answer>5</answer>", "no think block"],
    ["7 - 2 = 5 <answer>5</answer>", "no think block"],
    ["<think>7 - 2 = 5", "no think block"], // never closed
    [ta("There are 7 objects and I guess 5 are left.", "5"), "no equation"],
    [ta("2 × 3 = 6", "6"), "no equation"], // not an addition/subtraction
    [ta("Step 1: 3-4 objects.", "3"), "no equation"],
    [ta("7 - 2 = 5", "five"), "no numeric answer"],
    [ta("7 - 2 = 5", ""), "no numeric answer"],
    ["<think>7 - 2 = 5</think>", "no numeric answer"],
    // extra tags
    ["<answer>4</answer><think>7 - 2 = 5</think><answer>5</answer>", "no think block"], // answer before the chain
    [ta("7 - 2 = 5", "5") + "</answer></answer>", "ok"], // faithful; the repetition is strict_format's business
    [ta("7 - 2 = 5", "5") + "<answer>4</answer>", "ok"], // the first answer block is the one accuracy reads
    [ta("7 - 2 = 5", "4") + "<answer>5</answer>", "answer disagrees"],
  ];
  for (const [c, why] of cases) assert.equal(checkChain(c), why, c);
  assert.deepEqual(
    chain_consistency(cases.map((c) => c[0])),
    cases.map((c) => (c[1] === "ok" ? 1 : 0)),
  );
  assert.equal(checkChain(undefined), "not a string");
});

test("the module comment's @example lines say what the functions return", () => {
  const src = readFileSync(PLUGIN, "utf8");
  const lines = [...src.matchAll(/^ \* ((?:chain_consistency|strict_format)\(.+\)); \/\/ (\[[\d, ]*\])/gm)];
  assert.equal(lines.length, 4);
  const f = { chain_consistency, strict_format };
  for (const [, call, expected] of lines) {
    const m = /^(\w+)\((\[.*\])\)$/.exec(call!)!;
    const arg = JSON.parse(m[2]!) as string[];
    assert.deepEqual(f[m[1] as keyof typeof f](arg), JSON.parse(expected!), call);
  }
});

test("parseEquations: operands, operators and results; glued or non-arithmetic numbers are skipped", () => {
  const eqs = parseEquations("Step 1: 12 + 2 - 7 = 7. x2 - 1 = 1, 3rd - 1 = 2, 1.5 + 1 = 2.5 and 4 ＋ 1 ＝ 5");
  assert.deepEqual(
    eqs.map((e) => [e.operands, e.ops, e.result]),
    [
      [[12, 2, 7], ["+", "-"], 7],
      [[1.5, 1], ["+"], 2.5],
      [[4, 1], ["+"], 5],
    ],
  );
});

/** The chain and answer the generator writes for item `index` of `split` (test splits get theirs from solveCounting). */
function reference(split: "train" | "id" | "ood-domain" | "ood-steps", index: number): string | undefined {
  const it = makeCountingItem(7, split, index, 0);
  if (!it) return undefined;
  if (it.record.cot) return it.record.cot;
  const s = solveCounting(COUNT_CANVAS, it.record.scene as CountingScene);
  return thinkAnswer(s.steps, String(s.answer));
}

test("every chain the counting generator writes scores 1 with its answer, 0 with a wrong answer or a wrong sum", () => {
  let n = 0;
  let steps3 = 0;
  let subset = 0;
  for (const split of ["train", "id", "ood-domain", "ood-steps"] as const)
    for (let i = 0; i < 60; i++) {
      const c = reference(split, i);
      if (!c) continue;
      n++;
      if (/Step 3:/.test(c)) steps3++;
      if (/the answer is/.test(c)) subset++;
      assert.equal(checkChain(c), "ok", c);
      const answer = Number(/<answer>\n(\d+)\n<\/answer>/.exec(c)![1]);
      assert.equal(checkChain(c.replace(/<answer>\n\d+\n/, `<answer>\n${answer + 1}\n`)), "answer disagrees", c);
      // Change the first equation's result: now wrong (and the next step no longer starts from it).
      const wrong = c.replace(/(\d+ [-+] \d+ = )(\d+)/, (_, lhs: string, r: string) => `${lhs}${Number(r) + 1}`);
      assert.equal(checkChain(wrong), "wrong equation", wrong);
      assert.equal(strict_format([c])[0], 1, c);
    }
  // The sample covers the generator's forms: 3–4 step chains and questions about one kind of object.
  assert.ok(n >= 200 && steps3 >= 20 && subset >= 20, `${n} chains, ${steps3} with 3+ steps, ${subset} subset`);
});

test("strict_format: exactly one think and one answer block, nothing outside; closes the built-in format's loopholes", () => {
  const yes = ["<think>7 - 2 = 5</think><answer>5</answer>", "<think>\na\n</think>\n \n<answer>\n5\n</answer>"];
  // Built-in format accepts these (the reference's lazy regex stretches over extra tags); strict_format does not.
  const loose = [
    "<think>7 - 2 = 5</think><answer>5</answer></answer></answer>",
    "<think>7 - 2 = 5</think><answer>5</answer>\n<answer>4</answer>",
    "<think><think>7 - 2 = 5</think><answer>5</answer>",
    "<think>7 - 2 = 5</think></think><answer>5</answer>",
    "<think>7 - 2 = 5 <answer>4</answer></think><answer>5</answer>",
  ];
  // Both refuse these.
  const no = [
    "<think>7 - 2 = 5</think><answer>5</answer>\n",
    " <think>7 - 2 = 5</think><answer>5</answer>",
    "<think>7 - 2 = 5</think> so <answer>5</answer>",
    "<answer>5</answer><think>7 - 2 = 5</think>",
    "<think>7 - 2 = 5</think><answer>5",
    "5",
  ];
  for (const c of loose) assert.equal(formatReward(c), 1, `built-in format accepts ${c}`);
  for (const c of [...yes, ...no]) assert.equal(formatReward(c), strict_format([c])[0], c);
  assert.deepEqual(strict_format([...yes, ...loose, ...no]), [...yes.map(() => 1), ...[...loose, ...no].map(() => 0)]);
});

test("GRPO through the trainer with reward_module = the shipped plug-in logs rewards/chain_consistency/mean", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "rft-chain-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { bench, built, base } = makeTrainInputs(dir);
  // The benchmark's own CoT labels (the Stage-1 targets) are faithful chains.
  const meta = JSON.parse(
    readFileSync(join(bench, "train_jsons", "A3-Visual-Counting-train-35k-cot.json"), "utf8"),
  ) as { cot: string }[];
  assert.ok(meta.length > 0);
  assert.deepEqual(
    chain_consistency(meta.map((r) => r.cot)),
    meta.map(() => 1),
  );
  const out = join(dir, "grpo");
  const r = rft(
    trainArgs(
      "reason-rft",
      { data: join(built, "clevr_math_rl_stage2.json"), imageRoot: join(bench, "images"), model: base, out },
      [
        "max_steps=2",
        "save_steps=100",
        "per_device_train_batch_size=8",
        "gradient_accumulation_steps=1",
        "num_generations=4",
        "max_completion_length=12",
        `reward_module=${PLUGIN}`,
        "reward_funcs=[accuracy, format, chain_consistency, strict_format]",
        "reward_weights=[1, 1, 0.5, 0.5]",
      ],
    ),
  );
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /rewards accuracy \+ format \+ chain_consistency \+ strict_format/);
  const m = metrics(out);
  assert.equal(m.length, 2);
  for (const line of m) {
    const v = (k: string) => line[`rewards/${k}/mean`]!;
    for (const k of ["chain_consistency", "strict_format"]) {
      assert.ok(Number.isFinite(v(k)) && v(k) >= 0 && v(k) <= 1, `rewards/${k}/mean: ${v(k)}`);
    }
    // No reward returns null here, so the mean total is the weighted sum of the means.
    const total = v("accuracy") + v("format") + 0.5 * v("chain_consistency") + 0.5 * v("strict_format");
    assert.ok(Math.abs(line.reward! - total) < 1e-9, `reward ${line.reward} vs ${total}`);
  }
});
