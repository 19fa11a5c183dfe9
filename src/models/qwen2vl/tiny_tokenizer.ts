/**
 * The project's small tokenizer: a byte-level BPE trained by our own code on a corpus of texts, written as a
 * Hugging Face tokenizer.json that @huggingface/tokenizers (and the Rust/Python tokenizers) read.
 *
 * Same design as Qwen2's tokenizer at a small scale:
 * - the same pre-tokenizer: Qwen2's split regex (digits one by one, letters with one leading non-letter, runs of
 *   punctuation, whitespace) followed by GPT-2 byte-level mapping, so every string is encodable and
 *   decode(encode(x)) == x;
 * - no normaliser (Qwen applies NFC; we leave text untouched so the round trip is exact for any Unicode);
 * - the 256 byte tokens first (id = byte value), then merges in the order learned, then the special tokens
 *   `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, `<|vision_start|>`, `<|vision_end|>`, `<|vision_pad|>`,
 *   `<|image_pad|>`, `<|video_pad|>` as the last ids (config.TINY_SPECIAL_TOKENS).
 * `<think>`, `</think>`, `<answer>`, `</answer>` are ordinary text, as in Qwen2-VL's vocabulary (they are not
 * tokens there either); on a corpus that uses them the BPE learns them as a few tokens each.
 *
 * Training is the classic algorithm (count pre-tokens, repeatedly merge the most frequent adjacent pair) with
 * incremental pair counts, an index from pair to the words containing it, and a lazy max-heap, so a corpus of a
 * few MB trains in seconds. Ties between equally frequent pairs go to the pair with the smaller ids.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TINY_SPECIAL_TOKENS, TINY_VOCAB_SIZE } from "./token_layout.ts";
import { QWEN2VL_CHAT_TEMPLATE } from "./chat_template.ts";

/** Qwen2's pre-tokenizer pattern as written in its tokenizer.json (Oniguruma syntax). */
export const QWEN2_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The same pattern for JavaScript (no inline (?i:) group: the contractions spelled out in both cases). */
const SPLIT_JS =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/** GPT-2's reversible byte → printable character map used by byte-level BPE. */
export function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const map: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + n++);
  return map;
}

export interface TrainBpeOptions {
  /** Total vocabulary including the special tokens (default 1024). */
  vocabSize?: number;
  /** Pairs seen fewer times than this are never merged (default 2). */
  minFrequency?: number;
  specialTokens?: readonly string[];
  /** Accept a smaller vocabulary when the corpus runs out of pairs (default: throw). */
  allowSmaller?: boolean;
}

export interface TrainedBpe {
  /** Byte-level token strings by id (bytes, then merges). */
  tokens: string[];
  /** Merges in rank order, as pairs of token strings. */
  merges: [string, string][];
  specialTokens: { id: number; content: string }[];
}

class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number {
    return this.keys.length;
  }
  private better(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }
  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
    [this.keys[i], this.keys[j]] = [this.keys[j]!, this.keys[i]!];
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { count: number; key: number } | undefined {
    if (!this.keys.length) return undefined;
    const top = { count: this.counts[0]!, key: this.keys[0]! };
    const lc = this.counts.pop()!;
    const lk = this.keys.pop()!;
    if (this.keys.length) {
      this.counts[0] = lc;
      this.keys[0] = lk;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let b = i;
        if (l < this.keys.length && this.better(l, b)) b = l;
        if (r < this.keys.length && this.better(r, b)) b = r;
        if (b === i) break;
        this.swap(i, b);
        i = b;
      }
    }
    return top;
  }
}

/** Splits text into pre-tokens exactly where Qwen2's pre-tokenizer would (special-token strings removed first). */
export function preTokenize(text: string): string[] {
  return text.match(SPLIT_JS) ?? [];
}

