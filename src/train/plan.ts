/**
 * Memory planner (`rft plan`): bytes per rank of an SFT and a GRPO step of OUR implementation, from a Qwen2-VL config
 * and the training settings alone. Pure arithmetic: nothing is allocated and libtorch is not loaded.
 *
 * What the numbers describe (read from the code, checked against measured peaks on the tiny preset by
 * test/plan/plan.test.ts):
 * - weights, gradients and AdamW moments share the weight dtype (src/nn/optim/adamw.ts makes exp_avg and
 *   exp_avg_sq with zerosLike(param); there are no fp32 master weights). With bf16 autocast the weights stay in
 *   their dtype and libtorch caches a bf16 copy of each trainable matrix for the micro-batch;
 * - no gradient checkpointing: autograd keeps every tensor listed in ACTIVATIONS below until the backward pass;
 * - eager attention: the float32 softmax of every layer (text: B·heads·T², vision: heads·n² per image) is saved;
 * - the LM head runs over chunks of completion positions (src/models/qwen2vl/logprobs.ts, 64 MiB budget);
 * - GRPO generates all prompts of a round on a rank at once with one preallocated KV cache in the weight dtype.
 * Every formula is written out in docs/scaling.md ("Memory planner (rft plan)"); keep the two in step.
 */
import { type Qwen2VLConfig, headDim, visionMlpDim } from "../models/qwen2vl/config.ts";
import { paramSpecs } from "../models/qwen2vl/params.ts";
import { defaultConfig, imageTokenBound } from "./config.ts";

// ---- settings ------------------------------------------------------------------------------------------------------

export const PLAN_DTYPES = ["float32", "bfloat16", "float16"] as const;
export type PlanDtype = (typeof PLAN_DTYPES)[number];
const DTYPE_BYTES: Record<PlanDtype, number> = { float32: 4, bfloat16: 2, float16: 2 };

/** The log-prob chunk budget of src/models/qwen2vl/logprobs.ts (tokenLogProbs' default chunkBytes). */
export const LOGPROB_CHUNK_BYTES = 64 * 2 ** 20;

/** logprobs.ts positionsPerChunk: positions per LM-head chunk for `rows` rows (the test checks they agree). */
export function planPositionsPerChunk(rows: number, vocab: number, chunkBytes = LOGPROB_CHUNK_BYTES): number {
  return Math.max(1, Math.floor(chunkBytes / (rows * vocab * 4 * 6)));
}

export interface PlanSettings {
  /** Ranks (data-parallel processes). */
  worldSize: number;
  /** 0 = every rank holds everything (our trainers); 3 = ZeRO-3 sharding of weights, gradients, optimizer state. */
  zero: 0 | 3;
  /** Weight dtype (also gradients, AdamW moments, KV cache; and activations without autocast). */
  dtype: PlanDtype;
  /** bfloat16 autocast for forward/backward (the trainers' `bf16` field): activations in 2 bytes. */
  bf16: boolean;
  /** Records per SFT micro-batch (per_device_train_batch_size). */
  sftMicroBatch: number;
  /** Completions per GRPO micro-batch (per_device_train_batch_size, TRL's meaning). */
  grpoMicroBatch: number;
  /** G, completions per prompt. */
  generations: number;
  /** Prompts per GRPO optimizer step over all ranks (the reference: 7 ranks × 1 × 2 accumulation = 14). */
  promptsPerStep: number;
  /** Pixel cap per image, SFT and GRPO. */
  sftMaxPixels: number;
  grpoMaxPixels: number;
  /** Images per sample. */
  images: number;
  /** Text tokens of a prompt (chat template + question), images excluded. */
  promptTextTokens: number;
  /** Generated (GRPO) or supervised (SFT) tokens per sample. */
  completionLength: number;
  /** KL coefficient: > 0 keeps a frozen reference model. */
  beta: number;
  /** GRPO sampling temperature (≠ 1 makes the LM head keep a scaled copy of the logits). */
  temperature: number;
  sftFreezeVisionTower: boolean;
  sftFreezeProjector: boolean;
  grpoFreezeVisionTower: boolean;
  /** LM-head chunk budget of the log-prob code. */
  chunkBytes: number;
}

