import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as t from "../../src/tensor/index.ts";
import { AdamW, clipGradNorm, lrFactor, warmupFromRatio } from "../../src/nn/index.ts";
import { assertClose } from "../helpers.ts";

// Fixture from torch.optim.AdamW / clip_grad_norm_ (scripts/fixtures/adamw.py).
const ref = JSON.parse(readFileSync(new URL("../fixtures/adamw.json", import.meta.url), "utf8"));

for (const wd of [0.0, 0.1]) {
  test(`AdamW matches torch.optim.AdamW trajectory (weight_decay=${wd})`, () => {
    const p = t.tensor(ref.p0, { dtype: "float64", shape: [3, 4], requiresGrad: true });
    const opt = new AdamW([["p", p]], { lr: 0.01, betas: [0.9, 0.95], eps: 1e-8, weightDecay: wd });
    ref.grads.forEach((g: number[], i: number) => {
      p.setGrad(t.tensor(g, { dtype: "float64", shape: [3, 4] }));
      opt.stepUpdate();
      assertClose(p.toArray() as Float64Array, ref[`traj_wd${wd.toFixed(1)}`][i], 1e-12, `step ${i + 1}`);
    });
    const st = opt.state();
    assert.equal(st.step, 5);
    assertClose(st.expAvg.get("p")!.toArray() as Float64Array, ref[`exp_avg_wd${wd.toFixed(1)}`], 1e-12);
    assertClose(st.expAvgSq.get("p")!.toArray() as Float64Array, ref[`exp_avg_sq_wd${wd.toFixed(1)}`], 1e-12);
    opt.dispose();
  });
}

test("AdamW state save/load resumes the exact trajectory", () => {
  const mk = () => t.tensor(ref.p0, { dtype: "float64", shape: [3, 4], requiresGrad: true });
  const p1 = mk();
  const o1 = new AdamW([["p", p1]], { lr: 0.01, weightDecay: 0.1 });
  const grads = ref.grads.map((g: number[]) => t.tensor(g, { dtype: "float64", shape: [3, 4] }));
  for (const g of grads) {
    p1.setGrad(g);
    o1.stepUpdate();
  }
  // second run: 2 steps, save, new optimizer, load, 3 steps
  const p2 = mk();
  const o2 = new AdamW([["p", p2]], { lr: 0.01, weightDecay: 0.1 });
  for (const g of grads.slice(0, 2)) {
    p2.setGrad(g);
    o2.stepUpdate();
  }
  const o3 = new AdamW([["p", p2]], { lr: 0.01, weightDecay: 0.1 });
  o3.loadState(o2.state());
  o2.dispose();
  for (const g of grads.slice(2)) {
    p2.setGrad(g);
    o3.stepUpdate();
  }
  assert.deepEqual(p2.toArray(), p1.toArray());
  assert.throws(
    () => o3.loadState({ step: 1, expAvg: new Map([["q", p2]]), expAvgSq: new Map() }),
    /unknown parameter 'q'/,
  );
  assert.throws(() => new AdamW([], { betas: [1, 0.9] }), /invalid betas/);
});

test("AdamW skips parameters without gradient and noDecay excludes names", () => {
  const a = t.ones([2], { requiresGrad: true });
  const b = t.ones([2], { requiresGrad: true });
  const opt = new AdamW(
    [
      ["a", a],
      ["b.bias", b],
    ],
    { lr: 0.1, weightDecay: 0.5, noDecay: (n) => n.endsWith("bias") },
  );
  b.setGrad(t.zeros([2]));
  opt.stepUpdate();
  assert.deepEqual(a.toNumbers(), [1, 1], "no grad: untouched");
  assert.deepEqual(b.toNumbers(), [1, 1], "zero grad and no decay: untouched");
});

