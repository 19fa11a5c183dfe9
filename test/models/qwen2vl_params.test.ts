import { test } from "node:test";
import assert from "node:assert/strict";
import { presetConfig } from "../../src/models/qwen2vl/config.ts";
import {
  checkCheckpointKeys,
  paramCounts,
  paramSpecs,
  toClassicName,
  toModernName,
} from "../../src/models/qwen2vl/params.ts";

test("2B and 7B parameter counts equal the published totals", () => {
  // Published parameter counts of Qwen/Qwen2-VL-2B-Instruct and Qwen/Qwen2-VL-7B-Instruct (model cards: 2.21B, 8.29B;
  // exact totals 2,208,985,600 and 8,291,375,616 as listed by benchmark registries).
  assert.equal(paramCounts(presetConfig("qwen2-vl-2b")).total, 2_208_985_600);
  assert.equal(paramCounts(presetConfig("qwen2-vl-7b")).total, 8_291_375_616);
  const c2 = paramCounts(presetConfig("qwen2-vl-2b"));
  // Embedding matrix 151936 x 1536 is counted once because the 2B ties lm_head to it.
  assert.equal(c2.text + c2.vision, c2.total);
  assert.ok(c2.text > 151936 * 1536);
});

test("vision and text counts follow from the shapes", () => {
  const c = presetConfig("qwen2-vl-2b");
  // Vision tower, from the module definitions: Conv3d without bias; per block 2 LayerNorms, qkv, proj, fc1, fc2
  // (all with bias); merger LayerNorm + Linear(5120, 5120) + Linear(5120, 1536).
  const E = 1280,
    M = 5120,
    D = 32;
  const block = 2 * 2 * E + (E * 3 * E + 3 * E) + (E * E + E) + (E * 4 * E + 4 * E) + (4 * E * E + E);
  const merger = 2 * E + (M * M + M) + (M * 1536 + 1536);
  assert.equal(paramCounts(c).vision, E * 3 * 2 * 14 * 14 + D * block + merger);
  // Decoder: q/k/v with bias (2 kv heads of 128), o without, SwiGLU 8960, two RMSNorms, final norm; tied head.
  const H = 1536,
    I = 8960,
    kv = 2 * 128;
  const layer = H * H + H + 2 * (H * kv + kv) + H * H + 3 * H * I + 2 * H;
  assert.equal(paramCounts(c).text, 151936 * H + 28 * layer + H);
});

