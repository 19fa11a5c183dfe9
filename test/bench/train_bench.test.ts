/**
 * bench/train.ts: its arithmetic (warm-up skipped, units, median and spread), its options, and that the PyTorch
 * anchor (bench/anchors/train_step.py) does the same SFT work as our trainer: on the exported batches, the anchor's
 * first step has our first step's loss and gradient norm (skipped without /usr/bin/python3 + torch).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import {
  GRPO_G,
  GRPO_PROMPTS,
  exportWork,
  firstStepCheck,
  grpoStep,
  parseTrainBenchArgs,
  setUp,
  sftRun,
  sftThroughput,
  spread,
  type Opts,
} from "../../bench/train.ts";
import { TRAIN_ANCHOR, hasPyTorch, runPythonJsonLines } from "../../bench/lib/anchor.ts";
import { trainSft } from "../../src/train/sft.ts";
import type { Metrics } from "../../src/train/metrics.ts";

test("spread: median of odd and even counts, min and max", () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3 });
  assert.deepEqual(spread([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4 });
  assert.throws(() => spread([]), /no values/);
});

test("options: defaults, values, and errors naming the option", () => {
  const o = parseTrainBenchArgs(["--json", "--rounds", "5", "--completion-length", "16"], 2);
  assert.equal(o.json, true);
  assert.equal(o.rounds, 5);
  assert.equal(o.completionLength, 16);
  assert.equal(o.threads, 2);
  assert.throws(() => parseTrainBenchArgs(["--steps", "0"], 2), /--steps needs an integer ≥ 1, got 0/);
  assert.throws(() => parseTrainBenchArgs(["--fast"], 2), /unknown option --fast/);
});

test("SFT throughput skips the warm-up step and divides tokens by seconds", () => {
  const ms: Metrics[] = [
    { step: 1, num_tokens: 100, "time/step": 50 },
    { step: 2, num_tokens: 100, "time/step": 1 },
    { step: 3, num_tokens: 300, "time/step": 3 },
  ];
  assert.deepEqual(sftThroughput(ms), { tokensPerS: 100, secondsPerStep: 2, tokens: 200 });
  assert.throws(() => sftThroughput(ms.slice(0, 1)), /no measured SFT step/);
});

test("GRPO step seconds come from new tokens ÷ tokens_per_second; the split is averaged after the warm-up", () => {
  const n = GRPO_PROMPTS * GRPO_G;
  const step = (len: number, tps: number, gen: number): Metrics => ({
    "completions/mean_length": len,
    tokens_per_second: tps,
    "time/generate": gen,
    "time/reward": 0.1,
    "time/logprob": 1,
    "time/update": 2,
  });
  const r = grpoStep([step(10, 1, 99), step(10, n * 10, 1), step(10, (n * 10) / 3, 3)]);
  assert.equal(r.secondsPerStep, 2);
  assert.equal(r.split["time/generate"], 2);
  assert.equal(r.split["time/update"], 2);
});

test("firstStepCheck: accepts equal work, refuses a different loss", () => {
  const ours: Metrics = { loss: 6.9785, grad_norm: 8.4627 };
  assert.equal(firstStepCheck(ours, { loss: 6.97851, grad_norm: 8.46272 }).anchor_loss, 6.97851);
  assert.throws(() => firstStepCheck(ours, { loss: 6.5, grad_norm: 8.4627 }), /not the same work/);
});

test(
  "the PyTorch anchor's first SFT step equals our trainer's (same batches, same loss and gradient norm)",
  { skip: !hasPyTorch(TRAIN_ANCHOR) && "no /usr/bin/python3 with torch", timeout: 600_000 },
  async () => {
    const o: Opts = {
      json: true,
      threads: 1,
      rounds: 1,
      steps: 0,
      completionLength: 4,
      anchor: true,
      keep: false,
    };
    const s = setUp(o);
    try {
      const work = await exportWork(s, o);
      const ours = await trainSft(sftRun(s, o, join(s.dir, "sft")), { log: () => {} });
      const lines = runPythonJsonLines(
        TRAIN_ANCHOR,
        ["sft", "--model", s.model, "--work", work, "--threads", "1"],
        1,
        "anchor",
      );
      assert.ok(lines, "the anchor ran");
      const first = lines.find((l) => l.step === 1)!;
      assert.equal(first.tokens, ours.metrics[0]!.num_tokens);
      const c = firstStepCheck(ours.metrics[0]!, first);
      assert.ok(Number.isFinite(c.loss) && c.loss > 0);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  },
);
