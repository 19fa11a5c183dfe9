/**
 * Reports (`rft report`, and `rft demo`'s report): ID/OOD tables per task with every per-set score and the averages,
 * the paper's numbers (src/eval/paper_results.ts, spec §9) beside ours, and training curves.
 *
 * - Inputs: result rows `{task, paradigm?, label?, set, split, n, accuracy}` (accuracy in [0, 1]; the demo passes its
 *   own, `readEvalDir` makes them from an `rft eval` output's summary.json) and training runs (`readRunDir`: a run
 *   directory's metrics.jsonl and config.yaml header).
 * - `buildReport(input)` → a `Report` (plain data, what report.json holds besides the curves);
 *   `reportMarkdown(report)` → report.md; `reportHtml(report, runs)` (report_html.ts) → the self-contained page;
 *   `writeReport(out, input, opts)` does all of it and writes the three files (output rules of src/io/output.ts:
 *   kind "report", an earlier report directory may be rewritten, anything else is refused unless `force`).
 * - Averages per row are those of the eval summary (runner.ts `averages`, defined in docs/evaluation.md): ID avg and
 *   OOD avg the unweighted means of the row's ID and OOD sets, AVG the unweighted mean of all its sets. The paper's
 *   rows are recomputed the same way from their per-set numbers; where the paper printed another AVG the table says so.
 * - Several seeds: rows made by src/eval/seeds.ts `aggregateSeeds` carry `se` (and the per-seed accuracies); the
 *   tables then print `mean ± SE`, the standard errors of the averages, a per-seed table, and mark with ≈ the averages
 *   within noise of the best of our rows (TaskTable `noise`, seeds.ts `withinNoise`). Rows without `se` print as
 *   before.
 *
 * Tensor-free.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { readJsonFile } from "../data/json.ts";
import { OutputError, StagedFiles, outputMarkerFile, prepareOutputDir } from "../io/output.ts";
import { BENCHMARK_NAMES, TASK_FAMILIES, type TaskFamily, taskFamily } from "../tasks/tasks.ts";
import {
  PAPER_RESULTS,
  PARADIGMS,
  PARADIGM_LABELS,
  type PaperModel,
  VC_DOMAIN_SHIFT,
  isParadigm,
} from "./paper_results.ts";
import { averages } from "./runner.ts";
import type { Split } from "./sets.ts";
import { type ChartSpec, reportHtml, runCharts } from "./report_html.ts";
import { chartSvg } from "./report_svg.ts";
import { type NoiseEntry, averageSe, noiseAgainstBest } from "./seeds.ts";

/** Two means are "within noise" when they differ by less than this many standard errors of their difference. */
export const NOISE_Z = 2;

/** One test set's result for one model/paradigm (the demo's report.json rows, plus optional detail). */
export interface ResultRow {
  task: TaskFamily;
  /** One of PARADIGMS when the row is one of the paper's paradigms; the paper's numbers are matched by it. */
  paradigm?: string;
  /** Row name in the tables; default: the paradigm's name (or the model). */
  label?: string;
  /** The demo variant (`rft demo --variant NAME`) that trained this row's model; absent for the run's own rows. */
  variant?: string;
  set: string;
  split: Split;
  n: number;
  /** Mean score in [0, 1]; null when nothing was scored. */
  accuracy: number | null;
  scored?: number;
  failed?: number;
  model?: string;
  strategy?: string;
  /** Where the row came from (an eval directory). */
  source?: string;
  /**
   * Over several training seeds (src/eval/seeds.ts `aggregateSeeds`): `accuracy` is the mean over the seeds, `seeds`
   * the seed ids that have this row and `seed_accuracies` their accuracies (aligned with `seeds`, null where a seed
   * scored nothing). All in [0, 1].
   */
  seeds?: number[];
  seed_accuracies?: (number | null)[];
  /** Total standard error of `accuracy`: √(se_seeds² + se_items²). With it the report prints `mean ± se`. */
  se?: number;
  /** Seed part: sample standard deviation of the seeds' accuracies / √S (0 for one seed). */
  se_seeds?: number;
  /** Test-item part: √(p̄(1 − p̄)/n); the items are shared by all seeds, so it does not shrink with S. */
  se_items?: number;
}

/** A training run's logged steps. */
export interface RunInput {
  name: string;
  dir?: string;
  trainer?: string;
  recipe?: string;
  profile?: string;
  /** metrics.jsonl lines (TRL metric names). */
  metrics: Record<string, number>[];
}

export interface ReportInput {
  title?: string;
  results: readonly ResultRow[];
  runs?: readonly RunInput[];
  /** Paragraphs printed under the title (the demo says what its run can and cannot show). */
  notes?: readonly string[];
  /** Put the paper's Qwen2-VL rows beside ours (default true). */
  paper?: boolean;
  /** Extra top-level fields of report.json (the demo's `seconds`, ...). */
  extra?: Record<string, unknown>;
}

