/**
 * Vision pretraining on scene labels (src/train/vision_pretrain.ts, src/tasks/synth/scene_labels.ts): the labels of
 * a scene, which records give images, and a short run on the small benchmark's instruct images: only visual.*
 * changes, the head's held-out accuracy is written, and a resume from a middle checkpoint ends bit for bit where
 * the uninterrupted run ended.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CELL_COUNT_CLASSES,
  SCENE_LABELS,
  cellLabels,
  sceneImages,
  sceneLabels,
} from "../../src/tasks/synth/scene_labels.ts";
import { pretrainVision, SCENE_EVAL_FILE, VISION_PRETRAIN_DEFAULTS } from "../../src/train/vision_pretrain.ts";
import { loadCheckpointTensors } from "../../src/io/safetensors.ts";
import { rft } from "./fixtures.ts";
import type { Tensor } from "../../src/tensor/index.ts";

/** Bit-for-bit equality of two tensors. */
function same(x: Tensor, y: Tensor): boolean {
  const bytes = (t: Tensor) => {
    const a = t.toArray();
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  };
  return x.shape.join() === y.shape.join() && bytes(x).equals(bytes(y));
}

const obj = (shape: string, size: string, color: string, material: string) => ({ shape, size, color, material });

test("sceneLabels: the total and the count of each colour, shape, size and material", () => {
  const labels = sceneLabels([
    obj("cube", "small", "red", "metal"),
    obj("cube", "large", "red", "rubber"),
    obj("sphere", "small", "blue", "rubber"),
  ]);
  const by = Object.fromEntries(SCENE_LABELS.map(({ name }, k) => [name, labels[k]]));
  assert.deepEqual(
    { ...by },
    {
      total: 3,
      gray: 0,
      red: 2,
      blue: 1,
      green: 0,
      brown: 0,
      purple: 0,
      cyan: 0,
      yellow: 0,
      cube: 2,
      sphere: 1,
      cylinder: 0,
      small: 2,
      large: 1,
      rubber: 2,
      metal: 1,
    },
  );
  // Counts above the last class are clipped to it.
  assert.equal(sceneLabels(Array.from({ length: 14 }, () => obj("cube", "small", "red", "metal")))[0], 10);
});

test("cellLabels: each object counted in the cell under its box centre; the cells sum to the scene's counts", () => {
  const placed = (x: number, z: number, color: string) => ({ ...obj("cube", "small", color, "metal"), x, z, yaw: 0 });
  // A 168 × 112 canvas in 6 × 4 cells of 28 px: the ground point (0, 0) projects to u = 84, v = 62 (groundV); a
  // small cube's box centre sits 5 px above it, in cell (col 3, row 2). x = −70 moves it to col 0.
  const scene = {
    width: 168,
    height: 112,
    objects: [placed(0, 0, "red"), placed(-70, 0, "red"), placed(-70, 0, "blue")],
  };
  const K = SCENE_LABELS.length;
  const cells = cellLabels(scene, 6, 4);
  assert.equal(cells.length, 6 * 4 * K);
  const at = (col: number, row: number, name: string) =>
    cells[(row * 6 + col) * K + SCENE_LABELS.findIndex((l) => l.name === name)];
  assert.equal(at(3, 2, "total"), 1);
  assert.equal(at(3, 2, "red"), 1);
  assert.equal(at(0, 2, "total"), 2);
  assert.equal(at(0, 2, "blue"), 1);
  assert.equal(at(1, 2, "total"), 0);
  const sums = SCENE_LABELS.map((_, k) => cells.filter((_, i) => i % K === k).reduce((a, b) => a + b, 0));
  assert.deepEqual(sums, sceneLabels(scene.objects));
  // Three objects in one cell: clipped to the last class.
  const crowded = cellLabels({ ...scene, objects: [placed(-70, 0, "red"), ...scene.objects] }, 6, 4);
  assert.equal(crowded[(2 * 6 + 0) * K], CELL_COUNT_CLASSES - 1);
});

