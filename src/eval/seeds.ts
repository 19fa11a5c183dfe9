/**
 * Results over several training seeds: one result row per (task, row, set) with the mean over seeds and its standard
 * error, the standard error of a row's ID/OOD averages, and a noise test between two means. The report
 * (report.ts, report_html.ts) prints `mean ± SE` and marks differences within noise when its rows carry `se`.
 *
 * Definitions (also in the report's table notes and docs/evaluation.md, "Seeds and noise"); accuracies in [0, 1]:
 * - p_s: a set's accuracy in seed s; S: the number of seeds with a (non-null) accuracy for that row and set;
 *   n: the set's items. Every seed is tested on the same n items (one sample shared by all seeds).
 * - accuracy = p̄ = mean of the p_s.
 * - se_seeds = sample standard deviation of the p_s (divisor S − 1) / √S; 0 when S = 1. The training-seed part:
 *   it shrinks as seeds are added.
 * - se_items = √(p̄(1 − p̄)/n): the test-item part. The items are one sample shared by all seeds, so this part does
 *   not shrink with S. (For scores in [0, 1] that are not 0/1, p̄(1 − p̄) bounds their variance from above.)
 * - se = √(se_seeds² + se_items²).
 * - Averages (ID avg, OOD avg, AVG: unweighted means of a row's ID, OOD, all sets, as in runner.ts `averages`): the
 *   average is computed per seed first; its se_seeds is the standard error of those per-seed averages (over the
 *   seeds that have every set of the average); its se_items propagates the sets' item parts, √(Σ se_items,i²)/k for
 *   k sets (the sets are independent samples); se = √(se_seeds² + se_items²). Rows that carry `se` but no per-seed
 *   accuracies get √(Σ se_i²)/k.
 * - withinNoise(a, b, z) = |a − b| < z·√(se_a² + se_b²) (or a = b). This treats the two means as independent, which
 *   is conservative: both rows share the test items and, per seed, the base model, so a paired test would call
 *   more differences real. "Within noise" means "not separated by this test", not "equal".
 *
 * Rows of the seeds are matched by task, row name (label, else paradigm, else model) and set. A row missing in some
 * seed (or with a null accuracy there) is aggregated over the seeds that have it; `seeds` and `seed_accuracies`
 * record which. Pure and tensor-free.
 */
import type { ResultRow } from "./report.ts";
import { taskFamily } from "../tasks/tasks.ts";

export interface SeedResults {
  seed: number;
  results: readonly ResultRow[];
}

/** A mean with its standard error (any unit, the same for both). */
export interface MeanSe {
  mean: number;
  se: number;
}

const sq = (x: number) => x * x;

/** Mean, sample standard deviation / √S (0 for one value) of the values. */
function meanAndSe(xs: readonly number[]): { mean: number; se: number } {
  const S = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / S;
  if (S < 2) return { mean, se: 0 };
  const variance = xs.reduce((a, x) => a + sq(x - mean), 0) / (S - 1);
  return { mean, se: Math.sqrt(variance / S) };
}

/** √(p(1 − p)/n), 0 when n is 0. */
export function itemSe(p: number, n: number): number {
  return n > 0 ? Math.sqrt(Math.max(0, p * (1 - p)) / n) : 0;
}

function rowName(r: ResultRow): string {
  return r.label ?? r.paradigm ?? r.model ?? "";
}

/**
 * One row per (task, row, set) over the seeds: `accuracy` the mean over the seeds that have it, with `seeds`,
 * `seed_accuracies` (aligned with `seeds`; null where that seed scored nothing), `se`, `se_seeds`, `se_items` (see
 * the module comment); `failed` and `scored` summed over seeds; `model` and `source` left out (they differ per seed),
 * `strategy` kept when all seeds agree. Rows come out in the order they first appear. Throws, naming the row, on a
 * repeated seed, an unknown task, a row twice in one seed, or a set whose split or item count differs between seeds.
 */
export function aggregateSeeds(perSeed: readonly SeedResults[]): ResultRow[] {
  const seen = new Set<number>();
  for (const s of perSeed) {
    if (!Number.isInteger(s.seed)) throw new Error(`aggregateSeeds: seed ${JSON.stringify(s.seed)} is not an integer`);
    if (seen.has(s.seed)) throw new Error(`aggregateSeeds: seed ${s.seed} is given twice`);
    seen.add(s.seed);
  }
  interface Cell {
    first: ResultRow;
    bySeed: { seed: number; row: ResultRow }[];
  }
  const cells = new Map<string, Cell>();
  for (const { seed, results } of perSeed) {
    for (const r of results) {
      const task = taskFamily(r.task);
      if (!task) throw new Error(`seed ${seed}: unknown task ${JSON.stringify(r.task)}`);
      const key = JSON.stringify([task, rowName(r), r.set]);
      const what = `${task}, row "${rowName(r)}", set ${r.set}`;
      const cell = cells.get(key) ?? { first: { ...r, task }, bySeed: [] };
      if (cell.bySeed.some((x) => x.seed === seed)) throw new Error(`seed ${seed}: two results for ${what}`);
      const f = cell.first;
      if (r.split !== f.split) throw new Error(`${what}: split "${r.split}" in seed ${seed}, "${f.split}" in another`);
      if (r.n !== f.n)
        throw new Error(
          `${what}: ${r.n} items in seed ${seed}, ${f.n} in another (every seed must be tested on the same items)`,
        );
      cell.bySeed.push({ seed, row: r });
      cells.set(key, cell);
    }
  }
  return [...cells.values()].map(({ first, bySeed }) => {
    const accs = bySeed.map((x) => x.row.accuracy);
    const scored = accs.filter((a): a is number => a !== null);
    const failed = bySeed.reduce((a, x) => a + (x.row.failed ?? 0), 0);
    const strategies = new Set(bySeed.map((x) => x.row.strategy));
    const nScored = bySeed.filter((x) => x.row.scored !== undefined);
    const out: ResultRow = {
      task: first.task,
      ...(first.paradigm !== undefined ? { paradigm: first.paradigm } : {}),
      ...(first.label !== undefined ? { label: first.label } : {}),
      ...(first.variant !== undefined ? { variant: first.variant } : {}),
      set: first.set,
      split: first.split,
      n: first.n,
      accuracy: null,
      ...(nScored.length ? { scored: nScored.reduce((a, x) => a + x.row.scored!, 0) } : {}),
      ...(failed > 0 ? { failed } : {}),
      ...(strategies.size === 1 && first.strategy !== undefined ? { strategy: first.strategy } : {}),
      seeds: bySeed.map((x) => x.seed),
      seed_accuracies: accs,
    };
    if (scored.length === 0) return out;
    const { mean, se: seSeeds } = meanAndSe(scored);
    const seItems = itemSe(mean, first.n);
    return { ...out, accuracy: mean, se: Math.hypot(seSeeds, seItems), se_seeds: seSeeds, se_items: seItems };
  });
}