/** The trainers' defaults (src/train/config.ts) for a model whose weights are stored in `dtype`. */
export function defaultPlanSettings(dtype: PlanDtype, worldSize = 1): PlanSettings {
  const s = defaultConfig("sft");
  const g = defaultConfig("grpo");
  return {
    worldSize,
    zero: 0,
    dtype,
    bf16: false,
    sftMicroBatch: s.per_device_train_batch_size,
    grpoMicroBatch: g.per_device_train_batch_size,
    generations: g.num_generations,
    promptsPerStep: (g.per_device_train_batch_size * g.gradient_accumulation_steps) / g.num_generations,
    sftMaxPixels: s.max_pixels,
    grpoMaxPixels: g.max_pixels,
    images: 1,
    promptTextTokens: 128,
    completionLength: g.max_completion_length,
    beta: g.beta,
    temperature: g.temperature,
    sftFreezeVisionTower: s.freeze_vision_tower,
    sftFreezeProjector: s.freeze_multi_modal_projector,
    grpoFreezeVisionTower: g.freeze_vision_tower,
    chunkBytes: LOGPROB_CHUNK_BYTES,
  };
}

/** The dtype a config's weights load in: our loader keeps the checkpoint's stored dtype (config torch_dtype). */
export function configDtype(c: Qwen2VLConfig): PlanDtype {
  const t = c.torch_dtype.replace(/^torch\./, "");
  if (t === "bfloat16" || t === "bf16") return "bfloat16";
  if (t === "float16" || t === "fp16" || t === "half") return "float16";
  return "float32";
}

// ---- parameters ----------------------------------------------------------------------------------------------------

