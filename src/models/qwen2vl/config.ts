/**
 * Qwen2-VL configuration: the Hugging Face `config.json` (text fields at the top level, `vision_config` nested)
 * read into a typed object with HF field names, validated, and written back.
 *
 * Both layouts HF has used are read: the classic one of the published checkpoints (text fields at the top level,
 * `rope_scaling.mrope_section`, `vision_config.in_chans`) and the newer one (`text_config` sub-dict,
 * `rope_parameters`, `in_channels`). We always write the classic layout (what Qwen2-VL-2B/7B-Instruct ship), with
 * `in_chans` and `in_channels` both present so every transformers version reads the channel count.
 *
 * Tensor-free on purpose: the model code turns this into modules. Presets are in presets.ts, special-token layouts
 * (real Qwen ids, the tiny tokenizer) in token_layout.ts.
 */
import { z } from "zod";

export interface Qwen2VLVisionConfig {
  depth: number;
  embed_dim: number;
  /** Output width of the patch merger; must equal the text hidden_size. */
  hidden_size: number;
  hidden_act: string;
  mlp_ratio: number;
  num_heads: number;
  in_channels: number;
  patch_size: number;
  spatial_merge_size: number;
  temporal_patch_size: number;
  initializer_range: number;
}

export interface Qwen2VLConfig {
  model_type: "qwen2_vl";
  architectures: string[];
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  hidden_act: string;
  max_position_embeddings: number;
  initializer_range: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: { type: string; mrope_section: [number, number, number] };
  tie_word_embeddings: boolean;
  use_cache: boolean;
  use_sliding_window: boolean;
  sliding_window: number | null;
  max_window_layers: number;
  attention_dropout: number;
  bos_token_id: number | null;
  eos_token_id: number | number[] | null;
  pad_token_id: number | null;
  image_token_id: number;
  video_token_id: number;
  vision_start_token_id: number;
  vision_end_token_id: number;
  vision_token_id: number | null;
  torch_dtype: string;
  vision_config: Qwen2VLVisionConfig;
  /** Fields we do not interpret (generic PretrainedConfig keys, unknown keys); written back unchanged. */
  extra: Record<string, unknown>;
}

