/**
 * The parameters of a Qwen2-VL model as Hugging Face names and shapes them, computed from the config alone
 * (nothing is allocated). The model code and the checkpoint reader/writer use this as the single list of what a
 * checkpoint must contain.
 *
 * Names follow the classic layout of the published checkpoints (transformers < 4.52 and every Qwen2-VL safetensors
 * on the Hub): `visual.*`, `model.*`, `lm_head.weight`. transformers ≥ 4.52 names the same modules
 * `model.visual.*` and `model.language_model.*` in memory (and v5 also on disk); `toClassicName` maps both layouts
 * to the classic one when reading, and we always write the classic one.
 */
import { type Qwen2VLConfig, headDim, mergerDim, visionMlpDim } from "./config.ts";

export type ParamPart = "vision" | "text";

export interface ParamSpec {
  name: string;
  shape: number[];
  part: ParamPart;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Every parameter of Qwen2VLForConditionalGeneration, in module order (vision tower, decoder, lm_head). */
export function paramSpecs(c: Qwen2VLConfig): ParamSpec[] {
  const out: ParamSpec[] = [];
  const v = c.vision_config;
  const vis = (name: string, shape: number[]) => out.push({ name: `visual.${name}`, shape, part: "vision" });
  const txt = (name: string, shape: number[]) => out.push({ name, shape, part: "text" });
  const linear = (add: typeof vis, name: string, inF: number, outF: number, bias: boolean) => {
    add(`${name}.weight`, [outF, inF]);
    if (bias) add(`${name}.bias`, [outF]);
  };
  const layerNorm = (add: typeof vis, name: string, dim: number) => {
    add(`${name}.weight`, [dim]);
    add(`${name}.bias`, [dim]);
  };

  // Vision tower: Conv3d patch embedding (no bias), blocks, patch merger. The rotary inv_freq buffers are not
  // persistent, so they are not parameters and not in checkpoints.
  const E = v.embed_dim;
  vis("patch_embed.proj.weight", [E, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size]);
  for (let i = 0; i < v.depth; i++) {
    const b = `blocks.${i}`;
    layerNorm(vis, `${b}.norm1`, E);
    layerNorm(vis, `${b}.norm2`, E);
    linear(vis, `${b}.attn.qkv`, E, 3 * E, true);
    linear(vis, `${b}.attn.proj`, E, E, true);
    linear(vis, `${b}.mlp.fc1`, E, visionMlpDim(c), true);
    linear(vis, `${b}.mlp.fc2`, visionMlpDim(c), E, true);
  }
  const M = mergerDim(c);
  layerNorm(vis, "merger.ln_q", E);
  linear(vis, "merger.mlp.0", M, M, true);
  linear(vis, "merger.mlp.2", M, v.hidden_size, true);

  // Text decoder (Qwen2): GQA attention with q/k/v bias, SwiGLU MLP without bias, RMSNorms.
  const H = c.hidden_size;
  const hd = headDim(c);
  txt("model.embed_tokens.weight", [c.vocab_size, H]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `model.layers.${i}`;
    linear(txt, `${l}.self_attn.q_proj`, H, c.num_attention_heads * hd, true);
    linear(txt, `${l}.self_attn.k_proj`, H, c.num_key_value_heads * hd, true);
    linear(txt, `${l}.self_attn.v_proj`, H, c.num_key_value_heads * hd, true);
    linear(txt, `${l}.self_attn.o_proj`, c.num_attention_heads * hd, H, false);
    linear(txt, `${l}.mlp.gate_proj`, H, c.intermediate_size, false);
    linear(txt, `${l}.mlp.up_proj`, H, c.intermediate_size, false);
    linear(txt, `${l}.mlp.down_proj`, c.intermediate_size, H, false);
    txt(`${l}.input_layernorm.weight`, [H]);
    txt(`${l}.post_attention_layernorm.weight`, [H]);
  }
  txt("model.norm.weight", [H]);
  if (!c.tie_word_embeddings) txt("lm_head.weight", [c.vocab_size, H]);
  return out;
}

export interface ParamCounts {
  total: number;
  vision: number;
  /** Decoder, embeddings and lm_head (counted once when tied). */
  text: number;
  /**
   * Of `text`: the token embedding plus an untied lm_head, vocab_size × hidden_size each. The part that depends on
   * the tokenizer: the same architecture with another vocabulary has another total.
   */
  embeddings: number;
}

export function paramCounts(c: Qwen2VLConfig): ParamCounts {
  let vision = 0;
  let text = 0;
  for (const p of paramSpecs(c)) {
    if (p.part === "vision") vision += numel(p.shape);
    else text += numel(p.shape);
  }
  const embeddings = c.vocab_size * c.hidden_size * (c.tie_word_embeddings ? 1 : 2);
  return { total: vision + text, vision, text, embeddings };
}

/** Shape of a parameter by classic name, or undefined when the config has no such parameter. */
export function paramShapeMap(c: Qwen2VLConfig): Map<string, number[]> {
  return new Map(paramSpecs(c).map((p) => [p.name, p.shape]));
}

/**
 * Maps a checkpoint key of either layout to the classic one:
 * `model.language_model.X` → `model.X`, `model.visual.X` → `visual.X`; classic keys are returned unchanged.
 */
export function toClassicName(key: string): string {
  if (key.startsWith("model.language_model.")) return "model." + key.slice("model.language_model.".length);
  if (key.startsWith("model.visual.")) return "visual." + key.slice("model.visual.".length);
  return key;
}

/** The transformers ≥ 4.52 in-memory name of a classic key (the inverse of toClassicName). */
export function toModernName(key: string): string {
  if (key.startsWith("visual.")) return "model." + key;
  if (key.startsWith("model.")) return "model.language_model." + key.slice("model.".length);
  return key;
}

export interface KeyCheck {
  /** Classic names the config needs that the checkpoint lacks. */
  missing: string[];
  /** Checkpoint keys (as given) that the config has no parameter for. */
  unexpected: string[];
  /** Keys whose shape differs, with both shapes. */
  wrongShape: { name: string; expected: number[]; got: number[] }[];
  /** Checkpoint key → classic name for every recognised key. */
  mapping: Map<string, string>;
}

/**
 * Compares checkpoint keys (either layout) and shapes with what the config needs. A tied `lm_head.weight` present
 * in the checkpoint is accepted and ignored (some exporters write it).
 */
export function checkCheckpointKeys(c: Qwen2VLConfig, keys: Iterable<[string, number[]]>): KeyCheck {
  const want = paramShapeMap(c);
  const seen = new Set<string>();
  const res: KeyCheck = { missing: [], unexpected: [], wrongShape: [], mapping: new Map() };
  for (const [key, shape] of keys) {
    const name = toClassicName(key);
    const expected = want.get(name);
    if (!expected) {
      if (!(name === "lm_head.weight" && c.tie_word_embeddings)) res.unexpected.push(key);
      continue;
    }
    seen.add(name);
    res.mapping.set(key, name);
    if (expected.length !== shape.length || expected.some((d, i) => d !== shape[i])) {
      res.wrongShape.push({ name, expected, got: shape });
    }
  }
  for (const name of want.keys()) if (!seen.has(name)) res.missing.push(name);
  return res;
}
