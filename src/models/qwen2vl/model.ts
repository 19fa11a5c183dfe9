/**
 * Qwen2VLForConditionalGeneration: vision tower (`visual.*`), Qwen2 decoder (`model.*`) and the LM head
 * (`lm_head.weight`, or the token embedding when `tie_word_embeddings`). Parameter names are the classic HF
 * checkpoint keys (params.ts lists them).
 *
 * forward(): embeds the tokens, runs the vision tower on `pixel_values` and scatters the image features into the
 * `<|image_pad|>` positions (after checking, per sample, that the pad count equals the merged patch count), builds
 * the 3D M-RoPE positions (HF get_rope_index, left padding via the attention mask; during decoding
 * cache length + rope_delta), and returns logits for the requested positions.
 */
import { Tensor, tensor, ones, zeros, cat, tidy, linear, arange, type DType } from "../../tensor/index.ts";
import { Module, Linear } from "../../nn/index.ts";
import { type Qwen2VLConfig, headDim } from "./config.ts";
import { checkImagePadCounts, imageTokenCount } from "./image_pads.ts";
import { type GridThw, ropeIndex, ropeTokenIds, invFreq, mropeComponents, mropeCosSin } from "./rope.ts";
import { Qwen2VisionTransformer } from "./vision.ts";
import { hfLinear, type BuildOptions } from "./layers.ts";
import { KVCache, Qwen2TextModel } from "./text.ts";

/** The forward input of the model: a tensor batch (host samples are `PreparedInputs`, inputs.ts). */
export interface ForwardInputs {
  /** [B, T] int64 token ids (left-padded batch). */
  inputIds: Tensor;
  /** [B, T] 1 = token, 0 = padding; for a decode step it covers the cached positions too ([B, past + T]). */
  attentionMask?: Tensor | null;
  /** [N, C·T·P·P] patches of every image of the batch in order (processor output). */
  pixelValues?: Tensor | null;
  /** (t, h, w) per image, same order as pixelValues rows. */
  imageGridThw?: readonly GridThw[] | null;
  /** Sample names for error messages (default "#i"). */
  sampleIds?: readonly string[];
  /**
   * Only the first `promptColumns` columns hold the prompts (and their images); later columns are generated text
   * (completions), whose tokens are plain text even when a policy emits `<|image_pad|>` or `<|vision_start|>`,
   * exactly as during KV-cache decoding: they get token embeddings and positions that continue after the prompt.
   * Default: all columns.
   */
  promptColumns?: number;
  /**
   * Rows that share images (GRPO's G completions of one prompt) can pass each distinct image once: `pixelValues`
   * then holds the distinct images only and `imageSource[j]` names the distinct image (0-based, in pixelValues
   * order) of image occurrence j of the batch (`imageGridThw` still lists one grid per occurrence). The vision
   * tower runs once per distinct image; its features are gathered for every occurrence (gradients accumulate).
   */
  imageSource?: readonly number[] | null;
}

/** @deprecated the earlier name of ForwardInputs. */
export type ModelInputs = ForwardInputs;

export interface ForwardOptions {
  /** Decoding cache: filled by the prefill call, extended by each later call. */
  cache?: KVCache | null;
  /** rope_deltas returned by the prefill; required once the cache holds positions. */
  ropeDeltas?: readonly number[];
  /** Compute logits only for positions [start, end) of this call's T tokens (default all). */
  logitsRange?: [number, number];
}

export interface ModelOutput {
  /** [B, end − start, vocab] in the activation dtype. */
  logits: Tensor;
  /** [B] rope deltas (prefill) or the ones passed in. */
  ropeDeltas: number[];
}

export class Qwen2VLForConditionalGeneration extends Module {
  readonly visual: Qwen2VisionTransformer;
  readonly model: Qwen2TextModel;
  readonly lm_head: Linear | null;
  readonly #invFreq: Tensor;
  readonly #components: Tensor;

