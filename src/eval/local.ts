/**
 * The runner's backend for a local checkpoint: the shared preprocessing path (`prepareInputs`: chat template with
 * the images before the text, processor, pad expansion and check) and batched generation with the reference's
 * sampling (spec §6.1). The generation function is a parameter, so a faster batched generator can replace
 * `generate` without touching the runner.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type LoadedCheckpoint, loadCheckpoint, padTokenId, stopTokenIds } from "../models/qwen2vl/checkpoint.ts";
import type { QwenTokenizer } from "../models/qwen2vl/tokenizer.ts";
import type { ContentPart } from "../models/qwen2vl/chat_template.ts";
import {
  type GenerateOptions,
  type Generation,
  type PromptSample,
  generate,
  promptSample,
} from "../models/qwen2vl/generate.ts";
import { prepareInputs } from "../models/qwen2vl/inputs.ts";
import type { Qwen2VLForConditionalGeneration } from "../models/qwen2vl/model.ts";
import type { DType } from "../tensor/index.ts";
import type { EvalBackend, EvalOutcome } from "./runner.ts";

/** Anything with `generate`'s signature (sync or async). */
export type GenerateFn = (
  model: Qwen2VLForConditionalGeneration,
  samples: readonly PromptSample[],
  opts: GenerateOptions,
) => Generation[] | Promise<Generation[]>;

export interface LocalSampling {
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  topK: number;
  maxNewTokens: number;
}

/** The reference's evaluation sampling (spec §6.1). */
export const REFERENCE_SAMPLING: LocalSampling = { temperature: 0.1, topP: 0.9, topK: 50, maxNewTokens: 768 };

export interface LocalBackendOptions {
  modelDir: string;
  batchSize: number;
  sampling: LocalSampling;
  minPixels?: number;
  maxPixels?: number;
  dtype?: DType;
  /** Defaults to `generate` (generate.ts). */
  generateFn?: GenerateFn;
  onLog?: (msg: string) => void;
}

/** Loads the checkpoint and returns a backend; `close()` frees the model. */
export async function createLocalBackend(opts: LocalBackendOptions): Promise<EvalBackend> {
  const dir = opts.modelDir;
  if (!existsSync(join(dir, "config.json"))) throw new Error(`--model: ${dir} has no config.json`);
  if (!existsSync(join(dir, "tokenizer.json"))) throw new Error(`--model: ${dir} has no tokenizer.json`);
  if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1))
    throw new Error(`--batch-size must be a positive integer, got ${opts.batchSize}`);
  const t0 = Date.now();
  const ck = await loadCheckpoint(dir, { dtype: opts.dtype });
  if (!ck.tokenizer) {
    ck.model.dispose();
    throw new Error(`--model: ${dir} has no tokenizer`);
  }
  opts.onLog?.(`loaded ${dir} (${ck.model.dtype}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const backend = localBackend({ ...ck, tokenizer: ck.tokenizer }, { ...opts, model: dir });
  return { ...backend, close: () => ck.model.dispose() };
}

/** What localBackend needs of a loaded checkpoint (LoadedCheckpoint has it all). */
export type LoadedModel = Pick<LoadedCheckpoint, "model" | "config" | "preprocessor" | "generationConfig"> & {
  tokenizer: QwenTokenizer;
};

/**
 * A backend over a model already in memory (e.g. the one a trainer just trained). The caller keeps ownership of
 * the model: the backend has no `close`. `model` names it in the summary.
 */
export function localBackend(
  ck: LoadedModel,
  opts: Omit<LocalBackendOptions, "modelDir" | "dtype"> & { model: string },
): EvalBackend {
  if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1))
    throw new Error(`--batch-size must be a positive integer, got ${opts.batchSize}`);
  const tok = ck.tokenizer;
  const gen = opts.generateFn ?? generate;
  const stops = stopTokenIds(ck.generationConfig, ck.config);
  const pad = padTokenId(ck.generationConfig, ck.config);
  const s = opts.sampling;
  return {
    kind: "local",
    model: opts.model,
    batchSize: opts.batchSize,
    concurrency: 1,
    settings: {
      sampling: { temperature: s.temperature, top_p: s.topP, top_k: s.topK, max_new_tokens: s.maxNewTokens },
      min_pixels: opts.minPixels ?? null,
      max_pixels: opts.maxPixels ?? null,
      dtype: ck.model.dtype,
    },
    async run(batch, ctx): Promise<EvalOutcome[]> {
      // Preprocess each item on its own: a missing or broken image fails that item, not the batch.
      const outcomes: (EvalOutcome | undefined)[] = new Array(batch.length);
      const samples: PromptSample[] = [];
      const rows: number[] = [];
      for (const [i, item] of batch.entries()) {
        try {
          const content: ContentPart[] = [
            ...item.images.map((): ContentPart => ({ type: "image" })),
            { type: "text", text: item.text },
          ];
          const inputs = await prepareInputs(tok, ck.preprocessor, [{ role: "user", content }], item.images, {
            sampleId: `${item.set}/${item.id}`,
            addGenerationPrompt: true,
            minPixels: opts.minPixels,
            maxPixels: opts.maxPixels,
          });
          samples.push(promptSample(inputs));
          rows.push(i);
        } catch (e) {
          outcomes[i] = { ok: false, error: (e as Error).message, attempts: 1 };
        }
      }
      if (samples.length > 0) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        const gens = await gen(ck.model, samples, {
          maxNewTokens: s.maxNewTokens,
          temperature: s.temperature,
          topP: s.topP,
          topK: s.topK,
          seed: ctx.seed,
          stopTokenIds: stops,
          padTokenId: pad,
          tokenizer: tok,
        });
        rows.forEach((i, j) => {
          const text = gens[j]?.text;
          outcomes[i] =
            typeof text === "string"
              ? { ok: true, pred: text }
              : { ok: false, error: "no text generated", attempts: 1 };
        });
      }
      return outcomes as EvalOutcome[];
    },
  };
}