export interface TableColumn {
  set: string;
  split: Split;
  /** Items per set when every row of ours has the same count, else null (the cells then name theirs). */
  n: number | null;
}

export interface TableRow {
  label: string;
  source: "ours" | "paper";
  paradigm?: string;
  /** The paper's model (paper rows). */
  model?: PaperModel;
  /** Accuracy in % per set (absent: the row has no such set). */
  scores: Record<string, number | null>;
  /** Items per set (ours). */
  n: Record<string, number>;
  /** Items that failed (endpoint errors) per set, when any. */
  failed?: Record<string, number>;
  id_avg: number | null;
  ood_avg: number | null;
  avg: number | null;
  /** Standard errors in % (ours, when the results carry `se`; definitions in src/eval/seeds.ts). Per set: */
  scores_se?: Record<string, number>;
  /** ... and of the averages (the average taken per seed first; seeds.ts `averageSe`). */
  id_se?: number;
  ood_se?: number;
  avg_se?: number;
  /** Seed ids of the row (the union over its sets, ascending) and, aligned with them, the per-seed numbers in %. */
  seeds?: number[];
  seed_scores?: Record<string, (number | null)[]>;
  seed_avgs?: { id_avg: (number | null)[]; ood_avg: (number | null)[]; avg: (number | null)[] };
  /** The paper's printed AVG (paper rows). */
  printed_avg?: number;
  /** Spec section of the paper's numbers (paper rows). */
  cite?: string;
}

export interface TaskTable {
  task: TaskFamily;
  columns: TableColumn[];
  rows: TableRow[];
  /** Footnotes (printed AVG that differs from the recomputed one, set notes). */
  notes: string[];
  /** Seed ids over our rows, ascending (when our rows carry standard errors). */
  seeds?: number[];
  /**
   * Per average, the best of our rows and those within noise of it (|Δ| < z·√(se₁² + se₂²), seeds.ts `withinNoise`);
   * present when our rows carry standard errors.
   */
  noise?: { z: number; id_avg: NoiseEntry | null; ood_avg: NoiseEntry | null; avg: NoiseEntry | null };
}

export interface RunSummary {
  name: string;
  dir?: string;
  trainer?: string;
  recipe?: string;
  profile?: string;
  steps: number;
  /** The last logged step's metrics. */
  last: Record<string, number>;
}

export interface Report {
  kind: "rft-report";
  title: string;
  notes: string[];
  /** Accuracies in [0, 1]. */
  results: ResultRow[];
  /** Accuracies and averages in %, rounded to 4 decimals. */
  tables: TaskTable[];
  runs: RunSummary[];
  paper?: {
    note: string;
    visual_counting_domain_shift: typeof VC_DOMAIN_SHIFT;
  };
}

const TASK_TITLES: Record<TaskFamily, string> = {
  "visual-counting": "Visual counting",
  "structure-perception": "Structure perception",
  "spatial-transformation": "Spatial transformation",
};

