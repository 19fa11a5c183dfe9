/**
 * Limits of a request, checked before any work: context length against `max_position_embeddings`, and an estimate
 * of the memory a forward/generation needs (KV cache, attention scores of the vision tower and of the prefill,
 * MLP activations, logits, pixel values) against a budget (free memory by default). Tensor-free and pure, so the
 * CLI, the trainers and the server call the same functions; the formulas are in docs/model.md ("Request limits").
 *
 * The estimate is an upper-bound-minded approximation of the peak of the largest step (the largest single
 * allocations, with the factors of our implementation: float32 softmax, scores kept while the softmax is built,
 * the KV cache preallocated for prompt + new tokens), not a byte-exact prediction. It exists to turn a 68 GB
 * matmul or a kernel OOM kill into an error that names the flag or input to change.
 */
import { freemem } from "node:os";
import type { Qwen2VLConfig } from "./config.ts";

export class LimitError extends Error {
  override name = "LimitError";
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, float16: 2, bfloat16: 2, float64: 8 };

/** Bytes per element of a floating dtype name ("float32", "bfloat16"...); 4 when unknown. */
export function dtypeBytes(dtype: string): number {
  return DTYPE_BYTES[dtype] ?? 4;
}

export interface ContextCheck {
  promptTokens: number;
  /** Generated tokens asked for (0 for a plain forward). */
  maxNewTokens?: number;
  /** Names used in the message (defaults fit the CLI). */
  promptName?: string;
  maxNewTokensName?: string;
}

/**
 * Refuses a prompt longer than max_position_embeddings, or prompt + new tokens beyond it. The rotary tables and the
 * model were trained for positions below it: HF warns and degrades, we refuse with the numbers.
 */
export function checkContextLength(cfg: Qwen2VLConfig, c: ContextCheck): void {
  const max = cfg.max_position_embeddings;
  const prompt = c.promptName ?? "the prompt";
  const flag = c.maxNewTokensName ?? "--max-new-tokens";
  const n = c.maxNewTokens ?? 0;
  if (c.promptTokens > max)
    throw new LimitError(
      `${prompt} has ${c.promptTokens} tokens (image tokens included), more than the model's max_position_embeddings ` +
        `(${max}): shorten the text or use fewer or smaller images (--max-pixels)`,
    );
  if (c.promptTokens + n > max)
    throw new LimitError(
      `${prompt} (${c.promptTokens} tokens) + ${flag} ${n} = ${c.promptTokens + n} exceeds the model's ` +
        `max_position_embeddings (${max}): set ${flag} to at most ${max - c.promptTokens}`,
    );
}

export interface RequestShape {
  /** Rows decoded together (prompts × samples per prompt). */
  batch: number;
  /** Longest prompt, in tokens (image tokens included). */
  promptTokens: number;
  maxNewTokens: number;
  /** Patch rows (t·h·w before the merge) of each image of the request. */
  imagePatches?: readonly number[];
  /** Dtype of the activations and the KV cache (the weights' dtype). */
  dtype?: string;
  /** Rows whose prefill runs at once (default: batch; GRPO prefills each prompt once and fans out). */
  prefillBatch?: number;
}

export interface MemoryEstimate {
  /** Keys and values of every layer for prompt + new tokens: 2·L·B·kv_heads·head_dim·(P+N)·bytes. */
  kvCache: number;
  /** Prefill attention: scores, their float32 softmax and mask of one layer: 3·B·heads·P·P·4 + B·P·P·4. */
  prefillAttention: number;
  /** Prefill MLP of one layer: 3·B·P·intermediate·bytes (gate, up, their product). */
  prefillMlp: number;
  /** Vision attention of one block over the images: 3·heads·Σ n_i²·4 (n_i = an image's patch rows). */
  visionAttention: number;
  /** Vision activations: pixel values (float32) + 4·N·mlp_dim·4 (fc1 output, activation) + merger. */
  visionActivations: number;
  /** Logits of one decoding step: 2·B·vocab·4 (float32 logits and their softmax). */
  logits: number;
  /** Sum of the above (the parts do not all peak together; the sum is a safe side bound). */
  total: number;
}

