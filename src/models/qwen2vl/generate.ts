/**
 * Generation and log-probs of given completions for Qwen2-VL.
 *
 * - `generate`: prefill + KV-cache decoding; greedy (temperature 0) or sampling with temperature → top-k → top-p
 *   (HF's warper order). Each distinct prompt is prefilled once and its KV cache fanned out to its
 *   `numReturnSequences` samples (GRPO's G); rows that hold the same prompt object share its images, so the vision
 *   tower runs once per distinct image. Per-row sampling settings, token-id and string stops, a per-step token
 *   callback (streaming). A seed makes it deterministic without disturbing the global RNG stream.
 * - `generateAsync`: the same loop, yielding to the event loop between decode steps (a server can answer other
 *   requests while it generates); same outputs as `generate` for the same seed.
 * - `completionLogProbs`: the earlier all-in-one log-prob API, now a thin wrapper over `logProbBatch` +
 *   `tokenLogProbs` (logprobs.ts), which the trainers use directly (one micro-batch per call, bounded memory).
 */
import {
  Tensor,
  tensor,
  cat,
  tidy,
  keep,
  inferenceMode,
  Generator as TorchGenerator,
  full,
  aten,
} from "../../tensor/index.ts";
import { hash32 } from "../../data/rng.ts";
import type { Qwen2VLForConditionalGeneration } from "./model.ts";
import { collate, logProbBatch, type PromptSample } from "./batch.ts";
import { tokenLogProbs } from "./logprobs.ts";

export { collate, promptSample, type PromptSample, type PromptBatch, type Batch } from "./batch.ts";

export interface SamplingOptions {
  /** 0 = greedy (default 1). */
  temperature?: number;
  /** Nucleus sampling mass (default 1 = off). */
  topP?: number;
  /** Keep the k most likely tokens (default 0 = off). */
  topK?: number;
  /** Random stream of the sampler (default: libtorch's global one). */
  generator?: TorchGenerator | null;
}

/** Per-row settings (a server batching several requests); unset fields fall back to the call's options. */
export interface RowOptions extends SamplingOptions {
  maxNewTokens?: number;
  stopTokenIds?: readonly number[];
  stopStrings?: readonly string[];
}

export interface Tokenizer {
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
}

/** One new token of one output row (streaming). */
export interface TokenEvent {
  /** Output row (prompt-major: prompt i, sample j → i · numReturnSequences + j). */
  row: number;
  id: number;
  logprob: number;
  /** Set when this token ended the row. */
  finishReason?: "stop" | "length";
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Any of these ends a row (the stop token is included in `ids`). */
  stopTokenIds: readonly number[];
  /** Any of these strings in the decoded text ends a row; `text` is cut before it (needs `tokenizer`). */
  stopStrings?: readonly string[];
  padTokenId: number;
  /** Samples per prompt (default 1): the prompt is prefilled once and its cache fanned out. */
  numReturnSequences?: number;
  /** Per output row settings (length = prompts × numReturnSequences). */
  rows?: readonly RowOptions[];
  /** Seeds the sampler; the global RNG state is left as it was. */
  seed?: number;
  /**
   * One seed per prompt: the samples of prompt i come from their own stream, so they do not depend on which other
   * prompts share the batch (data-parallel GRPO gives the same rollouts on any number of ranks). Overrides `seed`.
   */
  promptSeeds?: readonly number[];
  /** Decodes `text` when given (special tokens skipped, the final stop token left out). */
  tokenizer?: Tokenizer;
  /** Called after every forward (step 0 = prefill) while the cache is alive: progress, memory sampling. */
  onStep?: (step: number) => void;
  /** Called after every step with the new token of every row still running (streaming). */
  onTokens?: (events: TokenEvent[], step: number) => void;
}

export interface Generation {
  promptIds: number[];
  /** Generated ids, including the stop token when finishReason is "stop" (and the tokens of a stop string). */
  ids: number[];
  text?: string;
  /** log p of each generated token under the sampling distribution (logits / temperature; raw logits when greedy). */
  logprobs: number[];
  finishReason: "stop" | "length";
  /** The stop string that ended the row, if one did. */
  stopString?: string;
}

/**
 * Picks the next token of each row from logits [B, V] (float32). Returns [token ids [B] int64, their log-probs [B]].
 * Sampling follows HF: scores / temperature → top-k → top-p (smallest set with mass ≥ p, at least one token).
 */
export function selectNext(logits: Tensor, o: SamplingOptions): [Tensor, Tensor] {
  return tidy(() => {
    if ((o.temperature ?? 1) <= 0) return greedy(logits);
    const [s, logp] = filteredScores(logits, o);
    const tok = s.softmax(-1).multinomial(1, false, o.generator ?? null); // [B, 1]
    return [tok.squeeze(1), logp.gather(1, tok).squeeze(1)];
  });
}

