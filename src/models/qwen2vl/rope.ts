/**
 * Rotary position embeddings of Qwen2-VL:
 * - text: multimodal rotary (M-RoPE). Every token has three position ids (temporal, height, width); the head
 *   dimension is split by `mrope_section` so that each frequency band rotates by one of the three ids.
 *   `ropeIndex` computes the ids exactly as HF's `Qwen2VLModel.get_rope_index` (images only; videos are not
 *   supported by this project), including left padding through the attention mask and the `rope_deltas` used to
 *   continue positions while decoding.
 * - vision: 2D rotary over (row, column) patch positions, listed in the 2×2 merge order of the patch sequence
 *   (HF `rot_pos_emb`).
 *
 * The position arithmetic is host-side integer work (HF does it with `.tolist()` too); the cos/sin tables are tensors.
 */
import { Tensor, tensor, arange, cat, tidy } from "../../tensor/index.ts";
import type { DType } from "../../tensor/index.ts";
import type { Qwen2VLConfig } from "./config.ts";

export type GridThw = readonly [number, number, number];

/** Token ids ropeIndex needs (from the config). */
export interface RopeTokenIds {
  imageTokenId: number;
  visionStartTokenId: number;
  spatialMergeSize: number;
}

export function ropeTokenIds(c: Qwen2VLConfig): RopeTokenIds {
  return {
    imageTokenId: c.image_token_id,
    visionStartTokenId: c.vision_start_token_id,
    spatialMergeSize: c.vision_config.spatial_merge_size,
  };
}

export interface RopeIndex {
  /** [3][B][T] position ids (temporal, height, width); padded positions get 1 as in HF. */
  positionIds: number[][][];
  /** [B]: max position + 1 − padded sequence length; decoding position = cache length + delta. */
  ropeDeltas: number[];
}

/**
 * HF `get_rope_index` for text + images. `imageGridThw` lists the images of the whole batch in order (sample 0's
 * images first). `attentionMask` (1 = token, 0 = padding) may be omitted (all ones).
 */
export function ropeIndex(
  inputIds: readonly (readonly number[])[],
  imageGridThw: readonly GridThw[] | null,
  attentionMask: readonly (readonly number[])[] | null,
  ids: RopeTokenIds,
): RopeIndex {
  const B = inputIds.length;
  const T = B > 0 ? inputIds[0]!.length : 0;
  const mask = attentionMask ?? inputIds.map((r) => r.map(() => 1));
  const pos: number[][][] = [0, 1, 2].map(() => inputIds.map(() => new Array<number>(T).fill(1)));
  const deltas: number[] = [];
  if (imageGridThw === null) {
    // Text-only branch: cumsum(mask) − 1, padding filled with 1; delta = per-row max + 1 − T.
    for (let b = 0; b < B; b++) {
      let c = 0;
      let max = -Infinity;
      for (let t = 0; t < T; t++) {
        const m = mask[b]![t]!;
        c += m ? 1 : 0;
        const p = m ? c - 1 : 1;
        for (let k = 0; k < 3; k++) pos[k]![b]![t] = p;
        max = Math.max(max, p);
      }
      deltas.push(max + 1 - T);
    }
    return { positionIds: pos, ropeDeltas: deltas };
  }
  const m = ids.spatialMergeSize;
  let imageIndex = 0;
  for (let b = 0; b < B; b++) {
    const row = inputIds[b]!;
    const keep: number[] = [];
    for (let t = 0; t < T; t++) if (mask[b]![t] === 1) keep.push(t);
    const tokens = keep.map((t) => row[t]!);
    // Images of this sample: vision_start tokens followed by an image pad.
    let images = 0;
    for (let i = 0; i + 1 < tokens.length; i++)
      if (tokens[i] === ids.visionStartTokenId && tokens[i + 1] === ids.imageTokenId) images++;
    const tp: number[] = [];
    const hp: number[] = [];
    const wp: number[] = [];
    let st = 0;
    let next = 0; // max position so far + 1
    for (let k = 0; k < images; k++) {
      const ed = tokens.indexOf(ids.imageTokenId, st);
      const g = imageGridThw[imageIndex++];
      if (!g)
        throw new Error(`ropeIndex: sample ${b} has more images than image_grid_thw rows (${imageGridThw.length})`);
      const [gt, gh, gw] = [g[0], g[1] / m, g[2] / m];
      const textLen = ed - st;
      for (let i = 0; i < textLen; i++) {
        tp.push(next + i);
        hp.push(next + i);
        wp.push(next + i);
      }
      const base = next + textLen;
      let max = base - 1;
      for (let a = 0; a < gt; a++)
        for (let y = 0; y < gh; y++)
          for (let x = 0; x < gw; x++) {
            tp.push(base + a);
            hp.push(base + y);
            wp.push(base + x);
            max = Math.max(max, base + a, base + y, base + x);
          }
      next = max + 1;
      st = ed + gt * gh * gw;
    }
    if (st < tokens.length) {
      for (let i = 0; i < tokens.length - st; i++) {
        tp.push(next + i);
        hp.push(next + i);
        wp.push(next + i);
      }
      next += tokens.length - st;
    }
    keep.forEach((t, i) => {
      pos[0]![b]![t] = tp[i]!;
      pos[1]![b]![t] = hp[i]!;
      pos[2]![b]![t] = wp[i]!;
    });
    deltas.push(next - T);
  }
  return { positionIds: pos, ropeDeltas: deltas };
}

