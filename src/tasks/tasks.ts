/**
 * The three Reason-RFT task families and the names the reference uses for them (spec §1.1).
 *
 * A family is what decides prompts, image counts and answer shapes; benchmark names (clevr-math, geometry3k,
 * trance-left, ...) pick a test set of a family.
 */

export type TaskFamily = "visual-counting" | "structure-perception" | "spatial-transformation";

export const TASK_FAMILIES: readonly TaskFamily[] = [
  "visual-counting",
  "structure-perception",
  "spatial-transformation",
];

/** Evaluation benchmarks of the reference (spec §6.1) and the family each belongs to. */
export const BENCHMARKS = {
  "clevr-math": "visual-counting",
  "super-clevr": "visual-counting",
  geomath: "structure-perception",
  geometry3k: "structure-perception",
  trance: "spatial-transformation",
  "trance-left": "spatial-transformation",
  "trance-right": "spatial-transformation",
} as const satisfies Record<string, TaskFamily>;

export type Benchmark = keyof typeof BENCHMARKS;

export const BENCHMARK_NAMES = Object.keys(BENCHMARKS) as Benchmark[];

const ALIASES: Record<string, TaskFamily> = {
  "visual-counting": "visual-counting",
  vc: "visual-counting",
  "structure-perception": "structure-perception",
  sp: "structure-perception",
  "spatial-transformation": "spatial-transformation",
  st: "spatial-transformation",
  // rft demo's task names, so that a demo's stage can be repeated by hand (`rft eval --task counting`).
  counting: "visual-counting",
  geometry: "structure-perception",
  transformation: "spatial-transformation",
  ...BENCHMARKS,
};

/** Every name `taskFamily` accepts, for help texts. */
export const TASK_NAMES: readonly string[] = Object.keys(ALIASES);

/**
 * Resolves a family from a family name, a short name (vc/sp/st), rft demo's name (counting/geometry/transformation) or
 * a benchmark name; undefined if unknown.
 */
export function taskFamily(name: string): TaskFamily | undefined {
  return Object.prototype.hasOwnProperty.call(ALIASES, name) ? ALIASES[name] : undefined;
}

/** Number of images per sample: TRANCE shows the initial and the final state (spec §1.7). */
export function imagesPerSample(family: TaskFamily): number {
  return family === "spatial-transformation" ? 2 : 1;
}

/** The dataset key prefix the reference registry uses (spec §1.10). */
export function datasetPrefix(family: TaskFamily): string {
  return { "visual-counting": "clevr_math", "structure-perception": "geo_math", "spatial-transformation": "trance" }[
    family
  ];
}

/** Structure perception: a multiple-choice item is one whose answer is exactly one of A–D (spec §1.4). */
export function isChoiceAnswer(answer: string): boolean {
  return answer === "A" || answer === "B" || answer === "C" || answer === "D";
}

/** GRPO task names (spec §3.1) → family, and whether the task uses the caption-CoT prompt. */
export const RL_TASKS = {
  "clevr-math": { family: "visual-counting", caption: false },
  geomath: { family: "structure-perception", caption: false },
  trance: { family: "spatial-transformation", caption: false },
  "trance-only-full": { family: "spatial-transformation", caption: false },
  "trance-penalty": { family: "spatial-transformation", caption: false },
  "trance-full-caption": { family: "spatial-transformation", caption: true },
} as const satisfies Record<string, { family: TaskFamily; caption: boolean }>;

export type RlTask = keyof typeof RL_TASKS;