/** Trains a byte-level BPE on `texts`. */
export function trainByteLevelBpe(texts: Iterable<string>, opts: TrainBpeOptions = {}): TrainedBpe {
  const specials = opts.specialTokens ?? TINY_SPECIAL_TOKENS;
  const target = (opts.vocabSize ?? TINY_VOCAB_SIZE) - specials.length;
  const minFreq = opts.minFrequency ?? 2;
  if (target < 256)
    throw new Error(`vocabSize must leave at least 256 byte tokens besides ${specials.length} special tokens`);
  if (target > 65536) throw new Error("vocabSize above 65536 is not supported by this trainer");
  const b2u = bytesToUnicode();
  const enc = new TextEncoder();

  // 1. Count pre-tokens (special-token strings are not learned from).
  const counts = new Map<string, number>();
  const specialSplit = specials.length
    ? new RegExp(specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g")
    : undefined;
  for (const text of texts) {
    for (const chunk of specialSplit ? text.split(specialSplit) : [text]) {
      for (const w of preTokenize(chunk)) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }

  // 2. Words as arrays of symbol ids (initially their UTF-8 bytes).
  const words: number[][] = [];
  const freq: number[] = [];
  for (const [w, c] of counts) {
    words.push(Array.from(enc.encode(w)));
    freq.push(c);
  }
  const tokens = b2u.slice();
  const merges: [string, string][] = [];
  const K = 65536;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  for (let w = 0; w < words.length; w++) {
    const s = words[w]!;
    for (let i = 0; i + 1 < s.length; i++) {
      const key = s[i]! * K + s[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + freq[w]!);
      let list = pairWords.get(key);
      if (!list) pairWords.set(key, (list = []));
      if (list[list.length - 1] !== w) list.push(w);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  // 3. Merge the most frequent pair until the vocabulary is full.
  const visited = new Int32Array(words.length).fill(-1);
  while (tokens.length < target) {
    const top = heap.pop();
    if (!top) break;
    if (pairCount.get(top.key) !== top.count) continue; // stale heap entry
    if (top.count < minFreq) break;
    const a = Math.floor(top.key / K);
    const b = top.key % K;
    const id = tokens.length;
    tokens.push(tokens[a]! + tokens[b]!);
    merges.push([tokens[a]!, tokens[b]!]);
    const touched = new Set<number>();
    const bump = (key: number, delta: number, w: number) => {
      pairCount.set(key, (pairCount.get(key) ?? 0) + delta);
      touched.add(key);
      if (delta > 0) {
        let list = pairWords.get(key);
        if (!list) pairWords.set(key, (list = []));
        if (list[list.length - 1] !== w) list.push(w);
      }
    };
    for (const w of pairWords.get(top.key) ?? []) {
      if (visited[w] === id) continue;
      visited[w] = id;
      const s = words[w]!;
      const f = freq[w]!;
      let has = false;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) has = true;
      if (!has) continue;
      for (let i = 0; i + 1 < s.length; i++) bump(s[i]! * K + s[i + 1]!, -f, w);
      const n: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          n.push(id);
          i++;
        } else n.push(s[i]!);
      }
      words[w] = n;
      for (let i = 0; i + 1 < n.length; i++) bump(n[i]! * K + n[i + 1]!, f, w);
    }
    pairCount.delete(top.key);
    pairWords.delete(top.key);
    touched.delete(top.key);
    for (const key of touched) {
      const c = pairCount.get(key)!;
      if (c > 0) heap.push(c, key);
      else {
        pairCount.delete(key);
        pairWords.delete(key);
      }
    }
  }
  if (tokens.length < target && !opts.allowSmaller) {
    throw new Error(
      `BPE training: the corpus gave only ${tokens.length - 256} merges with frequency >= ${minFreq}; ` +
        `${target - 256} needed for vocabSize ${target + specials.length} (use a larger corpus or a smaller vocabSize)`,
    );
  }
  return { tokens, merges, specialTokens: specials.map((content, i) => ({ id: tokens.length + i, content })) };
}

const BYTE_LEVEL = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };

/** The HF tokenizer.json object of a trained BPE (merges in the "a b" string form every tokenizers version reads). */
export function toTokenizerJson(t: TrainedBpe): Record<string, unknown> {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: t.specialTokens.map((s) => ({
      id: s.id,
      content: s.content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: QWEN2_SPLIT_REGEX }, behavior: "Isolated", invert: false },
        BYTE_LEVEL,
      ],
    },
    post_processor: BYTE_LEVEL,
    decoder: BYTE_LEVEL,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(t.tokens.map((tok, id) => [tok, id])),
      merges: t.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** tokenizer_config.json for a trained tiny tokenizer (Qwen2 conventions, Qwen2-VL chat template). */
export function toTokenizerConfig(t: TrainedBpe, chatTemplate = QWEN2VL_CHAT_TEMPLATE): Record<string, unknown> {
  const has = (s: string) => t.specialTokens.some((x) => x.content === s);
  return {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      t.specialTokens.map((s) => [
        String(s.id),
        { content: s.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      ]),
    ),
    additional_special_tokens: t.specialTokens.map((s) => s.content).filter((s) => s !== "<|endoftext|>"),
    bos_token: null,
    chat_template: chatTemplate,
    clean_up_tokenization_spaces: false,
    eos_token: has("<|im_end|>") ? "<|im_end|>" : null,
    errors: "replace",
    model_max_length: 32768,
    pad_token: has("<|endoftext|>") ? "<|endoftext|>" : null,
    split_special_tokens: false,
    tokenizer_class: "Qwen2Tokenizer",
    unk_token: null,
  };
}

/** Writes tokenizer.json and tokenizer_config.json into `dir`. */
export async function writeTokenizerFiles(dir: string, t: TrainedBpe, chatTemplate?: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "tokenizer.json"), JSON.stringify(toTokenizerJson(t), null, 2) + "\n");
  await writeFile(
    join(dir, "tokenizer_config.json"),
    JSON.stringify(toTokenizerConfig(t, chatTemplate), null, 2) + "\n",
  );
}
