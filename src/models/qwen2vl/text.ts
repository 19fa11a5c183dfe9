/**
 * The Qwen2 text decoder of Qwen2-VL (HF `Qwen2VLTextModel`), parameter names under `model.`:
 *   embed_tokens; layers.N: self_attn.{q,k,v}_proj (+bias), self_attn.o_proj (no bias), mlp.{gate,up,down}_proj
 *   (SwiGLU, no bias), input_layernorm / post_attention_layernorm (RMSNorm); norm.
 * Attention is grouped-query (num_key_value_heads ≤ num_attention_heads) with multimodal rotary embeddings; the
 * eager math of HF (scores · head_dim^-½ + additive mask, softmax in float32, cast back).
 * A KVCache holds per-layer keys/values for incremental decoding and owns its tensors.
 */
import { Tensor, arange, empty, cat, tidy, keep, noGrad, isGradEnabled, type DType } from "../../tensor/index.ts";
import { Module, ModuleList, Linear, Embedding, RMSNorm } from "../../nn/index.ts";
import { type Qwen2VLConfig, headDim } from "./config.ts";
import { applyRotarySigned, signedSin } from "./rope.ts";
import { type BuildOptions, activation, hfLinear } from "./layers.ts";

/**
 * Keys and values of every layer, [B, num_key_value_heads, S, head_dim] each. With a capacity the buffers are
 * allocated once and written in place (decoding under noGrad / inference mode); without one, or when gradients
 * are being recorded, each step concatenates. Owns its tensors: dispose it (or `using`).
 */
export class KVCache implements Disposable {
  readonly keys: (Tensor | null)[];
  readonly values: (Tensor | null)[];
  /** Number of positions filled (the same for every layer after a full forward). */
  length = 0;
  #pending = 0;

  constructor(
    readonly numLayers: number,
    /** Max positions for the preallocated buffers; 0 = grow by concatenation. */
    readonly capacity = 0,
  ) {
    this.keys = new Array(numLayers).fill(null);
    this.values = new Array(numLayers).fill(null);
  }

  /** Adds this step's k, v [B, KV, T, hd] for `layer`; returns (borrowed) views of all keys and values so far. */
  update(layer: number, k: Tensor, v: Tensor): [Tensor, Tensor] {
    const T = k.size(2);
    const len = this.length;
    this.#pending = T;
    const inPlace = this.capacity > 0 && len + T <= this.capacity && !isGradEnabled();
    if (inPlace) {
      if (this.keys[layer] === null) {
        const [B, KV, , hd] = k.shape as [number, number, number, number];
        this.keys[layer] = keep(empty([B, KV, this.capacity, hd], { dtype: k.dtype, device: k.device }));
        this.values[layer] = keep(empty([B, KV, this.capacity, hd], { dtype: v.dtype, device: v.device }));
      }
      const K = this.keys[layer]!;
      const V = this.values[layer]!;
      noGrad(() => {
        using kd = K.narrow(2, len, T);
        using vd = V.narrow(2, len, T);
        kd.copy_(k);
        vd.copy_(v);
      });
      return [K.narrow(2, 0, len + T), V.narrow(2, 0, len + T)];
    }
    const prevK = this.keys[layer];
    const prevV = this.values[layer];
    if (prevK && prevK.size(2) !== len) {
      // A preallocated buffer that can no longer be written in place: keep only the filled part.
      this.#replace(layer, prevK.narrow(2, 0, len).contiguous(), prevV!.narrow(2, 0, len).contiguous());
    }
    const K = this.keys[layer] ? cat([this.keys[layer]!, k], 2) : k.alias();
    const V = this.values[layer] ? cat([this.values[layer]!, v], 2) : v.alias();
    this.#replace(layer, K, V);
    return [K.alias(), V.alias()];
  }

