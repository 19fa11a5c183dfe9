// The trainers end to end on the generated benchmark with a tiny model: SFT learns, GRPO raises a reward, a run
// killed with SIGKILL (after a checkpoint, and in the middle of a save) resumes to a bitwise identical final model,
// gradient accumulation equals one big batch, and bad input is refused before any work.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import * as t from "../../src/tensor/index.ts";
import { presetConfig } from "../../src/models/qwen2vl/config.ts";
import { Qwen2VLForConditionalGeneration } from "../../src/models/qwen2vl/model.ts";
import { logProbBatch, type PromptSample } from "../../src/models/qwen2vl/batch.ts";
import { tokenLogProbs } from "../../src/models/qwen2vl/logprobs.ts";
import { grpoLoss } from "../../src/train/rl_math.ts";
import { readHeader } from "../../src/io/safetensors.ts";
import { LOCK_FILE } from "../../src/io/output.ts";
import { assertClose } from "../helpers.ts";
import { BIN, ONE_THREAD, SHORT_REWARD, makeTrainInputs, metrics, rft, trainArgs } from "./fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "rft-train-"));
const bench = join(dir, "bench");
const built = join(dir, "built");
const base = join(dir, "base");

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// Small, fast settings shared by the runs below (one thread: the same arithmetic in every process).
const SFT = (data: string, out: string, extra: string[] = []) =>
  trainArgs("cot-sft", { data, imageRoot: join(bench, "images"), model: base, out }, [
    "per_device_train_batch_size=2",
    "gradient_accumulation_steps=2",
    "warmup_steps=0",
    "lr_scheduler_type=constant",
    ...extra,
  ]);
const GRPO = (model: string, out: string, extra: string[] = []) =>
  trainArgs(
    "reason-rft",
    { data: join(built, "clevr_math_rl_stage2.json"), imageRoot: join(bench, "images"), model, out },
    [
      "per_device_train_batch_size=8",
      "gradient_accumulation_steps=2",
      "num_generations=4",
      "max_completion_length=12",
      ...extra,
    ],
  );

before(() => {
  makeTrainInputs(dir);
});

