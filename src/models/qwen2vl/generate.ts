/**
 * Batched generation and log-probs of given completions for Qwen2-VL.
 *
 * - `collate`: samples (token ids + processor output) → a left-padded batch (what HF's processor does with
 *   padding_side="left").
 * - `generate`: prefill + KV-cache decoding; greedy (temperature 0) or sampling with temperature → top-k → top-p
 *   (HF's warper order); stops per row on any stop id or after maxNewTokens. A seed makes it deterministic without
 *   disturbing the global RNG stream (the state is restored afterwards).
 * - `completionLogProbs`: log p(completion token | prompt, previous tokens) for every completion position (GRPO's
 *   policy and reference forwards, spec §4.6), chunked over the batch; records autograd unless run under noGrad.
 */
import {
  Tensor,
  tensor,
  cat,
  tidy,
  inferenceMode,
  manualSeed,
  getRngState,
  setRngState,
  full,
  type DType,
} from "../../tensor/index.ts";
import type { GridThw } from "./rope.ts";
import type { Qwen2VLForConditionalGeneration } from "./model.ts";

export interface PromptSample {
  /** Name used in error messages (the pad-count check). */
  id?: string;
  /** Prompt token ids with `<|image_pad|>` already expanded (processor.expandImagePads). */
  inputIds: readonly number[];
  /** Row-major [Σ t·h·w, C·T·P·P] patches of this sample's images (processor output), or none. */
  pixelValues?: Float32Array | null;
  imageGridThw?: readonly GridThw[];
}

/** A PromptSample from inputs.ts's prepareInputs() output. */
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

export interface Batch extends Disposable {
  inputIds: Tensor;
  attentionMask: Tensor;
  pixelValues: Tensor | null;
  imageGridThw: GridThw[] | null;
  sampleIds: string[];
  /** Unpadded length of each sample. */
  lengths: number[];
}

/** Left-pads samples into a batch (caller owns the tensors: dispose the batch or use `using`). */
export function collate(samples: readonly PromptSample[], padTokenId: number, dtype: DType = "float32"): Batch {
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
  const grids: GridThw[] = samples.flatMap((s) => (s.imageGridThw ?? []).map((g) => [g[0], g[1], g[2]] as GridThw));
  let pixelValues: Tensor | null = null;
  if (grids.length) {
    const rows = grids.reduce((a, [t, h, w]) => a + t * h * w, 0);
    const total = samples.reduce((a, s) => a + (s.pixelValues?.length ?? 0), 0);
    if (rows === 0 || total % rows !== 0)
      throw new Error(`collate: ${total} pixel values do not fill ${rows} patch rows`);
    const data = new Float32Array(total);
    let off = 0;
    for (const s of samples) {
      if (s.pixelValues) data.set(s.pixelValues, off);
      off += s.pixelValues?.length ?? 0;
    }
    const pv = tensor(data, { shape: [rows, total / rows] });
    pixelValues = dtype === "float32" ? pv : pv.to(dtype);
    if (pixelValues !== pv) pv.dispose();
  }
  const batch: Batch = {
    inputIds: tensor(ids, { dtype: "int64", shape: [B, T] }),
    attentionMask: tensor(mask, { dtype: "int64", shape: [B, T] }),
    pixelValues,
    imageGridThw: grids.length ? grids : null,
    sampleIds: samples.map((s, i) => s.id ?? `#${i}`),
    lengths: samples.map((s) => s.inputIds.length),
    [Symbol.dispose]() {
      batch.inputIds.dispose();
      batch.attentionMask.dispose();
      batch.pixelValues?.dispose();
    },
  };
  return batch;
}

export interface SamplingOptions {
  /** 0 = greedy (default 1). */
  temperature?: number;
  /** Nucleus sampling mass (default 1 = off). */
  topP?: number;
  /** Keep the k most likely tokens (default 0 = off). */
  topK?: number;
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Any of these ends a row (the stop token is included in `ids`). */
  stopTokenIds: readonly number[];
  padTokenId: number;
  /** Seeds the sampler; the global RNG state is restored afterwards. */
  seed?: number;
  /** Decodes `text` when given (special tokens skipped, the final stop token left out). */
  tokenizer?: { decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string };
  /** Called after every forward (step 0 = prefill) while the cache is alive: progress, memory sampling. */
  onStep?: (step: number) => void;
}

export interface Generation {
  promptIds: number[];
  /** Generated ids, including the stop token when finishReason is "stop". */
  ids: number[];
  text?: string;
  /** log p of each generated token under the sampling distribution (logits / temperature; raw logits when greedy). */
  logprobs: number[];
  finishReason: "stop" | "length";
}

/**
 * Picks the next token of each row from logits [B, V] (float32). Returns [token ids [B] int64, their log-probs [B]].
 * Sampling follows HF: scores / temperature → top-k → top-p (smallest set with mass ≥ p, at least one token).
 */
