/**
 * Preset configs: the published Qwen2-VL-{2B,7B}-Instruct shapes and the tiny CPU model of the same architecture.
 */
import type { Qwen2VLConfig, Qwen2VLVisionConfig } from "./config.ts";
import { type TokenizerIds, QWEN_TOKEN_IDS, tinyTokenizerLayoutIds } from "./token_layout.ts";

export const PRESET_NAMES = ["qwen2-vl-tiny", "qwen2-vl-2b", "qwen2-vl-7b"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

function base(over: Partial<Qwen2VLConfig> & Pick<Qwen2VLConfig, "vision_config">): Qwen2VLConfig {
  return {
    model_type: "qwen2_vl",
    architectures: ["Qwen2VLForConditionalGeneration"],
    vocab_size: 151936,
    hidden_size: 1536,
    intermediate_size: 8960,
    num_hidden_layers: 28,
    num_attention_heads: 12,
    num_key_value_heads: 2,
    hidden_act: "silu",
    max_position_embeddings: 32768,
    initializer_range: 0.02,
    rms_norm_eps: 1e-6,
    rope_theta: 1_000_000,
    rope_scaling: { type: "mrope", mrope_section: [16, 24, 24] },
    tie_word_embeddings: true,
    use_cache: true,
    use_sliding_window: false,
    sliding_window: 32768,
    max_window_layers: 28,
    attention_dropout: 0,
    bos_token_id: QWEN_TOKEN_IDS.endoftext,
    eos_token_id: QWEN_TOKEN_IDS.imEnd,
    pad_token_id: null,
    image_token_id: QWEN_TOKEN_IDS.imagePad,
    video_token_id: QWEN_TOKEN_IDS.videoPad,
    vision_start_token_id: QWEN_TOKEN_IDS.visionStart,
    vision_end_token_id: QWEN_TOKEN_IDS.visionEnd,
    vision_token_id: QWEN_TOKEN_IDS.visionPad,
    torch_dtype: "bfloat16",
    extra: {},
    ...over,
  };
}

const QWEN_VISION = (hidden: number): Qwen2VLVisionConfig => ({
  depth: 32,
  embed_dim: 1280,
  hidden_size: hidden,
  hidden_act: "quick_gelu",
  mlp_ratio: 4,
  num_heads: 16,
  in_channels: 3,
  patch_size: 14,
  spatial_merge_size: 2,
  temporal_patch_size: 2,
  initializer_range: 0.02,
});

/**
 * Sets vocab_size and the special-token ids from a tokenizer (the tiny preset's ids depend on the tokenizer the
 * project trains; see tiny_tokenizer.ts).
 */
export function withTokenizerIds(c: Qwen2VLConfig, ids: TokenizerIds): Qwen2VLConfig {
  return {
    ...c,
    vocab_size: ids.vocabSize,
    bos_token_id: ids.endoftext,
    eos_token_id: ids.imEnd,
    image_token_id: ids.imagePad,
    video_token_id: ids.videoPad,
    vision_start_token_id: ids.visionStart,
    vision_end_token_id: ids.visionEnd,
    vision_token_id: ids.visionPad,
  };
}

/**
 * A preset config. `qwen2-vl-2b` / `qwen2-vl-7b` are the published Qwen2-VL-{2B,7B}-Instruct shapes with the real
 * Qwen vocabulary. `qwen2-vl-tiny` is a CPU model of the same architecture; its vocabulary and special ids come from
 * `tokenizer` (by default the layout of the project's tiny tokenizer: 1024 tokens, special tokens last).
 */
export function presetConfig(name: PresetName | string, tokenizer?: TokenizerIds): Qwen2VLConfig {
  let c: Qwen2VLConfig;
  switch (name) {
    case "qwen2-vl-2b":
      c = base({ vision_config: QWEN_VISION(1536) });
      break;
    case "qwen2-vl-7b":
      c = base({
        vocab_size: 152064,
        hidden_size: 3584,
        intermediate_size: 18944,
        num_attention_heads: 28,
        num_key_value_heads: 4,
        tie_word_embeddings: false,
        vision_config: QWEN_VISION(3584),
      });
      break;
    case "qwen2-vl-tiny":
      c = base({
        hidden_size: 256,
        intermediate_size: 704,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        // head_dim 64 = 2 * (8 + 12 + 12): the 2B/7B split (16, 24, 24) scaled to the smaller head.
        rope_scaling: { type: "mrope", mrope_section: [8, 12, 12] },
        max_position_embeddings: 4096,
        sliding_window: 4096,
        max_window_layers: 4,
        tie_word_embeddings: true,
        torch_dtype: "float32",
        vision_config: {
          depth: 4,
          embed_dim: 128,
          hidden_size: 256,
          hidden_act: "quick_gelu",
          mlp_ratio: 4,
          num_heads: 4,
          in_channels: 3,
          patch_size: 14,
          spatial_merge_size: 2,
          temporal_patch_size: 2,
          initializer_range: 0.02,
        },
      });
      c = withTokenizerIds(c, tokenizer ?? tinyTokenizerLayoutIds());
      break;
    default:
      throw new Error(`unknown preset '${name}' (known: ${PRESET_NAMES.join(", ")})`);
  }
  // The published checkpoints' embeddings are padded beyond the tokenizer (151936 rows for 151665 tokens): keep
  // the published vocab_size and take only the ids from a real-scale tokenizer.
  if (tokenizer && name !== "qwen2-vl-tiny")
    c = withTokenizerIds(c, { ...tokenizer, vocabSize: Math.max(c.vocab_size, tokenizer.vocabSize) });
  return c;
}
