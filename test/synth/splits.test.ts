/** Layout, image sizes, train/test separation and what makes each OOD set out of distribution. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import { readMetaFile, recordImages } from "../../src/data/meta.ts";
import { resolveImagePath } from "../../src/data/images.ts";
import { pngSize, readJson, smallData, walk } from "./helpers.ts";

interface Rec {
  id: string;
  image: string | string[];
  problem: string;
  answer: string;
  split: string;
  scene: Record<string, unknown>;
}
type Obj = { shape: string; size: string; color: string; material: string };

const TRAIN = {
  counting: "train_jsons/A3-Visual-Counting-train-35k-cot.json",
  geometry: "train_jsons/A2-Structure-Perception-train-4k5-cot.json",
  transformation: "train_jsons/A1-Spatial-Transformation-train-60k-cot.json",
};
const TEST = {
  counting: [
    "test_jsons/Visual-Counting-id-test-1k.json",
    "test_jsons/Visual-Counting-ood-test-1k.json",
    "test_jsons/Visual-Counting-ood-steps-test-1k.json",
  ],
  geometry: ["test_jsons/Structure-Perception-id-test-820.json", "test_jsons/Structure-Perception-ood-test-800.json"],
  transformation: [
    "test_jsons/Spatial-Transformation-id-test-1k.json",
    "test_jsons/Spatial-Transformation-ood-left-test-1k.json",
    "test_jsons/Spatial-Transformation-ood-right-test-1k.json",
  ],
};

test("every file validates with the dataset reader and every image resolves inside the image root", async () => {
  const { dir, manifest } = await smallData();
  const root = join(dir, "images");
  const referenced = new Set<string>();
  for (const [task, file] of Object.entries(TRAIN)) {
    const m = readMetaFile(join(dir, file), { requireCot: true, imagesPerRecord: task === "transformation" ? 2 : 1 });
    assert.equal(m.skipped.length, 0);
    assert.equal(m.records.length, manifest.files[file]!.records);
    for (const r of m.records) for (const p of recordImages(r)) referenced.add(resolveImagePath(root, p));
  }
  for (const [task, files] of Object.entries(TEST)) {
    for (const file of files) {
      const m = readMetaFile(join(dir, file), { imagesPerRecord: task === "transformation" ? 2 : 1 });
      assert.equal(m.records.length, manifest.files[file]!.records);
      assert.ok(m.records.length >= 20, `${file}: ${m.records.length} records`);
      for (const r of m.records) {
        assert.equal(r.cot, undefined, `${file}: test records carry no cot`);
        for (const p of recordImages(r)) referenced.add(resolveImagePath(root, p));
      }
    }
  }
  for (const r of readJson<{ image: string | string[] }[]>(dir, "train_jsons/A0-Instruct-train.json")) {
    for (const p of recordImages(r)) referenced.add(resolveImagePath(root, p));
  }
  const onDisk = walk(root);
  for (const p of referenced) assert.ok(existsSync(p), `missing image ${relative(dir, p)}`);
  assert.equal(onDisk.length, referenced.size, "every image on disk is used by a record");
  assert.ok(
    onDisk.every((p) => relative(root, p).startsWith("train_images/") || relative(root, p).startsWith("test_images/")),
  );
});

test("image sides are multiples of 28 and small", async () => {
  const { dir } = await smallData();
  const sizes = new Set<string>();
  for (const p of walk(join(dir, "images"))) {
    const { width, height } = pngSize(p);
    assert.equal(width % 28, 0, p);
    assert.equal(height % 28, 0, p);
    assert.ok(width <= 168 && height <= 168, `${p}: ${width}x${height}`);
    sizes.add(`${width}x${height}`);
  }
  assert.deepEqual([...sizes].sort(), ["112x112", "140x112", "168x112"]);
});

/** Canonical keys rebuilt from the stored scene (position-free: the same objects and question are the same item). */
function key(task: string, r: Rec): string {
  if (task === "counting") {
    const objs = (r.scene.objects as Obj[]).map((o) => [o.size, o.color, o.material, o.shape].join(" ")).sort();
    return `${objs.join(",")}|${r.problem}`;
  }
  if (task === "transformation") return `${r.problem}|${r.answer}`;
  const s = r.scene as { family: string; params: Record<string, number>; ask: string };
  return `${s.family}|${JSON.stringify(Object.entries(s.params).sort())}|${s.ask}`;
}

