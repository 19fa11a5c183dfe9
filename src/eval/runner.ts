/**
 * The evaluation runner behind `rft eval` (spec §6), as a library function: `runEval(opts, hooks)`.
 *
 * For each test set: build the prompt of every item for the strategy (spec §2.3), send the items that are not
 * finished yet to a backend (a local checkpoint or an OpenAI-compatible endpoint, see EvalBackend) in batches,
 * `concurrency` batches at a time, record every prediction the moment it arrives (store.ts: resumable by id), then
 * score the set with the `rft score` logic and write OUT/<set>_with_score.json; finally OUT/summary.json with the
 * per-set accuracies and the averages (docs/evaluation.md defines them). Permanent failures go to OUT/errors.jsonl
 * and into the summary. Tensor-free: the local backend (local.ts) is the only part that loads the model.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { OutputError, prepareOutputDir, writeOutputMarker } from "../io/output.ts";
import { join, resolve } from "node:path";
import { readJsonFile } from "../data/json.ts";
import { recordImages } from "../data/meta.ts";
import { type EvalStrategy, type PromptTemplates, evalPrompt } from "../tasks/prompts.ts";
import { scorePredictions } from "../tasks/score.ts";
import { BENCHMARKS, type Benchmark, type TaskFamily, taskFamily } from "../tasks/tasks.ts";
import { writeFileAtomic, writeJsonAtomic } from "./files.ts";
import { FatalEndpointError } from "./retry.ts";
import { type EvalSet, type EvalSetSpec, type Split, checkSetNames, loadSet } from "./sets.ts";
import { PredictionStore, predictionPath } from "./store.ts";

/** One prompt to answer. */
export interface EvalItem {
  set: string;
  /** Position in the set (after --limit). */
  index: number;
  id: string;
  /** Absolute image paths, in the order the prompt refers to them (before the text). */
  images: string[];
  /** The user text (the strategy's template filled with the problem). */
  text: string;
}

export type EvalOutcome =
  { ok: true; pred: string } | { ok: false; error: string; attempts: number; status?: number; history?: string[] };

export interface RetryNotice {
  set: string;
  id: string;
  attempt: number;
  message: string;
  delayMs: number;
}

export interface BackendContext {
  /** Seed of this batch (the run's seed, offset by set and position; see docs/evaluation.md). */
  seed: number;
  signal: AbortSignal;
  onRetry: (n: Omit<RetryNotice, "set">) => void;
}

/**
 * Where predictions come from. `run` answers a batch (one outcome per item, in order); it rejects only for
 * failures no item can survive (FatalEndpointError, a broken model).
 */
export interface EvalBackend {
  kind: "local" | "endpoint";
  /** The model as named in the summary (checkpoint directory or endpoint model name). */
  model: string;
  /** Items per `run` call. */
  batchSize: number;
  /** `run` calls in flight at once. */
  concurrency: number;
  /** Settings a resumed run must share with the first one (sampling, endpoint, ...). */
  settings: Record<string, unknown>;
  /** Recorded in the summary, free to change between a run and its resumption (e.g. the endpoint URL). */
  info?: Record<string, unknown>;
  run(batch: EvalItem[], ctx: BackendContext): Promise<EvalOutcome[]>;
  close?(): void | Promise<void>;
}

export interface RunEvalOptions {
  /** Task family, short name (vc/sp/st) or benchmark name. */
  task: string;
  sets: EvalSetSpec[];
  imageRoot: string;
  out: string;
  strategy: EvalStrategy;
  /** First N items of each set. */
  limit?: number;
  /** Base seed of the local sampler (default 0). */
  seed?: number;
  templates?: PromptTemplates;
  /** Start over in an OUT written by a run with other settings (removes that run's files), or use a foreign dir. */
  force?: boolean;
  signal?: AbortSignal;
}

export interface EvalProgress {
  set: string;
  setDone: number;
  setFailed: number;
  setTotal: number;
  /** Over all sets: finished (this run and earlier), failed, and all items. */
  done: number;
  failed: number;
  total: number;
  /** Items finished by an earlier run (not asked again). */
  resumed: number;
  elapsedMs: number;
  /** From this run's rate; undefined until an item finished. */
  etaMs?: number;
}

export interface EvalHooks {
  onProgress?: (p: EvalProgress) => void;
  onRetry?: (n: RetryNotice) => void;
  onFailure?: (f: FailureRecord) => void;
  onSetDone?: (s: SetSummary) => void;
  onLog?: (msg: string) => void;
}