test("names and shapes are HF's (classic layout)", () => {
  const specs = paramSpecs(presetConfig("qwen2-vl-2b"));
  const byName = new Map(specs.map((p) => [p.name, p.shape]));
  assert.equal(byName.size, specs.length, "names are unique");
  const expected: [string, number[]][] = [
    ["visual.patch_embed.proj.weight", [1280, 3, 2, 14, 14]],
    ["visual.blocks.0.norm1.weight", [1280]],
    ["visual.blocks.0.norm1.bias", [1280]],
    ["visual.blocks.0.norm2.weight", [1280]],
    ["visual.blocks.0.attn.qkv.weight", [3840, 1280]],
    ["visual.blocks.0.attn.qkv.bias", [3840]],
    ["visual.blocks.0.attn.proj.weight", [1280, 1280]],
    ["visual.blocks.0.attn.proj.bias", [1280]],
    ["visual.blocks.0.mlp.fc1.weight", [5120, 1280]],
    ["visual.blocks.0.mlp.fc1.bias", [5120]],
    ["visual.blocks.31.mlp.fc2.weight", [1280, 5120]],
    ["visual.blocks.31.mlp.fc2.bias", [1280]],
    ["visual.merger.ln_q.weight", [1280]],
    ["visual.merger.ln_q.bias", [1280]],
    ["visual.merger.mlp.0.weight", [5120, 5120]],
    ["visual.merger.mlp.0.bias", [5120]],
    ["visual.merger.mlp.2.weight", [1536, 5120]],
    ["visual.merger.mlp.2.bias", [1536]],
    ["model.embed_tokens.weight", [151936, 1536]],
    ["model.layers.0.self_attn.q_proj.weight", [1536, 1536]],
    ["model.layers.0.self_attn.q_proj.bias", [1536]],
    ["model.layers.0.self_attn.k_proj.weight", [256, 1536]],
    ["model.layers.0.self_attn.k_proj.bias", [256]],
    ["model.layers.0.self_attn.v_proj.weight", [256, 1536]],
    ["model.layers.0.self_attn.v_proj.bias", [256]],
    ["model.layers.0.self_attn.o_proj.weight", [1536, 1536]],
    ["model.layers.0.mlp.gate_proj.weight", [8960, 1536]],
    ["model.layers.0.mlp.up_proj.weight", [8960, 1536]],
    ["model.layers.27.mlp.down_proj.weight", [1536, 8960]],
    ["model.layers.27.input_layernorm.weight", [1536]],
    ["model.layers.27.post_attention_layernorm.weight", [1536]],
    ["model.norm.weight", [1536]],
  ];
  for (const [name, shape] of expected) assert.deepEqual(byName.get(name), shape, name);
  // Things HF does not have.
  for (const absent of [
    "lm_head.weight",
    "model.layers.0.self_attn.o_proj.bias",
    "model.layers.0.mlp.gate_proj.bias",
    "visual.patch_embed.proj.bias",
    "model.layers.28.input_layernorm.weight",
    "visual.blocks.32.norm1.weight",
  ]) {
    assert.equal(byName.has(absent), false, absent);
  }
  // Per decoder layer 12 tensors, per vision block 12 tensors.
  assert.equal(specs.filter((p) => p.name.startsWith("model.layers.0.")).length, 12);
  assert.equal(specs.filter((p) => p.name.startsWith("visual.blocks.0.")).length, 12);
  assert.equal(specs.length, 1 + 32 * 12 + 6 + 1 + 28 * 12 + 1);
  // 7B is untied: lm_head present.
  const s7 = new Map(paramSpecs(presetConfig("qwen2-vl-7b")).map((p) => [p.name, p.shape]));
  assert.deepEqual(s7.get("lm_head.weight"), [152064, 3584]);
  assert.deepEqual(s7.get("model.layers.0.self_attn.k_proj.weight"), [512, 3584]);
});

test("both key layouts map to the classic names", () => {
  assert.equal(toClassicName("model.language_model.layers.3.mlp.up_proj.weight"), "model.layers.3.mlp.up_proj.weight");
  assert.equal(toClassicName("model.language_model.embed_tokens.weight"), "model.embed_tokens.weight");
  assert.equal(toClassicName("model.visual.blocks.0.attn.qkv.weight"), "visual.blocks.0.attn.qkv.weight");
  assert.equal(toClassicName("lm_head.weight"), "lm_head.weight");
  assert.equal(toClassicName("visual.merger.mlp.0.bias"), "visual.merger.mlp.0.bias");
  for (const p of paramSpecs(presetConfig("qwen2-vl-tiny"))) assert.equal(toClassicName(toModernName(p.name)), p.name);

  const c = presetConfig("qwen2-vl-tiny");
  const modern = paramSpecs(c).map((p): [string, number[]] => [toModernName(p.name), p.shape]);
  const ok = checkCheckpointKeys(c, modern);
  assert.deepEqual([ok.missing, ok.unexpected, ok.wrongShape], [[], [], []]);
  const broken = modern.filter(([n]) => !n.endsWith("model.language_model.norm.weight"));
  broken.push(["visual.extra.weight", [1]]);
  broken[0] = [broken[0]![0], [1, 2, 3]];
  const r = checkCheckpointKeys(c, broken);
  assert.deepEqual(r.missing, ["model.norm.weight"]);
  assert.deepEqual(r.unexpected, ["visual.extra.weight"]);
  assert.equal(r.wrongShape[0]!.name, "visual.patch_embed.proj.weight");
  // A tied checkpoint that still carries lm_head.weight is accepted.
  assert.deepEqual(
    checkCheckpointKeys(c, [...modern, ["lm_head.weight", [c.vocab_size, c.hidden_size]]]).unexpected,
    [],
  );
});