/** The standard error of one average (ID avg, OOD avg or AVG) of a row; see the module comment. */
export interface AverageSe {
  /** Mean of the per-seed averages (equals the average of the per-set means when every seed has every set). */
  mean: number;
  se: number;
  se_seeds: number;
  se_items: number;
  /** Seed ids of `per_seed` (absent without per-seed accuracies). */
  seeds?: number[];
  /** The average in each seed; null where that seed misses a set of it. */
  per_seed?: (number | null)[];
}

/**
 * The standard error of the unweighted mean of `rows`' accuracies (one row per set, all of one table row), or null
 * when a row has no accuracy or no `se`. With per-seed accuracies (aggregateSeeds' rows) the average is taken per seed
 * first; otherwise the sets' total SEs are propagated.
 */
export function averageSe(rows: readonly ResultRow[]): AverageSe | null {
  const k = rows.length;
  if (k === 0 || rows.some((r) => r.accuracy === null || r.se === undefined)) return null;
  const perSeedKnown = rows.every((r) => r.seeds && r.seed_accuracies && r.se_items !== undefined);
  if (!perSeedKnown) {
    const mean = rows.reduce((a, r) => a + r.accuracy!, 0) / k;
    const se = Math.sqrt(rows.reduce((a, r) => a + sq(r.se!), 0)) / k;
    const seItems = rows.every((r) => r.se_items !== undefined)
      ? Math.sqrt(rows.reduce((a, r) => a + sq(r.se_items!), 0)) / k
      : se;
    const seSeeds = Math.sqrt(Math.max(0, sq(se) - sq(seItems)));
    return { mean, se, se_seeds: seSeeds, se_items: seItems };
  }
  const seeds = [...new Set(rows.flatMap((r) => r.seeds!))].sort((a, b) => a - b);
  const perSeed = seeds.map((s) => {
    let sum = 0;
    for (const r of rows) {
      const i = r.seeds!.indexOf(s);
      const a = i < 0 ? null : r.seed_accuracies![i];
      if (a === null || a === undefined) return null;
      sum += a;
    }
    return sum / k;
  });
  const complete = perSeed.filter((x): x is number => x !== null);
  const seItems = Math.sqrt(rows.reduce((a, r) => a + sq(r.se_items!), 0)) / k;
  const { mean, se: seSeeds } = complete.length
    ? meanAndSe(complete)
    : { mean: rows.reduce((a, r) => a + r.accuracy!, 0) / k, se: 0 };
  return { mean, se: Math.hypot(seSeeds, seItems), se_seeds: seSeeds, se_items: seItems, seeds, per_seed: perSeed };
}

/**
 * True when the two means are not separated: |a − b| < z·√(se_a² + se_b²), or a = b. Unpaired, so conservative (see
 * the module comment).
 */
export function withinNoise(a: MeanSe, b: MeanSe, z = 2): boolean {
  const d = Math.abs(a.mean - b.mean);
  return d === 0 || d < z * Math.hypot(a.se, b.se);
}

/** The noise test of one average among a task's rows: the best row, the rows within noise of it, the others. */
export interface NoiseEntry {
  /** Label of the row with the highest mean (the first such row on a tie). */
  best: string;
  /** Labels of the other rows within noise of the best (not separated from it). */
  within: string[];
  /** Labels of the rows separated from the best (lower by at least z standard errors). */
  separated: string[];
}

/** Best-versus-rest noise test over labelled means (rows without a mean are left out); null when none has one. */
export function noiseAgainstBest(
  rows: readonly { label: string; mean: number | null | undefined; se: number | null | undefined }[],
  z = 2,
): NoiseEntry | null {
  const have = rows.filter(
    (r): r is { label: string; mean: number; se: number } =>
      typeof r.mean === "number" && typeof r.se === "number" && Number.isFinite(r.mean),
  );
  if (have.length === 0) return null;
  const best = have.reduce((b, r) => (r.mean > b.mean ? r : b));
  const others = have.filter((r) => r !== best);
  return {
    best: best.label,
    within: others.filter((r) => withinNoise(best, r, z)).map((r) => r.label),
    separated: others.filter((r) => !withinNoise(best, r, z)).map((r) => r.label),
  };
}

/** `name (seed N)` → {base: name, seed: N}; other names → {base: name}. */
export function splitSeedName(name: string): { base: string; seed?: number } {
  const m = /^(.*\S)\s+\(seed (-?\d+)\)$/.exec(name);
  return m ? { base: m[1]!, seed: Number(m[2]) } : { base: name };
}