/**
 * selectNext with one generator per row. Sampling is the exponential race multinomial itself uses (argmax p / E,
 * E ~ Exp(1)), each row drawing its E from its own stream.
 */
export function selectPerRow(logits: Tensor, o: SamplingOptions, gens: readonly TorchGenerator[]): [Tensor, Tensor] {
  return tidy(() => {
    if ((o.temperature ?? 1) <= 0) return greedy(logits);
    const [s, logp] = filteredScores(logits, o);
    const probs = s.softmax(-1);
    const race = aten.empty_like(probs);
    gens.forEach((g, i) => aten.exponential_(race.select(0, i), 1, g));
    const tok = probs.div(race).argmax(-1, true); // [B, 1]
    return [tok.squeeze(1), logp.gather(1, tok).squeeze(1)];
  });
}

function greedy(logits: Tensor): [Tensor, Tensor] {
  const logp = logits.logSoftmax(-1);
  const tok = logits.argmax(-1, true); // [B, 1]
  return [tok.squeeze(1), logp.gather(1, tok).squeeze(1)];
}

/** HF's warpers on logits [B, V]: scores / temperature → top-k → top-p; returns [filtered scores, log-probs]. */
function filteredScores(logits: Tensor, o: SamplingOptions): [Tensor, Tensor] {
  const temperature = o.temperature ?? 1;
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
  return [s, logp];
}

/** Batched generation with left padding and a KV cache; see the module comment. Runs in inference mode. */
export function generate(
  model: Qwen2VLForConditionalGeneration,
  samples: readonly PromptSample[],
  o: GenerateOptions,
): Generation[] {
  const run = new SeededSteps(decodeLoop(model, samples, o));
  for (;;) {
    const r = run.next();
    if (r.done) return r.value;
  }
}

/**
 * `generate` that yields to the event loop between decode steps, so one process can serve HTTP (or run several
 * generations interleaved) while it generates. With a seed its outputs equal `generate`'s: the sampler draws
 * from its own Generator.
 */
export async function generateAsync(
  model: Qwen2VLForConditionalGeneration,
  samples: readonly PromptSample[],
  o: GenerateOptions & { signal?: AbortSignal },
): Promise<Generation[]> {
  const run = new SeededSteps(decodeLoop(model, samples, o));
  try {
    for (;;) {
      if (o.signal?.aborted) throw new Error("generation aborted");
      const r = run.next();
      if (r.done) return r.value;
      await new Promise<void>((res) => setImmediate(res));
    }
  } finally {
    run.close();
  }
}

/**
 * Runs a decode loop one step at a time in inference mode. A seed gives the sampler its own Generator (seeded as
 * manualSeed would seed the global one, so the samples equal a manualSeed'ed run's): the global stream is never
 * touched, and interleaved generations keep their own streams.
 */
class SeededSteps {
  constructor(readonly it: Generator<number, Generation[]>) {}
  next(): IteratorResult<number, Generation[]> {
    return inferenceMode(() => this.it.next());
  }
  /** Frees the loop's tensors when it is abandoned before the end. */
  close(): void {
    inferenceMode(() => this.it.return([]));
  }
}

function sameSampling(a: SamplingOptions, b: SamplingOptions): boolean {
  return (
    (a.temperature ?? 1) === (b.temperature ?? 1) &&
    (a.topP ?? 1) === (b.topP ?? 1) &&
    (a.topK ?? 0) === (b.topK ?? 0) &&
    (a.generator ?? null) === (b.generator ?? null)
  );
}

/**
 * selectNext with per-row settings: rows with equal settings (the same generator included) are sampled together,
 * in order of first row.
 */
function selectRows(logits: Tensor, settings: readonly SamplingOptions[]): [Tensor, Tensor] {
  const groups: { o: SamplingOptions; rows: number[] }[] = [];
  settings.forEach((o, r) => {
    const g = groups.find((x) => sameSampling(x.o, o));
    if (g) g.rows.push(r);
    else groups.push({ o, rows: [r] });
  });
  if (groups.length === 1) return selectNext(logits, groups[0]!.o);
  return tidy(() => {
    const toks: Tensor[] = [];
    const lps: Tensor[] = [];
    const order: number[] = [];
    for (const g of groups) {
      const idx = tensor(g.rows, { dtype: "int64", device: logits.device });
      const [t, l] = selectNext(logits.indexSelect(0, idx), g.o);
      toks.push(t);
      lps.push(l);
      order.push(...g.rows);
    }
    // Back to row order: position of row r in the concatenation.
    const inv = new Array<number>(order.length);
    order.forEach((r, p) => (inv[r] = p));
    const back = tensor(inv, { dtype: "int64", device: logits.device });
    return [cat(toks, 0).indexSelect(0, back), cat(lps, 0).indexSelect(0, back)];
  });
}

