/**
 * The mini-benchmark writer: runs the item generators of every task and split, keeps train and test apart by
 * canonical key, renders the images, and writes the dataset layout of spec §1 plus a manifest.
 *
 * Layout of DIR:
 *   images/train_images/{clevr_math,geomath,trance,instruct}/…png
 *   images/test_images/{clevr_math,super_clevr,clevr_math_steps,geomath,geometry3k,trance,trance_left,trance_right}/…png
 *   train_jsons/A1-Spatial-Transformation-train-60k-cot.json, A2-Structure-Perception-train-4k5-cot.json,
 *               A3-Visual-Counting-train-35k-cot.json (the real file names, whatever the size), A0-Instruct-train.json
 *   test_jsons/<the real test file names>, plus Visual-Counting-ood-steps-test-1k.json
 *   manifest.json
 *   .rft-output          (marker: an rft data synth output, which a later run may replace)
 * Image paths in the records are relative to DIR/images.
 */
import { writeFile as writeFileCb } from "node:fs";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { prepareOutputDir, replaceDirAtomic, writeOutputMarker } from "../../io/output.ts";
import { dirname, join } from "node:path";
import { makeCountingItem, type CountingSplit } from "./counting.ts";
import { makeGeometryItem, type GeometrySplit } from "./geometry.ts";
import { makeTransformItem, type TransformSplit } from "./transform.ts";
import { makeInstructItems, type InstructStyle } from "./instruct.ts";
import { encodePng } from "./render.ts";
import { BACKGROUND_RGB } from "./scene.ts";
import { GEO_BACKGROUND } from "./geometry.ts";
import { isTestKey, type InstructRecord, type MetaRecord, type SynthImage, type SynthItem } from "./types.ts";

export const GENERATOR = "reason-rft synth";
export const GENERATOR_VERSION = "1.0.0";

export const TASKS = ["counting", "geometry", "transformation", "instruct"] as const;
export type SynthTask = (typeof TASKS)[number];
/** Accepted spellings of --tasks entries (the reference's benchmark names map to our task names). */
export const TASK_ALIASES: Record<string, SynthTask> = {
  counting: "counting",
  "visual-counting": "counting",
  "clevr-math": "counting",
  geometry: "geometry",
  "structure-perception": "geometry",
  geomath: "geometry",
  transformation: "transformation",
  "spatial-transformation": "transformation",
  trance: "transformation",
  instruct: "instruct",
};

export type SynthSize = "small" | "full";

interface SplitSpec {
  task: Exclude<SynthTask, "instruct">;
  split: string;
  file: string;
  test: boolean;
  /** Test sets: the `rft score --task` benchmark whose scorer applies (the reference's evaluation key). */
  scorer?: string;
  make: (seed: number, index: number, attempt: number) => SynthItem | null;
}

const counting = (split: CountingSplit) => (seed: number, i: number, a: number) => makeCountingItem(seed, split, i, a);
const geometry = (split: GeometrySplit) => (seed: number, i: number, a: number) => makeGeometryItem(seed, split, i, a);
const transform = (split: TransformSplit) => (seed: number, i: number, a: number) =>
  makeTransformItem(seed, split, i, a);

