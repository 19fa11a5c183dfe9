/**
 * Training records (the outputs of `rft data build`) → prepared model inputs, through the one preprocessing path
 * (`prepareInputs`: chat template, image processing, pad expansion and check).
 *
 * - SFT (spec §5): a LLaMA-Factory "sharegpt" record → the prompt (system + user turn + the assistant header) and
 *   the supervised target `response + "<|im_end|>\n"`, truncated by the reference rule (`sft_data.ts`).
 * - GRPO (spec §4.2): an RL record → the task's RL prompt filled with the problem, the images, and the columns the
 *   rewards read (`solution`, `answer`).
 * Preparing decodes and resizes images, so trainers keep prepared examples in a small cache keyed by record id.
 */
import { resolve, isAbsolute, join } from "node:path";
import { readFileSync } from "node:fs";
import type { ChatMessage } from "../models/qwen2vl/chat_template.ts";
import { prepareInputs } from "../models/qwen2vl/inputs.ts";
import type { PreprocessorConfig, ProcessOptions } from "../models/qwen2vl/processor.ts";
import type { QwenTokenizer } from "../models/qwen2vl/tokenizer.ts";
import type { PromptSample } from "../models/qwen2vl/batch.ts";
import type { ShareGptRecord, RlRecord } from "../data/convert.ts";
import { rlPrompt } from "../tasks/prompts.ts";
import type { RlTask } from "../tasks/tasks.ts";
import { IGNORE_INDEX, sftPromptMessages, sftSequence, sftTargetText } from "./sft_data.ts";

export interface PrepareContext {
  tokenizer: QwenTokenizer;
  preprocessor: PreprocessorConfig;
  imageRoot: string;
  process?: ProcessOptions;
}

export interface SftExample {
  id: string;
  /** System + user turn + "<|im_start|>assistant\n", image pads expanded. */
  prompt: PromptSample;
  /** Supervised tokens: the response, "<|im_end|>" and "\n" (spec §5.3). */
  target: number[];
}

export interface RlExample {
  id: string;
  prompt: PromptSample;
  problem: string;
  solution: string;
  answer: string;
}

/** Reads a JSON array file of records, with an error naming the file. */
export function readRecords<T>(path: string, what: string): T[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: not a JSON file (${(e as Error).message})`);
  }
  if (!Array.isArray(data)) throw new Error(`${path}: expected a JSON array of ${what} records`);
  if (data.length === 0) throw new Error(`${path}: no records`);
  return data as T[];
}

function imagePaths(image: string | string[] | undefined, root: string): string[] {
  const list = image === undefined ? [] : Array.isArray(image) ? image : [image];
  return list.map((p) => (isAbsolute(p) ? p : resolve(join(root, p))));
}

/** Checks that the records are SFT (sharegpt) records, naming the first bad one. */
export function checkSftRecords(recs: readonly unknown[], file: string): ShareGptRecord[] {
  recs.forEach((r, i) => {
    const x = r as Partial<ShareGptRecord>;
    const ok =
      x &&
      typeof x.id === "string" &&
      Array.isArray(x.messages) &&
      x.messages.length === 2 &&
      x.messages[0]?.role === "user" &&
      x.messages[1]?.role === "assistant" &&
      typeof x.messages[0].content === "string" &&
      typeof x.messages[1].content === "string";
    if (!ok)
      throw new Error(
        `${file}: record ${i}${x && typeof x.id === "string" ? ` (${x.id})` : ""} is not an SFT record (id, image, messages: [user, assistant]); pass the ans-sft or cot-sft output of rft data build`,
      );
  });
  return recs as ShareGptRecord[];
}

/** Checks that the records are RL records, naming the first bad one. */
export function checkRlRecords(recs: readonly unknown[], file: string): RlRecord[] {
  recs.forEach((r, i) => {
    const x = r as Partial<RlRecord>;
    if (!(x && typeof x.id === "string" && typeof x.problem === "string" && typeof x.solution === "string"))
      throw new Error(
        `${file}: record ${i}${x && typeof x.id === "string" ? ` (${x.id})` : ""} is not an RL record (id, image, problem, solution, answer); pass the rl or rl-stage2 output of rft data build`,
      );
  });
  return recs as RlRecord[];
}

/** One SFT example (spec §5.3): the prompt with the generation header, the target, the cutoff rule. */
export async function prepareSftExample(
  rec: ShareGptRecord,
  ctx: PrepareContext,
  cutoffLen: number,
): Promise<SftExample> {
  const inputs = await prepareInputs(
    ctx.tokenizer,
    ctx.preprocessor,
    sftPromptMessages(rec),
    imagePaths(rec.image, ctx.imageRoot),
    {
      ...ctx.process,
      addGenerationPrompt: true,
      sampleId: rec.id,
    },
  );
  const target = ctx.tokenizer.encode(sftTargetText(rec.messages[1].content));
  // The reference truncation rule; refuses a cut into image tokens or a target cut to nothing (sft_data.ts).
  const seq = sftSequence(inputs.inputIds, target, cutoffLen, {
    id: rec.id,
    imagePadId: ctx.tokenizer.configIds().imagePad,
  });
  const P = seq.labels.findIndex((l) => l !== IGNORE_INDEX);
  const source = seq.inputIds.slice(0, P);
  const kept = seq.inputIds.slice(P);
  return {
    id: rec.id,
    prompt: { id: rec.id, inputIds: source, pixelValues: inputs.pixelValues, imageGridThw: inputs.imageGridThw },
    target: kept,
  };
}

/** One GRPO example (spec §4.2): the task's RL prompt with the problem, images first. */
export async function prepareRlExample(rec: RlRecord, task: RlTask, ctx: PrepareContext): Promise<RlExample> {
  const images = imagePaths(rec.image, ctx.imageRoot);
  const text = rlPrompt(task, { problem: rec.problem, answer: rec.answer ?? rec.solution });
  const content: ChatMessage["content"] = [
    ...images.map(() => ({ type: "image" as const })),
    { type: "text" as const, text },
  ];
  const inputs = await prepareInputs(ctx.tokenizer, ctx.preprocessor, [{ role: "user", content }], images, {
    ...ctx.process,
    addGenerationPrompt: true,
    sampleId: rec.id,
  });
  return {
    id: rec.id,
    prompt: {
      id: rec.id,
      inputIds: inputs.inputIds,
      pixelValues: inputs.pixelValues,
      imageGridThw: inputs.imageGridThw,
    },
    problem: rec.problem,
    solution: rec.solution,
    answer: rec.answer ?? rec.solution,
  };
}

/** A small LRU of prepared examples by id (image decoding dominates preparation). */
export class ExampleCache<T> {
  readonly #map = new Map<string, T>();
  constructor(readonly capacity = 4096) {}
  async get(id: string, make: () => Promise<T>): Promise<T> {
    const hit = this.#map.get(id);
    if (hit !== undefined) {
      this.#map.delete(id);
      this.#map.set(id, hit);
      return hit;
    }
    const v = await make();
    this.#map.set(id, v);
    if (this.#map.size > this.capacity) this.#map.delete(this.#map.keys().next().value!);
    return v;
  }
}