/** Column order: ID sets before OOD sets; within a split the reference's benchmark order, then others as they come. */
function orderSets(sets: Map<string, Split>): { set: string; split: Split }[] {
  const known = BENCHMARK_NAMES as readonly string[];
  const rank = (s: string) => (known.includes(s) ? known.indexOf(s) : known.length);
  const order = [...sets.keys()];
  return order
    .map((set, i) => ({ set, split: sets.get(set)!, i }))
    .sort((a, b) => (a.split === b.split ? rank(a.set) - rank(b.set) || a.i - b.i : a.split === "id" ? -1 : 1))
    .map(({ set, split }) => ({ set, split }));
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
const pct = (x: number | null) => (x === null ? null : round4(x * 100));

function rowLabel(r: ResultRow): string {
  if (r.label) return r.label;
  if (r.paradigm) return isParadigm(r.paradigm) ? PARADIGM_LABELS[r.paradigm] : r.paradigm;
  return r.model ? `${basename(r.model)}${r.strategy ? ` (${r.strategy})` : ""}` : "ours";
}

function checkRow(r: ResultRow, i: number): ResultRow {
  const where = r.source ? `${r.source}: ` : `result ${i}: `;
  const task = typeof r.task === "string" ? taskFamily(r.task) : undefined;
  if (!task) throw new Error(`${where}unknown task ${JSON.stringify(r.task)} (one of ${TASK_FAMILIES.join(", ")})`);
  if (typeof r.set !== "string" || !r.set) throw new Error(`${where}"set" must be a non-empty string`);
  if (r.split !== "id" && r.split !== "ood") throw new Error(`${where}set ${r.set}: "split" must be "id" or "ood"`);
  if (!Number.isInteger(r.n) || r.n < 0) throw new Error(`${where}set ${r.set}: "n" must be a count`);
  if (r.accuracy !== null && !(typeof r.accuracy === "number" && r.accuracy >= 0 && r.accuracy <= 1))
    throw new Error(`${where}set ${r.set}: "accuracy" must be in [0, 1] or null`);
  for (const k of ["se", "se_seeds", "se_items"] as const)
    if (r[k] !== undefined && !(typeof r[k] === "number" && r[k] >= 0 && Number.isFinite(r[k])))
      throw new Error(`${where}set ${r.set}: "${k}" must be a non-negative number`);
  if (
    (r.seeds !== undefined || r.seed_accuracies !== undefined) &&
    !(
      Array.isArray(r.seeds) &&
      Array.isArray(r.seed_accuracies) &&
      r.seeds.length === r.seed_accuracies.length &&
      r.seeds.every((x) => Number.isInteger(x))
    )
  )
    throw new Error(`${where}set ${r.set}: "seeds" and "seed_accuracies" must be arrays of the same length`);
  return { ...r, task };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** A table row's seed fields (TableRow scores_se ... seed_avgs, in %) from its result rows; {} without `se`. */
function seedFields(g: readonly ResultRow[]): Partial<TableRow> {
  if (!g.some((r) => r.se !== undefined)) return {};
  const out: Partial<TableRow> = {
    scores_se: Object.fromEntries(g.filter((r) => r.se !== undefined).map((r) => [r.set, round4(r.se! * 100)])),
  };
  const id = averageSe(g.filter((r) => r.split === "id"));
  const ood = averageSe(g.filter((r) => r.split === "ood"));
  const all = averageSe(g);
  if (id) out.id_se = round4(id.se * 100);
  if (ood) out.ood_se = round4(ood.se * 100);
  if (all) out.avg_se = round4(all.se * 100);
  const seeds = [...new Set(g.flatMap((r) => r.seeds ?? []))].sort((a, b) => a - b);
  if (seeds.length) {
    const acc = (r: ResultRow, s: number) => {
      const i = r.seeds?.indexOf(s) ?? -1;
      return i < 0 ? null : (r.seed_accuracies![i] ?? null);
    };
    out.seeds = seeds;
    out.seed_scores = Object.fromEntries(g.map((r) => [r.set, seeds.map((s) => pct(acc(r, s)))]));
    const perSeed = seeds.map((s) => averages(g.map((r) => ({ split: r.split, accuracy: acc(r, s) }))));
    out.seed_avgs = {
      id_avg: perSeed.map((a) => pct(a.id_avg)),
      ood_avg: perSeed.map((a) => pct(a.ood_avg)),
      avg: perSeed.map((a) => pct(a.avg)),
    };
  }
  return out;
}

/** The table notes of a table with standard errors: the definitions, and which seeds a row misses where. */
function seedNotes(rows: readonly TableRow[], groups: readonly { label: string; g: ResultRow[] }[]): string[] {
  const seeds = [...new Set(rows.flatMap((r) => r.seeds ?? []))].sort((a, b) => a - b);
  const notes = [
    `± is one standard error (SE) in %: SE = √(SE_seeds² + SE_items²), where SE_seeds = the sample standard deviation of the per-seed accuracies / √S (S seeds; 0 for one seed) and SE_items = √(p̄(1 − p̄)/n) for the mean accuracy p̄ on the set's n items. The test items are one sample shared by all seeds, so SE_items does not shrink with more seeds.`,
    `The averages' SE: each average is taken per seed first; SE_seeds is the standard error of those per-seed averages and SE_items = √(Σ SE_items,i²)/k over its k sets.`,
    `Noise: a row's average is marked ≈ when it is within ${NOISE_Z} SE of the best of our rows on that average (|Δ| < ${NOISE_Z}·√(SE_best² + SE_row²)): the two are not separated. The test is unpaired, hence conservative (the rows share the test items and the base model).`,
  ];
  for (const { label, g } of groups) {
    if (!g.some((r) => r.seeds)) continue;
    // Sets grouped by the seeds they lack.
    const byLack = new Map<string, { lack: number[]; sets: string[] }>();
    for (const r of g) {
      const lack = seeds.filter((s) => {
        const i = r.seeds?.indexOf(s) ?? -1;
        return i < 0 || r.seed_accuracies![i] === null;
      });
      if (!lack.length) continue;
      const e = byLack.get(lack.join()) ?? { lack, sets: [] };
      e.sets.push(r.set);
      byLack.set(lack.join(), e);
    }
    for (const { lack, sets } of byLack.values())
      notes.push(
        `${label}: no result in seed${lack.length > 1 ? "s" : ""} ${lack.join(", ")} for ${sets.join(", ")}; those means and SEs use the other seeds, and the averages' SE_seeds uses the seeds that have every set of the average.`,
      );
  }
  return notes;
}

/** Builds the tables (see the module comment). Throws on a malformed row or on two results for one cell. */
export function buildReport(input: ReportInput): Report {
  const results = input.results.map(checkRow);
  const tables: TaskTable[] = [];
  for (const task of TASK_FAMILIES) {
    const mine = results.filter((r) => r.task === task);
    if (mine.length === 0) continue;
    const withPaper = input.paper !== false;
    const paperRows = withPaper ? PAPER_RESULTS[task] : [];
    const sets = new Map<string, Split>();
    for (const r of mine) {
      const had = sets.get(r.set);
      if (had && had !== r.split)
        throw new Error(`set ${r.set} of ${task} is "${had}" in one result and "${r.split}" in another`);
      sets.set(r.set, r.split);
    }
    // The paper's sets are the family's reference benchmarks: ID is the one named in BENCHMARK order first.
    for (const p of paperRows)
      for (const s of Object.keys(p.sets))
        if (!sets.has(s)) sets.set(s, s === "clevr-math" || s === "geomath" || s === "trance" ? "id" : "ood");
    const cols = orderSets(sets);

    // Our rows, grouped by label, in paradigm order, then others in input order.
    const byLabel = new Map<string, ResultRow[]>();
    for (const r of mine) {
      const label = rowLabel(r);
      const group = byLabel.get(label) ?? [];
      const dup = group.find((g) => g.set === r.set);
      if (dup)
        throw new Error(
          `two results for ${task}, row "${label}", set ${r.set}${dup.source || r.source ? ` (${dup.source ?? "?"} and ${r.source ?? "?"})` : ""}: label them apart`,
        );
      group.push(r);
      byLabel.set(label, group);
    }
    const rank = (g: ResultRow[]) => {
      const p = g[0]!.paradigm;
      return p && isParadigm(p) ? PARADIGMS.indexOf(p) : PARADIGMS.length;
    };
    const groups = [...byLabel.entries()].map(([label, g], i) => ({ label, g, i }));
    groups.sort((a, b) => rank(a.g) - rank(b.g) || a.i - b.i);

    const rows: TableRow[] = groups.map(({ label, g }) => {
      const avg = averages(g.map((r) => ({ split: r.split, accuracy: r.accuracy })));
      const failed = Object.fromEntries(g.filter((r) => (r.failed ?? 0) > 0).map((r) => [r.set, r.failed!]));
      const paradigms = [...new Set(g.map((r) => r.paradigm).filter((p) => p !== undefined))];
      return {
        label,
        source: "ours",
        ...(paradigms.length === 1 ? { paradigm: paradigms[0] } : {}),
        scores: Object.fromEntries(g.map((r) => [r.set, pct(r.accuracy)])),
        n: Object.fromEntries(g.map((r) => [r.set, r.n])),
        ...(Object.keys(failed).length ? { failed } : {}),
        id_avg: pct(avg.id_avg),
        ood_avg: pct(avg.ood_avg),
        avg: pct(avg.avg),
        ...seedFields(g),
      };
    });
    const notes: string[] = [];
    const seedMode = rows.some((r) => r.scores_se !== undefined);
    if (seedMode) notes.push(...seedNotes(rows, groups));
    for (const p of paperRows) {
      const entries = Object.entries(p.sets);
      const split = (s: string) => sets.get(s)!;
      const id = entries.filter(([s]) => split(s) === "id").map(([, v]) => v);
      const ood = entries.filter(([s]) => split(s) === "ood").map(([, v]) => v);
      const all = entries.map(([, v]) => v);
      const label = `paper ${p.model} ${PARADIGM_LABELS[p.paradigm]}`;
      const row: TableRow = {
        label,
        source: "paper",
        paradigm: p.paradigm,
        model: p.model,
        scores: { ...p.sets },
        n: {},
        id_avg: id.length ? round4(mean(id)) : null,
        ood_avg: ood.length ? round4(mean(ood)) : null,
        avg: round4(mean(all)),
        printed_avg: p.printedAvg,
        cite: p.source,
      };
      // The paper prints 2 decimals: a difference beyond rounding means another formula (spec §9 consistency notes).
      if (Math.abs(row.avg! - p.printedAvg) > 0.006)
        notes.push(
          `${label}: the paper prints AVG ${p.printedAvg.toFixed(2)}; the mean of its sets is ${row.avg!.toFixed(2)}.`,
        );
      rows.push(row);
    }
    if (paperRows.length) {
      const paperSets = new Set(paperRows.flatMap((p) => Object.keys(p.sets)));
      const extra = cols.map((c) => c.set).filter((s) => !paperSets.has(s));
      if (extra.length)
        notes.push(
          `The paper has no ${extra.join(", ")} set: our averages include ${extra.length > 1 ? "them" : "it"}, so they are not the paper's averages.`,
        );
      notes.push(`Paper rows: ${[...new Set(paperRows.map((p) => p.source))].join("; ")}.`);
      if (task === "visual-counting")
        notes.push(
          "The paper's 2025-10 table splits Super-CLEVR into DS-D and DS-M columns (spec §9.1, in report.json); our Super-CLEVR set is pooled, as in its April 2025 table shown here.",
        );
    }
    const columns: TableColumn[] = cols.map(({ set, split }) => {
      const ns = new Set(mine.filter((r) => r.set === set).map((r) => r.n));
      return { set, split, n: ns.size === 1 ? [...ns][0]! : null };
    });
    const table: TaskTable = { task, columns, rows, notes };
    if (seedMode) {
      const ours = rows.filter((r) => r.source === "ours");
      table.seeds = [...new Set(ours.flatMap((r) => r.seeds ?? []))].sort((a, b) => a - b);
      const test = (k: "id_avg" | "ood_avg" | "avg", se: "id_se" | "ood_se" | "avg_se") =>
        noiseAgainstBest(
          ours.map((r) => ({ label: r.label, mean: r[k], se: r[se] })),
          NOISE_Z,
        );
      table.noise = {
        z: NOISE_Z,
        id_avg: test("id_avg", "id_se"),
        ood_avg: test("ood_avg", "ood_se"),
        avg: test("avg", "avg_se"),
      };
    }
    tables.push(table);
  }
  const runs = (input.runs ?? []).map((r): RunSummary => ({
    name: r.name,
    ...(r.dir !== undefined ? { dir: r.dir } : {}),
    ...(r.trainer !== undefined ? { trainer: r.trainer } : {}),
    ...(r.recipe !== undefined ? { recipe: r.recipe } : {}),
    ...(r.profile !== undefined ? { profile: r.profile } : {}),
    steps: r.metrics.length,
    last: r.metrics.at(-1) ?? {},
  }));
  return {
    kind: "rft-report",
    title: input.title ?? "Reason-RFT report",
    notes: [...(input.notes ?? [])],
    results,
    tables,
    runs,
    ...(input.paper !== false
      ? {
          paper: {
            note: "The paper's Qwen2-VL rows, in %, transcribed from the reference's result images (spec §9); our tables recompute every average from the per-set numbers.",
            visual_counting_domain_shift: VC_DOMAIN_SHIFT,
          },
        }
      : {}),
  };
}

// ---- markdown ---------------------------------------------------------------------------------------------------

const fmt = (x: number | null | undefined) => (x === null || x === undefined ? "–" : x.toFixed(2));

/** Marks of the noise test beside an average (TaskTable `noise`). */
export const NOISE_MARKS = { best: "▲", within: "≈" } as const;

/** `61.2 ± 2.1` (1 decimal: the SE of a few hundred items is a few %), or the plain number without an SE. */
const fmtSe = (x: number | null | undefined, se: number | undefined) =>
  x === null || x === undefined ? "–" : se === undefined ? x.toFixed(1) : `${x.toFixed(1)} ± ${se.toFixed(1)}`;

/** The cells of one table row as text (also used by the HTML page). */
export function rowCells(t: TaskTable, r: TableRow): string[] {
  const withSe = r.source === "ours" && t.noise !== undefined;
  const cells = t.columns.map((c) => {
    if (!(c.set in r.scores)) return "–";
    let s = withSe ? fmtSe(r.scores[c.set], r.scores_se?.[c.set]) : fmt(r.scores[c.set]);
    if (withSe && t.seeds && t.seeds.length > 1 && r.seed_scores?.[c.set]) {
      const have = r.seed_scores[c.set]!.filter((x) => x !== null).length;
      if (have < t.seeds.length) s += ` (${have} of ${t.seeds.length} seeds)`;
    }
    if (r.source === "ours" && c.n === null && r.n[c.set] !== undefined) s += ` (n=${r.n[c.set]})`;
    if (r.failed?.[c.set]) s += ` (${r.failed[c.set]} failed)`;
    return s;
  });
  if (!withSe) return [r.label, ...cells, fmt(r.id_avg), fmt(r.ood_avg), fmt(r.avg)];
  const mark = (e: NoiseEntry | null) =>
    e?.best === r.label ? ` ${NOISE_MARKS.best}` : e?.within.includes(r.label) ? ` ${NOISE_MARKS.within}` : "";
  return [
    r.label,
    ...cells,
    fmtSe(r.id_avg, r.id_se) + mark(t.noise!.id_avg),
    fmtSe(r.ood_avg, r.ood_se) + mark(t.noise!.ood_avg),
    fmtSe(r.avg, r.avg_se) + mark(t.noise!.avg),
  ];
}

/** The per-seed numbers of one of our rows (tables with seeds): each cell the seeds' values in %, " / " apart. */
export function seedCells(t: TaskTable, r: TableRow): string[] {
  const list = (xs: readonly (number | null)[] | undefined) =>
    xs ? xs.map((x) => (x === null ? "–" : x.toFixed(1))).join(" / ") : "–";
  const seeds = t.seeds ?? [];
  // The row's values aligned with the table's seeds.
  const align = (xs: readonly (number | null)[] | undefined) =>
    xs && r.seeds ? seeds.map((s) => (r.seeds!.includes(s) ? xs[r.seeds!.indexOf(s)]! : null)) : undefined;
  return [
    r.label,
    ...t.columns.map((c) => (c.set in r.scores ? list(align(r.seed_scores?.[c.set])) : "–")),
    list(align(r.seed_avgs?.id_avg)),
    list(align(r.seed_avgs?.ood_avg)),
    list(align(r.seed_avgs?.avg)),
  ];
}

/** The line under a table with standard errors: how many seeds, what ± is, what the marks mean. */
export function seedLine(t: TaskTable): string {
  const seeds = t.seeds ?? [];
  const over = seeds.length
    ? `over ${seeds.length} seed${seeds.length === 1 ? "" : "s"} (${seeds.join(", ")})`
    : "over the given results";
  return (
    `Accuracy in %, mean ${over} ± one standard error (seeds and test items; notes below). ` +
    `${NOISE_MARKS.best}: the best of our rows on that average; ${NOISE_MARKS.within}: within ${t.noise?.z ?? NOISE_Z} SE of the best: not separated from it; ` +
    `no mark: separated (lower). ID avg / OOD avg: unweighted mean of the row's ID / OOD sets; AVG: of all its sets.`
  );
}

/** Whether a table gets the per-seed table (our rows carry the per-seed numbers of two or more seeds). */
export function hasSeedTable(t: TaskTable): boolean {
  return (t.seeds?.length ?? 0) > 1 && t.rows.some((r) => r.source === "ours" && r.seed_scores);
}

/** Header cells of a task table. */
export function headerCells(t: TaskTable): string[] {
  return [
    "Method",
    ...t.columns.map((c) => `${c.set} ${c.split.toUpperCase()}${c.n !== null ? ` (n=${c.n})` : ""}`),
    "ID avg",
    "OOD avg",
    "AVG",
  ];
}

const AVG_NOTE =
  "Accuracy in %. ID avg / OOD avg: unweighted mean of the row's ID / OOD sets; AVG: unweighted mean of all its sets (docs/evaluation.md).";

function mdEscape(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** Where writeReport puts the SVG charts, under the report's directory. */
export const CHARTS_DIR = "charts";
/** The chart groups report.md shows (report.html has every one). */
const MD_CHART_TITLES = ["Rewards", "KL", "Loss", "Completion length"];

/** report.md; `charts` (runCharts of the runs) adds its Curves section, linking CHARTS_DIR/<id>.svg. */
export function reportMarkdown(rep: Report, charts: readonly ChartSpec[] = []): string {
  const out: string[] = [`# ${rep.title}`, ""];
  for (const n of rep.notes) out.push(n, "");
  if (rep.tables.length === 0) out.push("No evaluation results.", "");
  for (const t of rep.tables) {
    out.push(`## ${TASK_TITLES[t.task]} (${t.task})`, "", t.noise ? seedLine(t) : AVG_NOTE, "");
    const head = headerCells(t);
    out.push(`| ${head.map(mdEscape).join(" | ")} |`);
    out.push(`|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`);
    for (const r of t.rows) {
      const cells = rowCells(t, r).map(mdEscape);
      if (r.source === "ours") cells[0] = `**${cells[0]}**`;
      out.push(`| ${cells.join(" | ")} |`);
    }
    out.push("");
    if (hasSeedTable(t)) {
      out.push(`Per seed (${t.seeds!.map((s) => `seed ${s}`).join(" / ")}), accuracy in %:`, "");
      out.push(`| ${head.map(mdEscape).join(" | ")} |`);
      out.push(`|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`);
      for (const r of t.rows) if (r.source === "ours") out.push(`| ${seedCells(t, r).map(mdEscape).join(" | ")} |`);
      out.push("");
    }
    for (const n of t.notes) out.push(`- ${n}`);
    if (t.notes.length) out.push("");
  }
  if (rep.runs.length) {
    out.push(
      "## Training runs",
      "",
      "Curves (rewards, KL, completion length, loss, learning rate) are in report.html.",
      "",
    );
    const keys = ["loss", "reward", "kl", "completions/mean_length", "learning_rate"];
    out.push(`| run | trainer | recipe | steps | ${keys.map((k) => `last ${k}`).join(" | ")} |`);
    out.push(`|---|---|---|---:|${keys.map(() => "---:").join("|")}|`);
    for (const r of rep.runs) {
      const v = keys.map((k) => (r.last[k] === undefined ? "–" : fmtMetric(r.last[k]!)));
      const recipe = r.recipe ? `${r.recipe}${r.profile ? ` (${r.profile})` : ""}` : "–";
      out.push(`| ${mdEscape(r.name)} | ${r.trainer ?? "–"} | ${mdEscape(recipe)} | ${r.steps} | ${v.join(" | ")} |`);
    }
    out.push("");
    const shown = charts.filter((ch) => MD_CHART_TITLES.includes(ch.title));
    if (shown.length) {
      out.push(
        "### Curves",
        "",
        `${MD_CHART_TITLES.join(", ")} per run (SVG files in ${CHARTS_DIR}/; every metric in report.html).`,
        "",
      );
      for (const run of [...new Set(shown.map((ch) => ch.run))]) {
        out.push(`**${mdEscape(run)}**`, "");
        for (const ch of shown.filter((x) => x.run === run))
          out.push(`![${mdEscape(`${run}: ${ch.title}`)}](${CHARTS_DIR}/${ch.id}.svg)`);
        out.push("");
      }
    }
  }
  return out.join("\n");
}

/** A metric value for a table: 4 significant digits, exponent form when very small or large. */
export function fmtMetric(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

// ---- inputs from disk ---------------------------------------------------------------------------------------------

export const SUMMARY_FILE = "summary.json";
export const METRICS_FILE = "metrics.jsonl";

export interface EvalDirOptions {
  paradigm?: string;
  label?: string;
}

/**
 * The trainer, recipe and profile a run directory's config.yaml records in its header comments
 * (src/train/config.ts writeRunConfig), or {} when there is none.
 */
export function readRunMeta(dir: string): { trainer?: string; recipe?: string; profile?: string } {
  const path = join(dir, "config.yaml");
  if (!existsSync(path)) return {};
  const meta: { trainer?: string; recipe?: string; profile?: string } = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (!line.startsWith("#")) break;
    const t = /^# trainer: (\S+)/.exec(line);
    if (t) meta.trainer = t[1]!;
    const r = /^# recipe: (\S+)(?: \(profile (\S+)\))?/.exec(line);
    if (r) {
      meta.recipe = r[1]!;
      if (r[2]) meta.profile = r[2];
    }
  }
  return meta;
}

/** The paradigm of a checkpoint: the recipe of the run directory holding it (the directory itself or a parent). */
function paradigmOfModel(model: string, from: string): string | undefined {
  const candidates = [resolve(from, model), resolve(model)];
  for (const c of candidates) {
    for (const d of [c, dirname(c)]) {
      const m = readRunMeta(d);
      if (m.recipe) return m.recipe;
    }
  }
  return undefined;
}

/**
 * Result rows from an `rft eval` output directory (summary.json). The paradigm: `opts.paradigm`, else the recipe of
 * the run that trained the evaluated checkpoint (config.yaml in the checkpoint's directory or its parent), else
 * "zero-shot" for a zero-shot strategy; the label: `opts.label`, else the paradigm's name, else model (strategy).
 */
export function readEvalDir(dir: string, opts: EvalDirOptions = {}): ResultRow[] {
  const path = join(dir, SUMMARY_FILE);
  const s = readJsonFile(path) as Record<string, unknown>;
  const bad = (what: string) => new Error(`${path}: ${what} (is this an rft eval output?)`);
  if (!s || typeof s !== "object" || Array.isArray(s)) throw bad("expected a JSON object");
  const task = typeof s.task === "string" ? taskFamily(s.task) : undefined;
  if (!task) throw bad(`"task" must name a task family, got ${JSON.stringify(s.task)}`);
  if (!Array.isArray(s.sets)) throw bad(`"sets" must be an array`);
  const model = typeof s.model === "string" ? s.model : undefined;
  const strategy = typeof s.strategy === "string" ? s.strategy : undefined;
  let paradigm = opts.paradigm;
  if (paradigm === undefined && model) paradigm = paradigmOfModel(model, process.cwd());
  if (paradigm === undefined && strategy === "zero-shot") paradigm = "zero-shot";
  return (s.sets as Record<string, unknown>[]).map((set, i) => {
    if (!set || typeof set !== "object") throw bad(`sets[${i}] must be an object`);
    const row: ResultRow = {
      task,
      set: set.name as string,
      split: set.split as Split,
      n: set.n as number,
      accuracy: set.accuracy as number | null,
      source: dir,
      ...(paradigm !== undefined ? { paradigm } : {}),
      ...(opts.label !== undefined ? { label: opts.label } : {}),
      ...(typeof set.scored === "number" ? { scored: set.scored } : {}),
      ...(typeof set.failed === "number" ? { failed: set.failed } : {}),
      ...(model !== undefined ? { model } : {}),
      ...(strategy !== undefined ? { strategy } : {}),
    };
    try {
      return checkRow(row, i);
    } catch (e) {
      throw bad(`sets[${i}]: ${(e as Error).message.replace(`${dir}: `, "")}`);
    }
  });
}

/** A training run directory: metrics.jsonl (one object per optimizer step) and the config.yaml header. */
export function readRunDir(dir: string, name?: string): RunInput {
  const path = join(dir, METRICS_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const metrics: Record<string, number>[] = [];
  const lines = text.split("\n");
  let lastLine = lines.length - 1;
  while (lastLine >= 0 && !lines[lastLine]!.trim()) lastLine--;
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      // A run killed mid-write can leave a torn last line: skip it, refuse anything else.
      if (i === lastLine) return;
      throw new Error(`${path}:${i + 1}: not valid JSON: ${(e as Error).message}`);
    }
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error(`${path}:${i + 1}: expected a JSON object`);
    const m: Record<string, number> = {};
    for (const [k, x] of Object.entries(v)) if (typeof x === "number") m[k] = x;
    if (typeof m.step !== "number") m.step = metrics.length + 1;
    metrics.push(m);
  });
  const meta = readRunMeta(dir);
  return { name: name ?? basename(resolve(dir)), dir, ...meta, metrics };
}

/** What a directory given to `rft report` holds. */
export function classifyDir(dir: string): { eval: boolean; run: boolean; report: boolean } {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new Error(`${dir}: no such directory`);
  }
  if (!st.isDirectory()) throw new Error(`${dir}: not a directory`);
  const kinds = {
    eval: existsSync(join(dir, SUMMARY_FILE)),
    run: existsSync(join(dir, METRICS_FILE)),
    report: isReportJson(join(dir, "report.json")),
  };
  if (!kinds.eval && !kinds.run && !kinds.report)
    throw new Error(
      `${dir}: neither an eval output (${SUMMARY_FILE}), a training run (${METRICS_FILE}) nor a report (report.json); nothing to report`,
    );
  return kinds;
}