export const SPLITS: SplitSpec[] = [
  {
    task: "counting",
    split: "train",
    file: "train_jsons/A3-Visual-Counting-train-35k-cot.json",
    test: false,
    make: counting("train"),
  },
  {
    task: "counting",
    split: "id",
    file: "test_jsons/Visual-Counting-id-test-1k.json",
    test: true,
    scorer: "clevr-math",
    make: counting("id"),
  },
  {
    task: "counting",
    split: "ood-domain",
    file: "test_jsons/Visual-Counting-ood-test-1k.json",
    test: true,
    scorer: "super-clevr",
    make: counting("ood-domain"),
  },
  {
    task: "counting",
    split: "ood-steps",
    file: "test_jsons/Visual-Counting-ood-steps-test-1k.json",
    test: true,
    scorer: "clevr-math",
    make: counting("ood-steps"),
  },
  {
    task: "geometry",
    split: "train",
    file: "train_jsons/A2-Structure-Perception-train-4k5-cot.json",
    test: false,
    make: geometry("train"),
  },
  {
    task: "geometry",
    split: "id",
    file: "test_jsons/Structure-Perception-id-test-820.json",
    test: true,
    scorer: "geomath",
    make: geometry("id"),
  },
  {
    task: "geometry",
    split: "ood",
    file: "test_jsons/Structure-Perception-ood-test-800.json",
    test: true,
    scorer: "geometry3k",
    make: geometry("ood"),
  },
  {
    task: "transformation",
    split: "train",
    file: "train_jsons/A1-Spatial-Transformation-train-60k-cot.json",
    test: false,
    make: transform("train"),
  },
  {
    task: "transformation",
    split: "id",
    file: "test_jsons/Spatial-Transformation-id-test-1k.json",
    test: true,
    scorer: "trance",
    make: transform("id"),
  },
  {
    task: "transformation",
    split: "ood-left",
    file: "test_jsons/Spatial-Transformation-ood-left-test-1k.json",
    test: true,
    scorer: "trance-left",
    make: transform("ood-left"),
  },
  {
    task: "transformation",
    split: "ood-right",
    file: "test_jsons/Spatial-Transformation-ood-right-test-1k.json",
    test: true,
    scorer: "trance-right",
    make: transform("ood-right"),
  },
];
export const INSTRUCT_FILE = "train_jsons/A0-Instruct-train.json";

/** Items per split (instruct: images per style; each image carries two questions, or one when they coincide). */
export const SIZE_TABLE: Record<
  SynthSize,
  { train: Record<string, number>; test: number; instruct: Record<InstructStyle, number> }
> = {
  small: {
    train: { counting: 40, geometry: 40, transformation: 40 },
    test: 20,
    instruct: { counting: 12, transformation: 12, geometry: 12 },
  },
  full: {
    train: { counting: 8000, geometry: 4000, transformation: 8000 },
    test: 1000,
    instruct: { counting: 1600, transformation: 1200, geometry: 1200 },
  },
};

/** Recommended Stage-1 CoT subset: about 5% of the train records (scarce CoT labels, plentiful RL prompts). */
export function stage1Size(train: number): number {
  return Math.max(1, Math.round(train * 0.05));
}

export interface SynthOptions {
  out: string;
  size: SynthSize;
  seed: number;
  tasks: readonly SynthTask[];
  /**
   * Instruct images per style instead of the size's (e.g. a bigger perception set for the demo's base model, or a
   * small held-out one). A style left out keeps the size's count; 0 leaves the style out.
   */
  instruct?: Partial<Record<InstructStyle, number>>;
  log?: (line: string) => void;
}

export interface FileEntry {
  task: string;
  split: string;
  records: number;
  images: number;
  /** Test files: the benchmark name to pass to `rft score --task`. */
  scorer?: string;
}

export interface Manifest {
  generator: string;
  version: string;
  seed: number;
  size: SynthSize;
  tasks: SynthTask[];
  imageRoot: string;
  files: Record<string, FileEntry>;
  stage1Size: Record<string, number>;
  /** Test items whose canonical key repeats an earlier test item of the same task (never a train key). */
  repeatedTestKeys: Record<string, number>;
  /** Uniform background colours (RGB): centre pixels on them for the tiny vision tower. */
  background: { objects: number[]; geometry: number[] };
  imageSizes: Record<string, [number, number]>;
  /** Instruct images per style when they differ from the size's (SynthOptions.instruct). */
  instruct?: Record<InstructStyle, number>;
}

/**
 * An image_mean for a model trained on this benchmark from random weights: halfway between its two flat backgrounds
 * (object scenes, and the geometry figures' white), in [0, 1], so both sit near zero (docs/results.md, the probe).
 */
export function backgroundMidpoint(background: Manifest["background"]): number[] {
  return background.objects.map((c, i) => (c + background.geometry[i]!) / 2 / 255);
}

// The callback API does open/write/close on the thread pool (the promise API costs more main-thread time here).
const writeFileAsync = promisify(writeFileCb);