test("clipGradNorm matches torch.nn.utils.clip_grad_norm_", () => {
  const a = t.zeros([3], { dtype: "float64", requiresGrad: true });
  const b = t.zeros([2], { dtype: "float64", requiresGrad: true });
  a.setGrad(t.tensor([3, 4, 0], { dtype: "float64" }));
  b.setGrad(t.tensor([12, 0], { dtype: "float64" }));
  const total = clipGradNorm([a, b], 1.0);
  assertClose([total], [ref.clip.total], 1e-12);
  assertClose(a.grad!.toArray() as Float64Array, ref.clip.a, 1e-12);
  assertClose(b.grad!.toArray() as Float64Array, ref.clip.b, 1e-12);
  // below the threshold: unchanged
  assert.equal(clipGradNorm([a, b], 100), Math.hypot(...(ref.clip.a as number[]), ...(ref.clip.b as number[])));
});

test("LR schedules as transformers' get_scheduler", () => {
  const s = { warmupSteps: 10, totalSteps: 110 };
  assert.equal(lrFactor({ name: "constant", ...s }, 0), 1);
  assert.equal(lrFactor({ name: "constant_with_warmup", ...s }, 5), 0.5);
  assert.equal(lrFactor({ name: "constant_with_warmup", ...s }, 50), 1);
  assert.equal(lrFactor({ name: "linear", ...s }, 0), 0);
  assert.equal(lrFactor({ name: "linear", ...s }, 10), 1);
  assert.equal(lrFactor({ name: "linear", ...s }, 60), 0.5);
  assert.equal(lrFactor({ name: "linear", ...s }, 110), 0);
  assert.equal(lrFactor({ name: "cosine", ...s }, 10), 1);
  assertClose([lrFactor({ name: "cosine", ...s }, 60)], [0.5], 1e-12);
  assert.equal(lrFactor({ name: "cosine", ...s }, 110), 0);
  assert.equal(lrFactor({ name: "cosine", ...s }, 200), 0);
  assert.equal(warmupFromRatio(0.03, 100), 3);
  assert.equal(warmupFromRatio(0.1, 7), 1);
});

test("AdamW state saved to disk and loaded resumes the exact trajectory; bad files are refused by name", async () => {
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { saveOptimizerState, loadOptimizerState } = await import("../../src/io/optimizer_state.ts");
  const dir = mkdtempSync(join(tmpdir(), "rft-opt-"));
  const mk = () => t.tensor(ref.p0, { dtype: "float64", shape: [3, 4], requiresGrad: true });
  const grads = ref.grads.map((g: number[]) => t.tensor(g, { dtype: "float64", shape: [3, 4] }));
  const p1 = mk();
  const o1 = new AdamW([["model.w", p1]], { lr: 0.01, weightDecay: 0.1 });
  for (const g of grads) {
    p1.setGrad(g);
    o1.stepUpdate();
  }
  const p2 = mk();
  const o2 = new AdamW([["model.w", p2]], { lr: 0.01, weightDecay: 0.1 });
  for (const g of grads.slice(0, 3)) {
    p2.setGrad(g);
    o2.stepUpdate();
  }
  const file = join(dir, "optimizer.safetensors");
  saveOptimizerState(file, o2);
  const o3 = new AdamW([["model.w", p2]], { lr: 123, weightDecay: 0.1 });
  loadOptimizerState(file, o3);
  assert.equal(o3.step, 3);
  assert.equal(o3.lr, 0.01);
  for (const g of grads.slice(3)) {
    p2.setGrad(g);
    o3.stepUpdate();
  }
  assert.deepEqual(p2.toArray(), p1.toArray());
  const other = new AdamW([["other", mk()]]);
  assert.throws(
    () => loadOptimizerState(file, other),
    /optimizer.safetensors: optimizer state has unknown parameter 'model.w'/,
  );
  const plain = join(dir, "plain.safetensors");
  const { saveSafetensors } = await import("../../src/io/safetensors.ts");
  saveSafetensors(plain, { x: t.ones([1]) });
  assert.throws(() => loadOptimizerState(plain, other), /not an AdamW state file/);
  writeFileSync(join(dir, "junk.safetensors"), "junk");
  assert.throws(() => loadOptimizerState(join(dir, "junk.safetensors"), other), /junk.safetensors/);
});
