/**
 * Record shapes written by the mini-benchmark generator.
 *
 * `MetaRecord` is the Reason-RFT meta-JSON record of spec §1.2 (src/data/meta.ts: id, image, problem, cot, answer,
 * optional solution / problem_no_prompt). The generator adds three fields of its own that readers of the real
 * dataset ignore: `task`, `split` and `scene` (the machine-readable scene every answer is computed from).
 */
import type { Canvas } from "@napi-rs/canvas";
import type { MetaRecord as DataMetaRecord } from "../../data/meta.ts";
import { hash32 } from "../../data/rng.ts";

/** A generated meta-JSON record: the dataset's record (src/data/meta.ts) plus the generator's own fields. */
export interface MetaRecord extends DataMetaRecord {
  task: TaskName;
  split: string;
  /** The machine-readable scene the answer (and the cot) is computed from. */
  scene: unknown;
}

/** An instruct record: a meta record plus the exact assistant turn and a ShareGPT rendering of it. */
export interface InstructRecord {
  id: string;
  image: string | string[];
  problem: string;
  answer: string;
  /** The assistant's reply to train on: the bare answer, or think/answer tags. */
  response: string;
  format: "plain" | "think";
  style: "counting" | "geometry" | "transformation";
  messages: { role: "user" | "assistant"; content: string }[];
  task: "instruct";
  split: "train";
  scene: unknown;
}

export type TaskName = "counting" | "geometry" | "transformation";

export interface SynthImage {
  /** Relative to the image root. */
  path: string;
  render: () => Canvas;
}

export interface SynthItem<R = MetaRecord> {
  record: R;
  images: SynthImage[];
  /** Canonical scene/question key: two items with the same key are the same item. */
  key: string;
}

/**
 * Train/test separation: a canonical key belongs to the test side when its hash falls in bucket 0 of 5.
 * Train generators reject test-side keys and test generators reject train-side keys, so no test item can
 * repeat a train item whatever the sizes (the tests check the keys again).
 */
export function isTestKey(key: string): boolean {
  return hash32(key) % 5 === 0;
}

/** The think/answer layout of spec §1.4. */
export function thinkAnswer(steps: readonly string[], answer: string): string {
  return `<think>\n${steps.join("\n")}\n</think>\n<answer>\n${answer}\n</answer>`;
}

/** Numbers as answers: integers without a decimal point, others with at most two decimals. */
export function fmtNum(x: number): string {
  const r = Math.round(x * 100) / 100;
  if (Number.isInteger(r)) return String(r);
  return r.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
}

export function pad(n: number, width = 6): string {
  return String(n).padStart(width, "0");
}