test("SFT: the loss falls on a tiny set; frozen vision weights do not move; the run directory is complete", () => {
  const out = join(dir, "sft");
  const r = rft(
    SFT(join(built, "clevr_math_cot_sft-10.json"), out, ["max_steps=10", "save_steps=5", "learning_rate=0.003"]),
  );
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /recipe cot-sft, profile mini: /, "the first log line names recipe and profile");
  const m = metrics(out);
  assert.deepEqual(
    m.map((x) => x.step),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  for (const k of ["epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second"])
    assert.ok(Number.isFinite(m[0]![k]), k);
  const first = mean(m.slice(0, 2).map((x) => x.loss!));
  const last = mean(m.slice(-2).map((x) => x.loss!));
  assert.ok(last < first * 0.8, `loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  for (const f of [
    "config.json",
    "config.yaml",
    "final/model.safetensors",
    "final/config.json",
    "final/tokenizer.json",
    "checkpoint-5/trainer_state.json",
    "checkpoint-5/optimizer.safetensors",
    "checkpoint-10/trainer_state.json",
  ])
    assert.ok(existsSync(join(out, f)), f);
  // freeze_vision_tower and the merger (spec §5.5): unchanged; the decoder changed.
  const bytesOf = (file: string, name: string) => {
    const info = readHeader(file).tensors.find((x) => x.name === name)!;
    return readFileSync(file).subarray(info.begin, info.end);
  };
  const before = join(base, "model.safetensors");
  const after = join(out, "final", "model.safetensors");
  for (const n of ["visual.blocks.0.attn.qkv.weight", "visual.merger.mlp.0.weight"])
    assert.ok(bytesOf(before, n).equals(bytesOf(after, n)), `${n} frozen`);
  const n = "model.layers.0.mlp.up_proj.weight";
  assert.ok(!bytesOf(before, n).equals(bytesOf(after, n)), "decoder trained");
});

test("a non-empty --out without --resume, unknown fields and bad values are refused before any work", () => {
  const out = join(dir, "sft");
  let r = rft(SFT(join(built, "clevr_math_cot_sft-10.json"), out, ["max_steps=1"]));
  assert.equal(r.status, 1);
  assert.match(r.out, /--resume/);
  r = rft(SFT(join(built, "clevr_math_cot_sft-10.json"), join(dir, "x1"), ["learning_rat=1"]));
  assert.equal(r.status, 2);
  assert.match(r.out, /learning_rat.*learning_rate/s);
  r = rft(SFT(join(built, "clevr_math_rl.json"), join(dir, "x2"), ["max_steps=1"]));
  assert.equal(r.status, 1);
  assert.match(r.out, /not an SFT record/);
  r = rft(GRPO(base, join(dir, "x3"), ["per_device_train_batch_size=3", "gradient_accumulation_steps=1"]));
  assert.equal(r.status, 2);
  assert.match(r.out, /num_generations/);
  assert.ok(!existsSync(join(dir, "x3", "metrics.jsonl")));
});

/** Runs `args` in a child and SIGKILLs it when `when(out)` becomes true (polled every 2 ms); returns whether it was killed. */
function killWhen(args: string[], when: () => boolean): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...ONE_THREAD },
      stdio: "ignore",
    });
    let killed = false;
    const timer = setInterval(() => {
      if (!killed && when()) {
        killed = true;
        child.kill("SIGKILL");
      }
    }, 2);
    child.on("exit", () => {
      clearInterval(timer);
      resolvePromise(killed);
    });
    child.on("error", reject);
  });
}

test("SFT: SIGKILL after checkpoint 2 and --resume give a bitwise identical final model", async () => {
  const data = join(built, "clevr_math_cot_sft-10.json");
  const extra = ["max_steps=6", "save_steps=2"];
  const whole = join(dir, "sft-whole");
  assert.equal(rft(SFT(data, whole, extra)).status, 0);
  const cut = join(dir, "sft-cut");
  const killed = await killWhen(SFT(data, cut, extra), () =>
    existsSync(join(cut, "checkpoint-2", "trainer_state.json")),
  );
  assert.ok(killed, "the run was killed");
  assert.ok(!existsSync(join(cut, "final")), "killed before the end");
  // The killed run's lock stays behind (its pid is gone, so the resume takes it over); a live holder's is refused.
  const lockPath = join(cut, LOCK_FILE);
  const left = readFileSync(lockPath, "utf8");
  writeFileSync(lockPath, JSON.stringify({ pid: process.pid, host: hostname(), command: "rft train", started: "t" }));
  const busy = rft([...SFT(data, cut, extra), "--resume"]);
  assert.notEqual(busy.status, 0);
  assert.match(busy.out, new RegExp(`in use by rft train \\(pid ${process.pid} on `));
  writeFileSync(lockPath, left);
  const r = rft([...SFT(data, cut, extra), "--resume"]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /resuming from .*checkpoint-2/);
  assert.ok(!existsSync(lockPath), "a finished run releases its lock");
  assert.ok(
    readFileSync(join(whole, "final", "model.safetensors")).equals(
      readFileSync(join(cut, "final", "model.safetensors")),
    ),
    "bitwise equal",
  );
  assert.deepEqual(
    metrics(cut).map((x) => [x.step, x.loss]),
    metrics(whole).map((x) => [x.step, x.loss]),
    "metrics.jsonl matches the uninterrupted run (no lost or repeated steps)",
  );
});

test("SFT: a kill in the middle of writing a checkpoint leaves the previous one whole, and resume is still exact", async () => {
  const data = join(built, "clevr_math_cot_sft-10.json");
  const extra = ["max_steps=6", "save_steps=2"];
  const whole = join(dir, "sft-whole");
  const cut = join(dir, "sft-cut-save");
  // saveCheckpoint writes into a temporary sibling (".checkpoint-4.tmp-*") and renames it into place.
  const tmpOf4 = () => existsSync(cut) && readdirSync(cut).some((n) => n.startsWith(".checkpoint-4.tmp"));
  const killed = await killWhen(SFT(data, cut, extra), tmpOf4);
  assert.ok(killed);
  const names = readdirSync(cut);
  assert.ok(names.includes("checkpoint-2"), `checkpoint-2 is there (${names})`);
  assert.ok(
    !names.includes("checkpoint-4") || existsSync(join(cut, "checkpoint-4", "trainer_state.json")),
    "no half checkpoint-4",
  );
  const r = rft([...SFT(data, cut, extra), "--resume"]);
  assert.equal(r.status, 0, r.out);
  assert.ok(
    readFileSync(join(whole, "final", "model.safetensors")).equals(
      readFileSync(join(cut, "final", "model.safetensors")),
    ),
    "bitwise equal",
  );
});

test("GRPO: SIGKILL after checkpoint 2 and --resume give a bitwise identical final model", async () => {
  const start = join(dir, "sft", "final");
  const extra = ["max_steps=4", "save_steps=2"];
  const whole = join(dir, "grpo-whole");
  const r0 = rft(GRPO(start, whole, extra));
  assert.equal(r0.status, 0, r0.out);
  const m = metrics(whole);
  for (const k of [
    "reward",
    "reward_std",
    "rewards/accuracy/mean",
    "rewards/format/mean",
    "kl",
    "completions/mean_length",
    "completions/max_length",
    "completions/clipped_ratio",
    "clip_ratio/region_mean",
    "frac_reward_zero_std",
    "entropy",
    "time/generate",
    "time/reward",
    "time/logprob",
    "time/update",
    "loss",
    "grad_norm",
    "learning_rate",
  ])
    assert.ok(Number.isFinite(m[0]![k]), `metric ${k}: ${m[0]![k]}`);
  const cut = join(dir, "grpo-cut");
  const killed = await killWhen(GRPO(start, cut, extra), () =>
    existsSync(join(cut, "checkpoint-2", "trainer_state.json")),
  );
  assert.ok(killed);
  const r = rft([...GRPO(start, cut, extra), "--resume"]);
  assert.equal(r.status, 0, r.out);
  assert.ok(
    readFileSync(join(whole, "final", "model.safetensors")).equals(
      readFileSync(join(cut, "final", "model.safetensors")),
    ),
    "bitwise equal",
  );
});

test("GRPO raises the mean reward of a plug-in reward within a few steps (fixed seed)", () => {
  // Reward short answers: the policy can learn to end its turn early, a behaviour a briefly trained model varies on.
  const plugin = join(dir, "short.ts");
  writeFileSync(plugin, SHORT_REWARD);
  const out = join(dir, "grpo-short");
  const r = rft(
    GRPO(join(dir, "sft", "final"), out, [
      "max_steps=14",
      "save_steps=100",
      `reward_module=${plugin}`,
      "reward_funcs=[short]",
      "learning_rate=0.002",
      "beta=0",
      "max_completion_length=24",
      "temperature=1",
    ]),
  );
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /no reference model \(β 0\)/);
  const m = metrics(out);
  const first = mean(m.slice(0, 3).map((x) => x.reward!));
  const last = mean(m.slice(-3).map((x) => x.reward!));
  assert.ok(last > first + 0.1, `reward ${first.toFixed(3)} → ${last.toFixed(3)}`);
});

test("gradients: one batch of 4 equals 4 micro-batches of 1 with accumulation (sequence-mean GRPO loss)", () => {
  t.manualSeed(3);
  using m = new Qwen2VLForConditionalGeneration(presetConfig("qwen2-vl-tiny"));
  const prompt: PromptSample = { inputIds: [1, 2, 5, 6] };
  const rows = [
    { prompt, completion: [7, 8, 9] },
    { prompt, completion: [10, 11] },
    { prompt, completion: [12, 13, 14, 15] },
    { prompt, completion: [16] },
  ];
  const adv = [0.5, -1, 1.5, -0.25];
  const run = (parts: number[][]): Float32Array => {
    for (const idx of parts) {
      using b = logProbBatch(
        idx.map((i) => rows[i]!),
        0,
        "float32",
        4,
      );
      using lp = tokenLogProbs(m, b);
      using a = t.tensor(idx.map((i) => adv[i]!));
      const l = grpoLoss(
        { logp: lp.logprobs, advantages: a, mask: b.completionMask },
        { beta: 0, epsilon: 0.2, lossType: "grpo", gradientAccumulationSteps: parts.length },
      );
      l.loss.backward();
      lp.backward();
      for (const x of [l.loss, l.kl, l.clipLow, l.clipHigh, l.clipRegion]) x?.dispose();
    }
    const g = m.model.layers.at(1).mlp.down_proj.weight.grad!;
    const v = g.toFloat32();
    g.dispose();
    m.zeroGrad();
    return v;
  };
  const one = run([[0, 1, 2, 3]]);
  const four = run([[0], [1], [2], [3]]);
  assertClose(four, one, 1e-4);
  assert.ok(one.some((x) => x !== 0));
});