export interface FailureRecord {
  set: string;
  id: string;
  error: string;
  attempts: number;
  status?: number;
  history?: string[];
}

export interface SetSummary {
  name: string;
  split: Split;
  /** Benchmark whose prompts and scorer were used. */
  benchmark: Benchmark;
  /** Items in the set (after --limit) = scored + failed. */
  n: number;
  scored: number;
  failed: number;
  /** Mean score of the scored items, in [0, 1]; null when none was scored. */
  accuracy: number | null;
}

export interface EvalSummary {
  task: TaskFamily;
  model: string;
  strategy: EvalStrategy;
  sets: SetSummary[];
  /** Mean of the ID sets' accuracies (null if there is none or one is null). */
  id_avg: number | null;
  /** Mean of the OOD sets' accuracies. */
  ood_avg: number | null;
  /** Mean of all sets' accuracies, each set weighted 1: the paper's per-task AVG column (spec §9). */
  avg: number | null;
  backend: "local" | "endpoint";
  settings: Record<string, unknown>;
  limit: number | null;
  failures: FailureRecord[];
  seconds: number;
}

const RUN_FILE = "eval_run.json";
/** The output kind in the directory's marker (src/io/output.ts). */
export const OUTPUT_KIND = "eval";
export const ERRORS_FILE = "errors.jsonl";
export const SUMMARY_FILE = "summary.json";

function mean(xs: readonly (number | null)[]): number | null {
  if (xs.length === 0 || xs.some((x) => x === null)) return null;
  return (xs as number[]).reduce((a, b) => a + b, 0) / xs.length;
}

/** The three averages of the summary from per-set accuracies (definitions: docs/evaluation.md). */
export function averages(sets: readonly Pick<SetSummary, "split" | "accuracy">[]): {
  id_avg: number | null;
  ood_avg: number | null;
  avg: number | null;
} {
  return {
    id_avg: mean(sets.filter((s) => s.split === "id").map((s) => s.accuracy)),
    ood_avg: mean(sets.filter((s) => s.split === "ood").map((s) => s.accuracy)),
    avg: mean(sets.map((s) => s.accuracy)),
  };
}

/** The user text for one item: the strategy's template for the set's benchmark (spec §2.3). */
export function itemPrompt(
  benchmark: Benchmark,
  strategy: EvalStrategy,
  raw: Record<string, unknown>,
  rec: { problem: string; answer: string },
  templates: PromptTemplates = {},
): string {
  // The closed-source evaluator asks GeoMath with `problem_no_prompt` (spec §6.3).
  const problem =
    strategy === "closed-source" && benchmark === "geomath" && typeof raw.problem_no_prompt === "string"
      ? raw.problem_no_prompt
      : rec.problem;
  return evalPrompt(benchmark, strategy, { problem, answer: rec.answer }, templates);
}

/** What makes two runs into one OUT directory compatible (resume only continues the same evaluation). */
function runKey(opts: RunEvalOptions, family: TaskFamily, backend: EvalBackend): Record<string, unknown> {
  return {
    task: family,
    strategy: opts.strategy,
    backend: backend.kind,
    model: backend.model,
    settings: backend.settings,
    seed: opts.seed ?? 0,
    templates: opts.templates ?? {},
  };
}

function ourFiles(out: string, sets: readonly string[]): string[] {
  const names = [RUN_FILE, ERRORS_FILE, SUMMARY_FILE];
  for (const s of sets) names.push(`${s}.json`, `${s}_with_score.json`, `${s}.partial.jsonl`);
  return names.map((n) => join(out, n));
}

/**
 * Checks OUT for this run (src/io/output.ts rules: never onto an input; a non-empty directory must be an earlier
 * `rft eval` output unless --force) and compares the settings of an earlier evaluation there: the same settings
 * resume; others are refused, or with --force that evaluation's files are removed and the run starts over.
 */