export function selectNext(logits: Tensor, o: SamplingOptions): [Tensor, Tensor] {
  return tidy(() => {
    const temperature = o.temperature ?? 1;
    if (temperature <= 0) {
      const logp = logits.logSoftmax(-1);
      const tok = logits.argmax(-1, true); // [B, 1]
      return [tok.squeeze(1), logp.gather(1, tok).squeeze(1)];
    }
    const scaled = logits.div(temperature);
    const logp = scaled.logSoftmax(-1);
    let s = scaled;
    const V = s.size(-1);
    if (o.topK && o.topK > 0 && o.topK < V) {
      const [vals] = s.topk(o.topK, -1);
      const kth = vals.narrow(-1, o.topK - 1, 1); // [B, 1]
      s = s.maskedFill(s.lt(kth), -Infinity);
    }
    if (o.topP !== undefined && o.topP < 1) {
      const [sorted, idx] = s.sort(-1, false); // ascending
      const cum = sorted.softmax(-1).cumsum(-1);
      const remove = cum.le(1 - o.topP);
      const keepLast = full([s.size(0), 1], 0, { dtype: "bool", device: s.device }); // the most likely token is always kept
      const removeSorted = cat([remove.narrow(-1, 0, V - 1), keepLast], -1);
      const removeOrig = removeSorted.scatter(-1, idx, removeSorted); // back to vocabulary order
      s = s.maskedFill(removeOrig, -Infinity);
    }
    const tok = s.softmax(-1).multinomial(1); // [B, 1]
    return [tok.squeeze(1), logp.gather(1, tok).squeeze(1)];
  });
}

/** Batched generation with left padding and a KV cache; see the module comment. Runs in inference mode. */
export function generate(
  model: Qwen2VLForConditionalGeneration,
  samples: readonly PromptSample[],
  o: GenerateOptions,
): Generation[] {
  const saved = o.seed !== undefined ? getRngState() : null;
  if (o.seed !== undefined) manualSeed(o.seed);
  try {
    return inferenceMode(() => generateInner(model, samples, o));
  } finally {
    if (saved) setRngState(saved);
  }
}

function generateInner(
  model: Qwen2VLForConditionalGeneration,
  samples: readonly PromptSample[],
  o: GenerateOptions,
): Generation[] {
  const B = samples.length;
  const out: Generation[] = samples.map((s) => ({
    promptIds: [...s.inputIds],
    ids: [],
    logprobs: [],
    finishReason: "length",
  }));
  if (B === 0 || o.maxNewTokens <= 0) return out;
  const stop = new Set(o.stopTokenIds);
  const done = new Array<boolean>(B).fill(false);
  using batch = collate(samples, o.padTokenId, model.dtype);
  const T = batch.inputIds.size(1);
  using cache = model.newCache(T + o.maxNewTokens);
  let mask = batch.attentionMask.alias();
  let deltas: number[] = [];
  let next: Tensor | null = null;
  // Batch row → sample index. Rows that finished keep decoding a pad token (ignored) until a quarter of the batch
  // has finished; then the batch is compacted (cache, mask, deltas) so that long completions do not pay for
  // finished rows.
  let rows = samples.map((_, i) => i);
  try {
    for (let step = 0; step < o.maxNewTokens; step++) {
      const [tok, lp] = tidy(() => {
        const inputs =
          step === 0
            ? {
                inputIds: batch.inputIds,
                attentionMask: mask,
                pixelValues: batch.pixelValues,
                imageGridThw: batch.imageGridThw,
                sampleIds: batch.sampleIds,
              }
            : { inputIds: next!, attentionMask: mask };
        const n = step === 0 ? T : 1;
        const r = model.forward(inputs, { cache, ropeDeltas: deltas, logitsRange: [n - 1, n] });
        deltas = r.ropeDeltas;
        const logits = r.logits.select(1, 0).to("float32"); // [rows, V]
        return selectNext(logits, o);
      });
      o.onStep?.(step);
      // Host sync: the loop needs the tokens to decide which rows have stopped.
      const toks = tok.toNumbers();
      const lps = lp.toNumbers();
      tok.dispose();
      lp.dispose();
      rows.forEach((b, p) => {
        if (done[b]) return;
        out[b]!.ids.push(toks[p]!);
        out[b]!.logprobs.push(lps[p]!);
        if (stop.has(toks[p]!)) {
          done[b] = true;
          out[b]!.finishReason = "stop";
        }
      });
      const live = rows.flatMap((b, p) => (done[b] ? [] : [p])); // batch positions still generating
      if (live.length === 0 || step === o.maxNewTokens - 1) break;
      let nextIds = rows.map((b, p) => (done[b] ? o.padTokenId : toks[p]!));
      const finished = rows.length - live.length;
      if (finished > 0 && finished >= Math.ceil(rows.length / 4)) {
        // The next step's inputs are built on the CPU; forward moves them to the model's device.
        using idx = tensor(live, { dtype: "int64", device: mask.device });
        cache.selectRows(idx);
        const kept = mask.indexSelect(0, idx);
        mask.dispose();
        mask = kept;
        deltas = live.map((p) => deltas[p]!);
        nextIds = live.map((p) => toks[p]!);
        rows = live.map((p) => rows[p]!);
      }
      next?.dispose();
      next = tensor(nextIds, { dtype: "int64", shape: [rows.length, 1] });
      const grown = tidy(() => cat([mask, full([rows.length, 1], 1, { dtype: "int64", device: mask.device })], 1));
      mask.dispose();
      mask = grown;
    }
  } finally {
    mask.dispose();
    next?.dispose();
  }
  if (o.tokenizer) {
    for (const g of out) {
      const body = g.finishReason === "stop" ? g.ids.slice(0, -1) : g.ids;
      g.text = o.tokenizer.decode(body, { skipSpecialTokens: true });
    }
  }
  return out;
}

