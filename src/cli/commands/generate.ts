import { existsSync } from "node:fs";
import { join } from "node:path";
import { type CommandSpec, UsageError } from "../args.ts";
import { loadCheckpoint, stopTokenIds, padTokenId } from "../../models/qwen2vl/checkpoint.ts";
import { QwenTokenizer } from "../../models/qwen2vl/tokenizer.ts";
import { type ContentPart } from "../../models/qwen2vl/chat_template.ts";
import { prepareInputs } from "../../models/qwen2vl/inputs.ts";
import { generate, promptSample } from "../../models/qwen2vl/generate.ts";
import { setNumThreads } from "../../tensor/index.ts";

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
  ].join("\n"),
  async run(opts) {
    const dir = String(opts.model);
    if (!existsSync(join(dir, "config.json"))) throw new UsageError(`--model: ${dir} has no config.json`);
    if (!existsSync(join(dir, "tokenizer.json"))) throw new UsageError(`--model: ${dir} has no tokenizer.json`);
    const images = (opts.image as string[] | undefined) ?? [];
    for (const f of images) if (!existsSync(f)) throw new UsageError(`--image: ${f} does not exist`);
    const maxNew = Number(opts["max-new-tokens"]);
    if (!Number.isInteger(maxNew) || maxNew < 1)
      throw new UsageError(`--max-new-tokens must be a positive integer, got ${maxNew}`);
    if (opts.temperature !== undefined && Number(opts.temperature) < 0)
      throw new UsageError("--temperature must be >= 0");
    if (opts["top-p"] !== undefined && !(Number(opts["top-p"]) > 0 && Number(opts["top-p"]) <= 1))
      throw new UsageError("--top-p must be in (0, 1]");
    if (opts["top-k"] !== undefined && !(Number.isInteger(opts["top-k"]) && Number(opts["top-k"]) >= 0))
      throw new UsageError("--top-k must be a non-negative integer");
    if (opts.threads !== undefined) setNumThreads(Number(opts.threads));

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
      const tok = await QwenTokenizer.fromDir(dir);
      const content: ContentPart[] = [
        ...images.map((): ContentPart => ({ type: "image" })),
        { type: "text", text: String(opts.prompt) },
      ];
      // The shared preprocessing path (chat template, processor, pad expansion and check).
      const inputs = await prepareInputs(tok, preprocessor, [{ role: "user", content }], images, {
        sampleId: "prompt",
        addGenerationPrompt: true,
        minPixels: opts["min-pixels"] as number | undefined,
        maxPixels: opts["max-pixels"] as number | undefined,
      });
      const prompt = promptSample(inputs);
      const promptIds = inputs.inputIds;
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
        seed: Number(opts.seed),
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
      return 0;
    } finally {
      model.dispose();
    }
  },
};
