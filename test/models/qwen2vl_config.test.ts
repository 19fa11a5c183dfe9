import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ConfigError,
  configToJsonText,
  headDim,
  parseConfig,
  parseConfigText,
  presetConfig,
  tinyTokenizerLayoutIds,
  toHfConfig,
  validateConfig,
} from "../../src/models/qwen2vl/config.ts";

// Qwen2-VL-2B-Instruct's config.json as published (classic layout, in_chans, rope_scaling.type "mrope").
const QWEN2VL_2B_JSON = {
  architectures: ["Qwen2VLForConditionalGeneration"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  vision_start_token_id: 151652,
  vision_end_token_id: 151653,
  vision_token_id: 151654,
  image_token_id: 151655,
  video_token_id: 151656,
  hidden_act: "silu",
  hidden_size: 1536,
  initializer_range: 0.02,
  intermediate_size: 8960,
  max_position_embeddings: 32768,
  max_window_layers: 28,
  model_type: "qwen2_vl",
  num_attention_heads: 12,
  num_hidden_layers: 28,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.41.2",
  use_cache: true,
  use_sliding_window: false,
  vision_config: {
    depth: 32,
    embed_dim: 1280,
    mlp_ratio: 4,
    num_heads: 16,
    in_chans: 3,
    hidden_size: 1536,
    patch_size: 14,
    spatial_merge_size: 2,
    temporal_patch_size: 2,
  },
  rope_scaling: { type: "mrope", mrope_section: [16, 24, 24] },
  vocab_size: 151936,
};

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.issues.map((i) => i.field);
  }
  assert.fail("expected a ConfigError");
}

test("reads the published 2B config.json and it equals the qwen2-vl-2b preset", () => {
  const { config, warnings } = parseConfig(QWEN2VL_2B_JSON);
  assert.deepEqual(warnings, []);
  assert.equal(config.vision_config.in_channels, 3);
  assert.deepEqual(config.rope_scaling.mrope_section, [16, 24, 24]);
  assert.equal(headDim(config), 128);
  const preset = presetConfig("qwen2-vl-2b");
  const strip = (c: typeof config) => ({ ...c, extra: {} });
  assert.deepEqual(strip(config), strip(preset));
});

test("reads the published 7B config.json (with vision_config.spatial_patch_size) as the qwen2-vl-7b preset", () => {
  const json = {
    ...QWEN2VL_2B_JSON,
    hidden_size: 3584,
    intermediate_size: 18944,
    num_attention_heads: 28,
    num_key_value_heads: 4,
    tie_word_embeddings: false,
    vocab_size: 152064,
    vision_config: { ...QWEN2VL_2B_JSON.vision_config, hidden_size: 3584, spatial_patch_size: 14 },
  };
  const { config, warnings } = parseConfig(json);
  assert.deepEqual(warnings, []);
  assert.deepEqual({ ...config, extra: {} }, { ...presetConfig("qwen2-vl-7b"), extra: {} });
  // spatial_patch_size is kept for the round trip.
  assert.equal((toHfConfig(config).vision_config as Record<string, unknown>).spatial_patch_size, 14);
});

test("7B preset has the published shapes and passes validation", () => {
  const c = presetConfig("qwen2-vl-7b");
  assert.equal(c.vocab_size, 152064);
  assert.equal(c.hidden_size, 3584);
  assert.equal(c.vision_config.hidden_size, 3584);
  assert.equal(c.tie_word_embeddings, false);
  assert.deepEqual(validateConfig(c), []);
});

test("tiny preset is consistent and takes its ids from the tiny tokenizer layout", () => {
  const c = presetConfig("qwen2-vl-tiny");
  assert.deepEqual(validateConfig(c), []);
  const ids = tinyTokenizerLayoutIds();
  assert.equal(c.vocab_size, ids.vocabSize);
  assert.equal(c.image_token_id, ids.imagePad);
  assert.equal(c.eos_token_id, ids.imEnd);
  assert.ok(c.image_token_id < c.vocab_size);
  // A different tokenizer changes vocab and ids.
  const c2 = presetConfig("qwen2-vl-tiny", { ...ids, vocabSize: 2000, imagePad: 1995 });
  assert.equal(c2.vocab_size, 2000);
  assert.equal(c2.image_token_id, 1995);
});

test("serialises back to HF config.json and reads it again unchanged", () => {
  for (const name of ["qwen2-vl-tiny", "qwen2-vl-2b", "qwen2-vl-7b"]) {
    const c = presetConfig(name);
    const text = configToJsonText(c);
    const json = JSON.parse(text) as Record<string, unknown>;
    assert.equal((json.vision_config as Record<string, unknown>).in_chans, 3);
    assert.equal((json.vision_config as Record<string, unknown>).in_channels, 3);
    assert.deepEqual(json.rope_scaling, { type: "mrope", mrope_section: c.rope_scaling.mrope_section });
    assert.deepEqual(parseConfigText(text).config, c);
  }
  // Unknown and generic fields survive a round trip.
  const withExtra = {
    ...QWEN2VL_2B_JSON,
    my_field: 7,
    _name_or_path: "x",
    vision_config: { ...QWEN2VL_2B_JSON.vision_config, foo: 1 },
  };
  const r = parseConfig(withExtra);
  assert.deepEqual(r.warnings.map((w) => w.field).sort(), ["my_field", "vision_config.foo"]);
  const back = toHfConfig(r.config);
  assert.equal(back.my_field, 7);
  assert.equal(back._name_or_path, "x");
  assert.equal((back.vision_config as Record<string, unknown>).foo, 1);
});

