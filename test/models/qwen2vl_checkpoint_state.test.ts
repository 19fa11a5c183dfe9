// Checkpoint pieces for the trainers (issue 7.4): weights loaded into an existing model, saveCheckpoint on an
// interface, trainer state beside the HF directory; and refusing NaN/Inf weights (issue 8.2).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as t from "../../src/tensor/index.ts";
import { AdamW } from "../../src/nn/index.ts";
import { presetConfig, type Qwen2VLConfig } from "../../src/models/qwen2vl/config.ts";
import { Qwen2VLForConditionalGeneration } from "../../src/models/qwen2vl/model.ts";
import {
  CheckpointError,
  loadCheckpoint,
  loadWeightsInto,
  saveCheckpoint,
  type SaveableModel,
} from "../../src/models/qwen2vl/checkpoint.ts";
import { toModernName } from "../../src/models/qwen2vl/params.ts";
import {
  loadTrainerState,
  newTrainerState,
  rngBytes,
  rngBytesOf,
  saveTrainerStateDir,
  TrainerStateError,
} from "../../src/io/trainer_state.ts";

const base = presetConfig("qwen2-vl-tiny");
// Smaller than the tiny preset: these tests are about bookkeeping, not numerics.
const cfg: Qwen2VLConfig = {
  ...base,
  num_hidden_layers: 1,
  vision_config: { ...base.vision_config, depth: 1 },
};
const dir = mkdtempSync(join(tmpdir(), "rft-ckstate-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

function model(seed: number): Qwen2VLForConditionalGeneration {
  t.manualSeed(seed);
  return new Qwen2VLForConditionalGeneration(cfg);
}

function bytesOf(m: { namedParameters(): Iterable<[string, t.Tensor]> }): Map<string, Buffer> {
  return new Map([...m.namedParameters()].map(([n, p]) => [n, Buffer.from(p.dataView())]));
}

test("loadWeightsInto: an existing model takes a checkpoint's weights bit for bit, parameters keep identity", async () => {
  using a = model(1);
  await saveCheckpoint(a, join(dir, "a"));
  using b = model(2);
  const before = new Map(b.namedParameters());
  const want = bytesOf(a);
  assert.notDeepEqual(bytesOf(b), want);
  const n = loadWeightsInto(b, join(dir, "a"));
  assert.equal(n, want.size);
  assert.deepEqual(bytesOf(b), want);
  for (const [name, p] of b.namedParameters()) {
    assert.equal(p, before.get(name), `${name} is the same Tensor object`);
    assert.equal(p.requiresGrad, true);
  }
});

test("loadWeightsInto: from a state dict (classic or newer names), cast to the model's dtype", () => {
  using a = model(3);
  using b = model(4);
  loadWeightsInto(b, a.stateDict());
  assert.deepEqual(bytesOf(b), bytesOf(a));
  // Newer HF names (model.language_model.*, model.visual.*) of another model.
  using c = model(5);
  const modern = new Map([...c.namedParameters()].map(([n, p]) => [toModernName(n), p]));
  loadWeightsInto(b, modern);
  assert.deepEqual(bytesOf(b), bytesOf(c));
  // A bf16 source into the fp32 model: values cast, the model stays fp32.
  const bf = new Map([...a.namedParameters()].map(([n, p]) => [n, p.to("bfloat16")]));
  try {
    loadWeightsInto(b, bf);
    assert.equal(b.dtype, "float32");
    const [name, p] = [...b.namedParameters()][0]!;
    using expect = bf.get(name)!.to("float32");
    assert.deepEqual(Buffer.from(p.dataView()), Buffer.from(expect.dataView()));
  } finally {
    for (const x of bf.values()) x.dispose();
  }
});

test("loadWeightsInto: missing and wrongly shaped keys are refused by name before anything is copied", () => {
  using a = model(6);
  using b = model(7);
  const sd = new Map(a.stateDict());
  sd.delete("model.norm.weight");
  const snapshot = bytesOf(b);
  assert.throws(
    () => loadWeightsInto(b, sd),
    (e: Error) => e instanceof CheckpointError && /missing: model\.norm\.weight/.test(e.message),
  );
  assert.deepEqual(bytesOf(b), snapshot, "nothing copied");
  using wrong = t.zeros([3]);
  sd.set("model.norm.weight", wrong);
  assert.throws(() => loadWeightsInto(b, sd), /wrong shape: model\.norm\.weight \[3\]/);
});

test("saveCheckpoint takes any object with config, dtype and named parameters", async () => {
  using a = model(8);
  const view: SaveableModel = {
    config: a.config,
    dtype: a.dtype,
    namedParameters: () => a.namedParameters(),
  };
  await saveCheckpoint(view, join(dir, "view"));
  const ck = await loadCheckpoint(join(dir, "view"));
  try {
    assert.deepEqual(bytesOf(ck.model), bytesOf(a));
  } finally {
    ck.model.dispose();
  }
});

test("a checkpoint whose weights hold NaN or Inf is refused at load, naming the parameters", async () => {
  using a = model(9);
  t.noGrad(() => {
    const p = new Map(a.namedParameters()).get("model.layers.0.mlp.up_proj.weight")!;
    p.narrow(0, 0, 1).fill_(Number.NaN);
  });
  await saveCheckpoint(a, join(dir, "nan"));
  await assert.rejects(loadCheckpoint(join(dir, "nan")), (e: Error) => {
    assert.ok(e instanceof CheckpointError);
    assert.match(e.message, /NaN or Inf/);
    assert.match(e.message, /model\.layers\.0\.mlp\.up_proj\.weight \(256 of \d+ values\)/);
    return true;
  });
  using b = model(10);
  assert.throws(() => loadWeightsInto(b, join(dir, "nan")), /NaN or Inf/);
  // Opting out loads it (for inspection).
  const ck = await loadCheckpoint(join(dir, "nan"), { checkFinite: false });
  ck.model.dispose();
});

test("trainer state: saved with the checkpoint in one rename, round trip of every field and the optimizer", async () => {
  using m = model(11);
  using opt = new AdamW(m.namedParameters(), { lr: 1e-3 });
  for (let i = 0; i < 2; i++) {
    opt.zeroGrad();
    t.tidy(() =>
      m.model.embed_tokens
        .forward(t.tensor([[1, 2, 3]], { dtype: "int64" }))
        .square()
        .sum()
        .backward(),
    );
    opt.stepUpdate();
  }
  t.manualSeed(123);
  const torchRng = t.getRngState();
  const state = newTrainerState({
    global_step: 2,
    epoch: 0.25,
    data_position: { epoch: 0, index: 64, order_seed: 7 },
    schedule: { name: "cosine", last_lr: 1e-3, warmup_steps: 10 },
    rng_states: { torch: rngBytes(torchRng), sampler: { json: { s: [1, 2, 3, 4] } } },
    world_size: 2,
    log_history: [{ step: 1, loss: 2.5 }],
    extras: { config_hash: "abc" },
  });
  const files = await saveCheckpoint(m, join(dir, "resume"), { trainerState: { state, optimizer: opt } });
  assert.ok(files.includes("trainer_state.json") && files.includes("optimizer.safetensors"));
  const json = JSON.parse(readFileSync(join(dir, "resume", "trainer_state.json"), "utf8"));
  assert.equal(json.global_step, 2);

  using m2 = model(12);
  using opt2 = new AdamW(m2.namedParameters(), { lr: 5e-4 });
  const back = loadTrainerState(join(dir, "resume"), { optimizer: opt2, expectWorldSize: 2 });
  assert.deepEqual(back, state);
  assert.deepEqual(rngBytesOf(back, "torch"), Buffer.from(torchRng));
  const s1 = opt.state();
  const s2 = opt2.state();
  assert.equal(s2.step, 2);
  assert.equal(opt2.lr, 1e-3);
  for (const [n, x] of s1.expAvg)
    assert.deepEqual(Buffer.from(s2.expAvg.get(n)!.dataView()), Buffer.from(x.dataView()));

  assert.throws(() => loadTrainerState(join(dir, "resume"), { expectWorldSize: 1 }), /world_size differs/);
  // An optimizer file from another save (interrupted between the two renames) is detected.
  json.optimizer.step = 5;
  writeFileSync(join(dir, "resume", "trainer_state.json"), JSON.stringify(json));
  assert.throws(() => loadTrainerState(join(dir, "resume"), { optimizer: opt2 }), /optimizer step 2 does not match/);
  json.global_step = -1;
  writeFileSync(join(dir, "resume", "trainer_state.json"), JSON.stringify(json));
  assert.throws(
    () => loadTrainerState(join(dir, "resume")),
    (e: Error) => e instanceof TrainerStateError && /global_step/.test(e.message),
  );
});

test("trainer state in a directory of its own, without an optimizer", () => {
  const d = join(dir, "trainer");
  saveTrainerStateDir(d, newTrainerState({ global_step: 3 }));
  assert.equal(loadTrainerState(d).global_step, 3);
  assert.ok(!existsSync(join(d, "optimizer.safetensors")));
  using m = model(13);
  using opt = new AdamW(m.namedParameters(), { lr: 1e-3 });
  assert.throws(() => loadTrainerState(d, { optimizer: opt }), /no optimizer state was saved/);
});
