/**
 * SFT sequences and micro-batches (spec §5.3, §5.4), tensor-free: plain arrays in, plain arrays out.
 *
 * The contract, for one record of `rft data build` (ANS-SFT, CoT-SFT or Stage-1: `{id, image, messages: [user,
 * assistant]}`):
 *   source = the prompt as `prepareInputs` builds it for generation: the user turn (its `<image>` placeholders become
 *            image parts at their positions, `sftPromptMessages`), rendered by the chat template with the default
 *            system line and the generation header `<|im_start|>assistant\n`, each `<|image_pad|>` expanded to its
 *            image's merged patch count;
 *   target = the tokens of `response + "<|im_end|>\n"` (`sftTargetText`), encoded on their own;
 *   source ++ target is then exactly the tokenisation of the whole rendered conversation (test/train/sft_data.test.ts
 *   checks it), and this is what LLaMA-Factory's qwen2_vl template feeds the model.
 * `sftSequence` truncates the pair by the reference rule (`inferSeqlen`, LLaMA-Factory's infer_seqlen; each part
 * keeps its first tokens) and labels it: −100 (IGNORE_INDEX) on every source token, the target ids on the target
 * tokens, so `<|im_end|>` and the newline after it are supervised. Labels are aligned with the input ids, as in
 * Hugging Face: the loss compares the logits at t with the label at t + 1.
 * `collateSft` right-pads a micro-batch to its longest sequence rounded up to a multiple of `padToMultipleOf` (8 in
 * the reference): ids with the pad id, labels with −100, attention mask 0.
 */
import type { ChatMessage } from "../models/qwen2vl/chat_template.ts";
import { contentFromPlaceholders } from "../models/qwen2vl/chat_template.ts";
import type { ShareGptRecord } from "../data/convert.ts";

/** Label of a token the loss ignores (PyTorch's cross-entropy ignore_index, LLaMA-Factory's IGNORE_INDEX). */
export const IGNORE_INDEX = -100;

/** The conversation `prepareInputs` renders for an SFT record's prompt: the user turn, images at their placeholders. */
export function sftPromptMessages(rec: Pick<ShareGptRecord, "messages">): ChatMessage[] {
  return [{ role: "user", content: contentFromPlaceholders(rec.messages[0].content) }];
}

/** The supervised text of an SFT record: the assistant's answer, `<|im_end|>` and the newline (spec §5.3). */
export function sftTargetText(response: string): string {
  return `${response}<|im_end|>\n`;
}

/**
 * LLaMA-Factory's `infer_seqlen` (spec §5.3): the lengths a (source, target) pair keeps within `cutoffLen` tokens.
 *   if 2·target < L:  the target is kept whole, the source gets what is left;
 *   elif 2·source < L: the source is kept whole, the target gets L − source;
 *   else both shrink in proportion: target ⌊L·t/(s+t)⌋, source L − target.
 * Each result is also capped at its own length.
 *
 * @example
 * inferSeqlen(10, 15, 20); // [8, 12]
 */
export function inferSeqlen(sourceLen: number, targetLen: number, cutoffLen: number): [number, number] {
  let maxTarget: number;
  if (targetLen * 2 < cutoffLen) maxTarget = cutoffLen;
  else if (sourceLen * 2 < cutoffLen) maxTarget = cutoffLen - sourceLen;
  else maxTarget = Math.trunc(cutoffLen * (targetLen / (sourceLen + targetLen))); // Python int(): same float ops
  const newTarget = Math.min(maxTarget, targetLen);
  const newSource = Math.min(Math.max(cutoffLen - newTarget, 0), sourceLen);
  return [newSource, newTarget];
}

/** The pair cut to `inferSeqlen`'s lengths, each keeping its first tokens (LLaMA-Factory's `ids[:len]`). */
export function truncateSourceTarget(
  source: readonly number[],
  target: readonly number[],
  cutoffLen: number,
): [number[], number[]] {
  if (!(Number.isInteger(cutoffLen) && cutoffLen > 0))
    throw new Error(`cutoff_len must be a positive integer, got ${cutoffLen}`);
  const [s, t] = inferSeqlen(source.length, target.length, cutoffLen);
  return [source.slice(0, s), target.slice(0, t)];
}

