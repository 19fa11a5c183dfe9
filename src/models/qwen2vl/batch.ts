/**
 * Host samples → tensor batches, the two shapes the model is fed:
 * - `collate`: prompts left-padded (what HF's processor does with padding_side="left"): generation's prefill.
 * - `logProbBatch`: prompts left-padded, then completions right-padded: the log-prob forwards of GRPO (policy,
 *   old policy, reference) and SFT-style scoring. Built once per micro-batch and reused by every pass.
 * Rows that hold the same prompt object share its images: the pixel values of a distinct prompt are copied once
 * and `imageSource` tells the model which distinct image each occurrence is (the vision tower runs once per image).
 */
import { Tensor, tensor, type DType } from "../../tensor/index.ts";
import type { GridThw } from "./rope.ts";

/**
 * A prepared prompt as generation and log-probs take it: token ids with the image pads expanded and the processor's
 * patches. `prepareInputs()` (inputs.ts) returns a superset of this, so its result can be passed as it is.
 */
export interface PromptSample {
  /** Name used in error messages (the pad-count check). */
  id?: string;
  sampleId?: string;
  /** Prompt token ids with `<|image_pad|>` already expanded (processor.expandImagePads). */
  inputIds: readonly number[];
  /** Row-major [Σ t·h·w, C·T·P·P] patches of this sample's images (processor output), or none. */
  pixelValues?: Float32Array | null;
  imageGridThw?: readonly GridThw[];
}

/** A PromptSample from inputs.ts's prepareInputs() output (kept for callers; the output is already one). */
export function promptSample(x: {
  sampleId: string;
  inputIds: readonly number[];
  pixelValues: Float32Array;
  imageGridThw: readonly GridThw[];
}): PromptSample {
  return {
    id: x.sampleId,
    inputIds: x.inputIds,
    pixelValues: x.imageGridThw.length ? x.pixelValues : null,
    imageGridThw: x.imageGridThw,
  };
}

function nameOf(s: PromptSample, i: number): string {
  return s.id ?? s.sampleId ?? `#${i}`;
}

/** A left-padded prompt batch (caller owns the tensors: dispose it or use `using`). */
export interface PromptBatch extends Disposable {
  inputIds: Tensor;
  attentionMask: Tensor;
  /** Patches of the distinct images (see imageSource), or null when the batch has none. */
  pixelValues: Tensor | null;
  /** One grid per image occurrence, in row order. */
  imageGridThw: GridThw[] | null;
  /** Distinct image of each occurrence (null when every occurrence is its own image). */
  imageSource: number[] | null;
  sampleIds: string[];
  /** Unpadded length of each sample. */
  lengths: number[];
}

/** @deprecated the old name of PromptBatch. */
export type Batch = PromptBatch;

interface Images {
  pixelValues: Tensor | null;
  grids: GridThw[] | null;
  source: number[] | null;
}

/** Pixel values of the distinct prompts (by object identity) and, when some repeat, the occurrence → image map. */
function gatherImages(samples: readonly PromptSample[], dtype: DType): Images {
  const grids: GridThw[] = [];
  const source: number[] = [];
  const blocks: Float32Array[] = [];
  const firstImage = new Map<PromptSample, number>();
  let distinctImages = 0;
  let rows = 0;
  let repeated = false;
  for (const s of samples) {
    const g = s.imageGridThw ?? [];
    if (!g.length) continue;
    let start = firstImage.get(s);
    if (start === undefined) {
      start = distinctImages;
      firstImage.set(s, start);
      distinctImages += g.length;
      rows += g.reduce((a, [t, h, w]) => a + t * h * w, 0);
      if (!s.pixelValues) throw new Error(`sample ${s.id ?? s.sampleId ?? "?"}: image_grid_thw without pixel values`);
      blocks.push(s.pixelValues);
    } else repeated = true;
    g.forEach((x, k) => {
      grids.push([x[0], x[1], x[2]]);
      source.push(start + k);
    });
  }
  if (!grids.length) return { pixelValues: null, grids: null, source: null };
  const total = blocks.reduce((a, b) => a + b.length, 0);
  if (rows === 0 || total % rows !== 0)
    throw new Error(`collate: ${total} pixel values do not fill ${rows} patch rows`);
  const data = new Float32Array(total);
  let off = 0;
  for (const b of blocks) {
    data.set(b, off);
    off += b.length;
  }
  const pv = tensor(data, { shape: [rows, total / rows] });
  const pixelValues = dtype === "float32" ? pv : pv.to(dtype);
  if (pixelValues !== pv) pv.dispose();
  return { pixelValues, grids, source: repeated ? source : null };
}

