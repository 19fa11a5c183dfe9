/**
 * Test sets of an evaluation: which files, their names, split (ID or OOD) and the benchmark whose prompts and
 * scorer apply. `--bench DIR` finds a task's sets in the Reason-RFT layout (DIR/test_jsons/, spec §1.1; the
 * generated mini benchmark writes the same layout, docs/benchmark.md); `--test FILE` names files directly.
 * Tensor-free.
 */
import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { type MetaRecord, parseMetaArray } from "../data/meta.ts";
import { readJsonFile } from "../data/json.ts";
import { BENCHMARKS, type Benchmark, type TaskFamily, imagesPerSample } from "../tasks/tasks.ts";

export type Split = "id" | "ood";

export interface EvalSetSpec {
  /** Output name: OUT/<name>.json. The reference's benchmark names for its seven sets. */
  name: string;
  split: Split;
  file: string;
  /** Benchmark whose prompts (spec §2.3) and scorer (spec §6.2) apply. */
  benchmark: Benchmark;
}

export interface EvalSet extends EvalSetSpec {
  /** Validated records (id, image, problem, answer), in file order, after --limit. */
  records: MetaRecord[];
  /** The items as read (every field kept: the prediction files are the test items plus `pred`). */
  raw: Record<string, unknown>[];
}

/** File-name prefix of each family's test files in the Reason-RFT layout. */
const FILE_PREFIX: Record<TaskFamily, string> = {
  "visual-counting": "Visual-Counting",
  "structure-perception": "Structure-Perception",
  "spatial-transformation": "Spatial-Transformation",
};

/** The reference's names of the real sets: (family, split, qualifier) → benchmark. */
const KNOWN: Record<TaskFamily, Record<string, Benchmark>> = {
  "visual-counting": { id: "clevr-math", ood: "super-clevr" },
  "structure-perception": { id: "geomath", ood: "geometry3k" },
  "spatial-transformation": { id: "trance", "ood-left": "trance-left", "ood-right": "trance-right" },
};

/**
 * Name, split and benchmark of a test file from its name: the dataset's names (`Visual-Counting-ood-test-1k.json`
 * → super-clevr, ood), extra files of the layout (`Visual-Counting-ood-steps-test-1k.json` → clevr-math-ood-steps,
 * ood, scored as clevr-math) and the reference eval script's names (`super_clevr.json`, `trance_left.json`).
 * Undefined when the name says nothing.
 */
export function setFromFileName(file: string): Omit<EvalSetSpec, "file"> | undefined {
  const base = basename(file).replace(/\.json$/i, "");
  const asBench = base.replace(/_/g, "-").toLowerCase();
  if (Object.prototype.hasOwnProperty.call(BENCHMARKS, asBench)) {
    const b = asBench as Benchmark;
    const split: Split = b === "clevr-math" || b === "geomath" || b === "trance" ? "id" : "ood";
    return { name: b, split, benchmark: b };
  }
  for (const [family, prefix] of Object.entries(FILE_PREFIX) as [TaskFamily, string][]) {
    const m = new RegExp(`^${prefix}-(id|ood)(?:-([a-z0-9]+(?:-[a-z0-9]+)*?))?-test(?:-[a-z0-9]+)?$`, "i").exec(base);
    if (!m) continue;
    const split = m[1]!.toLowerCase() as Split;
    const qual = m[2]?.toLowerCase();
    const key = qual ? `${split}-${qual}` : split;
    const known = KNOWN[family][key];
    if (known) return { name: known, split, benchmark: known };
    const idBench = KNOWN[family].id!;
    // An extra set of the family: scored and prompted as the family's in-domain benchmark.
    return { name: `${idBench}-${key}`, split, benchmark: idBench };
  }
  return undefined;
}

/** The `scorer` field of the generated benchmark's manifest.json for a test file, when there is one. */
function manifestScorer(benchDir: string, relFile: string): Benchmark | undefined {
  const path = join(benchDir, "manifest.json");
  if (!existsSync(path)) return undefined;
  const m = readJsonFile(path) as { files?: Record<string, { scorer?: unknown }> };
  const s = m.files?.[relFile]?.scorer;
  return typeof s === "string" && Object.prototype.hasOwnProperty.call(BENCHMARKS, s) ? (s as Benchmark) : undefined;
}

/** The family's ID and OOD test sets of a dataset root in the Reason-RFT layout (ID first, then OOD by name). */
export function benchSets(benchDir: string, family: TaskFamily): EvalSetSpec[] {
  const dir = join(benchDir, "test_jsons");
  if (!existsSync(dir))
    throw new Error(`--bench ${benchDir}: no test_jsons/ directory (expected the Reason-RFT layout)`);
  const sets: EvalSetSpec[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.toLowerCase().endsWith(".json") || !f.startsWith(`${FILE_PREFIX[family]}-`)) continue;
    const s = setFromFileName(f);
    if (!s) continue;
    const scorer = manifestScorer(benchDir, `test_jsons/${f}`);
    sets.push({ ...s, benchmark: scorer ?? s.benchmark, file: join(dir, f) });
  }
  if (sets.length === 0)
    throw new Error(`--bench ${benchDir}: no ${FILE_PREFIX[family]}-*-test*.json files in test_jsons/ for ${family}`);
  sets.sort((a, b) => (a.split === b.split ? a.name.localeCompare(b.name) : a.split === "id" ? -1 : 1));
  return sets;
}

/**
 * Sets for explicit files. A file whose name says nothing is named after the file, split "id" unless its name
 * contains "ood", and scored as `fallback` (the --task benchmark, or the family's ID benchmark).
 */
export function fileSets(files: readonly string[], family: TaskFamily, fallback?: Benchmark): EvalSetSpec[] {
  return files.map((file) => {
    const s = setFromFileName(file);
    if (s && BENCHMARKS[s.benchmark] === family) return { ...s, file };
    if (s) throw new Error(`--test ${file}: the file name says ${s.benchmark}, not a ${family} set`);
    const name = basename(file).replace(/\.json$/i, "");
    return {
      name,
      split: /ood/i.test(name) ? "ood" : "id",
      benchmark: fallback ?? KNOWN[family].id!,
      file,
    };
  });
}

/** Refuses two sets with one output name. */
export function checkSetNames(sets: readonly EvalSetSpec[]): void {
  const seen = new Map<string, string>();
  for (const s of sets) {
    if (!/^[A-Za-z0-9._-]+$/.test(s.name))
      throw new Error(`test set name '${s.name}' (from ${s.file}) is not a safe file name`);
    const prev = seen.get(s.name);
    if (prev) throw new Error(`test sets ${prev} and ${s.file} would both write ${s.name}.json`);
    seen.set(s.name, s.file);
  }
}

/** Reads and validates a set's file (records must have id, image, problem, answer; ids unique), then --limit. */
export function loadSet(spec: EvalSetSpec, family: TaskFamily, limit?: number): EvalSet {
  const data = readJsonFile(spec.file);
  const meta = parseMetaArray(data, spec.file, { imagesPerRecord: imagesPerSample(family) });
  const n = limit === undefined ? meta.records.length : Math.min(limit, meta.records.length);
  const raw = (data as Record<string, unknown>[]).slice(0, n).map((r, i) => {
    // Pre-distillation files carry `solution` only; the scorer reads `answer`.
    return typeof r.answer === "string" ? r : { ...r, answer: meta.records[i]!.answer };
  });
  return { ...spec, records: meta.records.slice(0, n), raw };
}