test("no test item repeats a train item", async () => {
  const { dir } = await smallData();
  for (const task of ["counting", "geometry", "transformation"] as const) {
    const train = new Set(readJson<Rec[]>(dir, TRAIN[task]).map((r) => key(task, r)));
    for (const f of TEST[task]) {
      const clash = readJson<Rec[]>(dir, f).filter((r) => train.has(key(task, r)));
      assert.deepEqual(
        clash.map((r) => r.id),
        [],
        `${f} repeats train items`,
      );
    }
  }
});

test("counting OOD sets: unseen object kinds and appearance; more objects and steps than any training scene", async () => {
  const { dir } = await smallData();
  const train = readJson<Rec[]>(dir, TRAIN.counting);
  const [id, domain, steps] = TEST.counting.map((f) => readJson<Rec[]>(dir, f));
  const kinds = (rs: Rec[]) => new Set(rs.flatMap((r) => (r.scene.objects as Obj[]).map((o) => o.shape)));
  const nSteps = (r: Rec) => (r.scene.ops as unknown[]).length;
  const nObjs = (r: Rec) => (r.scene.objects as unknown[]).length;
  assert.deepEqual([...kinds(train)].sort(), ["cube", "cylinder", "sphere"]);
  assert.deepEqual([...kinds(id!)].sort(), ["cube", "cylinder", "sphere"]);
  for (const r of domain!) {
    assert.ok(
      (r.scene.objects as Obj[]).some((o) => o.shape === "cone" || o.shape === "torus"),
      `${r.id} has no new kind`,
    );
    assert.equal((r.scene.style as { outline?: boolean }).outline, true);
    assert.doesNotMatch(r.problem, /cone|tor/, "questions only use training words");
  }
  for (const r of train) assert.deepEqual(r.scene.style, {});
  const maxTrainObjs = Math.max(...train.map(nObjs));
  const maxTrainSteps = Math.max(...train.map(nSteps));
  for (const r of steps!) {
    assert.ok(nObjs(r) > maxTrainObjs, `${r.id}: ${nObjs(r)} objects`);
    assert.ok(nSteps(r) > maxTrainSteps, `${r.id}: ${nSteps(r)} steps`);
    assert.ok(Number(r.answer) <= 10, "answers stay in the training range");
  }
});

test("structure-perception OOD: other figure families in another drawing style", async () => {
  const { dir } = await smallData();
  const fam = (f: string) => new Set(readJson<Rec[]>(dir, f).map((r) => r.scene.family as string));
  const train = fam(TRAIN.geometry);
  const ood = fam(TEST.geometry[1]!);
  for (const f of ood) assert.ok(!train.has(f), `${f} is also a training family`);
  for (const f of fam(TEST.geometry[0]!)) assert.ok(train.has(f));
  const style = (f: string) =>
    readJson<Rec[]>(dir, f).map((r) => r.scene.style as { rotation: number; lineWidth: number });
  assert.ok(style(TRAIN.geometry).every((s) => s.rotation === 0 && s.lineWidth === 1));
  assert.ok(style(TEST.geometry[1]!).every((s) => s.rotation !== 0 && s.lineWidth === 2));
  for (const r of readJson<Rec[]>(dir, TEST.geometry[1]!)) assert.match(r.id, /^geometry3k_/);
});

test("transformation OOD: the final image is seen from the left or the right, the rest as in training", async () => {
  const { dir } = await smallData();
  const views = (f: string) => new Set(readJson<Rec[]>(dir, f).map((r) => r.scene.finalView));
  assert.deepEqual([...views(TRAIN.transformation)], ["center"]);
  assert.deepEqual([...views(TEST.transformation[0]!)], ["center"]);
  assert.deepEqual([...views(TEST.transformation[1]!)], ["left"]);
  assert.deepEqual([...views(TEST.transformation[2]!)], ["right"]);
});

test("manifest records seed, size, version, counts and the Stage-1 size", async () => {
  const { manifest } = await smallData();
  assert.equal(manifest.seed, 3);
  assert.equal(manifest.size, "small");
  assert.match(manifest.version, /^\d+\.\d+\.\d+$/);
  assert.equal(Object.keys(manifest.files).length, 12);
  assert.equal(manifest.files[TRAIN.transformation]!.images, 2 * manifest.files[TRAIN.transformation]!.records);
  assert.equal(manifest.stage1Size.counting, Math.round(0.05 * manifest.files[TRAIN.counting]!.records));
  const scorers = Object.values(TEST)
    .flat()
    .map((f) => manifest.files[f]!.scorer);
  assert.deepEqual(scorers, [
    "clevr-math",
    "super-clevr",
    "clevr-math",
    "geomath",
    "geometry3k",
    "trance",
    "trance-left",
    "trance-right",
  ]);
});