/** Left-pads samples into a batch. Rows holding the same sample object share its images. */
export function collate(samples: readonly PromptSample[], padTokenId: number, dtype: DType = "float32"): PromptBatch {
  const T = Math.max(0, ...samples.map((s) => s.inputIds.length));
  const B = samples.length;
  const ids = new Array<number>(B * T).fill(padTokenId);
  const mask = new Array<number>(B * T).fill(0);
  samples.forEach((s, b) => {
    const off = b * T + T - s.inputIds.length;
    s.inputIds.forEach((id, i) => {
      ids[off + i] = id;
      mask[off + i] = 1;
    });
  });
  const im = gatherImages(samples, dtype);
  const batch: PromptBatch = {
    inputIds: tensor(ids, { dtype: "int64", shape: [B, T] }),
    attentionMask: tensor(mask, { dtype: "int64", shape: [B, T] }),
    pixelValues: im.pixelValues,
    imageGridThw: im.grids,
    imageSource: im.source,
    sampleIds: samples.map(nameOf),
    lengths: samples.map((s) => s.inputIds.length),
    [Symbol.dispose]() {
      batch.inputIds.dispose();
      batch.attentionMask.dispose();
      batch.pixelValues?.dispose();
    },
  };
  return batch;
}

/** One row of a log-prob batch: a prompt, a completion after it, and which completion tokens count. */
export interface LogProbRow {
  prompt: PromptSample;
  /** Completion token ids (e.g. Generation.ids, or the assistant turn for SFT-style scoring). */
  completion: readonly number[];
  /** 1 for tokens that count (spec §4.5: up to and including the first stop token); default all 1. */
  mask?: readonly number[];
}

/** A micro-batch for log-probs: [b, P + C] ids where the first P columns are the left-padded prompts. */
export interface LogProbBatch extends Disposable {
  inputIds: Tensor;
  attentionMask: Tensor;
  pixelValues: Tensor | null;
  imageGridThw: GridThw[] | null;
  imageSource: number[] | null;
  sampleIds: string[];
  /** P: prompt columns (the model treats later columns as generated text). */
  promptColumns: number;
  /** [b, C] int64 completion ids (pad after a short completion). */
  completionIds: Tensor;
  /** [b, C] float32, 1 where the completion token counts. */
  completionMask: Tensor;
  /** Number of tokens that count (Σ mask), on the host. */
  tokens: number;
}

/**
 * Builds a log-prob micro-batch. Completions are right-padded to `completionLength` (default: the longest); every
 * completion column is attended, which cannot change the log-probs of real tokens (attention is causal) and the
 * pads are masked out.
 */
export function logProbBatch(
  rows: readonly LogProbRow[],
  padTokenId: number,
  dtype: DType = "float32",
  completionLength?: number,
): LogProbBatch {
  const B = rows.length;
  if (B === 0) throw new Error("logProbBatch: no rows");
  const C = Math.max(1, completionLength ?? Math.max(...rows.map((r) => r.completion.length)));
  const P = Math.max(...rows.map((r) => r.prompt.inputIds.length));
  if (P < 1) throw new Error("logProbBatch: every prompt is empty");
  const W = P + C;
  const ids = new Array<number>(B * W).fill(padTokenId);
  const attn = new Array<number>(B * W).fill(0);
  const comp = new Array<number>(B * C).fill(padTokenId);
  const cmask = new Array<number>(B * C).fill(0);
  let tokens = 0;
  rows.forEach((r, b) => {
    const p = r.prompt.inputIds;
    if (r.completion.length > C)
      throw new Error(`row ${nameOf(r.prompt, b)}: completion of ${r.completion.length} tokens > ${C}`);
    if (r.mask && r.mask.length < r.completion.length)
      throw new Error(`row ${nameOf(r.prompt, b)}: mask shorter than its completion`);
    const off = b * W + P - p.length;
    p.forEach((id, i) => {
      ids[off + i] = id;
      attn[off + i] = 1;
    });
    for (let i = 0; i < C; i++) {
      attn[b * W + P + i] = 1;
      if (i < r.completion.length) {
        const id = r.completion[i]!;
        ids[b * W + P + i] = id;
        comp[b * C + i] = id;
        const m = r.mask ? (r.mask[i] ? 1 : 0) : 1;
        cmask[b * C + i] = m;
        tokens += m;
      }
    }
  });
  const im = gatherImages(
    rows.map((r) => r.prompt),
    dtype,
  );
  const batch: LogProbBatch = {
    inputIds: tensor(ids, { dtype: "int64", shape: [B, W] }),
    attentionMask: tensor(attn, { dtype: "int64", shape: [B, W] }),
    pixelValues: im.pixelValues,
    imageGridThw: im.grids,
    imageSource: im.source,
    sampleIds: rows.map((r, i) => nameOf(r.prompt, i)),
    promptColumns: P,
    completionIds: tensor(comp, { dtype: "int64", shape: [B, C] }),
    completionMask: tensor(cmask, { dtype: "float32", shape: [B, C] }),
    tokens,
    [Symbol.dispose]() {
      batch.inputIds.dispose();
      batch.attentionMask.dispose();
      batch.pixelValues?.dispose();
      batch.completionIds.dispose();
      batch.completionMask.dispose();
    },
  };
  return batch;
}