  constructor(
    readonly config: Qwen2VLConfig,
    opts: BuildOptions = {},
  ) {
    super();
    this.visual = this.module("visual", new Qwen2VisionTransformer(config, opts));
    this.model = this.module("model", new Qwen2TextModel(config, opts));
    this.lm_head = config.tie_word_embeddings
      ? null
      : this.module("lm_head", hfLinear(config.hidden_size, config.vocab_size, config.initializer_range, opts, false));
    // Rotary tables are not checkpoint state (HF: non-persistent buffers); kept in float32 whatever the weights.
    this.#invFreq = this.buffer("rotary_inv_freq", invFreq(headDim(config), config.rope_theta), false);
    this.#components = this.buffer(
      "rotary_components",
      tensor(mropeComponents(config.rope_scaling.mrope_section), { dtype: "int64" }),
      false,
    );
  }

  /** Device of the weights ("cpu", "cuda:0"); inputs are moved there by forward(). */
  get device(): string {
    return this.model.embed_tokens.weight.device;
  }

  /** dtype of the weights (the embedding's). */
  get dtype(): DType {
    return this.model.embed_tokens.weight.dtype;
  }

  /** Keeps the rotary tables in float32 when casting the weights (Module.to would cast every float buffer). */
  override to(target: DType | { device: string }): this {
    const inv = this.#invFreq.to("float32");
    super.to(target);
    if (typeof target === "string") this.#invFreq.assign(inv);
    else inv.dispose();
    return this;
  }

  /** A KV cache sized for `capacity` positions (0 = grow as needed). */
  newCache(capacity = 0): KVCache {
    return new KVCache(this.config.num_hidden_layers, capacity);
  }

  /** Output embedding matrix [vocab, hidden] (lm_head or the tied token embedding). */
  get outputWeight(): Tensor {
    return this.lm_head ? this.lm_head.weight : this.model.embed_tokens.weight;
  }

  /** Image features [Σ tokens, hidden_size] for pixel values of images with the given grids. */
  imageFeatures(pixelValues: Tensor, grids: readonly GridThw[]): Tensor {
    return this.visual.forward(pixelValues, grids);
  }

  /**
   * Image features of every occurrence in `grids`; with `source` (see ForwardInputs.imageSource) the tower runs on
   * the distinct images only and the features are gathered per occurrence.
   */
  sharedImageFeatures(pixelValues: Tensor, grids: readonly GridThw[], source: readonly number[] | null): Tensor {
    if (!source) return this.imageFeatures(pixelValues, grids);
    if (source.length !== grids.length)
      throw new Error(`imageSource has ${source.length} entries for ${grids.length} images`);
    const m = this.config.vision_config.spatial_merge_size;
    const distinct: GridThw[] = [];
    source.forEach((s, j) => {
      if (!Number.isInteger(s) || s < 0 || s > distinct.length)
        throw new Error(`imageSource[${j}] = ${s}: distinct images must be numbered in order of first use`);
      if (s === distinct.length) distinct.push(grids[j]!);
      else if (distinct[s]!.join() !== grids[j]!.join())
        throw new Error(`imageSource[${j}] = ${s}: grid ${grids[j]} differs from the distinct image's ${distinct[s]}`);
    });
    return tidy(() => {
      const feats = this.imageFeatures(pixelValues, distinct);
      const offsets: number[] = [];
      let off = 0;
      for (const g of distinct) {
        offsets.push(off);
        off += imageTokenCount(g, m);
      }
      const idx: number[] = [];
      source.forEach((s, j) => {
        const n = imageTokenCount(grids[j]!, m);
        for (let k = 0; k < n; k++) idx.push(offsets[s]! + k);
      });
      return feats.indexSelect(0, tensor(idx, { dtype: "int64", device: feats.device }));
    });
  }

  /** The per-sample pad-count check (processor.ts) on host ids; images are assigned to samples in order. */
  checkImagePads(
    rows: number[][],
    maskRows: number[][] | null,
    grids: readonly GridThw[],
    sampleIds?: readonly string[],
  ): void {
    const c = this.config;
    const m = c.vision_config.spatial_merge_size;
    let next = 0;
    const samples = rows.map((row, b) => {
      const toks = maskRows ? row.filter((_, t) => maskRows[b]![t] === 1) : row;
      let pads = 0;
      for (const id of toks) {
        if (id === c.image_token_id) pads++;
        else if (id === c.video_token_id)
          throw new Error(`sample ${sampleIds?.[b] ?? `#${b}`}: <|video_pad|> tokens: videos are not supported`);
      }
      // Take this sample's images: as many grids as its pad tokens use up (each image is one contiguous run).
      const mine: GridThw[] = [];
      let used = 0;
      while (used < pads && next < grids.length) {
        used += imageTokenCount(grids[next]!, m);
        mine.push(grids[next++]!);
      }
      return { id: sampleIds?.[b] ?? `#${b}`, inputIds: toks, imageGridThw: mine };
    });
    checkImagePadCounts(samples, c.image_token_id, m);
    if (next !== grids.length) {
      throw new Error(
        `image_grid_thw has ${grids.length} images but the batch's <|image_pad|> tokens account for only ${next}`,
      );
    }
  }

  /** Logits for the input (see the module comment). Owned by the caller. */
  forward(inp: ForwardInputs, opts: ForwardOptions = {}): ModelOutput {
    return tidy(() => {
      const { hidden, ropeDeltas } = this.forwardHidden(inp, opts);
      return { logits: linear(hidden, this.outputWeight), ropeDeltas };
    });
  }

  /**
   * The final-normed hidden states [B, end − start, hidden] instead of logits, for losses that apply the LM head in
   * chunks (a 152k vocabulary makes full logits of long sequences large). `outputWeight` is the head.
   */
  forwardHidden(inp: ForwardInputs, opts: ForwardOptions = {}): { hidden: Tensor; ropeDeltas: number[] } {
    const cache = opts.cache ?? null;
    const past = cache?.length ?? 0;
    const [B, T] = inp.inputIds.shape as [number, number];
    const c = this.config;
    const grids = inp.imageGridThw && inp.imageGridThw.length ? inp.imageGridThw : null;
    let deltas: number[];
    let posRows: number[][][] | null = null;
    let imageColumns = T;
    if (past === 0) {
      // Host copies of the ids for the rope index and the pad check (a sync point on accelerators).
      const P = inp.promptColumns ?? T;
      if (!(P >= 1 && P <= T)) throw new Error(`promptColumns ${P} outside 1..${T}`);
      const flat = inp.inputIds.toNumbers();
      const rows = Array.from({ length: B }, (_, b) => flat.slice(b * T, b * T + P));
      let maskRows: number[][] | null = null;
      if (inp.attentionMask) {
        const mf = inp.attentionMask.toNumbers();
        const S = inp.attentionMask.size(1);
        if (S !== T) throw new Error(`attention_mask has ${S} columns for ${T} tokens (prefill)`);
        maskRows = Array.from({ length: B }, (_, b) => mf.slice(b * S, b * S + P));
      }
      this.checkImagePads(rows, maskRows, grids ?? [], inp.sampleIds);
      if (grids && !inp.pixelValues) throw new Error("image_grid_thw given without pixel_values");
      const r = ropeIndex(rows, grids, maskRows, ropeTokenIds(c));
      deltas = r.ropeDeltas;
      // Completion columns continue as decoding would: position = column + delta, the same for t, h, w.
      posRows = r.positionIds.map((comp) =>
        comp.map((row, b) => [...row, ...Array.from({ length: T - P }, (_, k) => P + k + deltas[b]!)]),
      );
      imageColumns = P;
    } else {
      if (!opts.ropeDeltas)
        throw new Error("forward: ropeDeltas from the prefill are required when the cache is not empty");
      deltas = [...opts.ropeDeltas];
    }
    return tidy(() => {
      const device = this.device;
      const onDevice = (x: Tensor) => (x.device === device ? x : x.to({ device }));
      const inputIds = onDevice(inp.inputIds);
      let embeds = this.model.embed_tokens.forward(inputIds); // [B, T, hidden]
      if (past === 0 && grids && inp.pixelValues) {
        const feats = this.sharedImageFeatures(onDevice(inp.pixelValues), grids, inp.imageSource ?? null); // [Σ tokens, hidden]
        const f = feats.dtype === embeds.dtype ? feats : feats.to(embeds.dtype);
        let isImage = inputIds.eq(c.image_token_id); // [B, T]
        if (imageColumns < T)
          isImage = cat(
            [isImage.narrow(1, 0, imageColumns), zeros([B, T - imageColumns], { dtype: "bool", device })],
            1,
          );
        const mask = isImage.unsqueeze(-1).expand(B, T, c.hidden_size); // [B, T, hidden]
        embeds = embeds.maskedScatter(mask, f); // features fill the pad positions in order
      }
      let positionIds: Tensor; // [3, B, T]
      if (posRows) positionIds = tensor(posRows.flat(2), { dtype: "int64", shape: [3, B, T], device });
      else {
        // Decoding: position = cache length + rope delta (+ offset within this call), the same for t, h, w.
        const d = tensor(deltas, { dtype: "int64", shape: [B, 1], device });
        positionIds = arange(past, past + T, 1, { device })
          .view(1, T)
          .add(d)
          .unsqueeze(0)
          .expand(3, B, T);
      }
      const [cos, sin] = mropeCosSin(positionIds, this.#invFreq, this.#components, embeds.dtype);
      const keyMask = inp.attentionMask ? onDevice(inp.attentionMask) : ones([B, past + T], { dtype: "int64", device });
      if (keyMask.size(1) !== past + T)
        throw new Error(`attention_mask has ${keyMask.size(1)} columns; expected cache ${past} + ${T}`);
      let hidden = this.model.forward(embeds, cos, sin, keyMask, cache); // [B, T, hidden]
      if (opts.logitsRange) {
        const [s, e] = opts.logitsRange;
        hidden = hidden.narrow(1, s, e - s); // only the positions whose logits are needed
      }
      return { hidden, ropeDeltas: deltas };
    });
  }
}