const MAX_ATTEMPTS = 2000;
/** A progress line every this many items of a split. */
const PROGRESS_EVERY = 2000;
/** After this many attempts a test item may repeat another test item's key (small figure families). */
const UNIQUE_ATTEMPTS = 30;

/** Draws images on this thread and encodes/writes up to `limit` of them concurrently; the first failure is rethrown. */
class ImageWriter {
  private pending = new Set<Promise<void>>();
  private error: Error | undefined;
  constructor(
    private root: string,
    private limit = 8,
  ) {}

  async add(img: SynthImage): Promise<void> {
    if (this.error) throw this.error;
    const canvas = img.render();
    const path = join(this.root, img.path);
    const p: Promise<void> = encodePng(canvas)
      .then((buf) => writeFileAsync(path, buf))
      .catch((e: Error) => {
        this.error ??= new Error(`writing ${img.path}: ${e.message}`);
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
    if (this.pending.size >= this.limit) await Promise.race(this.pending);
    if (this.error) throw this.error;
  }

  async flush(): Promise<void> {
    await Promise.all(this.pending);
    if (this.error) throw this.error;
  }
}

function jsonLines(records: readonly unknown[]): string {
  return "[\n" + records.map((r) => JSON.stringify(r)).join(",\n") + "\n]\n";
}

/** An earlier synth output: its manifest names this generator (outputs written before the marker existed). */
function isSynthOutput(dir: string): boolean {
  try {
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { generator?: string };
    return m.generator === GENERATOR;
  } catch {
    return false;
  }
}

/** A piece of the job that depends only on (seed, size, unit): units can run in any order, in any process. */
export type UnitName = "counting" | "geometry" | "transformation-train" | "transformation-test" | "instruct";
/** Biggest first (images per unit at full size: 16k, 11k, 6k, 6k, 4k), so two workers finish together. */
export const UNITS: { name: UnitName; task: SynthTask }[] = [
  { name: "transformation-train", task: "transformation" },
  { name: "counting", task: "counting" },
  { name: "transformation-test", task: "transformation" },
  { name: "geometry", task: "geometry" },
  { name: "instruct", task: "instruct" },
];

export interface UnitResult {
  files: Record<string, FileEntry>;
  stage1Size: Record<string, number>;
  repeatedTestKeys: Record<string, number>;
}

export interface UnitOptions {
  out: string;
  size: SynthSize;
  seed: number;
  instruct?: Partial<Record<InstructStyle, number>>;
}

/** Instruct images per style: the size's, with the overrides applied (checked: whole numbers ≥ 0). */
export function instructCounts(
  size: SynthSize,
  overrides: Partial<Record<InstructStyle, number>> = {},
): Record<InstructStyle, number> {
  const out = { ...SIZE_TABLE[size].instruct };
  for (const [style, n] of Object.entries(overrides)) {
    if (!(style in out))
      throw new Error(`instruct images: unknown style '${style}' (one of: ${Object.keys(out).join(", ")})`);
    if (!Number.isInteger(n) || n! < 0)
      throw new Error(`instruct images of ${style}: expected a whole number ≥ 0, got ${n}`);
    out[style as InstructStyle] = n!;
  }
  return out;
}

/** Generates one unit: its JSON files and images under `out` (which must exist). */
export async function runUnit(
  unit: UnitName,
  opts: UnitOptions,
  log: (line: string) => void = () => {},
): Promise<UnitResult> {
  const table = SIZE_TABLE[opts.size];
  const imageRoot = join(opts.out, "images");
  const writer = new ImageWriter(imageRoot);
  const made = new Set<string>();
  const ensureDir = async (rel: string) => {
    const d = dirname(join(imageRoot, rel));
    if (!made.has(d)) {
      made.add(d);
      await mkdir(d, { recursive: true });
    }
  };
  const result: UnitResult = { files: {}, stage1Size: {}, repeatedTestKeys: {} };

  if (unit === "instruct") {
    const t0 = performance.now();
    const records: InstructRecord[] = [];
    let images = 0;
    const counts = instructCounts(opts.size, opts.instruct);
    for (const style of ["counting", "transformation", "geometry"] as const) {
      for (let i = 0; i < counts[style]; i++) {
        let item: SynthItem<InstructRecord[]> | null = null;
        for (let attempt = 0; attempt < MAX_ATTEMPTS && !item; attempt++)
          item = makeInstructItems(opts.seed, style, i, attempt);
        if (!item) throw new Error(`instruct/${style}: no valid item ${i}`);
        records.push(...item.record);
        for (const img of item.images) {
          await ensureDir(img.path);
          await writer.add(img);
          images++;
        }
      }
    }
    await writer.flush();
    await writeFile(join(opts.out, INSTRUCT_FILE), jsonLines(records));
    result.files[INSTRUCT_FILE] = { task: "instruct", split: "train", records: records.length, images };
    log(
      `instruct: ${records.length} records, ${images} images -> ${INSTRUCT_FILE} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    return result;
  }

  const task = unit.startsWith("transformation") ? "transformation" : (unit as "counting" | "geometry");
  const specs = SPLITS.filter(
    (s) =>
      s.task === task && (unit === "transformation-train" ? !s.test : unit === "transformation-test" ? s.test : true),
  );
  // Test splits of a task share one key set: a test item repeats another only when a family has run out of
  // test-side keys (counted in the manifest); train keys never reach a test split (isTestKey).
  const testKeys = new Set<string>();
  let repeats = 0;
  for (const spec of specs) {
    const t0 = performance.now();
    const n = spec.test ? table.test : table.train[task]!;
    const records: MetaRecord[] = [];
    let images = 0;
    for (let i = 0; i < n; i++) {
      if (i > 0 && i % PROGRESS_EVERY === 0) log(`${task} ${spec.split}: ${i}/${n}`);
      let item: SynthItem | null = null;
      for (let attempt = 0; attempt < MAX_ATTEMPTS && !item; attempt++) {
        const cand = spec.make(opts.seed, i, attempt);
        if (!cand || isTestKey(cand.key) !== spec.test) continue;
        if (spec.test && testKeys.has(cand.key) && attempt < UNIQUE_ATTEMPTS) continue;
        item = cand;
      }
      if (!item) throw new Error(`${task}/${spec.split}: no valid item ${i} after ${MAX_ATTEMPTS} attempts`);
      if (spec.test) {
        if (testKeys.has(item.key)) repeats++;
        testKeys.add(item.key);
      }
      records.push(item.record);
      for (const img of item.images) {
        await ensureDir(img.path);
        await writer.add(img);
        images++;
      }
    }
    await writeFile(join(opts.out, spec.file), jsonLines(records));
    result.files[spec.file] = {
      task,
      split: spec.split,
      records: records.length,
      images,
      ...(spec.scorer ? { scorer: spec.scorer } : {}),
    };
    if (!spec.test) result.stage1Size[task] = stage1Size(records.length);
    log(
      `${task} ${spec.split}: ${records.length} records, ${images} images -> ${spec.file} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }
  if (specs.some((s) => s.test)) result.repeatedTestKeys[task] = repeats;
  await writer.flush();
  return result;
}

/** Runs units on worker threads (each a fresh module instance), biggest first, `workers` at a time. */
async function runUnitsInWorkers(
  units: UnitName[],
  opts: UnitOptions,
  workers: number,
  log: (line: string) => void,
): Promise<Map<UnitName, UnitResult>> {
  const { Worker } = await import("node:worker_threads");
  const workerUrl = new URL("./worker.ts", import.meta.url).href;
  // The worker loads the TypeScript module through tsx's scoped importer (no global hooks to register twice).
  const tsx = import.meta.resolve("tsx/esm/api");
  const boot = `
    const { parentPort } = require("node:worker_threads");
    import(${JSON.stringify(tsx)})
      .then((t) => t.tsImport(${JSON.stringify(workerUrl)}, ${JSON.stringify(workerUrl)}))
      .then((m) => m.serve(parentPort));`;
  const results = new Map<UnitName, UnitResult>();
  const queue = units.slice();
  const pool: InstanceType<typeof Worker>[] = [];
  try {
    await Promise.all(
      Array.from({ length: Math.min(workers, units.length) }, async () => {
        const w = new Worker(boot, { eval: true });
        pool.push(w);
        for (let unit = queue.shift(); unit; unit = queue.shift()) {
          const res = await new Promise<UnitResult>((resolve, reject) => {
            const onExit = (code: number) => reject(new Error(`${unit}: worker exited with code ${code}`));
            const onMessage = (m: { log?: string; result?: UnitResult; error?: string }) => {
              if (m.log !== undefined) return log(m.log);
              w.off("message", onMessage);
              w.off("error", reject);
              w.off("exit", onExit);
              if (m.error !== undefined) reject(new Error(m.error));
              else resolve(m.result!);
            };
            w.on("message", onMessage);
            w.once("error", reject);
            w.once("exit", onExit);
            w.postMessage({ unit, opts });
          });
          results.set(unit, res);
        }
      }),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}

/**
 * Generates the benchmark into `opts.out`. The directory must be missing, empty or an earlier synth output (else
 * refused unless `force`); the output is built in a temporary sibling and swapped into place when complete, so an
 * interrupted run leaves the old directory as it was.
 */
export async function synthesize(opts: SynthOptions & { workers?: number; force?: boolean }): Promise<Manifest> {
  prepareOutputDir(opts.out, {
    kind: OUTPUT_KIND,
    command: "rft data synth",
    flag: "--out",
    force: opts.force,
    recognize: isSynthOutput,
  });
  return replaceDirAtomic(opts.out, (tmp) => synthesizeInto(tmp, opts));
}

/** Kind recorded in the output marker. */
export const OUTPUT_KIND = "benchmark";

async function synthesizeInto(out: string, opts: SynthOptions & { workers?: number }): Promise<Manifest> {
  const log = opts.log ?? (() => {});
  await mkdir(join(out, "images"), { recursive: true });
  await mkdir(join(out, "train_jsons"), { recursive: true });
  await mkdir(join(out, "test_jsons"), { recursive: true });
  const unitOpts: UnitOptions = { out, size: opts.size, seed: opts.seed, instruct: opts.instruct };
  const instruct = instructCounts(opts.size, opts.instruct);
  const units = UNITS.filter((u) => opts.tasks.includes(u.task)).map((u) => u.name);
  const workers = opts.workers ?? 1;
  let results: Map<UnitName, UnitResult>;
  if (workers > 1 && units.length > 1) {
    results = await runUnitsInWorkers(units, unitOpts, workers, log);
  } else {
    results = new Map();
    for (const u of units) results.set(u, await runUnit(u, unitOpts, log));
  }

  // Assemble the manifest in a fixed order, whatever order the units finished in.
  const manifest: Manifest = {
    generator: GENERATOR,
    version: GENERATOR_VERSION,
    seed: opts.seed,
    size: opts.size,
    tasks: TASKS.filter((t) => opts.tasks.includes(t)),
    imageRoot: "images",
    files: {},
    stage1Size: {},
    repeatedTestKeys: {},
    background: { objects: [...BACKGROUND_RGB], geometry: [...GEO_BACKGROUND] },
    imageSizes: { counting: [168, 112], transformation: [140, 112], geometry: [112, 112] },
    ...(opts.tasks.includes("instruct") && JSON.stringify(instruct) !== JSON.stringify(SIZE_TABLE[opts.size].instruct)
      ? { instruct }
      : {}),
  };
  const all = [...results.values()];
  for (const spec of [...SPLITS.map((s) => s.file), INSTRUCT_FILE]) {
    for (const r of all) if (r.files[spec]) manifest.files[spec] = r.files[spec]!;
  }
  for (const task of TASKS) {
    for (const r of all) {
      if (r.stage1Size[task] !== undefined) manifest.stage1Size[task] = r.stage1Size[task]!;
      if (r.repeatedTestKeys[task] !== undefined) manifest.repeatedTestKeys[task] = r.repeatedTestKeys[task]!;
    }
  }
  await writeFile(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  writeOutputMarker(out, OUTPUT_KIND, "rft data synth");
  return manifest;
}
