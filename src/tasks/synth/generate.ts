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
 * Image paths in the records are relative to DIR/images.
 */
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
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
  make: (seed: number, index: number, attempt: number) => SynthItem | null;
}

const counting = (split: CountingSplit) => (seed: number, i: number, a: number) => makeCountingItem(seed, split, i, a);
const geometry = (split: GeometrySplit) => (seed: number, i: number, a: number) => makeGeometryItem(seed, split, i, a);
const transform = (split: TransformSplit) => (seed: number, i: number, a: number) => makeTransformItem(seed, split, i, a);

export const SPLITS: SplitSpec[] = [
  { task: "counting", split: "train", file: "train_jsons/A3-Visual-Counting-train-35k-cot.json", test: false, make: counting("train") },
  { task: "counting", split: "id", file: "test_jsons/Visual-Counting-id-test-1k.json", test: true, make: counting("id") },
  { task: "counting", split: "ood-domain", file: "test_jsons/Visual-Counting-ood-test-1k.json", test: true, make: counting("ood-domain") },
  { task: "counting", split: "ood-steps", file: "test_jsons/Visual-Counting-ood-steps-test-1k.json", test: true, make: counting("ood-steps") },
  { task: "geometry", split: "train", file: "train_jsons/A2-Structure-Perception-train-4k5-cot.json", test: false, make: geometry("train") },
  { task: "geometry", split: "id", file: "test_jsons/Structure-Perception-id-test-820.json", test: true, make: geometry("id") },
  { task: "geometry", split: "ood", file: "test_jsons/Structure-Perception-ood-test-800.json", test: true, make: geometry("ood") },
  { task: "transformation", split: "train", file: "train_jsons/A1-Spatial-Transformation-train-60k-cot.json", test: false, make: transform("train") },
  { task: "transformation", split: "id", file: "test_jsons/Spatial-Transformation-id-test-1k.json", test: true, make: transform("id") },
  { task: "transformation", split: "ood-left", file: "test_jsons/Spatial-Transformation-ood-left-test-1k.json", test: true, make: transform("ood-left") },
  { task: "transformation", split: "ood-right", file: "test_jsons/Spatial-Transformation-ood-right-test-1k.json", test: true, make: transform("ood-right") },
];
export const INSTRUCT_FILE = "train_jsons/A0-Instruct-train.json";

/** Items per split (instruct: images per style; each image carries two questions, or one when they coincide). */
export const SIZE_TABLE: Record<SynthSize, { train: Record<string, number>; test: number; instruct: Record<InstructStyle, number> }> = {
  small: { train: { counting: 40, geometry: 40, transformation: 40 }, test: 20, instruct: { counting: 12, transformation: 12, geometry: 12 } },
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
  log?: (line: string) => void;
}

export interface FileEntry {
  task: string;
  split: string;
  records: number;
  images: number;
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
}

const MAX_ATTEMPTS = 2000;
/** After this many attempts a test item may repeat another test item's key (small figure families). */
const UNIQUE_ATTEMPTS = 30;

class ImageWriter {
  private pending = new Set<Promise<void>>();
  count = 0;
  constructor(
    private root: string,
    private limit = 8,
  ) {}

  async add(img: SynthImage): Promise<void> {
    const canvas = img.render();
    const path = join(this.root, img.path);
    const p = encodePng(canvas).then((buf) => writeFile(path, buf));
    this.count++;
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    if (this.pending.size >= this.limit) await Promise.race(this.pending);
  }

  async flush(): Promise<void> {
    await Promise.all(this.pending);
  }
}

function jsonLines(records: readonly unknown[]): string {
  return "[\n" + records.map((r) => JSON.stringify(r)).join(",\n") + "\n]\n";
}

async function prepareOut(out: string): Promise<void> {
  let entries: string[] = [];
  try {
    entries = await readdir(out);
  } catch {
    await mkdir(out, { recursive: true });
    return;
  }
  if (entries.length === 0) return;
  if (!entries.includes("manifest.json")) {
    throw new Error(`${out} is not empty and holds no manifest.json from an earlier 'rft data synth'; refusing to write into it`);
  }
  const m = JSON.parse(await readFile(join(out, "manifest.json"), "utf8")) as { generator?: string };
  if (m.generator !== GENERATOR) throw new Error(`${out}/manifest.json was not written by ${GENERATOR}; refusing to overwrite`);
  for (const d of ["images", "train_jsons", "test_jsons", "manifest.json"]) await rm(join(out, d), { recursive: true, force: true });
}

export async function synthesize(opts: SynthOptions): Promise<Manifest> {
  const log = opts.log ?? (() => {});
  const table = SIZE_TABLE[opts.size];
  await prepareOut(opts.out);
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
  await mkdir(join(opts.out, "train_jsons"), { recursive: true });
  await mkdir(join(opts.out, "test_jsons"), { recursive: true });

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
  };

  for (const task of ["counting", "geometry", "transformation"] as const) {
    if (!opts.tasks.includes(task)) continue;
    const testKeys = new Set<string>();
    let repeats = 0;
    for (const spec of SPLITS.filter((s) => s.task === task)) {
      const t0 = performance.now();
      const n = spec.test ? table.test : table.train[task]!;
      const records: MetaRecord[] = [];
      let images = 0;
      for (let i = 0; i < n; i++) {
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
      manifest.files[spec.file] = { task, split: spec.split, records: records.length, images };
      if (!spec.test) manifest.stage1Size[task] = stage1Size(records.length);
      log(`${task} ${spec.split}: ${records.length} records, ${images} images -> ${spec.file} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
    manifest.repeatedTestKeys[task] = repeats;
  }

  if (opts.tasks.includes("instruct")) {
    const t0 = performance.now();
    const records: InstructRecord[] = [];
    let images = 0;
    for (const style of ["counting", "transformation", "geometry"] as const) {
      for (let i = 0; i < table.instruct[style]; i++) {
        let item: SynthItem<InstructRecord[]> | null = null;
        for (let attempt = 0; attempt < MAX_ATTEMPTS && !item; attempt++) item = makeInstructItems(opts.seed, style, i, attempt);
        if (!item) throw new Error(`instruct/${style}: no valid item ${i}`);
        records.push(...item.record);
        for (const img of item.images) {
          await ensureDir(img.path);
          await writer.add(img);
          images++;
        }
      }
    }
    await writeFile(join(opts.out, INSTRUCT_FILE), jsonLines(records));
    manifest.files[INSTRUCT_FILE] = { task: "instruct", split: "train", records: records.length, images };
    log(`instruct: ${records.length} records, ${images} images -> ${INSTRUCT_FILE} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }

  await writer.flush();
  await writeFile(join(opts.out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}