export interface ParamStats {
  /** Ψ: all parameters (a tied embedding once). */
  total: number;
  /** Ψ_t: parameters that train. */
  trainable: number;
  /** Ψ_mm: trainable 2-D weights that go through a linear (autocast caches a bf16 copy of each). */
  trainableMatrices: number;
  /** t_max: elements of the largest trainable tensor. */
  largestTrainable: number;
  /** U_max: elements of the largest ZeRO-3 gather unit (a decoder layer, a vision block, the embedding, ...). */
  largestUnit: number;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The unit a parameter is gathered with under ZeRO-3: its layer / block, or the module for the others. */
function unitOf(name: string): string {
  const m = /^(model\.layers\.\d+|visual\.blocks\.\d+)\./.exec(name);
  if (m) return m[1]!;
  return name.split(".").slice(0, 2).join(".");
}

export function paramStats(c: Qwen2VLConfig, o: { freezeVisionTower: boolean; freezeProjector: boolean }): ParamStats {
  let total = 0;
  let trainable = 0;
  let trainableMatrices = 0;
  let largestTrainable = 0;
  const units = new Map<string, number>();
  for (const p of paramSpecs(c)) {
    const n = numel(p.shape);
    total += n;
    units.set(unitOf(p.name), (units.get(unitOf(p.name)) ?? 0) + n);
    const frozen =
      (o.freezeVisionTower && /^visual\.(patch_embed|blocks)\./.test(p.name)) ||
      (o.freezeProjector && p.name.startsWith("visual.merger."));
    if (frozen) continue;
    trainable += n;
    largestTrainable = Math.max(largestTrainable, n);
    // Linear weights (and the tied embedding, which is the LM head's weight) go through autocast's weight cache;
    // the patch embedding is used through a view (not cached), the untied embedding through a lookup.
    const isMatrix = p.shape.length === 2 && p.name.endsWith(".weight");
    const lookupOnly = p.name === "model.embed_tokens.weight" && !c.tie_word_embeddings;
    if (isMatrix && !lookupOnly) trainableMatrices += n;
  }
  return { total, trainable, trainableMatrices, largestTrainable, largestUnit: Math.max(...units.values()) };
}

// ---- the plan ------------------------------------------------------------------------------------------------------

export interface PlanLine {
  /** Stable key (JSON, tests). */
  key: string;
  label: string;
  bytes: number;
  /** The formula with this plan's numbers filled in. */
  detail: string;
}

export interface TrainerPlan {
  trainer: "sft" | "grpo";
  /** Records (SFT) or completions (GRPO) per micro-batch. */
  microBatch: number;
  /** Token counts of one sample. */
  sequence: { imageTokens: number; promptText: number; completion: number; total: number; visionPatches: number };
  trainableVision: boolean;
  lines: PlanLine[];
  /** Held for the whole run. */
  persistentBytes: number;
  /** The phase that sets the peak, and each phase's bytes on top of the persistent part. */
  phases: Record<string, number>;
  peakPhase: string;
  total: number;
}

export interface Plan {
  model: { hiddenSize: number; layers: number; vocab: number; parameters: number };
  settings: PlanSettings;
  sft: TrainerPlan;
  grpo: TrainerPlan;
  /**
   * Host memory outside the per-rank totals: the trainers' ExampleCache (src/train/samples.ts) keeps up to
   * EXAMPLE_CACHE_CAPACITY prepared examples, each with its images' float32 pixel values.
   */
  hostExampleCache: { sft: number; grpo: number; capacity: number };
}

/** ExampleCache's default capacity (src/train/samples.ts). */
export const EXAMPLE_CACHE_CAPACITY = 4096;

/** Bytes of the activations autograd keeps for one decoder layer; see docs/scaling.md for each term. */
export function decoderLayerBytes(
  c: Qwen2VLConfig,
  B: number,
  T: number,
  wBytes: number,
  bf16: boolean,
): { tokens: number; attention: number; total: number } {
  const H = c.hidden_size;
  const I = c.intermediate_size;
  const kvd = c.num_key_value_heads * headDim(c);
  const nh = c.num_attention_heads;
  const N = B * T;
  let tokens: number;
  let attention: number;
  if (bf16 && wBytes === 4) {
    // Autocast: the residual stream and the norms stay float32, linear inputs are cast (one copy per linear).
    tokens = N * (30 * H + 4 * kvd + 8 * I);
    attention = B * nh * T * T * (4 + 2);
  } else {
    const a = wBytes;
    const norm = a === 4 ? 4 : 4 + a; // the float32 normed tensor (+ its cast back when a < 4)
    tokens = N * (a * (6 * H + 2 * kvd + 4 * I) + 2 * H * norm);
    attention = B * nh * T * T * (4 + (a < 4 ? a : 0));
  }
  return { tokens, attention, total: tokens + attention };
}

/** Bytes autograd keeps for one vision block over `images` images of n patches each (trainable tower). */
export function visionBlockBytes(c: Qwen2VLConfig, images: number, n: number, a: number): number {
  const v = c.vision_config;
  const E = v.embed_dim;
  const M = visionMlpDim(c);
  const actTensors = v.hidden_act === "quick_gelu" ? 3 : 2;
  const N = images * n;
  return N * a * (8 * E + actTensors * M) + images * v.num_heads * n * n * (4 + (a < 4 ? a : 0));
}

/**
 * Temporaries of one vision block's forward without saved activations: a tidy scope keeps the attention's raw
 * scores, scaled scores and float32 probabilities ([images, heads, n, n] each; plus the probabilities cast back
 * when the activations are 2-byte: 4 + 4 + 4 or 2 + 2 + 4 + 2 bytes per element) until the attention returns,
 * beside the qkv projection and the rotary temporaries (about 8 × n × embed_dim).
 */
export function visionForwardTransient(c: Qwen2VLConfig, images: number, n: number, a: number): number {
  const v = c.vision_config;
  return images * (v.num_heads * n * n * (a === 4 ? 12 : 10) + 8 * n * v.embed_dim * a);
}

interface Common {
  c: Qwen2VLConfig;
  s: PlanSettings;
  wBytes: number;
  aBytes: number;
  shard: number;
}

function fmtInt(n: number): string {
  return n.toLocaleString("en-US");
}

/** Sequence of one sample at a pixel cap. */
function sequenceOf(c: Qwen2VLConfig, s: PlanSettings, maxPixels: number) {
  const v = c.vision_config;
  const perImage = imageTokenBound(maxPixels, v.patch_size, v.spatial_merge_size); // merged tokens + start/end
  const imageTokens = perImage * s.images;
  const visionPatches = (perImage - 2) * v.spatial_merge_size ** 2; // patches of one image (t = 1)
  const total = imageTokens + s.promptTextTokens + s.completionLength;
  return { imageTokens, promptText: s.promptTextTokens, completion: s.completionLength, total, visionPatches };
}

/** Lines shared by both trainers: weights, gradients, optimizer, autocast cache, ZeRO-3 buffer. */
function stateLines(x: Common, ps: ParamStats): { lines: PlanLine[]; persistent: number; grads: number } {
  const { s, wBytes, shard } = x;
  const W = s.worldSize;
  const z = shard > 1 ? ` / W ${W}` : "";
  const lines: PlanLine[] = [];
  const params = (ps.total * wBytes) / shard;
  lines.push({
    key: "parameters",
    label: "parameters",
    bytes: params,
    detail: `Ψ ${fmtInt(ps.total)} × ${wBytes} B${z}`,
  });
  const grads = (ps.trainable * wBytes) / shard;
  lines.push({
    key: "gradients",
    label: "gradients (trainable only)",
    bytes: grads,
    detail: `Ψ_t ${fmtInt(ps.trainable)} × ${wBytes} B${z}`,
  });
  const opt = (2 * ps.trainable * wBytes) / shard;
  lines.push({
    key: "optimizer",
    label: "optimizer state (AdamW m, v)",
    bytes: opt,
    detail: `2 × Ψ_t × ${wBytes} B${z} (moments in the weight dtype, no master copy)`,
  });
  let persistent = params + opt;
  if (s.bf16 && wBytes === 4) {
    const cache = ps.trainableMatrices * 2;
    lines.push({
      key: "autocast_cache",
      label: "autocast bf16 weight copies",
      bytes: cache,
      detail: `Ψ_mm ${fmtInt(ps.trainableMatrices)} × 2 B (per micro-batch)`,
    });
  }
  if (s.zero === 3) {
    const buf = 2 * ps.largestUnit * wBytes;
    lines.push({
      key: "zero3_buffer",
      label: "ZeRO-3 gathered units",
      bytes: buf,
      detail: `2 × U_max ${fmtInt(ps.largestUnit)} × ${wBytes} B (unit in use + prefetched)`,
    });
    persistent += buf;
  }
  return { lines, persistent, grads };
}

/** Saved activations and transients of one forward/backward with gradients over B samples of T tokens, C of them scored. */
function updateLines(
  x: Common,
  ps: ParamStats,
  B: number,
  seq: { total: number; completion: number; visionPatches: number },
  images: number,
  trainVision: boolean,
  trainMerger: boolean,
  temperature: number,
  countInputs: boolean,
): { lines: PlanLine[]; bytes: number } {
  const { c, s, wBytes, aBytes } = x;
  const T = seq.total;
  const C = seq.completion;
  const L = c.num_hidden_layers;
  const H = c.hidden_size;
  const V = c.vocab_size;
  const lines: PlanLine[] = [];
  const layer = decoderLayerBytes(c, B, T, wBytes, s.bf16);
  const normBytes = aBytes === 4 ? 4 : 4 + aBytes;
  const final = B * T * H * (2 * aBytes + normBytes);
  const text = L * layer.total + final;
  lines.push({
    key: "activations_text",
    label: "activations: decoder",
    bytes: text,
    detail:
      `n_L ${L} × (tokens ${fmtInt(layer.tokens)} + attention ${fmtInt(layer.attention)}) + final norm ${fmtInt(final)} ` +
      `(B ${B}, T ${T})`,
  });
  const chunk = Math.min(C, planPositionsPerChunk(B, V, s.chunkBytes));
  const head = 4 * B * chunk * V * 4 + (aBytes < 4 ? B * chunk * V * aBytes : 0) + 2 * B * C * H * aBytes;
  lines.push({
    key: "activations_head",
    label: "activations: LM head (chunked)",
    bytes: head,
    detail: `4 × B × c ${chunk} × V ${V} × 4 B${aBytes < 4 ? " + cast" : ""} + hidden and its grad 2 × B × C × H × a`,
  });
  void temperature; // the scaled copy replaces the unscaled one (same size): the 4 logits-sized tensors cover it
  const v = c.vision_config;
  const n = seq.visionPatches;
  const nImg = images;
  let vision: number;
  let vdetail: string;
  if (trainVision) {
    const blocks = v.depth * visionBlockBytes(c, nImg, n, aBytes);
    const merger = 4 * nImg * n * v.embed_dim * aBytes;
    // The patch embedding saves its input: the batch's pixel values (counted with the inputs), or their cast copy.
    const cast = aBytes !== wBytes ? nImg * n * v.in_channels * v.temporal_patch_size * v.patch_size ** 2 * aBytes : 0;
    vision = blocks + merger + cast;
    vdetail = `depth ${v.depth} × block(${nImg} image(s) × n ${n} patches) + merger${cast ? " + cast pixel values" : ""} (trainable tower)`;
  } else {
    // Frozen tower: nothing is saved; one block's forward temporaries are alive at a time (all images batched).
    const transient = visionForwardTransient(c, nImg, n, aBytes);
    const merger = trainMerger ? 4 * nImg * n * v.embed_dim * aBytes : 0;
    vision = transient + merger;
    vdetail = `frozen tower: one block's temporaries (${nImg} image(s) × n ${n})${trainMerger ? " + trainable merger" : ""}`;
  }
  lines.push({ key: "activations_vision", label: "activations: vision tower", bytes: vision, detail: vdetail });
  // Transients on top of what is saved: the attention tensors in flight in one layer (forward: raw and scaled scores
  // and the masked scores; backward: the gradients of the probabilities and scores), 3 float32 [B, heads, T, T], or
  // 8 bytes per element when the scores are bfloat16 (only the masked scores are float32); and the gradient of the
  // largest parameter before it is accumulated.
  const working = B * c.num_attention_heads * T * T * (aBytes === 4 ? 12 : 8) + ps.largestTrainable * wBytes;
  lines.push({
    key: "working",
    label: "working set (attention grads, one weight's grad)",
    bytes: working,
    detail: `B × n_h × T² × ${aBytes === 4 ? 12 : 8} B + t_max ${fmtInt(ps.largestTrainable)} × ${wBytes} B`,
  });
  const pixels = countInputs ? nImg * n * v.in_channels * v.temporal_patch_size * v.patch_size ** 2 * wBytes : 0;
  const ids = countInputs ? 4 * B * T * 8 : 0;
  if (countInputs)
    lines.push({
      key: "inputs",
      label: "micro-batch inputs (pixel values, ids, masks)",
      bytes: pixels + ids,
      detail: `${nImg} image(s) × n ${n} × ${v.in_channels * v.temporal_patch_size * v.patch_size ** 2} × ${wBytes} B + 4 × B × T × 8 B`,
    });
  // A frozen tower's temporaries are gone before the decoder runs: they overlap nothing else.
  const bytes = pixels + ids + (trainVision ? text + head + vision + working : Math.max(vision, text + head + working));
  return { lines, bytes };
}

function planSft(x: Common): TrainerPlan {
  const { c, s } = x;
  const ps = paramStats(c, { freezeVisionTower: s.sftFreezeVisionTower, freezeProjector: s.sftFreezeProjector });
  const B = s.sftMicroBatch;
  const seq = sequenceOf(c, s, s.sftMaxPixels);
  const st = stateLines(x, ps);
  const autocast = st.lines.find((l) => l.key === "autocast_cache")?.bytes ?? 0;
  const up = updateLines(x, ps, B, seq, B * s.images, !s.sftFreezeVisionTower, !s.sftFreezeProjector, 1, true);
  const stepTemp = (3 * ps.largestTrainable * x.wBytes) / x.shard;
  const phases = {
    "forward/backward": st.grads + autocast + up.bytes,
    "optimizer step": st.grads + stepTemp,
  };
  return finish("sft", B, seq, !s.sftFreezeVisionTower, [...st.lines, ...up.lines], st.persistent, phases, [
    { key: "step_temporaries", label: "optimizer step temporaries", bytes: stepTemp, detail: "3 × t_max × b_w" },
  ]);
}

function planGrpo(x: Common): TrainerPlan {
  const { c, s, wBytes, aBytes } = x;
  const ps = paramStats(c, { freezeVisionTower: s.grpoFreezeVisionTower, freezeProjector: false });
  const B = s.grpoMicroBatch;
  const G = s.generations;
  const seq = sequenceOf(c, s, s.grpoMaxPixels);
  const Tp = seq.imageTokens + seq.promptText;
  const Pr = Math.ceil(s.promptsPerStep / s.worldSize);
  const st = stateLines(x, ps);
  const autocast = st.lines.find((l) => l.key === "autocast_cache")?.bytes ?? 0;
  const extra: PlanLine[] = [];
  let persistent = st.persistent;
  if (s.beta > 0) {
    const ref = (ps.total * wBytes) / x.shard;
    extra.push({
      key: "reference",
      label: "reference model (β > 0)",
      bytes: ref,
      detail: `Ψ × ${wBytes} B${x.shard > 1 ? ` / W ${s.worldSize}` : ""} (frozen copy of the start checkpoint)`,
    });
    persistent += ref;
  }
  const L = c.num_hidden_layers;
  const kvd = c.num_key_value_heads * headDim(c);
  const kv = L * 2 * kvd * (Tp + seq.completion) * G * Pr * wBytes;
  extra.push({
    key: "kv_cache",
    label: "KV cache (generation)",
    bytes: kv,
    detail:
      `n_L ${L} × 2 × n_kv·d ${kvd} × (T_p ${Tp} + L ${seq.completion}) × G ${G} × P_r ${Pr} × ${wBytes} B ` +
      `(P_r = ⌈${s.promptsPerStep} prompts / W ${s.worldSize}⌉)`,
  });
  // Prefill and sampling without gradients: the vision tower over the round's images (one block at a time), one
  // decoder layer's temporaries over the P_r prompts, the sampler's vocabulary-sized rows.
  const v = c.vision_config;
  const n = seq.visionPatches;
  const imgs = Pr * s.images;
  const visionT = visionForwardTransient(c, imgs, n, wBytes);
  const layerT =
    Pr * c.num_attention_heads * Tp * Tp * 4 * 4 + Pr * Tp * (4 * c.intermediate_size + 10 * c.hidden_size) * wBytes;
  const sampler = 8 * Pr * G * c.vocab_size * 4;
  const genWork = Math.max(visionT, layerT) + sampler;
  extra.push({
    key: "generation_working",
    label: "generation working set (prefill, sampler)",
    bytes: genWork,
    detail: `max(vision block ${fmtInt(visionT)}, prefill layer ${fmtInt(layerT)}) + sampler 8 × P_r·G × V × 4 B`,
  });
  // The round's micro-batches on this rank, built once: ids and masks (int64), pixel values, old/ref log-probs.
  const rows = Pr * G;
  const mbs = Math.ceil(rows / B);
  const distinctPerMb = Math.ceil(B / G);
  const patchBytes = n * v.in_channels * v.temporal_patch_size * v.patch_size ** 2 * wBytes;
  const buffers =
    rows * (2 * seq.total + 2 * seq.completion) * 8 +
    rows * seq.completion * 4 * 2 +
    mbs * Math.min(distinctPerMb, Pr) * s.images * patchBytes;
  extra.push({
    key: "rollout_buffers",
    label: "rollout micro-batches (ids, masks, pixels, log-probs)",
    bytes: buffers,
    detail: `P_r·G ${rows} rows × (2T + 2L) × 8 B + log-probs + ${mbs} micro-batches' pixel values`,
  });
  const images = Math.min(distinctPerMb, Pr) * s.images;
  const up = updateLines(x, ps, B, seq, images, !s.grpoFreezeVisionTower, true, s.temperature, false);
  const stepTemp = (3 * ps.largestTrainable * wBytes) / x.shard;
  const phases = {
    generation: kv + genWork,
    "forward/backward": buffers + st.grads + autocast + up.bytes,
    "optimizer step": buffers + st.grads + stepTemp,
  };
  void aBytes;
  return finish("grpo", B, seq, !s.grpoFreezeVisionTower, [...st.lines, ...extra, ...up.lines], persistent, phases, [
    { key: "step_temporaries", label: "optimizer step temporaries", bytes: stepTemp, detail: "3 × t_max × b_w" },
  ]);
}

function finish(
  trainer: "sft" | "grpo",
  microBatch: number,
  sequence: TrainerPlan["sequence"],
  trainableVision: boolean,
  lines: PlanLine[],
  persistent: number,
  phases: Record<string, number>,
  tail: PlanLine[],
): TrainerPlan {
  let peakPhase = "";
  let peak = -1;
  for (const [k, b] of Object.entries(phases))
    if (b > peak) {
      peak = b;
      peakPhase = k;
    }
  return {
    trainer,
    microBatch,
    sequence,
    trainableVision,
    lines: [...lines, ...tail],
    persistentBytes: persistent,
    phases,
    peakPhase,
    total: persistent + peak,
  };
}

/** Validates settings; throws an Error naming the setting. */
export function checkPlanSettings(s: PlanSettings): void {
  const posInt: (keyof PlanSettings)[] = [
    "worldSize",
    "sftMicroBatch",
    "grpoMicroBatch",
    "generations",
    "promptsPerStep",
    "sftMaxPixels",
    "grpoMaxPixels",
    "images",
    "completionLength",
    "chunkBytes",
  ];
  for (const k of posInt) {
    const v = s[k] as number;
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${String(v)}`);
  }
  if (!Number.isSafeInteger(s.promptTextTokens) || s.promptTextTokens < 0)
    throw new Error(`promptTextTokens must be a non-negative integer, got ${String(s.promptTextTokens)}`);
  if (s.sftMaxPixels < 784 || s.grpoMaxPixels < 784)
    throw new Error("max pixels must be at least 784 (one merged patch)");
  if (s.zero !== 0 && s.zero !== 3) throw new Error(`zero must be 0 or 3, got ${String(s.zero)}`);
  if (!(s.beta >= 0)) throw new Error(`beta must be ≥ 0, got ${String(s.beta)}`);
}

/** The plan of both trainers for a config and settings. */
export function planMemory(c: Qwen2VLConfig, s: PlanSettings): Plan {
  checkPlanSettings(s);
  const wBytes = DTYPE_BYTES[s.dtype];
  const x: Common = {
    c,
    s,
    wBytes,
    aBytes: s.bf16 ? 2 : wBytes,
    shard: s.zero === 3 ? s.worldSize : 1,
  };
  const ps = paramStats(c, { freezeVisionTower: false, freezeProjector: false });
  const v = c.vision_config;
  const patchFloats = v.in_channels * v.temporal_patch_size * v.patch_size ** 2;
  const cache = (maxPixels: number) =>
    EXAMPLE_CACHE_CAPACITY * s.images * sequenceOf(c, s, maxPixels).visionPatches * patchFloats * 4;
  return {
    model: { hiddenSize: c.hidden_size, layers: c.num_hidden_layers, vocab: c.vocab_size, parameters: ps.total },
    settings: s,
    sft: planSft(x),
    grpo: planGrpo(x),
    hostExampleCache: { sft: cache(s.sftMaxPixels), grpo: cache(s.grpoMaxPixels), capacity: EXAMPLE_CACHE_CAPACITY },
  };
}

export interface FitResult {
  /** Largest micro-batch whose total fits, or 0 when even 1 does not. */
  largest: number;
  /** Its total (or the total at 1 when none fits). */
  total: number;
  /** The total of largest + 1 (null when the search stopped at the cap). */
  next: number | null;
  /** The search's upper limit (GRPO: the completions of a round on one rank). */
  cap: number;
  /** When none fits: the largest line at micro-batch 1 and the phase that sets the peak. */
  dominant?: { key: string; label: string; bytes: number; phase: string };
}

/** Largest micro-batch of `trainer` whose planned total is ≤ `memory` bytes (totals grow with the micro-batch). */
export function largestMicroBatch(
  c: Qwen2VLConfig,
  s: PlanSettings,
  trainer: "sft" | "grpo",
  memory: number,
): FitResult {
  const cap = trainer === "grpo" ? Math.ceil(s.promptsPerStep / s.worldSize) * s.generations : 1 << 20;
  const at = (b: number): TrainerPlan => {
    const p = planMemory(c, trainer === "sft" ? { ...s, sftMicroBatch: b } : { ...s, grpoMicroBatch: b });
    return trainer === "sft" ? p.sft : p.grpo;
  };
  const one = at(1);
  if (one.total > memory) {
    const top = [...one.lines].sort((a, b) => b.bytes - a.bytes)[0]!;
    return {
      largest: 0,
      total: one.total,
      next: null,
      cap,
      dominant: { key: top.key, label: top.label, bytes: top.bytes, phase: one.peakPhase },
    };
  }
  // Exponential then binary search on the monotone total.
  let lo = 1;
  let hi = 2;
  while (hi <= cap && at(hi).total <= memory) {
    lo = hi;
    hi *= 2;
  }
  hi = Math.min(hi, cap + 1);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (at(mid).total <= memory) lo = mid;
    else hi = mid;
  }
  return { largest: lo, total: at(lo).total, next: lo < cap ? at(lo + 1).total : null, cap };
}

// ---- units ---------------------------------------------------------------------------------------------------------

const SUFFIX: Record<string, number> = {
  "": 1,
  B: 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
};

/**
 * Parses a byte size: a number of bytes, or a number with a suffix: KiB/MiB/GiB/TiB (powers of 1024), KB/MB/GB/TB
 * (powers of 1000, as GPU vendors quote card memory), K/M/G/T alone = powers of 1024. Case-insensitive.
 */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const mult = m ? SUFFIX[m[2]!.toUpperCase()] : undefined;
  if (!m || mult === undefined) throw new Error(`'${text}' is not a size (examples: 24GiB, 80GB, 512MiB, 1073741824)`);
  const v = Number(m[1]) * mult;
  if (!(v >= 1) || !Number.isFinite(v)) throw new Error(`'${text}' is not a positive size`);
  return Math.floor(v);
}

/** 1.23 GiB / 456.7 MiB / 12.3 KiB / 17 B. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(v >= 100 ? 1 : 2)} ${units[u]}`;
}