test("reads the newer layout (text_config, rope_parameters, in_channels)", () => {
  const {
    hidden_size,
    intermediate_size,
    num_hidden_layers,
    num_attention_heads,
    num_key_value_heads,
    vocab_size,
    rms_norm_eps,
  } = QWEN2VL_2B_JSON;
  const json = {
    model_type: "qwen2_vl",
    architectures: ["Qwen2VLForConditionalGeneration"],
    image_token_id: 151655,
    video_token_id: 151656,
    vision_start_token_id: 151652,
    vision_end_token_id: 151653,
    tie_word_embeddings: true,
    text_config: {
      model_type: "qwen2_vl_text",
      hidden_size,
      intermediate_size,
      num_hidden_layers,
      num_attention_heads,
      num_key_value_heads,
      vocab_size,
      rms_norm_eps,
      rope_parameters: { rope_type: "default", mrope_section: [16, 24, 24], rope_theta: 1000000 },
      layer_types: Array(28).fill("full_attention"),
    },
    vision_config: { ...QWEN2VL_2B_JSON.vision_config, in_chans: undefined, in_channels: 3 },
  };
  const { config } = parseConfig(JSON.parse(JSON.stringify(json)));
  assert.equal(config.hidden_size, 1536);
  assert.equal(config.rope_theta, 1000000);
  assert.deepEqual(config.rope_scaling.mrope_section, [16, 24, 24]);
  assert.equal(config.tie_word_embeddings, true);
});

test("inconsistent fields are reported by name", () => {
  const base = QWEN2VL_2B_JSON;
  assert.deepEqual(
    issuesOf(() =>
      parseConfig({ ...base, hidden_size: 1540, vision_config: { ...base.vision_config, hidden_size: 1540 } }),
    ),
    ["hidden_size"],
  );
  assert.deepEqual(
    issuesOf(() => parseConfig({ ...base, rope_scaling: { type: "mrope", mrope_section: [16, 24, 16] } })),
    ["rope_scaling.mrope_section"],
  );
  assert.deepEqual(
    issuesOf(() => parseConfig({ ...base, vision_config: { ...base.vision_config, hidden_size: 3584 } })),
    ["vision_config.hidden_size"],
  );
  assert.deepEqual(
    issuesOf(() => parseConfig({ ...base, num_key_value_heads: 5 })),
    ["num_key_value_heads"],
  );
  assert.deepEqual(
    issuesOf(() => parseConfig({ ...base, image_token_id: 200000 })),
    ["image_token_id"],
  );
  assert.deepEqual(
    issuesOf(() => parseConfig({ ...base, vision_config: { ...base.vision_config, in_channels: 4 } })),
    ["vision_config.in_channels"],
  );
  assert.deepEqual(
    issuesOf(() => parseConfig({ ...base, vision_config: { ...base.vision_config, num_heads: 24 } })),
    ["vision_config.embed_dim"],
  );
  // Wrong types are reported with the field path; several problems at once are all listed.
  const many = issuesOf(() =>
    parseConfig({ ...base, num_hidden_layers: "28", vision_config: { ...base.vision_config, depth: -1 } }),
  );
  assert.deepEqual(many.sort(), ["num_hidden_layers", "vision_config.depth"]);
  assert.deepEqual(
    issuesOf(() => parseConfig({ ...base, model_type: "llava" })),
    ["model_type"],
  );
  // The error message names the source and the field.
  assert.throws(
    () => parseConfig({ ...base, num_key_value_heads: 5 }, { source: "ckpt/config.json" }),
    /ckpt\/config\.json[\s\S]*num_key_value_heads/,
  );
  // Strict mode refuses unknown fields by name.
  assert.deepEqual(
    issuesOf(() => parseConfig({ ...base, hiden_size: 3 }, { strict: true })),
    ["hiden_size"],
  );
  assert.throws(() => parseConfigText("{not json"), /not valid JSON/);
});

test("vision_config.rope_parameters (transformers 5.x layout) is read without a warning and written back", () => {
  const vision = { ...QWEN2VL_2B_JSON.vision_config, rope_parameters: { rope_type: "default", rope_theta: 10000 } };
  const { config, warnings } = parseConfig({ ...QWEN2VL_2B_JSON, vision_config: vision });
  assert.deepEqual(warnings, []);
  const back = toHfConfig(config).vision_config as Record<string, unknown>;
  assert.deepEqual(back.rope_parameters, { rope_type: "default", rope_theta: 10000 });
  // A rotary the tower does not implement is refused by name, not silently ignored.
  assert.deepEqual(
    issuesOf(() =>
      parseConfig({ ...QWEN2VL_2B_JSON, vision_config: { ...vision, rope_parameters: { rope_theta: 5000 } } }),
    ),
    ["vision_config.rope_parameters.rope_theta"],
  );
});
