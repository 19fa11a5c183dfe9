import { existsSync } from "node:fs";
import { join } from "node:path";
import { type CommandSpec, UsageError } from "../args.ts";
import { loadCheckpoint, stopTokenIds, padTokenId } from "../../models/qwen2vl/checkpoint.ts";
import { imageGeometry } from "../../models/qwen2vl/image_math.ts";
import { loadImage } from "../../models/qwen2vl/image_io.ts";
import {
  LimitError,
  checkContextLength,
  checkRequestFits,
  defaultMemoryBudget,
  estimateRequestMemory,
  parseByteSize,
} from "../../models/qwen2vl/limits.ts";
import { QwenTokenizer } from "../../models/qwen2vl/tokenizer.ts";
import { type ContentPart } from "../../models/qwen2vl/chat_template.ts";
import { prepareInputs } from "../../models/qwen2vl/inputs.ts";
import { generate, promptSample } from "../../models/qwen2vl/generate.ts";
import { setNumThreads } from "../../tensor/index.ts";

/** Limits name the flag or input to change: report them as usage errors (exit status 2). */
function asUsage(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof LimitError) throw new UsageError(e.message);
    throw e;
  }
}

function log(msg: string): void {
  process.stderr.write(`[generate] ${msg}\n`);
}

export const command: CommandSpec = {
  name: "generate",
  summary: "generate a reply of a Qwen2-VL checkpoint to a prompt with images (chat template, processor, KV cache)",
  options: {
    model: { type: "string", help: "checkpoint directory (config.json, safetensors, tokenizer)", required: true },
    image: { type: "strings", help: "image file (PNG/JPEG/WebP); repeat for several images (placed before the text)" },
    prompt: { type: "string", help: "user text", required: true },
    "max-new-tokens": { type: "number", help: "maximum generated tokens", default: 128 },
    temperature: { type: "number", help: "sampling temperature; 0 = greedy (default: generation_config.json, else 0)" },
    "top-p": { type: "number", help: "nucleus sampling mass (1 = off)" },
    "top-k": { type: "number", help: "keep the k most likely tokens (0 = off)" },
    seed: { type: "number", help: "sampling seed", default: 0 },
    "min-pixels": { type: "number", help: "processor min_pixels (default: the checkpoint's preprocessor_config.json)" },
    "max-pixels": { type: "number", help: "processor max_pixels (default: the checkpoint's preprocessor_config.json)" },
    dtype: {
      type: "string",
      help: "compute dtype of the weights (default: as stored)",
      choices: ["float32", "bfloat16"] as const,
    },
    threads: { type: "number", help: "libtorch threads" },
    "memory-budget": {
      type: "string",
      help: "refuse requests estimated to need more memory than this (e.g. 8GB; default: the free memory after loading)",
    },
    json: { type: "boolean", help: "print JSON: prompt_ids, ids, text, logprobs, finish_reason" },
  },
  details: [
    "Examples:",
    "  rft generate --model runs/tiny --image scene.png --prompt 'How many objects are left?' --temperature 0",
    "  rft generate --model runs/tiny --image a.png --image b.png --prompt 'Which functions?' --temperature 0.9 --top-p 0.9 --top-k 50 --seed 1 --json",
    "",
    "The prompt is rendered with the checkpoint's chat template (default system line, one",
    "<|vision_start|><|image_pad|><|vision_end|> per image before the text, generation prompt); each <|image_pad|>",
    "is expanded to the image's merged patch count. Generation stops at any eos id of generation_config.json",
    "(<|im_end|>, <|endoftext|>) or after --max-new-tokens. `ids` include the stop token; `text` leaves it out.",
    "`logprobs` are log p of each generated token under the sampling distribution (logits / temperature).",
    "",
    "Before generating, the request is checked: prompt + --max-new-tokens within max_position_embeddings, and the",
    "estimated memory (KV cache, attention, vision tower, logits; docs/model.md) within --memory-budget.",
    "A checkpoint fresh from `rft model init` has random weights: its output is meaningless (often only newlines).",
  ].join("\n"),
  async run(opts) {
    const dir = String(opts.model);
    if (!existsSync(join(dir, "config.json"))) throw new UsageError(`--model: ${dir} has no config.json`);
    if (!existsSync(join(dir, "tokenizer.json"))) throw new UsageError(`--model: ${dir} has no tokenizer.json`);
    const images = (opts.image as string[] | undefined) ?? [];
    for (const f of images) if (!existsSync(f)) throw new UsageError(`--image: ${f} does not exist`);
    const maxNew = Number(opts["max-new-tokens"]);
    if (!Number.isSafeInteger(maxNew) || maxNew < 1)
      throw new UsageError(`--max-new-tokens must be a positive integer, got ${maxNew}`);
    if (opts.temperature !== undefined && !(Number(opts.temperature) >= 0 && Number.isFinite(Number(opts.temperature))))
      throw new UsageError("--temperature must be >= 0");
    if (opts["top-p"] !== undefined && !(Number(opts["top-p"]) > 0 && Number(opts["top-p"]) <= 1))
      throw new UsageError("--top-p must be in (0, 1]");
    if (opts["top-k"] !== undefined && !(Number.isInteger(opts["top-k"]) && Number(opts["top-k"]) >= 0))
      throw new UsageError("--top-k must be a non-negative integer");
    const seed = Number(opts.seed);
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new UsageError(`--seed must be an integer in 0..${Number.MAX_SAFE_INTEGER}, got ${opts.seed}`);
    const minPixels = opts["min-pixels"] as number | undefined;
    const maxPixels = opts["max-pixels"] as number | undefined;
    for (const [flag, v] of [
      ["--min-pixels", minPixels],
      ["--max-pixels", maxPixels],
    ] as const) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0))
        throw new UsageError(`${flag} must be a positive integer, got ${v}`);
    }
    let budget: number | undefined;
    try {
      if (opts["memory-budget"] !== undefined) budget = parseByteSize(String(opts["memory-budget"]));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (opts.threads !== undefined) setNumThreads(Number(opts.threads), "--threads");

    const t0 = Date.now();
    let lastPct = -1;
    const ck = await loadCheckpoint(dir, {
      dtype: opts.dtype as "float32" | "bfloat16" | undefined,
      onProgress: ({ done, total }) => {
        const pct = Math.floor((100 * done) / total / 10) * 10;
        if (pct !== lastPct && Date.now() - t0 > 1000) {
          // Only slow loads (real checkpoints) report progress.
          lastPct = pct;
          log(`loading weights ${pct}% (${done}/${total} tensors)`);
        }
      },
    });
    const { model, config, preprocessor, generationConfig: gen } = ck;
    try {
      log(`loaded ${dir} (${model.dtype}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      for (const w of ck.warnings) log(`warning: ${w.field}: ${w.message}`);
      const min = minPixels ?? preprocessor.min_pixels;
      const max = maxPixels ?? preprocessor.max_pixels;
      if (min > max)
        throw new UsageError(
          `--min-pixels (${min}) is larger than --max-pixels (${max}) (flags or preprocessor config)`,
        );
      const memBudget = budget ?? defaultMemoryBudget();
      const budgetName = budget !== undefined ? "--memory-budget" : "free memory";
      const tok = await QwenTokenizer.fromDir(dir);
      const content: ContentPart[] = [
        ...images.map((): ContentPart => ({ type: "image" })),
        { type: "text", text: String(opts.prompt) },
      ];
      // Decode the images and check what the processor would make of them before it allocates anything.
      const decoded = [];
      const patches: number[] = [];
      for (const f of images) {
        const img = await loadImage(f);
        const g = imageGeometry(img.height, img.width, preprocessor, { minPixels: min, maxPixels: max });
        patches.push(g.gridThw[0] * g.gridThw[1] * g.gridThw[2]);
        decoded.push(img);
      }
      const imageTokens = patches.reduce((a, n) => a + n / preprocessor.merge_size ** 2, 0);
      const shape = { batch: 1, imagePatches: patches, dtype: model.dtype };
      asUsage(() =>
        checkRequestFits(estimateRequestMemory(config, { ...shape, promptTokens: imageTokens, maxNewTokens: 0 }), {
          budget: memBudget,
          budgetName,
        }),
      );
      // The shared preprocessing path (chat template, processor, pad expansion and check).
      const inputs = await prepareInputs(tok, preprocessor, [{ role: "user", content }], decoded, {
        sampleId: "prompt",
        addGenerationPrompt: true,
        minPixels: min,
        maxPixels: max,
      });
      const prompt = promptSample(inputs);
      const promptIds = inputs.inputIds;
      asUsage(() => {
        checkContextLength(config, { promptTokens: promptIds.length, maxNewTokens: maxNew });
        checkRequestFits(
          estimateRequestMemory(config, { ...shape, promptTokens: promptIds.length, maxNewTokens: maxNew }),
          { budget: memBudget, budgetName },
        );
      });
      // Sampling settings: flags, else generation_config.json (do_sample false → greedy).
      const sampleDefault = gen.do_sample === true;
      const temperature =
        opts.temperature !== undefined ? Number(opts.temperature) : sampleDefault ? (gen.temperature ?? 1) : 0;
      const topP = opts["top-p"] !== undefined ? Number(opts["top-p"]) : sampleDefault ? gen.top_p : undefined;
      const topK = opts["top-k"] !== undefined ? Number(opts["top-k"]) : sampleDefault ? gen.top_k : undefined;
      const t1 = Date.now();
      const [g] = generate(model, [prompt], {
        maxNewTokens: maxNew,
        temperature,
        topP,
        topK,
        seed,
        stopTokenIds: stopTokenIds(gen, config),
        padTokenId: padTokenId(gen, config),
        tokenizer: tok,
      });
      const secs = (Date.now() - t1) / 1000;
      log(
        `${promptIds.length} prompt tokens, ${g!.ids.length} new tokens in ${secs.toFixed(2)} s (${g!.finishReason})`,
      );
      if (opts.json) {
        console.log(
          JSON.stringify({
            prompt_ids: promptIds,
            ids: g!.ids,
            text: g!.text,
            logprobs: g!.logprobs,
            finish_reason: g!.finishReason,
            image_grid_thw: prompt.imageGridThw,
            temperature,
            seconds: secs,
          }),
        );
      } else {
        console.log(g!.text);
      }
      if (g!.ids.length > (g!.finishReason === "stop" ? 1 : 0) && (g!.text ?? "").trim() === "")
        log(
          "note: the completion is only whitespace; a checkpoint that was never trained (such as one from " +
            "`rft model init`, whose weights are random) produces such output",
        );
      return 0;
    } finally {
      model.dispose();
    }
  },
};