  #replace(layer: number, k: Tensor, v: Tensor): void {
    this.keys[layer]?.dispose();
    this.values[layer]?.dispose();
    this.keys[layer] = keep(k);
    this.values[layer] = keep(v);
  }

  /** Keeps only the batch rows `idx` (int64 [n]) of every layer (generation drops finished rows). */
  selectRows(idx: Tensor): void {
    for (let l = 0; l < this.numLayers; l++) {
      const k = this.keys[l];
      const v = this.values[l];
      if (!k || !v) continue;
      this.#replace(l, k.indexSelect(0, idx), v.indexSelect(0, idx));
    }
  }

  /** Called by the model after every layer has been updated for this step. */
  advance(): void {
    this.length += this.#pending;
    this.#pending = 0;
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t?.dispose();
    this.keys.fill(null);
    this.values.fill(null);
    this.length = 0;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

export class Qwen2Attention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  constructor(c: Qwen2VLConfig, o: BuildOptions) {
    super();
    const H = c.hidden_size;
    const std = c.initializer_range;
    this.numHeads = c.num_attention_heads;
    this.numKvHeads = c.num_key_value_heads;
    this.headDim = headDim(c);
    this.q_proj = this.module("q_proj", hfLinear(H, this.numHeads * this.headDim, std, o));
    this.k_proj = this.module("k_proj", hfLinear(H, this.numKvHeads * this.headDim, std, o));
    this.v_proj = this.module("v_proj", hfLinear(H, this.numKvHeads * this.headDim, std, o));
    this.o_proj = this.module("o_proj", hfLinear(this.numHeads * this.headDim, H, std, o, false));
  }

  /**
   * x [B, T, hidden]; cos and signed sin [B, 1, T, head_dim] (M-RoPE-sectioned, see rope.signedSin); mask additive
   * [B, 1, 1, T, S] (S = past + T).
   */
  forward(x: Tensor, cos: Tensor, sinSigned: Tensor, mask: Tensor, cache: KVCache | null, layer: number): Tensor {
    return tidy(() => {
      const [B, T] = x.shape as [number, number];
      const H = this.numHeads;
      const KV = this.numKvHeads;
      const hd = this.headDim;
      const q = applyRotarySigned(this.q_proj.forward(x).view(B, T, H, hd).transpose(1, 2), cos, sinSigned); // [B, H, T, hd]
      let k = applyRotarySigned(this.k_proj.forward(x).view(B, T, KV, hd).transpose(1, 2), cos, sinSigned); // [B, KV, T, hd]
      let v = this.v_proj.forward(x).view(B, T, KV, hd).transpose(1, 2); // [B, KV, T, hd]
      if (cache) [k, v] = cache.update(layer, k, v); // [B, KV, S, hd]
      const S = k.size(2);
      const rep = H / KV;
      // Grouped-query attention without copying K/V: the `rep` query heads sharing one KV head are stacked along
      // the query axis. [B, H, T, hd] → [B, KV, rep·T, hd] (head h = kv·rep + r, as HF's repeat_kv).
      const qg = q.reshape(B, KV, rep * T, hd);
      const scores = qg
        .matmul(k.mT)
        .mul(1 / Math.sqrt(hd))
        .view(B, KV, rep, T, S); // [B, KV, rep, T, S]
      const masked = scores.add(mask); // mask [B, 1, 1, T, S]
      let probs = masked.softmax(-1, "float32");
      if (probs.dtype !== v.dtype) probs = probs.to(v.dtype);
      const out = probs.view(B, KV, rep * T, S).matmul(v); // [B, KV, rep·T, hd]
      const merged = out
        .view(B, H, T, hd)
        .transpose(1, 2)
        .reshape(B, T, H * hd); // [B, T, H·hd]
      return this.o_proj.forward(merged);
    });
  }
}

export class Qwen2MLP extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  readonly act: (x: Tensor) => Tensor;
  constructor(c: Qwen2VLConfig, o: BuildOptions) {
    super();
    const std = c.initializer_range;
    this.gate_proj = this.module("gate_proj", hfLinear(c.hidden_size, c.intermediate_size, std, o, false));
    this.up_proj = this.module("up_proj", hfLinear(c.hidden_size, c.intermediate_size, std, o, false));
    this.down_proj = this.module("down_proj", hfLinear(c.intermediate_size, c.hidden_size, std, o, false));
    this.act = activation(c.hidden_act);
  }
  forward(x: Tensor): Tensor {
    return tidy(() => this.down_proj.forward(this.act(this.gate_proj.forward(x)).mul(this.up_proj.forward(x))));
  }
}