function prepareOut(
  opts: RunEvalOptions,
  key: Record<string, unknown>,
  sets: readonly EvalSet[],
  imageRoot: string,
): "new" | "resume" {
  const out = opts.out;
  const runPath = join(out, RUN_FILE);
  prepareOutputDir(out, {
    kind: OUTPUT_KIND,
    flag: "--out",
    command: "rft eval",
    force: opts.force,
    recognize: (dir) => existsSync(join(dir, RUN_FILE)),
    inputs: [...sets.map((s) => s.file), imageRoot],
  });
  if (!existsSync(runPath)) return "new";
  const prev = readJsonFile(runPath) as { key?: Record<string, unknown>; sets?: string[] };
  const diffs = Object.keys(key).filter((k) => JSON.stringify(prev.key?.[k]) !== JSON.stringify(key[k]));
  if (diffs.length === 0) return "resume";
  if (!opts.force) {
    const what = diffs.map((k) => `${k}: ${JSON.stringify(prev.key?.[k])} → ${JSON.stringify(key[k])}`).join("; ");
    throw new OutputError(
      `--out ${out} holds an evaluation with other settings (${what}); use another --out, or --force to start over there`,
    );
  }
  const names = [...new Set([...(prev.sets ?? []), ...sets.map((s) => s.name)])];
  for (const f of ourFiles(out, names)) rmSync(f, { force: true });
  return "new";
}

/**
 * Runs an evaluation (see the module comment) and returns the summary it wrote to OUT/summary.json.
 * Rejects with FatalEndpointError when the backend reports a failure no item can survive (after saving what
 * finished), and with the abort reason when `opts.signal` aborts. The caller owns the backend (and closes it).
 */
export async function runEval(opts: RunEvalOptions, backend: EvalBackend, hooks: EvalHooks = {}): Promise<EvalSummary> {
  const t0 = Date.now();
  const family = taskFamily(opts.task);
  if (!family) throw new Error(`unknown task '${opts.task}'`);
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 1))
    throw new Error(`--limit must be a positive integer, got ${opts.limit}`);
  checkSetNames(opts.sets);
  for (const s of opts.sets)
    if (BENCHMARKS[s.benchmark] !== family)
      throw new Error(`test set ${s.name} (${s.file}) is scored as ${s.benchmark}, which is not a ${family} benchmark`);
  const sets: EvalSet[] = opts.sets.map((s) => loadSet(s, family, opts.limit));
  const imageRoot = resolve(opts.imageRoot);
  // Every prompt is built before any request, so a template or record problem stops the run at once.
  const prompts = sets.map((s) =>
    s.records.map((rec, i) => itemPrompt(s.benchmark, opts.strategy, s.raw[i]!, rec, opts.templates)),
  );

  const key = runKey(opts, family, backend);
  const mode = prepareOut(opts, key, sets, imageRoot);
  mkdirSync(opts.out, { recursive: true });
  writeOutputMarker(opts.out, OUTPUT_KIND, "rft eval");
  writeJsonAtomic(join(opts.out, RUN_FILE), { tool: "rft eval", key, sets: sets.map((s) => s.name) }, 2);
  const errorsPath = join(opts.out, ERRORS_FILE);
  // Earlier failures are retried below; the file lists this run's permanent failures only.
  writeFileAtomic(errorsPath, "");
  // summary.json exists only for a finished run (a stale one would describe other items).
  rmSync(join(opts.out, SUMMARY_FILE), { force: true });
  if (mode === "resume") hooks.onLog?.(`resuming in ${opts.out}`);

  const stores = sets.map((s) => new PredictionStore(opts.out, s.name, s.raw));
  const total = sets.reduce((a, s) => a + s.records.length, 0);
  const resumed = stores.reduce((a, st) => a + st.size, 0);
  if (resumed > 0) hooks.onLog?.(`${resumed} of ${total} items already finished; they are not asked again`);
  const failures: FailureRecord[] = [];
  let done = resumed;
  let failedAll = 0;

  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(opts.signal!.reason);
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const results: SetSummary[] = [];
  try {
    for (const [si, set] of sets.entries()) {
      const store = stores[si]!;
      const pending: EvalItem[] = [];
      set.records.forEach((rec, index) => {
        if (store.has(rec.id)) return;
        const images = recordImages(rec).map((p) => resolve(imageRoot, p));
        pending.push({ set: set.name, index, id: rec.id, images, text: prompts[si]![index]! });
      });
      let setFailed = 0;
      const progress = () => {
        const elapsedMs = Date.now() - t0;
        const fresh = done - resumed + failedAll;
        const left = total - done - failedAll;
        hooks.onProgress?.({
          set: set.name,
          setDone: store.size,
          setFailed,
          setTotal: set.records.length,
          done,
          failed: failedAll,
          total,
          resumed,
          elapsedMs,
          etaMs: fresh > 0 ? (elapsedMs / fresh) * left : undefined,
        });
      };
      progress();
      const batches: EvalItem[][] = [];
      for (let i = 0; i < pending.length; i += backend.batchSize) batches.push(pending.slice(i, i + backend.batchSize));
      let next = 0;
      let fatal: unknown;
      const worker = async () => {
        while (next < batches.length && !abort.signal.aborted) {
          const batch = batches[next++]!;
          let outcomes: EvalOutcome[];
          try {
            outcomes = await backend.run(batch, {
              seed: ((opts.seed ?? 0) + 1_000_003 * si + batch[0]!.index) % 2 ** 31,
              signal: abort.signal,
              onRetry: (n) => hooks.onRetry?.({ ...n, set: set.name }),
            });
          } catch (e) {
            if (fatal === undefined) fatal = e;
            abort.abort(e);
            return;
          }
          if (outcomes.length !== batch.length) {
            if (fatal === undefined)
              fatal = new Error(`backend answered ${outcomes.length} items for a batch of ${batch.length}`);
            abort.abort(fatal);
            return;
          }
          batch.forEach((item, j) => {
            const o = outcomes[j]!;
            if (o.ok) {
              store.record(item.id, o.pred);
              done++;
            } else {
              const f: FailureRecord = { set: set.name, id: item.id, error: o.error, attempts: o.attempts };
              if (o.status !== undefined) f.status = o.status;
              if (o.history && o.history.length > 1) f.history = o.history;
              failures.push(f);
              writeFileAtomic(errorsPath, failures.map((x) => JSON.stringify(x) + "\n").join(""));
              setFailed++;
              failedAll++;
              hooks.onFailure?.(f);
            }
          });
          progress();
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, backend.concurrency) }, worker));
      store.close();
      if (fatal !== undefined) throw fatal;
      if (abort.signal.aborted) throw abort.signal.reason ?? new Error("aborted");

      // Score what finished with the `rft score` logic.
      const finished = store.finishedItems();
      const report = scorePredictions(set.benchmark, finished, predictionPath(opts.out, set.name), {
        // The closed-source scorer's leniency for structure perception (spec §6.3).
        enhance: opts.strategy === "closed-source" && BENCHMARKS[set.benchmark] === "structure-perception",
      });
      writeJsonAtomic(join(opts.out, `${set.name}_with_score.json`), report.items);
      const summary: SetSummary = {
        name: set.name,
        split: set.split,
        benchmark: set.benchmark,
        n: set.records.length,
        scored: report.overall.count,
        failed: set.records.length - report.overall.count,
        accuracy: report.overall.count === 0 ? null : report.overall.sum / report.overall.count,
      };
      results.push(summary);
      hooks.onSetDone?.(summary);
    }
  } catch (e) {
    for (const st of stores) if (existsSync(st.journal)) st.snapshot();
    if (e instanceof FatalEndpointError) hooks.onLog?.(`stopped: ${e.message}`);
    throw e;
  } finally {
    opts.signal?.removeEventListener("abort", onOuterAbort);
  }

  const summary: EvalSummary = {
    task: family,
    model: backend.model,
    strategy: opts.strategy,
    sets: results,
    ...averages(results),
    backend: backend.kind,
    settings: { ...backend.settings, ...backend.info },
    limit: opts.limit ?? null,
    failures,
    seconds: (Date.now() - t0) / 1000,
  };
  writeJsonAtomic(join(opts.out, SUMMARY_FILE), summary, 2);
  return summary;
}