/** One supervised sequence: input ids and labels of equal length. */
export interface SftSequence {
  /** Name used in errors (record id). */
  id: string;
  inputIds: number[];
  /** IGNORE_INDEX on the source (system + user + assistant header), the target ids on the target. */
  labels: number[];
}

export interface SftSequenceOptions {
  /** Record id, for errors. */
  id?: string;
  /**
   * `<|image_pad|>` id: when given, a truncation that cuts any image token from the source is an error (the model
   * needs every image token; the reference silently broke, spec §5.3).
   */
  imagePadId?: number;
}

/**
 * Source and target ids (see the module comment) → the truncated, labelled sequence. Throws when nothing of the
 * target survives (nothing to learn) or, with `imagePadId`, when truncation would cut image tokens.
 */
export function sftSequence(
  source: readonly number[],
  target: readonly number[],
  cutoffLen: number,
  o: SftSequenceOptions = {},
): SftSequence {
  const id = o.id ?? "(unnamed record)";
  if (target.length === 0) throw new Error(`record ${id}: empty target`);
  const [src, tgt] = truncateSourceTarget(source, target, cutoffLen);
  if (o.imagePadId !== undefined && src.length < source.length) {
    const lost = source.slice(src.length).filter((x) => x === o.imagePadId).length;
    if (lost > 0)
      throw new Error(
        `record ${id}: cutoff_len ${cutoffLen} cuts ${lost} image token(s) from its ${source.length}-token prompt; raise cutoff_len or lower max_pixels`,
      );
  }
  if (tgt.length === 0)
    throw new Error(`record ${id}: cutoff_len ${cutoffLen} leaves none of its ${target.length} target tokens`);
  return { id, inputIds: [...src, ...tgt], labels: [...src.map(() => IGNORE_INDEX), ...tgt] };
}

/** A right-padded micro-batch, as plain row-major arrays ([B][T] each). */
export interface SftMicroBatch {
  ids: string[];
  inputIds: number[][];
  labels: number[][];
  attentionMask: number[][];
  /** T: the padded length (longest sequence rounded up to padToMultipleOf). */
  length: number;
  /** Number of supervised label tokens (not IGNORE_INDEX), for the token mean and tokens/s. */
  supervisedTokens: number;
}

export interface CollateOptions {
  padTokenId: number;
  /** Round the padded length up to a multiple of this (spec §5.4: 8). Default 1. */
  padToMultipleOf?: number;
}

/** Right-pads sequences into one micro-batch (spec §5.4): ids with padTokenId, labels with −100, mask 0. */
export function collateSft(seqs: readonly SftSequence[], o: CollateOptions): SftMicroBatch {
  if (seqs.length === 0) throw new Error("collateSft: empty micro-batch");
  const mult = o.padToMultipleOf ?? 1;
  if (!(Number.isInteger(mult) && mult >= 1)) throw new Error(`collateSft: padToMultipleOf must be ≥ 1, got ${mult}`);
  const longest = Math.max(...seqs.map((s) => s.inputIds.length));
  const T = Math.ceil(longest / mult) * mult;
  let supervised = 0;
  const inputIds: number[][] = [];
  const labels: number[][] = [];
  const attentionMask: number[][] = [];
  for (const s of seqs) {
    if (s.labels.length !== s.inputIds.length)
      throw new Error(`record ${s.id}: ${s.inputIds.length} ids but ${s.labels.length} labels`);
    const pad = T - s.inputIds.length;
    inputIds.push([...s.inputIds, ...new Array<number>(pad).fill(o.padTokenId)]);
    labels.push([...s.labels, ...new Array<number>(pad).fill(IGNORE_INDEX)]);
    attentionMask.push([...new Array<number>(s.inputIds.length).fill(1), ...new Array<number>(pad).fill(0)]);
    for (const l of s.labels) if (l !== IGNORE_INDEX) supervised++;
  }
  return { ids: seqs.map((s) => s.id), inputIds, labels, attentionMask, length: T, supervisedTokens: supervised };
}

/** Splits an ordered list into consecutive micro-batches of `size` (the last may be smaller). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!(Number.isInteger(size) && size >= 1)) throw new Error(`chunk: size must be ≥ 1, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
