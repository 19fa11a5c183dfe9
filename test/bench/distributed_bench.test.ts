/**
 * bench/distributed.ts: its arithmetic (bus bandwidth, iteration counts, step seconds after the warm-up), its options
 * and the global-batch overrides of both configurations, and a reduced run of the whole bench (one 1 MiB size, one
 * round, 2 optimizer steps per run on a small batch) whose JSON must have the documented shape with finite, positive
 * numbers. The PyTorch side is skipped without /usr/bin/python3 + torch (its fields must then be null).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  ALLREDUCE_ANCHOR,
  allReduceIters,
  busBandwidth,
  checkSameWork,
  runSteps,
  parseDistributedBenchArgs,
  stepSeconds,
  trainSets,
} from "../../bench/distributed.ts";
import { hasPyTorch } from "../../bench/lib/anchor.ts";
import { distributedBackends } from "../../src/tensor/index.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("bus bandwidth is nccl-tests' 2(W-1)/W · bytes / seconds in GB/s; iterations are 512 MiB ÷ size, from 5 to 200", () => {
  assert.equal(busBandwidth(1e9, 1, 2), 1);
  assert.equal(busBandwidth(1e9, 2, 4), 0.75);
  assert.equal(allReduceIters(2 ** 20), 200); // 512 would be too many
  assert.equal(allReduceIters(16 * 2 ** 20), 32);
  assert.equal(allReduceIters(256 * 2 ** 20), 5); // 2 would be too few
});

test("a step's seconds: time/step, else GRPO's split; the first step is not counted; work must match", () => {
  assert.equal(stepSeconds({ "time/step": 3 }), 3);
  assert.equal(stepSeconds({ "time/generate": 1, "time/reward": 0.5, "time/logprob": 1, "time/update": 2 }), 4.5);
  assert.throws(() => stepSeconds({ loss: 1 }), /without time\/step/);
  const lines = [
    { step: 2, "time/step": 4, num_tokens: 20 },
    { step: 1, "time/step": 100, num_tokens: 10 },
    { step: 3, "time/step": 2, num_tokens: 30 },
    { other: true },
  ];
  const r = runSteps("sft", lines);
  assert.deepEqual(r, { seconds: 3, steps: [100, 4, 2], work: [10, 20, 30] });
  assert.throws(() => runSteps("sft", lines.slice(1, 2)), /need ≥ 2/);
  assert.throws(() => runSteps("grpo", lines), /without completions\/mean_length/);
  checkSameWork("sft", r, { ...r, seconds: 1 });
  assert.throws(() => checkSameWork("sft", r, { ...r, work: [10, 20, 31] }), /not the same work/);
});

test("options: defaults, values, errors naming the option; both configurations have the same global batch", () => {
  const d = parseDistributedBenchArgs([]);
  assert.deepEqual(d.sizes, [2 ** 20, 16 * 2 ** 20, 64 * 2 ** 20]);
  assert.equal(d.rounds, 3);
  const o = parseDistributedBenchArgs(["--sizes", "0.5,2", "--only", "allreduce", "--json"]);
  assert.deepEqual(o.sizes, [2 ** 19, 2 ** 21]);
  assert.equal(o.train, false);
  assert.equal(o.json, true);
  assert.throws(() => parseDistributedBenchArgs(["--rounds", "0"]), /--rounds needs an integer ≥ 1, got 0/);
  assert.throws(() => parseDistributedBenchArgs(["--only", "x"]), /--only needs allreduce or train/);
  assert.throws(() => parseDistributedBenchArgs(["--sft-records", "5"]), /--sft-records must be even/);
  assert.throws(() => parseDistributedBenchArgs(["--fast"]), /unknown option --fast/);
  const get = (sets: string[], k: string) => Number(sets.find((x) => x.startsWith(`${k}=`))!.split("=")[1]);
  for (const kind of ["sft", "grpo"] as const) {
    const one = trainSets(kind, "1x2", d);
    const two = trainSets(kind, "2x1", d);
    const global = (sets: string[], world: number) =>
      get(sets, "per_device_train_batch_size") * get(sets, "gradient_accumulation_steps") * world;
    assert.equal(global(one, 1), global(two, 2), kind);
    assert.equal(global(one, 1), kind === "sft" ? 16 : 32);
    assert.equal(get(one, "max_steps"), d.steps + 1);
  }
});

const anchor = hasPyTorch(ALLREDUCE_ANCHOR);

test(
  "a reduced run prints one JSON object with the documented fields, finite and positive",
  { skip: !distributedBackends().gloo && "this addon was built without c10d", timeout: 180_000 },
  () => {
    const args = ["--json", "--rounds", "1", "--sizes", "1", "--iters", "5", "--steps", "1"];
    args.push("--sft-records", "4", "--grpo-prompts", "2", "--generations", "2", "--completion-length", "4");
    if (!anchor) args.push("--no-anchor");
    const r = spawnSync(
      process.execPath,
      ["--single-threaded-gc", "--v8-pool-size=1", "--import", "tsx", "bench/run.ts", "distributed", ...args],
      { cwd: ROOT, encoding: "utf8", maxBuffer: 16 * 2 ** 20 },
    );
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1, "one JSON object");
    const j = JSON.parse(lines[0]!) as Record<string, unknown>;
    const pos = (x: unknown, what: string) =>
      assert.ok(typeof x === "number" && Number.isFinite(x) && x > 0, `${what}: ${String(x)}`);

    const ar = j.allreduce as Record<string, unknown>[];
    assert.equal(ar.length, 1);
    assert.equal(ar[0]!.bytes, 2 ** 20);
    assert.equal(ar[0]!.iters, 5);
    pos(ar[0]!.ours_busbw_gbps, "ours_busbw_gbps");
    for (const k of ["anchor_busbw_gbps", "ratio_median", "ratio_min", "ratio_max"])
      if (anchor) pos(ar[0]![k], k);
      else assert.equal(ar[0]![k], null, k);
    assert.equal(typeof j.allreduce_definition, "string");
    if (!anchor) assert.match(String(j.allreduce_anchor_message), /--no-anchor/);

    for (const kind of ["sft", "grpo"]) {
      const k = j[kind] as Record<string, unknown>;
      pos(k.one_worker_two_threads_seconds, `${kind} 1×2`);
      pos(k.two_workers_one_thread_seconds, `${kind} 2×1`);
      const rounds = k.rounds as Record<string, number[]>[];
      assert.equal(rounds.length, 1);
      assert.equal(rounds[0]!.two_workers_one_thread_step_seconds!.length, 2); // 1 + --steps 1
      assert.ok((k.work_per_step as number[]).every((x) => x > 0));
      for (const s of ["", "_min", "_max"]) pos(j[`${kind}_step_ratio${s}`], `${kind}_step_ratio${s}`);
    }
    assert.match(String(j.step_ratio_definition), /1 worker x 2 threads \/ seconds per step of 2 workers x 1 thread/);
    assert.ok(Number.isFinite(j.load_average_end) && (j.load_average_end as number) >= 0);
  },
);