test("sceneImages: distinct counting-style images with scenes, in file order", () => {
  const scene = { objects: [obj("cube", "small", "red", "metal")] };
  const got = sceneImages([
    { image: "a.png", style: "counting", scene },
    { image: "a.png", style: "counting", scene }, // a second question on the same image
    { image: "g.png", style: "geometry" },
    { image: "t.png", style: "transformation", scene },
    { image: "b.png", style: "counting", scene: { objects: [] } },
    { image: "c.png", style: "counting" }, // no scene
  ]);
  assert.deepEqual(
    got.map((x) => [x.image, x.labels[0]]),
    [
      ["a.png", 1],
      ["b.png", 0],
    ],
  );
});

test("pretrainVision: trains visual.* only, scores the head, resumes bit for bit", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-vpt-"));
  try {
    const bench = join(dir, "bench");
    const init = join(dir, "init");
    for (const args of [
      ["data", "synth", "--out", bench, "--size", "small", "--seed", "0", "--tasks", "instruct"],
      ["model", "init", "--preset", "qwen2-vl-tiny", "--out", init, "--seed", "0"],
    ]) {
      const r = rft(args);
      assert.equal(r.status, 0, r.out);
    }
    const cfg = {
      ...VISION_PRETRAIN_DEFAULTS,
      model_name_or_path: init,
      dataset_name: join(bench, "train_jsons", "A0-Instruct-train.json"),
      image_root: join(bench, "images"),
      output_dir: join(dir, "a"),
      per_device_train_batch_size: 4,
      max_steps: 4,
      warmup_steps: 1,
      save_steps: 2,
      save_total_limit: null,
      logging_steps: 1,
      eval_images: 6,
      learning_rate: 1e-3,
    };
    const logs: string[] = [];
    const a = await pretrainVision(cfg, { log: (m) => logs.push(m) });
    assert.equal(a.steps, 4);
    assert.ok(existsSync(join(a.out, "checkpoint-2", "scene_head.safetensors")));

    const before = loadCheckpointTensors(init);
    const after = loadCheckpointTensors(a.final);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    let changed = 0;
    for (const [name, t] of after) {
      const eq = same(t, before.get(name)!);
      if (name.startsWith("visual.")) changed += eq ? 0 : 1;
      else assert.ok(eq, `${name} changed`);
    }
    assert.ok(changed > 0, "no visual.* tensor changed");

    const ev = JSON.parse(readFileSync(join(a.out, SCENE_EVAL_FILE), "utf8"));
    assert.equal(ev.images, 6);
    assert.equal(ev.step, 4);
    assert.deepEqual(
      Object.keys(ev.labels),
      SCENE_LABELS.map((l) => l.name),
    );
    for (const v of Object.values(ev.labels) as { accuracy: number; majority: number }[]) {
      assert.ok(v.accuracy >= 0 && v.accuracy <= 1);
      assert.ok(v.majority > 0 && v.majority <= 1);
    }
    assert.match(logs.join("\n"), /held-out \(6 images\): total count/);

    // Resume: a copy of the run as it was at checkpoint 2 ends exactly where the uninterrupted run did.
    const b = join(dir, "b");
    cpSync(a.out, b, { recursive: true });
    for (const x of ["checkpoint-4", "final", SCENE_EVAL_FILE]) rmSync(join(b, x), { recursive: true, force: true });
    const resumed = await pretrainVision({ ...cfg, output_dir: b }, { resume: true, log: (m) => logs.push(m) });
    assert.match(logs.join("\n"), /resuming from .*checkpoint-2 at step 2/);
    const again = loadCheckpointTensors(resumed.final);
    for (const [name, t] of after) assert.ok(same(t, again.get(name)!), `${name} differs after resume`);
    const metricsOf = (d: string) =>
      readFileSync(join(d, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).loss as number);
    assert.deepEqual(metricsOf(b), metricsOf(a.out));

    // A finished run is not overwritten without resume.
    await assert.rejects(pretrainVision(cfg), /already holds a training run/);

    // The pooled head trains too (2 steps), and scores every label.
    const pooled = await pretrainVision(
      { ...cfg, output_dir: join(dir, "pooled"), scene_head: "pooled", max_steps: 2 },
      { log: () => {} },
    );
    assert.deepEqual(
      Object.keys(pooled.eval!.labels),
      SCENE_LABELS.map((l) => l.name),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
