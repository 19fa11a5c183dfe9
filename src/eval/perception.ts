/**
 * Held-out perception accuracy of a checkpoint on an instruct set's plain-format perception questions
 * (perception_score.ts: which questions, how replies are compared). Issue 12 asks for a base model that already
 * perceives well before RL; this measures it on an instruct set generated with another seed.
 *
 * Prompts are built exactly as SFT builds them (`sftPromptMessages` + `prepareInputs` with the generation header:
 * the prompt part of `prepareSftExample`, without the target and its truncation) and answered greedily. Each item's
 * generation budget is the token length of what a correct reply must say (the answer, or "There are N objects" of a
 * description) plus 2, so a correct reply can also emit its stop token and a longer reply is seen as longer.
 * Pixel limits are the checkpoint's preprocessor's unless given, as in the local eval backend (local.ts).
 */
import { existsSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { loadCheckpoint, padTokenId, stopTokenIds } from "../models/qwen2vl/checkpoint.ts";
import { type GenerateOptions, type Generation, type PromptSample, generate } from "../models/qwen2vl/generate.ts";
import { prepareInputs } from "../models/qwen2vl/inputs.ts";
import type { Qwen2VLForConditionalGeneration } from "../models/qwen2vl/model.ts";
import type { PreprocessorConfig } from "../models/qwen2vl/processor.ts";
import type { QwenTokenizer } from "../models/qwen2vl/tokenizer.ts";
import { sftPromptMessages } from "../train/sft_data.ts";
import { readRecords } from "../train/samples.ts";
import type { ShareGptRecord } from "../data/convert.ts";
import {
  DEFAULT_PERCEPTION_LIMIT,
  type KindStats,
  type PerceptionItem,
  type PerceptionKind,
  scorePerception,
  selectPerceptionItems,
} from "./perception_score.ts";

export {
  PERCEPTION_KINDS,
  type PerceptionKind,
  type KindStats,
  formatPerceptionTable,
  selectPerceptionItems,
  scorePerception,
} from "./perception_score.ts";

/** Tokens past the reference's own length: room for the stop token (and one more to see a reply run on). */
export const EXTRA_TOKENS = 2;

export interface PerceptionOptions {
  /** Checkpoint directory (HF layout, with its tokenizer). */
  model: string;
  /** An instruct JSON file (train_jsons/A0-Instruct-train.json of `rft data synth`). */
  data: string;
  /** Root the records' image paths are relative to (the benchmark's images/). */
  imageRoot: string;
  /** Records per kind (default 500), spread evenly over the file. */
  limit?: number;
  /** Prompts per generate call (default 16). */
  batchSize?: number;
  /** Processor pixel limits (default: the checkpoint's preprocessor_config.json). */
  minPixels?: number;
  maxPixels?: number;
  log?: (msg: string) => void;
  onProgress?: (p: { done: number; total: number }) => void;
  /** Defaults to `generate` (tests inject one). */
  generateFn?: (
    model: Qwen2VLForConditionalGeneration,
    samples: readonly PromptSample[],
    opts: GenerateOptions,
  ) => Generation[] | Promise<Generation[]>;
}

/** A type alias, not an interface: assignable to `Record<string, unknown>`-style types (the demo reads it so). */
export type PerceptionSummary = {
  model: string;
  data: string;
  image_root: string;
  limit: number;
  settings: {
    temperature: 0;
    max_new_tokens: string;
    batch_size: number;
    min_pixels: number;
    max_pixels: number;
  };
  /** Records in the file, plain-format ones, plain perception ones whose reference has no expected form, asked. */
  records: { total: number; plain: number; unparsed: number; asked: number };
  kinds: Record<PerceptionKind, KindStats>;
  /** The headline: accuracy on the "How many" questions (null when the file has none). */
  counting: number | null;
  seconds: number;
};

function imagePaths(image: string | string[], root: string): string[] {
  return (Array.isArray(image) ? image : [image]).map((p) => (isAbsolute(p) ? p : resolve(join(root, p))));
}

/** What a prompt is built with: the checkpoint's tokenizer and processor, the image root and pixel limits. */
export interface PerceptionPromptContext {
  tokenizer: QwenTokenizer;
  preprocessor: PreprocessorConfig;
  imageRoot: string;
  minPixels?: number;
  maxPixels?: number;
}

/** The prompt of an item as SFT builds it (system + user turn + the assistant header, image pads expanded). */
export async function perceptionPrompt(it: PerceptionItem, ctx: PerceptionPromptContext): Promise<PromptSample> {
  const rec = { id: it.id, image: it.image, messages: [{ role: "user", content: it.user }] };
  const inputs = await prepareInputs(
    ctx.tokenizer,
    ctx.preprocessor,
    sftPromptMessages(rec as unknown as ShareGptRecord),
    imagePaths(it.image, ctx.imageRoot),
    { minPixels: ctx.minPixels, maxPixels: ctx.maxPixels, addGenerationPrompt: true, sampleId: it.id },
  );
  return {
    id: it.id,
    inputIds: inputs.inputIds,
    pixelValues: inputs.imageGridThw.length ? inputs.pixelValues : null,
    imageGridThw: inputs.imageGridThw,
  };
}

/**
 * Loads `opts.model`, answers the selected perception questions of `opts.data` greedily, scores them and frees the
 * model. Throws a clear error for a missing model, data file or image, and for a file without plain perception
 * questions.
 */
export async function evaluatePerception(opts: PerceptionOptions): Promise<PerceptionSummary> {
  const t0 = Date.now();
  const limit = opts.limit ?? DEFAULT_PERCEPTION_LIMIT;
  const batchSize = opts.batchSize ?? 16;
  if (!(Number.isSafeInteger(batchSize) && batchSize >= 1))
    throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  if (!existsSync(join(opts.model, "config.json")))
    throw new Error(`model ${opts.model}: no config.json (not a checkpoint directory?)`);
  if (!existsSync(join(opts.model, "tokenizer.json"))) throw new Error(`model ${opts.model}: no tokenizer.json`);
  if (!existsSync(opts.data)) throw new Error(`data ${opts.data} does not exist`);
  if (!existsSync(opts.imageRoot)) throw new Error(`image root ${opts.imageRoot} does not exist`);
  const records = readRecords<unknown>(opts.data, "instruct");
  const sel = selectPerceptionItems(records, { limit, file: opts.data });
  if (sel.items.length === 0)
    throw new Error(
      `${opts.data}: no plain-format perception questions ("How many ...?", "Describe the objects ...", "Is there ...?", ` +
        `"What <attribute> is the leftmost/rightmost object?" with a reply without <think>) among its ` +
        `${sel.records} records (${sel.plain} plain); pass an instruct set (train_jsons/A0-Instruct-train.json)`,
    );
  for (const it of sel.items)
    for (const p of imagePaths(it.image, opts.imageRoot))
      if (!existsSync(p))
        throw new Error(`record ${it.id}: image ${p} does not exist (is ${opts.imageRoot} the set's image root?)`);

  const ck = await loadCheckpoint(opts.model);
  try {
    const tok = ck.tokenizer;
    if (!tok) throw new Error(`model ${opts.model}: no tokenizer`);
    const minPixels = opts.minPixels ?? ck.preprocessor.min_pixels;
    const maxPixels = opts.maxPixels ?? ck.preprocessor.max_pixels;
    opts.log?.(
      `${opts.model}: ${sel.items.length} questions (` +
        Object.entries(sel.available)
          .map(([k, n]) => `${k} ${sel.items.filter((i) => i.kind === k).length}/${n}`)
          .join(", ") +
        `) from ${opts.data}`,
    );
    const gen = opts.generateFn ?? generate;
    const stops = stopTokenIds(ck.generationConfig, ck.config);
    const pad = padTokenId(ck.generationConfig, ck.config);
    const pctx = { preprocessor: ck.preprocessor, imageRoot: opts.imageRoot, minPixels, maxPixels };
    const budget = (it: PerceptionItem) => tok.encode(it.target).length + EXTRA_TOKENS;
    const replies: string[] = [];
    for (let s = 0; s < sel.items.length; s += batchSize) {
      const chunk = sel.items.slice(s, s + batchSize);
      const samples: PromptSample[] = [];
      for (const it of chunk) samples.push(await perceptionPrompt(it, { ...pctx, tokenizer: tok }));
      const rows = chunk.map((it) => ({ maxNewTokens: budget(it) }));
      const gens = await gen(ck.model, samples, {
        maxNewTokens: Math.max(...rows.map((r) => r.maxNewTokens)),
        rows,
        temperature: 0,
        stopTokenIds: stops,
        padTokenId: pad,
        tokenizer: tok,
      });
      if (gens.length !== chunk.length) throw new Error(`generate returned ${gens.length} rows for ${chunk.length}`);
      for (const g of gens) replies.push(g.text ?? tok.decode(g.ids, { skipSpecialTokens: true }));
      opts.onProgress?.({ done: replies.length, total: sel.items.length });
    }
    const kinds = scorePerception(sel, replies);
    return {
      model: opts.model,
      data: opts.data,
      image_root: opts.imageRoot,
      limit,
      settings: {
        temperature: 0,
        max_new_tokens: `tokens of the reference answer (of "There are N objects" for total) + ${EXTRA_TOKENS}`,
        batch_size: batchSize,
        min_pixels: minPixels,
        max_pixels: maxPixels,
      },
      records: { total: sel.records, plain: sel.plain, unparsed: sel.unparsed, asked: sel.items.length },
      kinds,
      counting: kinds.count.accuracy,
      seconds: Math.round((Date.now() - t0) / 100) / 10,
    };
  } finally {
    ck.model.dispose();
  }
}