export interface ConfigIssue {
  /** Dotted field name, e.g. "vision_config.hidden_size". */
  field: string;
  message: string;
}

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${source}: invalid Qwen2-VL config:\n` + issues.map((i) => `  - ${i.field}: ${i.message}`).join("\n"));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas (types only; consistency checks are in validateConfig)

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
const tokenId = nonNegInt.nullable().optional();

const visionSchema = z.object({
  depth: posInt.default(32),
  embed_dim: posInt.default(1280),
  hidden_size: posInt.default(3584),
  hidden_act: z.string().default("quick_gelu"),
  mlp_ratio: z.number().positive().default(4),
  num_heads: posInt.default(16),
  in_chans: posInt.optional(),
  in_channels: posInt.optional(),
  patch_size: posInt.default(14),
  spatial_patch_size: posInt.optional(),
  spatial_merge_size: posInt.default(2),
  temporal_patch_size: posInt.default(2),
  initializer_range: z.number().nonnegative().default(0.02),
});

const ropeSchema = z.object({
  type: z.string().optional(),
  rope_type: z.string().optional(),
  mrope_section: z.array(posInt).length(3),
  rope_theta: z.number().positive().optional(),
});

const textSchema = z.object({
  vocab_size: posInt.default(152064),
  hidden_size: posInt.default(8192),
  intermediate_size: posInt.default(29568),
  num_hidden_layers: posInt.default(80),
  num_attention_heads: posInt.default(64),
  num_key_value_heads: posInt.nullable().default(8),
  hidden_act: z.string().default("silu"),
  max_position_embeddings: posInt.default(32768),
  initializer_range: z.number().nonnegative().default(0.02),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().optional(),
  rope_scaling: ropeSchema.nullable().optional(),
  rope_parameters: ropeSchema.nullable().optional(),
  tie_word_embeddings: z.boolean().default(false),
  use_cache: z.boolean().default(true),
  use_sliding_window: z.boolean().default(false),
  sliding_window: posInt.nullable().default(4096),
  max_window_layers: nonNegInt.default(80),
  attention_dropout: z.number().min(0).max(1).default(0),
  bos_token_id: tokenId,
  eos_token_id: z
    .union([nonNegInt, z.array(nonNegInt)])
    .nullable()
    .optional(),
  pad_token_id: tokenId,
  image_token_id: nonNegInt.default(151655),
  video_token_id: nonNegInt.default(151656),
  vision_start_token_id: nonNegInt.default(151652),
  vision_end_token_id: nonNegInt.default(151653),
  vision_token_id: tokenId,
  torch_dtype: z.string().optional(),
  dtype: z.string().optional(),
  architectures: z.array(z.string()).nullable().optional(),
  model_type: z.string().optional(),
});

/** Keys every HF PretrainedConfig may carry; accepted silently and written back. */
const GENERIC_KEYS = new Set([
  "_name_or_path",
  "transformers_version",
  "output_attentions",
  "output_hidden_states",
  "return_dict",
  "torchscript",
  "use_bfloat16",
  "pruned_heads",
  "chunk_size_feed_forward",
  "is_encoder_decoder",
  "is_decoder",
  "cross_attention_hidden_size",
  "add_cross_attention",
  "tie_encoder_decoder",
  "max_length",
  "min_length",
  "do_sample",
  "early_stopping",
  "num_beams",
  "num_beam_groups",
  "diversity_penalty",
  "temperature",
  "top_k",
  "top_p",
  "typical_p",
  "repetition_penalty",
  "length_penalty",
  "no_repeat_ngram_size",
  "encoder_no_repeat_ngram_size",
  "bad_words_ids",
  "num_return_sequences",
  "output_scores",
  "return_dict_in_generate",
  "forced_bos_token_id",
  "forced_eos_token_id",
  "remove_invalid_values",
  "exponential_decay_length_penalty",
  "suppress_tokens",
  "begin_suppress_tokens",
  "finetuning_task",
  "id2label",
  "label2id",
  "tokenizer_class",
  "prefix",
  "sep_token_id",
  "decoder_start_token_id",
  "task_specific_params",
  "problem_type",
  "tf_legacy_loss",
  "use_return_dict",
  "_attn_implementation_autoset",
  "layer_types",
  "rope_type",
  "model_type",
  "torch_dtype",
  "dtype",
  "architectures",
  "initializer_range",
  "auto_map",
  "quantization_config",
  "bos_token_id",
  "eos_token_id",
  "pad_token_id",
]);

// ---------------------------------------------------------------------------------------------------------------

export function headDim(cfg: Qwen2VLConfig): number {
  return cfg.hidden_size / cfg.num_attention_heads;
}
export function visionHeadDim(cfg: Qwen2VLConfig): number {
  return cfg.vision_config.embed_dim / cfg.vision_config.num_heads;
}
/** Width of the vision MLP: int(embed_dim * mlp_ratio), as HF computes it. */
export function visionMlpDim(cfg: Qwen2VLConfig): number {
  return Math.trunc(cfg.vision_config.embed_dim * cfg.vision_config.mlp_ratio);
}
/** Width of the patch merger's input: embed_dim * spatial_merge_size². */
export function mergerDim(cfg: Qwen2VLConfig): number {
  return cfg.vision_config.embed_dim * cfg.vision_config.spatial_merge_size ** 2;
}

function zodIssues(prefix: string, err: z.ZodError): ConfigIssue[] {
  return err.issues.map((i) => ({ field: [prefix, ...i.path].filter((p) => p !== "").join("."), message: i.message }));
}

export interface ParseOptions {
  /** Name used in error messages (usually the file path). */
  source?: string;
  /** Treat unknown fields as errors instead of warnings. */
  strict?: boolean;
}

export interface ParseResult {
  config: Qwen2VLConfig;
  /** Unknown fields, by name; they are kept in `extra` and written back. */
  warnings: ConfigIssue[];
}

/** Reads a parsed HF config.json object. Throws ConfigError listing every bad or inconsistent field by name. */
export function parseConfig(json: unknown, opts: ParseOptions = {}): ParseResult {
  const source = opts.source ?? "config.json";
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError(source, [{ field: "(root)", message: "expected a JSON object" }]);
  }
  const root = { ...(json as Record<string, unknown>) };
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];

  // Newer layout: text fields live in text_config; merge them over the top level.
  let textRaw: Record<string, unknown> = root;
  const extra: Record<string, unknown> = {};
  if (root.text_config !== undefined) {
    if (typeof root.text_config !== "object" || root.text_config === null) {
      issues.push({ field: "text_config", message: "expected an object" });
    } else {
      const tc = root.text_config as Record<string, unknown>;
      textRaw = { ...root, ...tc };
      for (const k of Object.keys(tc))
        if (k in root && k !== "model_type" && JSON.stringify(root[k]) !== JSON.stringify(tc[k])) {
          warnings.push({ field: `text_config.${k}`, message: `differs from top-level ${k}; text_config wins` });
        }
      if (tc.model_type !== undefined) textRaw.model_type = root.model_type;
      for (const k of Object.keys(tc)) {
        if (k in textSchema.shape || k === "model_type") continue;
        extra[k] = tc[k];
        if (!GENERIC_KEYS.has(k)) warnings.push({ field: `text_config.${k}`, message: "unknown field (kept as is)" });
      }
    }
  }
  const text = textSchema.safeParse(textRaw);
  if (!text.success) issues.push(...zodIssues("", text.error));
  const visionRaw = root.vision_config ?? {};
  const vision = visionSchema.safeParse(visionRaw);
  if (!vision.success) issues.push(...zodIssues("vision_config", vision.error));

  // Unknown fields, reported by name.
  const textKeys = new Set([...Object.keys(textSchema.shape), "vision_config", "text_config"]);
  for (const k of Object.keys(root)) {
    if (textKeys.has(k)) continue;
    extra[k] = root[k];
    if (!GENERIC_KEYS.has(k)) warnings.push({ field: k, message: "unknown field (kept as is)" });
  }
  const visionExtra: Record<string, unknown> = {};
  if (typeof visionRaw === "object" && visionRaw !== null) {
    for (const [k, v] of Object.entries(visionRaw)) {
      if (k in visionSchema.shape) continue;
      if (k === "rope_parameters") {
        // Newer layout (transformers 5.x): the vision tower's 2D rotary settings. Kept and written back; the
        // tower's rotary is HF Qwen2-VL's fixed one (default type, theta 10000), so anything else is refused.
        visionExtra[k] = v;
        const rp = v as { rope_type?: unknown; type?: unknown; rope_theta?: unknown } | null;
        if (rp !== null && typeof rp === "object") {
          const type = rp.rope_type ?? rp.type;
          if (type !== undefined && type !== "default")
            issues.push({
              field: "vision_config.rope_parameters.rope_type",
              message: `"${String(type)}" unsupported (only "default")`,
            });
          if (rp.rope_theta !== undefined && rp.rope_theta !== VISION_ROPE_THETA)
            issues.push({
              field: "vision_config.rope_parameters.rope_theta",
              message: `${String(rp.rope_theta)} unsupported: Qwen2-VL's vision rotary uses theta ${VISION_ROPE_THETA}`,
            });
        } else if (rp !== null) issues.push({ field: "vision_config.rope_parameters", message: "expected an object" });
        continue;
      }
      visionExtra[k] = v;
      if (!GENERIC_KEYS.has(k)) warnings.push({ field: `vision_config.${k}`, message: "unknown field (kept as is)" });
    }
  }
  if (Object.keys(visionExtra).length) extra.vision_config = visionExtra;
  if (opts.strict) {
    issues.push(
      ...warnings
        .filter((w) => w.message.startsWith("unknown"))
        .map((w) => ({ field: w.field, message: "unknown field" })),
    );
  }
  if (issues.length || !text.success || !vision.success) throw new ConfigError(source, issues);

  const t = text.data;
  const v = vision.data;
  if (t.model_type !== undefined && t.model_type !== "qwen2_vl") {
    issues.push({ field: "model_type", message: `expected "qwen2_vl", got "${t.model_type}"` });
  }
  const rope = t.rope_scaling ?? t.rope_parameters;
  if (!rope)
    issues.push({
      field: "rope_scaling",
      message: 'missing (needs mrope_section, e.g. {type: "mrope", mrope_section: [16, 24, 24]})',
    });
  if (v.in_chans !== undefined && v.in_channels !== undefined && v.in_chans !== v.in_channels) {
    issues.push({
      field: "vision_config.in_channels",
      message: `in_chans (${v.in_chans}) and in_channels (${v.in_channels}) disagree`,
    });
  }
  if (v.spatial_patch_size !== undefined && v.spatial_patch_size !== v.patch_size) {
    issues.push({
      field: "vision_config.spatial_patch_size",
      message: `(${v.spatial_patch_size}) differs from patch_size (${v.patch_size})`,
    });
  }
  if (issues.length) throw new ConfigError(source, issues);

  if (v.spatial_patch_size !== undefined) visionExtra.spatial_patch_size = v.spatial_patch_size;
  if (Object.keys(visionExtra).length) extra.vision_config = visionExtra;

  const config: Qwen2VLConfig = {
    model_type: "qwen2_vl",
    architectures: t.architectures ?? ["Qwen2VLForConditionalGeneration"],
    vocab_size: t.vocab_size,
    hidden_size: t.hidden_size,
    intermediate_size: t.intermediate_size,
    num_hidden_layers: t.num_hidden_layers,
    num_attention_heads: t.num_attention_heads,
    num_key_value_heads: t.num_key_value_heads ?? t.num_attention_heads,
    hidden_act: t.hidden_act,
    max_position_embeddings: t.max_position_embeddings,
    initializer_range: t.initializer_range,
    rms_norm_eps: t.rms_norm_eps,
    rope_theta: t.rope_theta ?? rope!.rope_theta ?? 1_000_000,
    rope_scaling: { type: "mrope", mrope_section: rope!.mrope_section as [number, number, number] },
    tie_word_embeddings: t.tie_word_embeddings,
    use_cache: t.use_cache,
    use_sliding_window: t.use_sliding_window,
    sliding_window: t.sliding_window,
    max_window_layers: t.max_window_layers,
    attention_dropout: t.attention_dropout,
    bos_token_id: t.bos_token_id ?? null,
    eos_token_id: t.eos_token_id ?? null,
    pad_token_id: t.pad_token_id ?? null,
    image_token_id: t.image_token_id,
    video_token_id: t.video_token_id,
    vision_start_token_id: t.vision_start_token_id,
    vision_end_token_id: t.vision_end_token_id,
    vision_token_id: t.vision_token_id ?? null,
    torch_dtype: t.torch_dtype ?? t.dtype ?? "float32",
    vision_config: {
      depth: v.depth,
      embed_dim: v.embed_dim,
      hidden_size: v.hidden_size,
      hidden_act: v.hidden_act,
      mlp_ratio: v.mlp_ratio,
      num_heads: v.num_heads,
      in_channels: v.in_channels ?? v.in_chans ?? 3,
      patch_size: v.patch_size,
      spatial_merge_size: v.spatial_merge_size,
      temporal_patch_size: v.temporal_patch_size,
      initializer_range: v.initializer_range,
    },
    extra,
  };
  for (const k of ["torch_dtype", "dtype", "architectures", "model_type"]) delete extra[k];
  const problems = validateConfig(config);
  if (problems.length) throw new ConfigError(source, problems);
  return { config, warnings };
}

