/**
 * Converters from meta records to the training formats (spec §1.3–1.6).
 *
 * These functions know nothing about tasks: the caller passes the prompt text for each record (see
 * src/tasks/prompts.ts), which keeps data free of task logic.
 */
import { type MetaRecord, recordImages } from "./meta.ts";
import { Rng } from "./rng.ts";

/** A LLaMA-Factory "sharegpt" record (ANS-SFT, CoT-SFT). */
export interface ShareGptRecord {
  id: string;
  image: string | string[];
  messages: [{ role: "user"; content: string }, { role: "assistant"; content: string }];
}

/** A GRPO record: the raw problem (no prompt), the answer as `solution`, and `answer` too (spec §1.5, §10.18). */
export interface RlRecord {
  id: string;
  image: string | string[];
  problem: string;
  solution: string;
  answer: string;
}

/** The image placeholder LLaMA-Factory expands into the vision tokens of one image. */
export const IMAGE_PLACEHOLDER = "<image>";

/**
 * The user turn of an SFT record: one `<image>` per image, then the prompt text.
 *
 * The images come first, with no separator, for every task. That is where the Qwen2-VL chat template puts them
 * in RL and evaluation, so SFT, RL and evaluation see the same layout (the reference's TRANCE SFT data puts them
 * after the rules instead, spec §2.4, §10.11).
 */
export function sftUserContent(rec: Pick<MetaRecord, "image">, promptText: string): string {
  return IMAGE_PLACEHOLDER.repeat(recordImages(rec).length) + promptText;
}

function hasTag(text: string, tag: string): boolean {
  return text.includes(`<${tag}>`) && text.includes(`</${tag}>`);
}

/**
 * The assistant turn of a CoT-SFT record: `<think>\n{cot}\n</think>\n<answer>\n{answer}\n</answer>` (spec §1.4).
 * A `cot` that already carries `<think>` and `<answer>` tags (as the distiller writes it) is used from its last
 * `<think>` on (the distiller's own post-processing, spec §7.1), which also drops the summary and caption parts of
 * a caption-CoT.
 *
 * @example
 * cotTarget({ cot: "5 - 2 = 3", answer: "3" }); // "<think>\n5 - 2 = 3\n</think>\n<answer>\n3\n</answer>"
 */
export function cotTarget(rec: Pick<MetaRecord, "cot" | "answer">): string {
  const cot = rec.cot ?? "";
  if (hasTag(cot, "think") && hasTag(cot, "answer")) return cot.slice(cot.lastIndexOf("<think>")).trim();
  return `<think>\n${cot}\n</think>\n<answer>\n${rec.answer}\n</answer>`;
}

/** Whether a cot is already in the four-part caption layout (summary, caption, think, answer). */
export function isCaptionCot(cot: string | undefined): boolean {
  return cot !== undefined && ["summary", "caption", "think", "answer"].every((t) => hasTag(cot, t));
}

/** ANS-SFT: the prompt with the problem, answered by the bare answer. */
export function toAnsSft(rec: MetaRecord, promptText: string): ShareGptRecord {
  return {
    id: rec.id,
    image: rec.image,
    messages: [
      { role: "user", content: sftUserContent(rec, promptText) },
      { role: "assistant", content: rec.answer },
    ],
  };
}

/** CoT-SFT: the CoT prompt with the problem, answered by think + answer. Needs `cot`. */
export function toCotSft(rec: MetaRecord, promptText: string): ShareGptRecord {
  if (rec.cot === undefined || rec.cot.trim() === "")
    throw new Error(`record ${JSON.stringify(rec.id)}: field "cot" is missing or empty`);
  return {
    id: rec.id,
    image: rec.image,
    messages: [
      { role: "user", content: sftUserContent(rec, promptText) },
      { role: "assistant", content: cotTarget(rec) },
    ],
  };
}

/** Caption-CoT SFT (TRANCE): only for a cot already written as summary/caption/think/answer, used verbatim. */
export function toCaptionCotSft(rec: MetaRecord, promptText: string): ShareGptRecord | undefined {
  if (!isCaptionCot(rec.cot)) return undefined;
  return {
    id: rec.id,
    image: rec.image,
    messages: [
      { role: "user", content: sftUserContent(rec, promptText) },
      { role: "assistant", content: rec.cot!.trim() },
    ],
  };
}

/** RL record (spec §1.5): no prompt in `problem`; the trainer applies the question template. */
export function toRl(rec: MetaRecord): RlRecord {
  return { id: rec.id, image: rec.image, problem: rec.problem, solution: rec.answer, answer: rec.answer };
}

export interface StageSplitOptions {
  /** Number of Stage-1 (CoT-SFT) records; clamped to the number of records. */
  stage1Size: number;
  seed: number;
  /** Stage 2 takes every record, Stage-1 ones included (structure perception, spec §1.6). */
  stage2UsesAll?: boolean;
}

export interface StageSplit {
  stage1: MetaRecord[];
  stage2: MetaRecord[];
}

/**
 * Reason-RFT's two stages: a seeded random Stage-1 subset for CoT-SFT, and the rest (or everything) for GRPO.
 * Both keep the input order, so the files are easy to compare.
 *
 * @example
 * splitStages(records, { stage1Size: 1600, seed: 0 }); // { stage1: 1600 records, stage2: the others }
 */
export function splitStages(records: readonly MetaRecord[], opts: StageSplitOptions): StageSplit {
  if (!Number.isInteger(opts.stage1Size) || opts.stage1Size < 0) {
    throw new Error(`stage-1 size must be a non-negative integer, got ${opts.stage1Size}`);
  }
  const chosen = new Set(new Rng(opts.seed).sampleIndices(records.length, opts.stage1Size));
  const stage1 = records.filter((_, i) => chosen.has(i));
  const stage2 = opts.stage2UsesAll ? records.slice() : records.filter((_, i) => !chosen.has(i));
  return { stage1, stage2 };
}

/** "1k6" for 1600, "4k5" for 4500, "2k" for 2000, otherwise the number itself (registry key suffixes). */
export function sizeTag(n: number): string {
  if (n >= 1000 && n % 100 === 0) {
    const hundreds = (n % 1000) / 100;
    return `${Math.floor(n / 1000)}k${hundreds === 0 ? "" : hundreds}`;
  }
  return String(n);
}
