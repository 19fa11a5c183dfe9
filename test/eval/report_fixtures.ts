/** Fixture eval and run directories for the report tests (summary.json and metrics.jsonl as the tools write them). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import type { ResultRow } from "../../src/eval/report.ts";

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A temporary directory, removed when the test file ends. */
export function tmp(prefix = "rft-report-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

type Set = [name: string, split: "id" | "ood", n: number, accuracy: number | null, failed?: number];

/** An `rft eval` output directory with its summary.json (averages as runner.ts computes them). */
export function evalDir(
  root: string,
  name: string,
  task: string,
  model: string,
  strategy: string,
  sets: Set[],
): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const mean = (xs: (number | null)[]) =>
    xs.length === 0 || xs.some((x) => x === null) ? null : (xs as number[]).reduce((a, b) => a + b, 0) / xs.length;
  const summary = {
    task,
    model,
    strategy,
    sets: sets.map(([n, split, count, accuracy, failed = 0]) => ({
      name: n,
      split,
      benchmark: n,
      n: count,
      scored: count - failed,
      failed,
      accuracy,
    })),
    id_avg: mean(sets.filter((s) => s[1] === "id").map((s) => s[3])),
    ood_avg: mean(sets.filter((s) => s[1] === "ood").map((s) => s[3])),
    avg: mean(sets.map((s) => s[3])),
    backend: "local",
    settings: {},
    limit: null,
    failures: [],
    seconds: 1,
  };
  writeFileSync(join(dir, "summary.json"), JSON.stringify(summary, null, 2));
  writeFileSync(join(dir, ".rft-output"), JSON.stringify({ kind: "eval", command: "rft eval" }));
  return dir;
}

/** A GRPO run directory: `steps` metrics lines with TRL's names and the config.yaml header of writeRunConfig. */
export function grpoRunDir(root: string, name: string, steps: number, recipe = "reason-rft-zero"): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  for (let s = 1; s <= steps; s++) {
    lines.push(
      JSON.stringify({
        step: s,
        epoch: s / steps,
        loss: 0.5 / s,
        learning_rate: 1e-5 * (1 - (s - 1) / steps),
        grad_norm: 1 + 0.1 * s,
        reward: 0.2 + (0.6 * s) / steps,
        reward_std: 0.3,
        "rewards/accuracy/mean": (0.5 * s) / steps,
        "rewards/format/mean": 0.2 + (0.1 * s) / steps,
        kl: 0.001 * s,
        "completions/mean_length": 60 - s,
        "completions/max_length": 90,
        "completions/clipped_ratio": 0,
        frac_reward_zero_std: 0.25,
        entropy: 1.5,
        tokens_per_second: 100,
        "time/generate": 2 + 0.01 * s,
        "time/reward": 0.01,
        "time/logprob": 0.5,
        "time/update": 1,
      }),
    );
  }
  writeFileSync(join(dir, "metrics.jsonl"), lines.join("\n") + "\n");
  writeFileSync(
    join(dir, "config.yaml"),
    `# trainer: grpo\n# recipe: ${recipe} (profile mini)\n# why: fixture\nlearning_rate: 1e-05  # AdamW peak learning rate\n`,
  );
  writeFileSync(join(dir, "config.json"), JSON.stringify({ learning_rate: 1e-5 }, null, 2));
  return dir;
}

/** An SFT run directory (loss, learning rate, grad norm only). */
export function sftRunDir(root: string, name: string, steps: number): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const lines = Array.from({ length: steps }, (_, i) =>
    JSON.stringify({ step: i + 1, epoch: (i + 1) / steps, loss: 2 - i * 0.1, learning_rate: 1e-5, grad_norm: 3 }),
  );
  writeFileSync(join(dir, "metrics.jsonl"), lines.join("\n") + "\n");
  writeFileSync(join(dir, "config.yaml"), `# trainer: sft\n# recipe: cot-sft (profile mini)\nlearning_rate: 1e-05\n`);
  return dir;
}

/**
 * Visual-counting results of three seeds (n = 500 per set): Zero-Shot far below, CoT-SFT and Reason-RFT close.
 * Accuracies in [0, 1]: ID (clevr-math) and OOD (super-clevr) per seed.
 */
export function seededResults(): { seed: number; results: ResultRow[] }[] {
  const acc: Record<string, [number[], number[]]> = {
    "zero-shot": [
      [0.2, 0.22, 0.21],
      [0.1, 0.12, 0.11],
    ],
    "cot-sft": [
      [0.5, 0.55, 0.53],
      [0.4, 0.38, 0.42],
    ],
    "reason-rft": [
      [0.52, 0.5, 0.51],
      [0.41, 0.44, 0.43],
    ],
  };
  return [1, 2, 3].map((seed, i) => ({
    seed,
    results: Object.entries(acc).flatMap(([paradigm, [id, ood]]): ResultRow[] => [
      { task: "visual-counting", paradigm, set: "clevr-math", split: "id", n: 500, accuracy: id[i]! },
      { task: "visual-counting", paradigm, set: "super-clevr", split: "ood", n: 500, accuracy: ood[i]! },
    ]),
  }));
}