/** The decode loop as a generator: yields the step number after each forward; returns the generations. */
function* decodeLoop(
  model: Qwen2VLForConditionalGeneration,
  samples: readonly PromptSample[],
  o: GenerateOptions,
): Generator<number, Generation[]> {
  const G = o.numReturnSequences ?? 1;
  if (!Number.isInteger(G) || G < 1) throw new Error(`numReturnSequences must be a positive integer (got ${G})`);
  const B0 = samples.length;
  const B = B0 * G;
  if (o.rows && o.rows.length !== B)
    throw new Error(`generate: ${o.rows.length} row settings for ${B} output rows (${B0} prompts × ${G})`);
  const rowOpt = (r: number): RowOptions => o.rows?.[r] ?? {};
  const generator = o.seed !== undefined ? new TorchGenerator(o.seed) : (o.generator ?? null);
  if (o.promptSeeds && o.promptSeeds.length !== B0)
    throw new Error(`generate: ${o.promptSeeds.length} prompt seeds for ${B0} prompts`);
  if (o.promptSeeds && o.rows) throw new Error("generate: promptSeeds and per-row settings do not combine");
  // One stream per output row (prompt i, sample j), so a row's samples depend on nothing else in the batch.
  const rowGens = o.promptSeeds
    ? Array.from({ length: B }, (_, r) => new TorchGenerator(hash32(`${o.promptSeeds![Math.floor(r / G)]}/${r % G}`)))
    : null;
  const sampling: SamplingOptions[] = Array.from({ length: B }, (_, r) => ({
    temperature: rowOpt(r).temperature ?? o.temperature,
    topP: rowOpt(r).topP ?? o.topP,
    topK: rowOpt(r).topK ?? o.topK,
    generator,
  }));
  const maxNew = Array.from({ length: B }, (_, r) => rowOpt(r).maxNewTokens ?? o.maxNewTokens);
  const stopIds = Array.from({ length: B }, (_, r) => new Set(rowOpt(r).stopTokenIds ?? o.stopTokenIds));
  const stopStrs = Array.from({ length: B }, (_, r) => rowOpt(r).stopStrings ?? o.stopStrings ?? []);
  if (stopStrs.some((x) => x.length) && !o.tokenizer) throw new Error("generate: stop strings need a tokenizer");
  if (stopStrs.some((x) => x.some((s) => s.length === 0))) throw new Error("generate: empty stop string");
  const out: Generation[] = Array.from({ length: B }, (_, r) => ({
    promptIds: [...samples[Math.floor(r / G)]!.inputIds],
    ids: [],
    logprobs: [],
    finishReason: "length",
  }));
  const steps = Math.max(0, ...maxNew);
  if (B === 0 || steps <= 0) return out;
  const done = maxNew.map((m) => m <= 0);
  const batch = collate(samples, o.padTokenId, model.dtype);
  const T = batch.inputIds.size(1);
  const cache = model.newCache(T + steps);
  let mask = batch.attentionMask.alias();
  let deltas: number[] = [];
  let next: Tensor | null = null;
  // Batch row → output row. Rows that finished keep decoding a pad token (ignored) until a quarter of the batch
  // has finished; then the batch is compacted (cache, mask, deltas) so that long completions do not pay for
  // finished rows.
  let rows = Array.from({ length: B }, (_, r) => r);
  try {
    for (let step = 0; step < steps; step++) {
      const [tok, lp] = tidy(() => {
        const inputs =
          step === 0
            ? {
                inputIds: batch.inputIds,
                attentionMask: mask,
                pixelValues: batch.pixelValues,
                imageGridThw: batch.imageGridThw,
                imageSource: batch.imageSource,
                sampleIds: batch.sampleIds,
              }
            : { inputIds: next!, attentionMask: mask };
        const n = step === 0 ? T : 1;
        const r = model.forward(inputs, { cache, ropeDeltas: deltas, logitsRange: [n - 1, n] });
        deltas = r.ropeDeltas;
        let logits = r.logits.select(1, 0).to("float32"); // [rows, V]
        if (step === 0 && G > 1) {
          // Fan the prefill out to the G samples of each prompt: cache rows, mask, deltas and logits.
          const fan = tensor(
            rows.map((r) => Math.floor(r / G)),
            { dtype: "int64", device: logits.device },
          );
          cache.selectRows(fan);
          const m = mask.indexSelect(0, fan);
          mask.dispose();
          mask = keep(m); // the loop owns the mask across steps
          deltas = rows.map((r) => deltas[Math.floor(r / G)]!);
          logits = logits.indexSelect(0, fan);
        }
        if (rowGens)
          return selectPerRow(
            logits,
            o,
            rows.map((r) => rowGens[r]!),
          );
        return o.rows
          ? selectRows(
              logits,
              rows.map((r) => sampling[r]!),
            )
          : selectNext(logits, { ...o, generator });
      });
      o.onStep?.(step);
      // Host sync: the loop needs the tokens to decide which rows have stopped.
      const toks = tok.toNumbers();
      const lps = lp.toNumbers();
      tok.dispose();
      lp.dispose();
      const events: TokenEvent[] = [];
      rows.forEach((b, p) => {
        if (done[b]) return;
        const g = out[b]!;
        g.ids.push(toks[p]!);
        g.logprobs.push(lps[p]!);
        const ev: TokenEvent = { row: b, id: toks[p]!, logprob: lps[p]! };
        if (stopIds[b]!.has(toks[p]!)) g.finishReason = "stop";
        else if (stopStrs[b]!.length) {
          const hit = findStopString(o.tokenizer!, g.ids, stopStrs[b]!);
          if (hit !== null) {
            g.finishReason = "stop";
            g.stopString = hit;
          }
        }
        if (g.finishReason === "stop" || g.ids.length >= maxNew[b]!) {
          done[b] = true;
          ev.finishReason = g.finishReason;
        }
        events.push(ev);
      });
      if (events.length) o.onTokens?.(events, step);
      const live = rows.flatMap((b, p) => (done[b] ? [] : [p])); // batch positions still generating
      if (live.length === 0 || step === steps - 1) break;
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
      yield step;
    }
  } finally {
    mask.dispose();
    next?.dispose();
    cache.dispose();
    batch[Symbol.dispose]();
  }
  if (o.tokenizer) {
    for (const g of out) {
      const body = g.finishReason === "stop" && !g.stopString ? g.ids.slice(0, -1) : g.ids;
      let text = body.length ? o.tokenizer.decode(body, { skipSpecialTokens: true }) : "";
      if (g.stopString) text = text.slice(0, text.indexOf(g.stopString));
      g.text = text;
    }
  }
  return out;
}