/** Tensor form of ropeIndex: position ids [3, B, T] int64 and rope deltas [B, 1] int64. */
export function getRopeIndex(
  inputIds: Tensor,
  imageGridThw: readonly GridThw[] | null,
  attentionMask: Tensor | null,
  ids: RopeTokenIds,
): { positionIds: Tensor; ropeDeltas: Tensor } {
  const [B, T] = inputIds.shape as [number, number];
  const rows = (t: Tensor) => {
    const flat = t.toNumbers();
    return Array.from({ length: B }, (_, b) => flat.slice(b * T, (b + 1) * T));
  };
  const r = ropeIndex(rows(inputIds), imageGridThw, attentionMask ? rows(attentionMask) : null, ids);
  return {
    positionIds: tensor(r.positionIds.flat(2), { dtype: "int64", shape: [3, B, T] }),
    ropeDeltas: tensor(r.ropeDeltas, { dtype: "int64", shape: [B, 1] }),
  };
}

/** 1 / theta^(2i/dim) for i < dim/2, computed in float32 as torch does. */
export function invFreq(dim: number, theta: number): Tensor {
  return tidy(() => {
    const exps = arange(0, dim, 2, { dtype: "float32" }).div(dim);
    // theta ** exps: pow with a scalar base; done as exp(exps * ln theta) would round differently, so use pow.
    const base = tensor([theta], { dtype: "float32" });
    return base.pow(exps).reciprocal();
  });
}

/**
 * Which of the three position components (0 = t, 1 = h, 2 = w) drives each of the head_dim rotary channels:
 * HF splits cat(freqs, freqs) into sections `mrope_section * 2` and takes chunk i from component i % 3.
 */
export function mropeComponents(mropeSection: readonly number[]): number[] {
  const out: number[] = [];
  [...mropeSection, ...mropeSection].forEach((n, i) => {
    for (let j = 0; j < n; j++) out.push(i % 3);
  });
  return out;
}

/**
 * cos and sin of the text rotary embedding for position ids [3, B, T] (int64): each [B, T, head_dim], float32
 * computation (as HF, autocast off) cast to `dtype`. `invFreqT` is [head_dim/2], `componentIdx` [head_dim] int64.
 */