/**
 * The result rows of an earlier report (its report.json, e.g. the demo's), to combine with others. The curves of its
 * runs are not in report.json: give the run directories for those.
 */
export function readReportDir(dir: string): ResultRow[] {
  const path = join(dir, "report.json");
  const rep = readJsonFile(path) as { kind?: unknown; results?: unknown };
  if (rep?.kind !== "rft-report" || !Array.isArray(rep.results))
    throw new Error(`${path}: not an rft report (expected "kind": "rft-report" and a "results" array)`);
  return (rep.results as ResultRow[]).map((r, i) => {
    try {
      return checkRow({ ...r, source: r.source ?? dir }, i);
    } catch (e) {
      throw new Error(`${path}: results[${i}]: ${(e as Error).message}`);
    }
  });
}

// ---- output -------------------------------------------------------------------------------------------------------

export const REPORT_KIND = "report";
export const REPORT_FILES = ["report.md", "report.json", "report.html"] as const;

export interface WriteReportOptions {
  force?: boolean;
  /** Directories read (the output may not be one of them nor contain one). */
  inputs?: readonly string[];
  command?: string;
  flag?: string;
  /** Chart.js source to inline (default: read from node_modules). */
  chartJs?: string;
  /**
   * The caller owns `out` and checked it itself (the demo writes its report into its own work directory): no output
   * check and no report marker (the directory keeps the caller's).
   */
  owned?: boolean;
}

