/**
 * Rule-based scorers of the evaluation benchmarks (spec §6.2): a score per item, an average per type and an
 * overall average, each computed from explicit sums and counts. Tensor-free.
 */
import { answerTagContent, pyStrip } from "../rewards/text.ts";
import { mathEqual } from "../rewards/math_verify.ts";
import { tranceScore } from "../rewards/functions.ts";
import { BENCHMARKS, BENCHMARK_NAMES, type Benchmark, isChoiceAnswer } from "./tasks.ts";

export interface ScoreOptions {
  /**
   * Reproduce the reference's scorer where it is buggy: the TRANCE `<answer>` regex without DOTALL, which misses
   * multi-line answer blocks (spec §10.2). Default false.
   */
  referenceQuirks?: boolean;
  /**
   * The closed-source scorer's lenient rule (spec §6.2 `enhance`): a tag-less prediction that still scores 0 gets 1
   * when the ground truth is a substring of it. Default false.
   */
  enhance?: boolean;
}

/**
 * Counting and structure perception (spec §6.2): with an `<answer>` block (DOTALL), 1 when the ground truth equals
 * its stripped content, else the symbolic check; without one, 1 when the stripped texts are equal, else the symbolic
 * check of the whole prediction. Unlike the RL reward, the symbolic check also applies to tagged answers.
 *
 * @example
 * answerScore("<think>…</think><answer>3.0</answer>", "3"); // 1 (the RL accuracy reward gives 0 here)
 */
export function answerScore(pred: string, answer: string, enhance = false): number {
  const inner = answerTagContent(pred);
  if (inner !== undefined) {
    if (answer === pyStrip(inner)) return 1;
    return mathEqual(answer, inner) ? 1 : 0;
  }
  if (pyStrip(answer) === pyStrip(pred)) return 1;
  if (mathEqual(answer, pred)) return 1;
  return enhance && pred.includes(answer) ? 1 : 0;
}

/** Score of one prediction for a benchmark, in [0, 1]. */
export function scoreItem(task: Benchmark, pred: string, answer: string, opts: ScoreOptions = {}): number {
  if (BENCHMARKS[task] === "spatial-transformation") return tranceScore(pred, answer, !opts.referenceQuirks);
  return answerScore(pred, answer, opts.enhance);
}

/** Type of an item in the printed table: choice/non_choice for structure perception, else "default". */
export function itemType(task: Benchmark, answer: string): string {
  if (BENCHMARKS[task] !== "structure-perception") return "default";
  return isChoiceAnswer(answer) ? "choice" : "non_choice";
}

export interface Average {
  type: string;
  count: number;
  sum: number;
  /** 100 · sum / count (0 for an empty group). */
  average: number;
}

export interface ScoreReport {
  task: Benchmark;
  items: Record<string, unknown>[];
  types: Average[];
  overall: Average;
}

function average(type: string, scores: number[]): Average {
  let sum = 0;
  for (const s of scores) sum += s;
  return { type, count: scores.length, sum, average: scores.length === 0 ? 0 : (100 * sum) / scores.length };
}

function describe(index: number, item: Record<string, unknown>): string {
  return typeof item.id === "string" || typeof item.id === "number"
    ? `item ${index} (id ${JSON.stringify(item.id)})`
    : `item ${index}`;
}

/**
 * Scores the reference's prediction format: an array of objects with string `answer` and `pred`. Each returned item
 * is a copy of the input with `score` added. `source` names the file in error messages.
 */
export function scorePredictions(task: Benchmark, data: unknown, source: string, opts: ScoreOptions = {}): ScoreReport {
  if (!Array.isArray(data)) throw new Error(`${source}: expected a JSON array of prediction items`);
  const byType = new Map<string, number[]>();
  const all: number[] = [];
  const items = data.map((raw, i) => {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw))
      throw new Error(`${source}: item ${i}: expected an object`);
    const item = raw as Record<string, unknown>;
    for (const f of ["answer", "pred"]) {
      if (item[f] === undefined) throw new Error(`${source}: ${describe(i, item)}: field "${f}" is missing`);
      if (typeof item[f] !== "string")
        throw new Error(
          `${source}: ${describe(i, item)}: field "${f}": expected a string, got ${item[f] === null ? "null" : typeof item[f]}`,
        );
    }
    const score = scoreItem(task, item.pred as string, item.answer as string, opts);
    const type = itemType(task, item.answer as string);
    if (!byType.has(type)) byType.set(type, []);
    byType.get(type)!.push(score);
    all.push(score);
    return { ...item, score };
  });
  const types = [...byType.entries()].map(([t, s]) => average(t, s));
  return { task, items, types, overall: average("overall", all) };
}

/** The printed table: one row per type, then the overall row (averages ×100, 2 decimals). */
export function formatScoreTable(r: ScoreReport): string {
  const rows = [...r.types, r.overall];
  const lines = [
    `Task: ${r.task}`,
    `${"Type".padEnd(12)}${"Count".padStart(8)}${"Sum".padStart(12)}${"Average".padStart(10)}`,
  ];
  for (const a of rows) {
    lines.push(
      `${a.type.padEnd(12)}${String(a.count).padStart(8)}${a.sum.toFixed(2).padStart(12)}${a.average.toFixed(2).padStart(10)}`,
    );
  }
  return lines.join("\n");
}

export const SCORE_TASKS: readonly Benchmark[] = BENCHMARK_NAMES;

export function isScoreTask(name: string): name is Benchmark {
  return (SCORE_TASKS as readonly string[]).includes(name);
}
