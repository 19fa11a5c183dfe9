/**
 * SFT label masking, truncation and padding on hand-built records, through the one preprocessing path
 * (prepareInputs) with the project's tiny tokenizer.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { prepareInputs } from "../../src/models/qwen2vl/inputs.ts";
import { defaultPreprocessorConfig, expandImagePads } from "../../src/models/qwen2vl/processor.ts";
import { QwenTokenizer } from "../../src/models/qwen2vl/tokenizer.ts";
import { renderQwen2VLChat } from "../../src/models/qwen2vl/chat_template.ts";
import { toTokenizerConfig, toTokenizerJson, trainByteLevelBpe } from "../../src/models/qwen2vl/tiny_tokenizer.ts";
import { toCotSft } from "../../src/data/convert.ts";
import {
  IGNORE_INDEX,
  chunk,
  collateSft,
  inferSeqlen,
  sftPromptMessages,
  sftSequence,
  sftTargetText,
  truncateSourceTarget,
} from "../../src/train/sft_data.ts";

const corpus = Array.from(
  { length: 200 },
  (_, i) =>
    `How many cubes are left? Subtract all red spheres. <think>\nThere are ${i % 9} cubes.\n</think>\n<answer>\n${i % 7}\n</answer> You are a helpful assistant.`,
);
const trained = trainByteLevelBpe(corpus, { vocabSize: 400, allowSmaller: true });
const tok = new QwenTokenizer(toTokenizerJson(trained), toTokenizerConfig(trained));
const ids = tok.configIds();
const imEnd = ids.imEnd;
const newline = tok.encode("\n");
const pp = defaultPreprocessorConfig();
/** A 56×56 image: (56/14)² = 16 patches, merged 2×2 → 4 image tokens. */
const image = { width: 56, height: 56, data: new Uint8Array(56 * 56 * 3).fill(90) };

const record = toCotSft(
  { id: "vc-1", image: "a.png", problem: "How many cubes?", answer: "3", cot: "5 - 2 = 3" },
  "How many cubes are left?",
);

async function sourceTarget(rec = record) {
  const x = await prepareInputs(tok, pp, sftPromptMessages(rec), [image], {
    addGenerationPrompt: true,
    sampleId: rec.id,
  });
  return { source: x.inputIds, target: tok.encode(sftTargetText(rec.messages[1].content)) };
}

test("inferSeqlen is LLaMA-Factory's rule (spec §5.3), by hand", () => {
  assert.deepEqual(inferSeqlen(10, 3, 20), [10, 3]); // fits
  assert.deepEqual(inferSeqlen(30, 5, 20), [15, 5]); // 2·5 < 20: target whole, source gets the rest
  assert.deepEqual(inferSeqlen(4, 30, 20), [4, 16]); // 2·4 < 20: source whole, target gets 20 − 4
  assert.deepEqual(inferSeqlen(10, 15, 20), [8, 12]); // both: target ⌊20·15/25⌋ = 12, source 8
  assert.deepEqual(inferSeqlen(10, 10, 20), [10, 10]); // 2·10 is not < 20 → proportional: 10 and 10
  assert.deepEqual(inferSeqlen(7, 6, 9), [5, 4]); // ⌊9·6/13⌋ = 4, source 9 − 4 = 5
  const [s, t] = truncateSourceTarget([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16, 17], 9);
  // ⌊9·7/17⌋ = 3 target tokens, 6 source tokens; each part keeps its first tokens.
  assert.deepEqual(s, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(t, [11, 12, 13]);
  assert.throws(() => truncateSourceTarget([1], [2], 0), /cutoff_len/);
});

test("labels: −100 on system + user + header, supervised on the response, <|im_end|> and the newline", async () => {
  const { source, target } = await sourceTarget();
  const seq = sftSequence(source, target, 4096, { id: record.id, imagePadId: ids.imagePad });
  assert.equal(seq.inputIds.length, seq.labels.length);
  // The first supervised position is right after "<|im_start|>assistant\n", the last two are <|im_end|> and "\n".
  const first = seq.labels.findIndex((l) => l !== IGNORE_INDEX);
  assert.equal(first, source.length);
  assert.equal(tok.decode(seq.inputIds.slice(0, first)).endsWith("<|im_start|>assistant\n"), true);
  assert.ok(seq.labels.slice(0, first).every((l) => l === IGNORE_INDEX));
  assert.deepEqual(seq.labels.slice(first), seq.inputIds.slice(first));
  assert.deepEqual(seq.labels.slice(-1 - newline.length), [imEnd, ...newline]);
  assert.equal(tok.decode(seq.labels.slice(first)), "<think>\n5 - 2 = 3\n</think>\n<answer>\n3\n</answer><|im_end|>\n");
  // 4 image tokens for the 56×56 image, all in the unsupervised part.
  assert.equal(seq.inputIds.filter((x) => x === ids.imagePad).length, 4);
  // Encoding the two parts apart equals encoding the whole rendered conversation (pads expanded).
  const whole = renderQwen2VLChat([
    { role: "user", content: [{ type: "image" }, { type: "text", text: "How many cubes are left?" }] },
    { role: "assistant", content: record.messages[1].content },
  ]);
  assert.deepEqual(seq.inputIds, expandImagePads(tok.encode(whole), [[1, 4, 4]], ids.imagePad, 2));
});

test("truncation: the target is cut when the prompt is short, image tokens are never cut", async () => {
  const { source, target } = await sourceTarget();
  // Three tokens more than the prompt: the reference rule shortens the target (and here the source too).
  const L = source.length + 3;
  const [s, t] = inferSeqlen(source.length, target.length, L);
  assert.ok(t < target.length && s + t === L);
  const seq = sftSequence(source, target, L, { id: "vc-1", imagePadId: ids.imagePad });
  assert.equal(seq.inputIds.length, s + t);
  assert.ok(seq.inputIds.length <= L);
  assert.deepEqual(seq.labels.slice(s), target.slice(0, t));
  // A cutoff that would cut into the image tokens is refused, naming the record.
  assert.throws(
    () => sftSequence(source, target, 12, { id: "vc-1", imagePadId: ids.imagePad }),
    /record vc-1: .*image token/,
  );
  // Without the image check the reference rule applies as is.
  assert.equal(sftSequence(source, target, 12).inputIds.length, 12);
  assert.throws(() => sftSequence(source, [], 100, { id: "x" }), /empty target/);
});

test("collate: right padding to a multiple of 8, labels −100 and mask 0 on padding", () => {
  const a = sftSequence([1, 2, 3], [4, 5], 100, { id: "a" });
  const b = sftSequence([1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11], 100, { id: "b" });
  const mb = collateSft([a, b], { padTokenId: 0, padToMultipleOf: 8 });
  assert.equal(mb.length, 16); // longest 11 → 16
  assert.deepEqual(mb.inputIds[0], [1, 2, 3, 4, 5, ...new Array(11).fill(0)]);
  assert.deepEqual(mb.labels[0], [-100, -100, -100, 4, 5, ...new Array(11).fill(-100)]);
  assert.deepEqual(mb.attentionMask[0], [1, 1, 1, 1, 1, ...new Array(11).fill(0)]);
  assert.deepEqual(mb.attentionMask[1], [...new Array(11).fill(1), ...new Array(5).fill(0)]);
  assert.equal(mb.supervisedTokens, 5);
  assert.deepEqual(mb.ids, ["a", "b"]);
  assert.equal(collateSft([a], { padTokenId: 0 }).length, 5);
  assert.deepEqual(
    chunk([1, 2, 3, 4, 5], 2).map((c) => c.length),
    [2, 2, 1],
  );
});