export class Qwen2DecoderLayer extends Module {
  readonly self_attn: Qwen2Attention;
  readonly mlp: Qwen2MLP;
  readonly input_layernorm: RMSNorm;
  readonly post_attention_layernorm: RMSNorm;
  constructor(
    c: Qwen2VLConfig,
    readonly layerIdx: number,
    o: BuildOptions,
  ) {
    super();
    this.self_attn = this.module("self_attn", new Qwen2Attention(c, o));
    this.mlp = this.module("mlp", new Qwen2MLP(c, o));
    this.input_layernorm = this.module("input_layernorm", new RMSNorm(c.hidden_size, c.rms_norm_eps, o));
    this.post_attention_layernorm = this.module(
      "post_attention_layernorm",
      new RMSNorm(c.hidden_size, c.rms_norm_eps, o),
    );
  }
  /** x [B, T, hidden]; cos, sinSigned [B, 1, T, head_dim]; mask [B, 1, 1, T, S]. */
  forward(x: Tensor, cos: Tensor, sinSigned: Tensor, mask: Tensor, cache: KVCache | null): Tensor {
    return tidy(() => {
      const h = x.add(
        this.self_attn.forward(this.input_layernorm.forward(x), cos, sinSigned, mask, cache, this.layerIdx),
      );
      return h.add(this.mlp.forward(this.post_attention_layernorm.forward(h)));
    });
  }
}

/**
 * Additive attention mask [B, 1, T, S] (0 = attend, −inf = not) for T queries at positions past..past+T−1 over
 * S = past + T keys: causal, padded keys (keyMask 0) excluded. Each query may always see itself, so rows of left
 * padding stay finite (their outputs are never used).
 */
export function buildAttentionMask(keyMask: Tensor, T: number, dtype: DType): Tensor {
  return tidy(() => {
    const [B, S] = keyMask.shape as [number, number];
    const past = S - T;
    const device = keyMask.device;
    const qpos = arange(past, past + T, 1, { device }).view(T, 1); // [T, 1]
    const kpos = arange(0, S, 1, { device }).view(1, S); // [1, S]
    const causal = kpos.le(qpos); // [T, S]
    const self = kpos.eq(qpos);
    const valid = keyMask.ne(0).view(B, 1, 1, S); // [B, 1, 1, S]
    const allowed = valid.logicalAnd(causal).logicalOr(self); // [B, 1, T, S]
    const zeros = empty([B, 1, T, S], { dtype, device }).zero_();
    return zeros.maskedFill(allowed.logicalNot(), -Infinity);
  });
}

export class Qwen2TextModel extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<Qwen2DecoderLayer>;
  readonly norm: RMSNorm;
  constructor(
    readonly config: Qwen2VLConfig,
    o: BuildOptions = {},
  ) {
    super();
    this.embed_tokens = this.module(
      "embed_tokens",
      new Embedding(config.vocab_size, config.hidden_size, { ...o, initStd: config.initializer_range }),
    );
    this.layers = this.module(
      "layers",
      new ModuleList(Array.from({ length: config.num_hidden_layers }, (_, i) => new Qwen2DecoderLayer(config, i, o))),
    );
    this.norm = this.module("norm", new RMSNorm(config.hidden_size, config.rms_norm_eps, o));
  }

  /** inputsEmbeds [B, T, hidden]; cos/sin [B, T, head_dim]; keyMask [B, past + T] → final-normed hidden [B, T, hidden]. */
  forward(inputsEmbeds: Tensor, cos: Tensor, sin: Tensor, keyMask: Tensor, cache: KVCache | null): Tensor {
    return tidy(() => {
      const T = inputsEmbeds.size(1);
      // Shared by every layer: [B, 1, 1, T, S] mask (broadcast over kv heads and their query groups) and
      // [B, 1, T, hd] cos / signed sin (broadcast over heads).
      const mask = buildAttentionMask(keyMask, T, "float32").unsqueeze(1);
      const c = cos.unsqueeze(1);
      const s = signedSin(sin).unsqueeze(1);
      let h = inputsEmbeds;
      for (const layer of this.layers) h = layer.forward(h, c, s, mask, cache);
      cache?.advance();
      return this.norm.forward(h);
    });
  }
}
