// Attempt 9 of docs/results.md, step 1: pretrain the vision tower of a checkpoint on direct scene labels (the total
// count and the count of each colour, shape, size and material) through a linear head on the mean of the merger's
// outputs, the tokens the language model reads. Writes OUT/ as a full checkpoint (only visual.* changed) for the
// base SFT to start from, and prints the held-out accuracy of the total count as it goes.
// Usage: node --import tsx scripts/diagnostics/vision_pretrain_probe.ts CKPT PERCEPTION_DIR OUT [STEPS=300] [BATCH=64]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { tensor, tidy, crossEntropy, keep, noGrad } from "../../src/tensor/index.ts";
import { Linear } from "../../src/nn/index.ts";
import { AdamW, clipGradNorm } from "../../src/nn/index.ts";
import { loadCheckpoint, saveCheckpoint } from "../../src/models/qwen2vl/checkpoint.ts";
import { processImageFiles } from "../../src/models/qwen2vl/processor.ts";
import { COLORS, SHAPES, COUNT_SIZES, COUNT_MATERIALS } from "../../src/tasks/synth/scene.ts";

const [ckpt, dir, out, stepsArg, batchArg] = process.argv.slice(2);
if (!ckpt || !dir || !out) throw new Error("usage: vision_pretrain_probe.ts CKPT PERCEPTION_DIR OUT [STEPS] [BATCH]");
const STEPS = Number(stepsArg ?? 300);
const B = Number(batchArg ?? 64);
const CLASSES = 11; // counts 0..10
type Obj = { shape: string; size: string; color: string; material: string };
const HEADS: [string, (o: Obj) => boolean][] = [
  ["total", () => true],
  ...COLORS.map((c) => [c, (o: Obj) => o.color === c] as [string, (o: Obj) => boolean]),
  ...SHAPES.map((s) => [s, (o: Obj) => o.shape === s] as [string, (o: Obj) => boolean]),
  ...COUNT_SIZES.map((s) => [s, (o: Obj) => o.size === s] as [string, (o: Obj) => boolean]),
  ...COUNT_MATERIALS.map((m) => [m, (o: Obj) => o.material === m] as [string, (o: Obj) => boolean]),
];
const K = HEADS.length;

const records = JSON.parse(readFileSync(join(dir, "train_jsons", "A0-Instruct-train.json"), "utf8")) as {
  style: string;
  image: string;
  scene: { objects: Obj[] };
}[];
const byImage = new Map<string, number[]>();
for (const r of records)
  if (r.style === "counting" && !byImage.has(r.image))
    byImage.set(
      r.image,
      HEADS.map(([, f]) => Math.min(CLASSES - 1, r.scene.objects.filter(f).length)),
    );
const items = [...byImage.entries()];
const heldout = items.slice(-2000);
const train = items.slice(0, -2000);
console.log(`${train.length} training images, ${heldout.length} held out, ${K} heads × ${CLASSES} classes`);

const { model, preprocessor, generationConfig } = await loadCheckpoint(ckpt);
const visual = model.visual;
const H = model.config.vision_config.hidden_size;
const head = new Linear(H, K * CLASSES, { initStd: 0.02 });
const params: [string, import("../../src/tensor/index.ts").Tensor][] = [
  ...[...visual.namedParameters()].map(([n, p]) => [`visual.${n}`, p] as [string, typeof p]),
  ...[...head.namedParameters()].map(([n, p]) => [`head.${n}`, p] as [string, typeof p]),
];
for (const [, p] of params) p.requiresGrad_(true);
const opt = new AdamW(params, {
  lr: 3e-4,
  weightDecay: 0.01,
  noDecay: (n) => n.endsWith(".bias") || /norm|ln_q/.test(n),
});

async function logitsOf(batch: [string, number[]][], grad = true) {
  const px = await processImageFiles(
    batch.map(([img]) => join(dir!, "images", img)),
    preprocessor,
  );
  const rows = px.imageGridThw.reduce((a, [t, h, w]) => a + t * h * w, 0);
  using pv = tensor(px.pixelValues, { shape: [rows, px.pixelValues.length / rows] });
  const run = () =>
    tidy(() => {
      const feats = visual.forward(pv, px.imageGridThw); // [N·tokens, H]
      const pooled = feats.view(batch.length, -1, H).mean([1]); // [N, H]
      // The mean token is mostly the same for every image (the background); standardise it over the batch so the
      // head reads what differs between images at unit scale.
      const centred = pooled.sub(pooled.mean([0], true));
      const z = centred.div(centred.pow(2).mean([0], true).add(1e-6).sqrt());
      return head.forward(z).view(batch.length, K, CLASSES);
    });
  return grad ? run() : noGrad(run);
}

function evaluate(): Promise<number[]> {
  return (async () => {
    const correct = new Array<number>(K).fill(0);
    for (let i = 0; i < heldout.length; i += 100) {
      const b = heldout.slice(i, i + 100);
      const pred = await (async () => {
        const l = await logitsOf(b, false);
        const a = l.argmax(-1);
        const v = Array.from(a.toArray(), Number);
        l.dispose();
        a.dispose();
        return v;
      })();
      b.forEach(([, y], n) => y.forEach((c, k) => (correct[k]! += pred[n * K + k] === c ? 1 : 0)));
    }
    return correct.map((c) => c / heldout.length);
  })();
}

let pos = 0;
const order = train.map((_, i) => i);
const t0 = performance.now();
for (let step = 1; step <= STEPS; step++) {
  if (pos + B > order.length) pos = 0;
  const batch = order.slice(pos, pos + B).map((i) => train[i]!);
  pos += B;
  const targets = batch.flatMap(([, y]) => y);
  const logits = await logitsOf(batch);
  using y = tensor(Int32Array.from(targets), { shape: [B * K] });
  const loss = keep(tidy(() => crossEntropy(logits.view(B * K, CLASSES), y.to("int64")).mul(K)));
  loss.backward();
  logits.dispose();
  const lossV = loss.item() / K;
  loss.dispose();
  const lr = 3e-4 * Math.min(1, step / 20) * 0.5 * (1 + Math.cos((Math.PI * step) / STEPS));
  opt.lr = lr;
  clipGradNorm(
    params.map(([, p]) => p),
    1,
  );
  opt.stepUpdate();
  visual.zeroGrad();
  head.zeroGrad();
  if (step % 10 === 0)
    console.log(
      `step ${step} | loss ${lossV.toFixed(4)} | lr ${lr.toExponential(2)} | ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
  if (step % 100 === 0 || step === STEPS) {
    const acc = await evaluate();
    console.log(
      `  held-out @${step} (${step * B} images): ` + HEADS.map(([n], k) => `${n} ${acc[k]!.toFixed(3)}`).join(", "),
    );
  }
}
await saveCheckpoint(model, out, { tokenizerDir: ckpt, preprocessor, generationConfig });
console.log(`saved ${out}`);