/** The report.json object: the report, the input's extra fields and, per run, its curves' last values. */
export function reportJson(rep: Report, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...rep, ...extra };
}

/**
 * Builds the report and writes report.md, report.json and report.html into `out` (created if missing; files written
 * together: each staged beside its target and renamed into place once all are written). Returns the report.
 */
export function writeReport(out: string, input: ReportInput, opts: WriteReportOptions = {}): Report {
  const command = opts.command ?? "rft report";
  if (!opts.owned)
    prepareOutputDir(out, {
      kind: REPORT_KIND,
      flag: opts.flag ?? "--out",
      command,
      force: opts.force,
      inputs: opts.inputs,
      recognize: (d) => existsSync(join(d, "report.json")) && isReportJson(join(d, "report.json")),
    });
  const rep = buildReport(input);
  const html = reportHtml(rep, input.runs ?? [], { chartJs: opts.chartJs });
  const charts = runCharts(input.runs ?? []);
  const chartDir = join(out, CHARTS_DIR);
  mkdirSync(charts.length ? chartDir : out, { recursive: true });
  const staged = new StagedFiles();
  try {
    staged.write(join(out, "report.md"), reportMarkdown(rep, charts));
    for (const ch of charts) staged.write(join(chartDir, `${ch.id}.svg`), chartSvg(ch));
    staged.write(join(out, "report.json"), JSON.stringify(reportJson(rep, input.extra), null, 2) + "\n");
    staged.write(join(out, "report.html"), html);
    if (!opts.owned)
      for (const [name, text] of Object.entries(outputMarkerFile(REPORT_KIND, command)))
        staged.write(join(out, name), text);
    staged.commit();
  } catch (e) {
    staged.abort();
    if (e instanceof OutputError) throw e;
    throw new Error(`${out}: cannot write the report: ${(e as Error).message}`);
  }
  // Charts of an earlier report that this one does not have (fewer runs): ours by name, so removed.
  const written = new Set(charts.map((ch) => `${ch.id}.svg`));
  if (existsSync(chartDir))
    for (const f of readdirSync(chartDir))
      if (/^run-\d+-\d+\.svg$/.test(f) && !written.has(f)) rmSync(join(chartDir, f), { force: true });
  return rep;
}

function isReportJson(path: string): boolean {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { kind?: unknown }).kind === "rft-report";
  } catch {
    return false;
  }
}
