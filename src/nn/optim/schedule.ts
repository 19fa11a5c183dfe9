/**
 * Learning-rate schedules as pure functions of the step, as Hugging Face's get_scheduler defines them:
 * linear warmup from 0 over `warmupSteps`, then constant, linear decay to 0, or half-cosine decay to 0
 * at `totalSteps`.
 */
export type ScheduleName = "constant" | "constant_with_warmup" | "linear" | "cosine";

export interface Schedule {
  name: ScheduleName;
  warmupSteps: number;
  totalSteps: number;
}

/** Multiplier of the base lr at `step` (0-based: the lr used for the (step+1)-th update). */
export function lrFactor(s: Schedule, step: number): number {
  if (s.name === "constant") return 1;
  if (step < s.warmupSteps) return step / Math.max(1, s.warmupSteps);
  if (s.name === "constant_with_warmup") return 1;
  const progress = (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps);
  if (s.name === "linear") return Math.max(0, 1 - progress);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress))));
}

/** Warmup steps from a ratio of the total, rounded up as transformers does (math.ceil). */
export function warmupFromRatio(ratio: number, totalSteps: number): number {
  return Math.ceil(ratio * totalSteps);
}
