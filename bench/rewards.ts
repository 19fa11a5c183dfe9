/**
 * Reward throughput: time to score one GRPO step's completions (8 prompts × 8 completions, ~300 tokens each) with
 * each task's reward set (accuracy + format, as the reference scripts).
 *
 * Target: < 5 ms per group of 64. A GRPO step of the tiny model takes ~1 s (DESIGN.md), so rewards then cost
 * < 0.5% of a step. Scenarios:
 *   - mixed: 75% tagged completions (right and wrong answers), 25% tag-less ones (these take the symbolic path);
 *   - untagged: every completion is tag-less and ends in LaTeX or prose, the slowest path (compute-engine parses).
 * Every iteration scores fresh completions, so memoisation of parsed completions does not flatter the numbers.
 *
 *   npm run bench -- rewards [--json] [--iters N]
 */
import { Rng } from "../src/data/rng.ts";
import { REWARD_TASKS, type RewardTask, rewardSet, scoreBatch } from "../src/rewards/registry.ts";

const PROMPTS = 8;
const G = 8;
const TARGET_MS = 5;

const WORDS =
  "the object cube sphere cylinder red blue metal rubber left right count there are so remove add then we see".split(
    " ",
  );

/** About `tokens` words of reasoning-like filler (a Qwen token is roughly 4 characters; words here average ~5). */
function filler(rng: Rng, tokens: number): string {
  const out: string[] = [];
  for (let i = 0; i < tokens; i++) out.push(rng.next() < 0.1 ? String(rng.int(20)) : rng.pick(WORDS));
  return out.join(" ");
}

const FUNCS = ["change_color", "change_size", "change_shape", "change_material", "change_position"];
const VALUES = ["red", "blue", "small", "large", "cube", "sphere", "metal", "glass", "left", "front"];

function solutionFor(task: RewardTask, rng: Rng): string {
  if (task === "clevr-math") return String(rng.int(10));
  if (task === "geomath") return rng.next() < 0.5 ? rng.pick(["A", "B", "C", "D"]) : (rng.int(2000) / 10).toString();
  const n = 1 + rng.int(4);
  return Array.from({ length: n }, () => `${rng.pick(FUNCS)}(${1 + rng.int(6)}, ${rng.pick(VALUES)})`).join(", ");
}

function answerFor(task: RewardTask, solution: string, rng: Rng): string {
  if (rng.next() < 0.5) return solution;
  if (task.startsWith("trance"))
    return `${rng.pick(FUNCS)}(${1 + rng.int(6)}, ${rng.pick(VALUES)}), ${solution.split(", ")[0]}`;
  return String(rng.int(50));
}

function completion(task: RewardTask, solution: string, rng: Rng, untagged: boolean): string {
  const think = filler(rng, 280);
  const ans = answerFor(task, solution, rng);
  if (!untagged) return `<think>\n${think}\n</think>\n<answer>${ans}</answer>`;
  const numeric = /^-?[\d.]+$/.test(ans);
  return numeric && rng.next() < 0.5 ? `${think}. So the final answer is $\\frac{${ans}}{1}$.` : `${think} ${ans}`;
}

interface Group {
  completions: string[];
  solutions: string[];
}

function makeGroup(task: RewardTask, rng: Rng, untaggedShare: number): Group {
  const completions: string[] = [];
  const solutions: string[] = [];
  for (let p = 0; p < PROMPTS; p++) {
    const sol = solutionFor(task, rng);
    for (let g = 0; g < G; g++) {
      completions.push(completion(task, sol, rng, rng.next() < untaggedShare));
      solutions.push(sol);
    }
  }
  return { completions, solutions };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function run(argv: string[]): Promise<void> {
  const json = argv.includes("--json");
  const itersArg = argv.indexOf("--iters");
  const iters = itersArg >= 0 ? Number(argv[itersArg + 1]) : 200;
  if (!Number.isInteger(iters) || iters <= 0) throw new Error(`--iters expects a positive integer`);
  const results: Record<string, unknown>[] = [];
  for (const [scenario, share] of [
    ["mixed", 0.25],
    ["untagged", 1],
  ] as const) {
    for (const task of REWARD_TASKS) {
      const set = rewardSet(task);
      const rng = new Rng(1234);
      const groups = Array.from({ length: iters + 20 }, () => makeGroup(task, rng, share));
      const chars = groups[0]!.completions.reduce((s, c) => s + c.length, 0) / (PROMPTS * G);
      const times: number[] = [];
      groups.forEach((grp, i) => {
        const t0 = performance.now();
        scoreBatch(set, grp.completions, grp.solutions, { step: 0, groupSize: G });
        const dt = performance.now() - t0;
        if (i >= 20) times.push(dt); // the first 20 warm up the JIT and compute-engine
      });
      times.sort((a, b) => a - b);
      const median = quantile(times, 0.5);
      const row = {
        bench: "rewards",
        scenario,
        task,
        group: PROMPTS * G,
        chars_per_completion: Math.round(chars),
        median_ms: +median.toFixed(3),
        p95_ms: +quantile(times, 0.95).toFixed(3),
        max_ms: +times[times.length - 1]!.toFixed(3),
        us_per_completion: +((1000 * median) / (PROMPTS * G)).toFixed(1),
        target_ms: TARGET_MS,
        pass: median < TARGET_MS,
      };
      results.push(row);
      if (json) console.log(JSON.stringify(row));
      else {
        console.log(
          `${scenario.padEnd(9)} ${task.padEnd(20)} median ${row.median_ms.toFixed(3).padStart(7)} ms  p95 ${row.p95_ms.toFixed(3).padStart(7)} ms  ` +
            `(${row.us_per_completion} µs/completion, ~${row.chars_per_completion} chars)  ${row.pass ? "ok" : "SLOWER THAN TARGET"}`,
        );
      }
    }
  }
  const mixed = results.filter((r) => r.scenario === "mixed");
  const summary = {
    summary: true,
    bench: "rewards",
    target_ms: TARGET_MS,
    group: PROMPTS * G,
    iters,
    worst_mixed_median_ms: Math.max(...mixed.map((r) => r.median_ms as number)),
    worst_untagged_median_ms: Math.max(
      ...results.filter((r) => r.scenario === "untagged").map((r) => r.median_ms as number),
    ),
    pass: mixed.every((r) => r.pass),
  };
  if (json) console.log(JSON.stringify(summary));
  else
    console.log(
      `worst median (mixed): ${summary.worst_mixed_median_ms} ms per group of ${summary.group}; target < ${TARGET_MS} ms: ${summary.pass ? "met" : "NOT met"}`,
    );
}