/** theta of the vision tower's 2D rotary (fixed in HF's Qwen2-VL; rope.visionCosSin's default). */
export const VISION_ROPE_THETA = 10000;

const TEXT_ACTS = new Set(["silu", "gelu", "relu", "gelu_pytorch_tanh"]);
const VISION_ACTS = new Set(["quick_gelu", "gelu", "silu", "gelu_pytorch_tanh", "relu"]);

/** Cross-field consistency checks; returns one issue per problem (empty when the config is usable). */
export function validateConfig(c: Qwen2VLConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const bad = (field: string, message: string) => out.push({ field, message });
  const v = c.vision_config;
  if (c.hidden_size % c.num_attention_heads !== 0) {
    bad("hidden_size", `${c.hidden_size} is not divisible by num_attention_heads (${c.num_attention_heads})`);
  } else {
    const hd = headDim(c);
    const sum = c.rope_scaling.mrope_section.reduce((a, b) => a + b, 0);
    if (sum * 2 !== hd) {
      bad(
        "rope_scaling.mrope_section",
        `sum(${c.rope_scaling.mrope_section.join(", ")}) * 2 = ${sum * 2} must equal head_dim = hidden_size / num_attention_heads = ${hd}`,
      );
    }
  }
  if (c.num_attention_heads % c.num_key_value_heads !== 0) {
    bad(
      "num_key_value_heads",
      `num_attention_heads (${c.num_attention_heads}) is not divisible by num_key_value_heads (${c.num_key_value_heads})`,
    );
  }
  if (!TEXT_ACTS.has(c.hidden_act)) bad("hidden_act", `unsupported activation "${c.hidden_act}"`);
  if (!VISION_ACTS.has(v.hidden_act)) bad("vision_config.hidden_act", `unsupported activation "${v.hidden_act}"`);
  if (v.hidden_size !== c.hidden_size) {
    bad(
      "vision_config.hidden_size",
      `${v.hidden_size} must equal the text hidden_size (${c.hidden_size}): the patch merger projects into the text width`,
    );
  }
  if (v.embed_dim % v.num_heads !== 0) {
    bad("vision_config.embed_dim", `${v.embed_dim} is not divisible by vision_config.num_heads (${v.num_heads})`);
  } else if ((v.embed_dim / v.num_heads) % 4 !== 0) {
    bad(
      "vision_config.num_heads",
      `vision head_dim ${v.embed_dim / v.num_heads} must be a multiple of 4 (2D rotary splits it over height and width)`,
    );
  }
  if (!Number.isInteger(v.embed_dim * v.mlp_ratio)) {
    bad("vision_config.mlp_ratio", `embed_dim * mlp_ratio = ${v.embed_dim * v.mlp_ratio} is not an integer`);
  }
  if (v.in_channels !== 3)
    bad("vision_config.in_channels", `${v.in_channels}: the processor produces RGB (3 channels)`);
  const ids: [string, number | null][] = [
    ["image_token_id", c.image_token_id],
    ["video_token_id", c.video_token_id],
    ["vision_start_token_id", c.vision_start_token_id],
    ["vision_end_token_id", c.vision_end_token_id],
    ["vision_token_id", c.vision_token_id],
    ["bos_token_id", c.bos_token_id],
    ["pad_token_id", c.pad_token_id],
    ...(Array.isArray(c.eos_token_id)
      ? c.eos_token_id.map((e, i): [string, number] => [`eos_token_id[${i}]`, e])
      : [["eos_token_id", c.eos_token_id] as [string, number | null]]),
  ];
  for (const [name, id] of ids) {
    if (id !== null && id >= c.vocab_size) bad(name, `${id} is outside the vocabulary (vocab_size ${c.vocab_size})`);
  }
  const vis = [c.image_token_id, c.video_token_id, c.vision_start_token_id, c.vision_end_token_id];
  if (new Set(vis).size !== vis.length)
    bad("image_token_id", "image, video, vision_start and vision_end token ids must be distinct");
  return out;
}