export function mropeCosSin(
  positionIds: Tensor,
  invFreqT: Tensor,
  componentIdx: Tensor,
  dtype: DType,
): [Tensor, Tensor] {
  return tidy(() => {
    const posF = positionIds.to("float32"); // [3, B, T]
    const sel = posF.indexSelect(0, componentIdx).permute(1, 2, 0); // [B, T, head_dim]: the id each channel uses
    const inv2 = cat([invFreqT, invFreqT], 0); // [head_dim]: cat(freqs, freqs) layout
    const freqs = sel.mul(inv2); // [B, T, head_dim]
    const cos = freqs.cos();
    const sin = freqs.sin();
    return dtype === "float32" ? [cos, sin] : [cos.to(dtype), sin.to(dtype)];
  }) as [Tensor, Tensor];
}

/** rotate_half: cat(−x2, x1) over the last dim. */
export function rotateHalf(x: Tensor): Tensor {
  return tidy(() => {
    const d = x.size(-1) / 2;
    const x1 = x.narrow(-1, 0, d);
    const x2 = x.narrow(-1, d, d);
    return cat([x2.neg(), x1], -1);
  });
}

/** x·cos + rotate_half(x)·sin (cos/sin broadcast against x). */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return tidy(() => x.mul(cos).add(rotateHalf(x).mul(sin)));
}

/**
 * sin with the sign of rotate_half folded in: rotate_half(x)·sin = roll(x, d/2)·cat(−sin₁, sin₂), so applying the
 * rotary costs one roll instead of two slices, a negation and a concatenation (decoding is per-op bound).
 */
export function signedSin(sin: Tensor): Tensor {
  return tidy(() => {
    const d = sin.size(-1) / 2;
    return cat([sin.narrow(-1, 0, d).neg(), sin.narrow(-1, d, d)], -1);
  });
}

/** x·cos + rotate_half(x)·sin with `sinSigned` from signedSin (cos/sin broadcast against x). */
export function applyRotarySigned(x: Tensor, cos: Tensor, sinSigned: Tensor): Tensor {
  return tidy(() => x.mul(cos).add(x.roll(x.size(-1) / 2, -1).mul(sinSigned)));
}

/**
 * Vision patch (row, column) positions in the patch sequence order (2×2 merge blocks consecutive), for each image
 * repeated grid_t times: HF `rot_pos_emb`'s pos_ids. Returns [rows, cols] arrays of length Σ t·h·w.
 */
export function visionPositions(grids: readonly GridThw[], mergeSize: number): { rows: number[]; cols: number[] } {
  const rows: number[] = [];
  const cols: number[] = [];
  for (const [t, h, w] of grids) {
    for (let k = 0; k < t; k++)
      for (let bh = 0; bh < h / mergeSize; bh++)
        for (let bw = 0; bw < w / mergeSize; bw++)
          for (let mh = 0; mh < mergeSize; mh++)
            for (let mw = 0; mw < mergeSize; mw++) {
              rows.push(bh * mergeSize + mh);
              cols.push(bw * mergeSize + mw);
            }
  }
  return { rows, cols };
}

/**
 * cos and sin [N, head_dim] float32 of the vision 2D rotary: VisionRotaryEmbedding(head_dim/2) gives a table
 * freqs[p] = p · inv_freq (head_dim/4 frequencies); each patch uses cat(freqs[row], freqs[col]) and the usual
 * cat(x, x) duplication.
 */
export function visionCosSin(
  grids: readonly GridThw[],
  mergeSize: number,
  headDim: number,
  theta = 10000,
): [Tensor, Tensor] {
  return tidy(() => {
    const { rows, cols } = visionPositions(grids, mergeSize);
    let maxGrid = 0;
    for (const g of grids) maxGrid = Math.max(maxGrid, g[1], g[2]);
    const inv = invFreq(headDim / 2, theta); // [head_dim/4]
    const seq = arange(0, maxGrid, 1, { dtype: "float32" });
    const table = seq.outer(inv); // [maxGrid, head_dim/4]
    const r = table.indexSelect(0, tensor(rows, { dtype: "int64" }));
    const c = table.indexSelect(0, tensor(cols, { dtype: "int64" }));
    const rot = cat([r, c], -1); // [N, head_dim/2]
    const emb = cat([rot, rot], -1); // [N, head_dim]
    return [emb.cos(), emb.sin()];
  }) as [Tensor, Tensor];
}