/** Fixed-width result table: one row per set, then the three averages (accuracies as fractions). */
export function formatSummaryTable(s: EvalSummary): string {
  const acc = (x: number | null) => (x === null ? "-" : x.toFixed(4));
  const w = Math.max(8, ...s.sets.map((x) => x.name.length));
  const lines = [
    `${s.task} · ${s.strategy} · ${s.model}`,
    `${"set".padEnd(w)}  ${"split".padEnd(5)} ${"n".padStart(6)} ${"scored".padStart(7)} ${"failed".padStart(7)} ${"accuracy".padStart(9)}`,
  ];
  for (const x of s.sets)
    lines.push(
      `${x.name.padEnd(w)}  ${x.split.padEnd(5)} ${String(x.n).padStart(6)} ${String(x.scored).padStart(7)} ${String(x.failed).padStart(7)} ${acc(x.accuracy).padStart(9)}`,
    );
  const pad = w + 2 + 5 + 1 + 6 + 1 + 7 + 1 + 7 + 1;
  lines.push(`${"id_avg".padEnd(pad)}${acc(s.id_avg).padStart(9)}`);
  lines.push(`${"ood_avg".padEnd(pad)}${acc(s.ood_avg).padStart(9)}`);
  lines.push(`${"avg".padEnd(pad)}${acc(s.avg).padStart(9)}`);
  return lines.join("\n");
}