/** Estimated peak bytes of a request beyond the weights (see MemoryEstimate's fields for the formulas). */
export function estimateRequestMemory(cfg: Qwen2VLConfig, r: RequestShape): MemoryEstimate {
  const bytes = dtypeBytes(r.dtype ?? cfg.torch_dtype);
  const L = cfg.num_hidden_layers;
  const hd = cfg.hidden_size / cfg.num_attention_heads;
  const P = r.promptTokens;
  const S = r.promptTokens + r.maxNewTokens;
  const B = r.batch;
  const Bp = r.prefillBatch ?? B;
  const kvCache = 2 * L * B * cfg.num_key_value_heads * hd * S * bytes;
  const prefillAttention = 3 * Bp * cfg.num_attention_heads * P * P * 4 + Bp * P * P * 4;
  const prefillMlp = 3 * Bp * P * cfg.intermediate_size * bytes;
  const v = cfg.vision_config;
  const patches = r.imagePatches ?? [];
  const N = patches.reduce((a, n) => a + n, 0);
  const sumSq = patches.reduce((a, n) => a + n * n, 0);
  const visionAttention = 3 * v.num_heads * sumSq * 4;
  const patchDim = v.in_channels * v.temporal_patch_size * v.patch_size ** 2;
  const mlpDim = Math.trunc(v.embed_dim * v.mlp_ratio);
  const visionActivations = N * patchDim * 4 + 4 * N * mlpDim * 4 + 3 * N * v.embed_dim * 4;
  const logits = 2 * B * cfg.vocab_size * 4;
  const total = kvCache + prefillAttention + prefillMlp + visionAttention + visionActivations + logits;
  return { kvCache, prefillAttention, prefillMlp, visionAttention, visionActivations, logits, total };
}

/** "1.5 GB" style. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/**
 * Parses a memory budget: bytes as a number, or "512MB", "8GB", "1.5 TiB" (binary units either way). Errors name
 * `what` (a flag or field).
 */
export function parseByteSize(x: string | number, what = "--memory-budget"): number {
  if (typeof x === "number") {
    if (!(Number.isFinite(x) && x > 0)) throw new LimitError(`${what} must be a positive number of bytes, got ${x}`);
    return x;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$/i.exec(x);
  if (!m) throw new LimitError(`${what}: cannot read '${x}' as a size (e.g. 8GB, 512MB, 1073741824)`);
  const mult = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 }[m[2]!.toLowerCase()]!;
  const v = Number(m[1]) * mult;
  if (!(v > 0)) throw new LimitError(`${what} must be positive, got '${x}'`);
  return v;
}

/** The default budget: memory the OS reports available now (after the weights are loaded). */
export function defaultMemoryBudget(): number {
  return freemem();
}

export interface FitOptions {
  /** Bytes the request may use (default: defaultMemoryBudget()). */
  budget?: number;
  /** What the budget is, for the message (default: "free memory"). */
  budgetName?: string;
  /** The knobs to name, by estimate part (defaults fit `rft generate`). */
  hints?: Partial<Record<"tokens" | "images", string>>;
}

/**
 * Throws a LimitError when the estimate exceeds the budget, naming the largest part and the input to change.
 */
export function checkRequestFits(est: MemoryEstimate, opts: FitOptions = {}): void {
  const budget = opts.budget ?? defaultMemoryBudget();
  if (est.total <= budget) return;
  const parts: [string, number, "tokens" | "images"][] = [
    ["KV cache", est.kvCache, "tokens"],
    ["prefill attention", est.prefillAttention, "tokens"],
    ["prefill MLP", est.prefillMlp, "tokens"],
    ["vision attention", est.visionAttention, "images"],
    ["vision activations", est.visionActivations, "images"],
    ["logits", est.logits, "tokens"],
  ];
  parts.sort((a, b) => b[1] - a[1]);
  const [name, size, kind] = parts[0]!;
  const hints = {
    tokens: "lower --max-new-tokens or shorten the prompt",
    images: "lower --max-pixels (or --min-pixels) or use smaller images",
    ...opts.hints,
  };
  throw new LimitError(
    `this request needs about ${formatBytes(est.total)} of memory (${name} ${formatBytes(size)}) but the budget is ` +
      `${formatBytes(budget)} (${opts.budgetName ?? "free memory"}): ${hints[kind]}, or raise --memory-budget`,
  );
}

/** Patch rows of an image after smart_resize, and its pixel_values bytes: guards typed-array allocation. */
export function checkImagePixels(
  resizedHeight: number,
  resizedWidth: number,
  patchDim: number,
  patchSize: number,
  what = "image",
): void {
  const rows = (resizedHeight / patchSize) * (resizedWidth / patchSize);
  const elements = rows * patchDim;
  // Float32Array length limit (and far beyond any memory we could have).
  if (!(elements <= 2 ** 32 - 1))
    throw new LimitError(
      `${what}: resized to ${resizedWidth}x${resizedHeight}, its pixel_values would hold ${elements.toExponential(2)} ` +
        "floats, more than an array can: lower min_pixels/max_pixels (--min-pixels/--max-pixels)",
    );
}