/**
 * The stop string that the newest token completed, if any: only the tail that can hold a string ending at the new
 * token is decoded (a token decodes to at least one character, so `longest + 1` tokens are enough).
 */
function findStopString(tok: Tokenizer, ids: readonly number[], stops: readonly string[]): string | null {
  const longest = Math.max(...stops.map((s) => s.length));
  const tail = tok.decode(ids.slice(-(longest + 1)), { skipSpecialTokens: true });
  const prev = tok.decode(ids.slice(-(longest + 1), -1), { skipSpecialTokens: true });
  for (const s of stops) if (tail.includes(s) && !prev.includes(s)) return s;
  return null;
}

export interface LogProbOptions {
  padTokenId: number;
  /** Rows per forward; default 8. */
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
 * Per-token log-probs of given completions after their prompts, for a whole batch at once (rows `chunkSize` at a
 * time). With gradients enabled the result carries every chunk's graph until backward: trainers use
 * `logProbBatch` + `tokenLogProbs` per micro-batch instead (logprobs.ts), which bounds memory.
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
  const parts: Tensor[] = [];
  const masks: Tensor[] = [];
  try {
    for (let s = 0; s < B; s += chunk) {
      const rows = prompts.slice(s, s + chunk).map((prompt, i) => ({
        prompt,
        completion: completions[s + i]!,
        mask: completionMask?.[s + i]?.slice(0, completions[s + i]!.length),
      }));
      using batch = logProbBatch(rows, o.padTokenId, model.dtype, C);
      // The graph (if any) must outlive this call: a generous chunk budget keeps it in plain autograd.
      const lp = tokenLogProbs(model, batch, { temperature: o.temperature, chunkBytes: Number.MAX_SAFE_INTEGER });
      parts.push(lp.logprobs.alias());
      lp.dispose();
      masks.push(batch.completionMask.alias());
    }
    return tidy(() => ({
      logprobs: parts.length === 1 ? parts[0]!.alias() : cat(parts, 0),
      mask: masks.length === 1 ? masks[0]!.alias() : cat(masks, 0),
    }));
  } finally {
    for (const p of [...parts, ...masks]) p.dispose();
  }
}