export interface LogProbOptions {
  padTokenId: number;
  /** Rows per forward (memory bound); default 8. */
  chunkSize?: number;
  /** Divide logits by this before the softmax (as TRL does for the sampling temperature); default 1. */
  temperature?: number;
}

export interface CompletionLogProbs {
  /** [B, C] float32: log p of completion token c of row b (0 where the mask is 0). */
  logprobs: Tensor;
  /** [B, C] float32: 1 for real completion tokens (given mask, or the completion's length). */
  mask: Tensor;
}

/**
 * Per-token log-probs of given completions after their prompts. `completions[b]` are the generated ids (e.g.
 * `Generation.ids`); `completionMask[b]` (optional) marks which of them count (spec §4.5: up to and including the
 * first EOS). Rows are processed `chunkSize` at a time (each chunk left-pads its prompts; completions are padded
 * to the longest of the batch). With gradients enabled the result carries autograd history through the policy
 * (the graph of every chunk stays alive until backward: pass micro-batches); under noGrad it is the reference.
 */
export function completionLogProbs(
  model: Qwen2VLForConditionalGeneration,
  prompts: readonly PromptSample[],
  completions: readonly (readonly number[])[],
  o: LogProbOptions,
  completionMask?: readonly (readonly number[])[],
): CompletionLogProbs {
  if (prompts.length !== completions.length)
    throw new Error(`completionLogProbs: ${prompts.length} prompts but ${completions.length} completions`);
  const B = prompts.length;
  const C = Math.max(1, ...completions.map((c) => c.length));
  const chunk = Math.max(1, o.chunkSize ?? 8);
  const maskRows = completions.map((c, b) => {
    const row = new Array<number>(C).fill(0);
    for (let i = 0; i < c.length; i++) row[i] = completionMask ? (completionMask[b]![i] ?? 0) : 1;
    return row;
  });
  const parts: Tensor[] = [];
  try {
    for (let s = 0; s < B; s += chunk) {
      const e = Math.min(B, s + chunk);
      parts.push(chunkLogProbs(model, prompts.slice(s, e), completions.slice(s, e), C, o));
    }
    return tidy(() => {
      const mask = tensor(maskRows.flat(), { shape: [B, C], device: parts[0]!.device });
      const lp = parts.length === 1 ? parts[0]!.alias() : cat(parts, 0);
      return { logprobs: lp.mul(mask), mask };
    });
  } finally {
    for (const p of parts) p.dispose();
  }
}

function chunkLogProbs(
  model: Qwen2VLForConditionalGeneration,
  prompts: readonly PromptSample[],
  completions: readonly (readonly number[])[],
  C: number,
  o: LogProbOptions,
): Tensor {
  using batch = collate(prompts, o.padTokenId, model.dtype);
  return tidy(() => {
    const b = prompts.length;
    const P = batch.inputIds.size(1);
    const compIds = completions.flatMap((c) => Array.from({ length: C }, (_, i) => c[i] ?? o.padTokenId));
    // Every completion column is attended (pads after a short completion only follow its real tokens and are
    // masked out of the result, so they cannot change the log-probs of real tokens: attention is causal).
    const comp = tensor(compIds, { dtype: "int64", shape: [b, C] });
    const inputIds = cat([batch.inputIds, comp], 1); // [b, P + C]
    const attentionMask = cat([batch.attentionMask, full([b, C], 1, { dtype: "int64" })], 1);
    const r = model.forward(
      {
        inputIds,
        attentionMask,
        pixelValues: batch.pixelValues,
        imageGridThw: batch.imageGridThw,
        sampleIds: batch.sampleIds,
        promptColumns: P,
      },
      { logitsRange: [P - 1, P + C - 1] }, // logits at t predict token t + 1: the C completion tokens
    );
    let logits = r.logits.to("float32"); // [b, C, V]
    if (o.temperature !== undefined && o.temperature !== 1) logits = logits.div(o.temperature);
    const logp = logits.logSoftmax(-1);
    return logp.gather(2, comp.to({ device: logp.device }).unsqueeze(-1)).squeeze(-1); // [b, C]
  });
}