/** Parses the text of a config.json file. */
export function parseConfigText(text: string, opts: ParseOptions = {}): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(opts.source ?? "config.json", [
      { field: "(root)", message: `not valid JSON: ${(e as Error).message}` },
    ]);
  }
  return parseConfig(json, opts);
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]]),
  );
}

/** The HF config.json object (classic Qwen2-VL layout, keys sorted as transformers writes them). */
export function toHfConfig(c: Qwen2VLConfig): Record<string, unknown> {
  const { vision_config: v, extra, ...top } = c;
  const { vision_config: visionExtra, ...restExtra } = extra as Record<string, unknown>;
  const vision = sortKeys({
    ...((visionExtra as Record<string, unknown> | undefined) ?? {}),
    depth: v.depth,
    embed_dim: v.embed_dim,
    hidden_size: v.hidden_size,
    hidden_act: v.hidden_act,
    mlp_ratio: v.mlp_ratio,
    num_heads: v.num_heads,
    in_chans: v.in_channels,
    in_channels: v.in_channels,
    patch_size: v.patch_size,
    spatial_merge_size: v.spatial_merge_size,
    temporal_patch_size: v.temporal_patch_size,
    initializer_range: v.initializer_range,
  });
  const out: Record<string, unknown> = { ...restExtra, ...top, vision_config: vision };
  for (const k of ["bos_token_id", "eos_token_id", "pad_token_id", "vision_token_id"])
    if (out[k] === null) delete out[k];
  return sortKeys(out);
}

export function configToJsonText(c: Qwen2VLConfig): string {
  return JSON.stringify(toHfConfig(c), null, 2) + "\n";
}

// Presets and token layouts live in their own modules; re-exported here for existing imports.
export { PRESET_NAMES, type PresetName, presetConfig, withTokenizerIds } from "./presets.ts";
export {
  type TokenizerIds,
  QWEN_TOKEN_IDS,
  TINY_SPECIAL_TOKENS,
  TINY_VOCAB_SIZE,
  tinyTokenizerLayoutIds,
} from "./token_layout.ts";
