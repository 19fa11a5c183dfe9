import { test } from "node:test";
import assert from "node:assert/strict";
import * as t from "../../src/tensor/index.ts";
import { Module, ModuleList, Linear, RMSNorm, Embedding, StateDictError, namePattern } from "../../src/nn/index.ts";

class Block extends Module {
  readonly q_proj = this.module("q_proj", new Linear(4, 4));
  readonly norm = this.module("input_layernorm", new RMSNorm(4));
}
class Tiny extends Module {
  readonly embed_tokens = this.module("embed_tokens", new Embedding(10, 4));
  readonly layers = this.module("layers", new ModuleList([new Block(), new Block()]));
  readonly lm_head = this.module("lm_head", new Linear(4, 10, { bias: false }));
  constructor() {
    super();
    this.buffer("inv_freq", t.ones([2]), false);
    this.buffer("persistent_buf", t.zeros([1]));
  }
}

test("parameter names are HF dotted paths; counts; buffers", () => {
  using m = new Tiny();
  const names = [...m.namedParameters()].map(([n]) => n);
  assert.deepEqual(names, [
    "embed_tokens.weight",
    "layers.0.q_proj.weight",
    "layers.0.q_proj.bias",
    "layers.0.input_layernorm.weight",
    "layers.1.q_proj.weight",
    "layers.1.q_proj.bias",
    "layers.1.input_layernorm.weight",
    "lm_head.weight",
  ]);
  assert.equal(m.numParameters(), 40 + 2 * (16 + 4 + 4) + 40);
  assert.deepEqual([...m.stateDict().keys()].slice(-1), ["persistent_buf"], "non-persistent buffers are not saved");
  assert.ok(![...m.stateDict().keys()].includes("inv_freq"));
});

test("state dict round trip and strict errors by name", () => {
  t.manualSeed(1);
  using a = new Tiny();
  t.manualSeed(2);
  using b = new Tiny();
  const x = t.tensor([[1, 2, 3]], { dtype: "int64" });
  const run = (m: Tiny) =>
    t.tidy(() => m.lm_head.forward(m.layers.at(0).q_proj.forward(m.embed_tokens.forward(x))).toFloat32());
  assert.notDeepEqual(run(a), run(b));
  b.loadStateDict(a.stateDict());
  assert.deepEqual(run(a), run(b));

  const sd = new Map(a.stateDict());
  sd.delete("lm_head.weight");
  sd.set("extra.weight", t.zeros([1]));
  sd.set("layers.0.q_proj.bias", t.zeros([5]));
  sd.set("layers.1.q_proj.bias", t.zeros([4], { dtype: "float64" }));
  assert.throws(
    () => b.loadStateDict(sd),
    (e: Error) =>
      e instanceof StateDictError &&
      /missing keys: lm_head.weight/.test(e.message) &&
      /unexpected keys: extra.weight/.test(e.message) &&
      /layers.0.q_proj.bias \(shape \[5\] in checkpoint, \[4\] in model\)/.test(e.message) &&
      /layers.1.q_proj.bias \(dtype float64 in checkpoint, float32 in model\)/.test(e.message),
  );
  const r = b.loadStateDict(sd, { strict: false });
  assert.deepEqual(r.missing, ["lm_head.weight"]);
  assert.deepEqual(r.unexpected, ["extra.weight"]);
  assert.equal(r.mismatched.length, 2);
  // castDtype accepts the float64 bias
  sd.set("layers.0.q_proj.bias", t.zeros([4]));
  sd.set("lm_head.weight", a.lm_head.weight);
  sd.delete("extra.weight");
  b.loadStateDict(sd, { castDtype: true });
  assert.deepEqual(b.layers.at(1).q_proj.bias!.toNumbers(), [0, 0, 0, 0]);
});

test("freeze by name pattern, train/eval, dtype cast keeps identities", () => {
  using m = new Tiny();
  const frozen = m.freeze("layers.*.q_proj.*");
  assert.deepEqual(frozen, [
    "layers.0.q_proj.weight",
    "layers.0.q_proj.bias",
    "layers.1.q_proj.weight",
    "layers.1.q_proj.bias",
  ]);
  assert.equal(m.trainableParameters().length, 4);
  m.unfreeze(/^layers\.1\./);
  assert.equal(m.trainableParameters().length, 6);
  assert.ok(namePattern("visual.**").test("visual.blocks.0.attn.qkv.weight"));
  assert.ok(!namePattern("visual.*").test("visual.blocks.0"));
  m.eval();
  assert.equal(m.layers.at(1).norm.training, false);
  m.train();
  assert.equal(m.layers.at(1).norm.training, true);
  const w = m.lm_head.weight;
  m.to("bfloat16");
  assert.equal(w.dtype, "bfloat16");
  assert.equal(m.lm_head.weight, w, "same Tensor object after the cast");
  assert.equal(w.requiresGrad, true);
});

test("dispose frees every parameter and buffer", () => {
  const before = t.handleBalance();
  const m = new Tiny();
  assert.ok(t.handleBalance() > before);
  m.dispose();
  assert.equal(t.handleBalance(), before);
});
