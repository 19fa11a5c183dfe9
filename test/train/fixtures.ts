/**
 * Shared set-up of the trainer tests: the rft CLI in a child process (one thread, the same arithmetic in every
 * process), and the inputs of a tiny training run (the small counting benchmark, its training files with a
 * 10-record Stage-1 split, a random qwen2-vl-tiny).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/rft.js", import.meta.url));
/** One thread per process: runs compared bit for bit must do the same arithmetic. */
export const ONE_THREAD = { RFT_NUM_THREADS: "1", OMP_NUM_THREADS: "1" };

export function rft(args: string[], timeout = 600_000): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    timeout,
    env: { ...process.env, ...ONE_THREAD },
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

export interface TrainInputs {
  /** The generated benchmark (images under bench/images). */
  bench: string;
  /** rft data build's output for clevr-math: clevr_math_cot_sft-10.json, clevr_math_rl_stage2.json, ... */
  built: string;
  /** A random qwen2-vl-tiny checkpoint. */
  base: string;
}

/** Writes the benchmark, the training files and a random tiny model under `dir`. */
export function makeTrainInputs(dir: string): TrainInputs {
  const bench = join(dir, "bench");
  const built = join(dir, "built");
  const base = join(dir, "base");
  const steps = [
    ["data", "synth", "--out", bench, "--size", "small", "--seed", "0", "--tasks", "counting"],
    [
      "data",
      "build",
      "--task",
      "clevr-math",
      "--meta",
      join(bench, "train_jsons", "A3-Visual-Counting-train-35k-cot.json"),
      "--image-root",
      join(bench, "images"),
      "--out",
      built,
      "--stage1-size",
      "10",
    ],
    ["model", "init", "--preset", "qwen2-vl-tiny", "--out", base, "--seed", "0"],
  ];
  for (const s of steps) {
    const r = rft(s);
    assert.equal(r.status, 0, r.out);
  }
  return { bench, built, base };
}

/** `rft train RECIPE` on the clevr-math task with each of `sets` as a `--set key=value`. */
export function trainArgs(
  recipe: string,
  o: { data: string; imageRoot: string; model: string; out: string },
  sets: readonly string[],
): string[] {
  return [
    ...["train", recipe, "--task", "clevr-math", "--data", o.data, "--image-root", o.imageRoot],
    ...["--model", o.model, "--out", o.out],
    ...sets.flatMap((s) => ["--set", s]),
  ];
}

/** OUT/metrics.jsonl, parsed. */
export function metrics(out: string): Record<string, number>[] {
  return readFileSync(join(out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, number>);
}

/** A plug-in reward for short answers: completions vary in length, so GRPO has a gradient. */
export const SHORT_REWARD =
  "export function short(completions: string[]): number[] {\n  return completions.map((c) => Math.max(0, 1 - c.length / 40));\n}\n";
