/**
 * Vision pretraining on direct scene labels: the demo's first training stage, before the base model's instruct SFT.
 *
 * A real Qwen2-VL arrives with a vision tower that already sees. The demo's tiny model starts random, and through the
 * language model alone its counting stays at chance (docs/results.md, attempts 7–9), while the same tower learns to
 * count when the count is its training signal. So this stage trains `visual.*` (patch embedding, blocks, merger) on
 * the counting-style images of an instruct set, through a linear head that predicts 16 counts (the objects, and
 * those of each colour, shape, size and material: src/tasks/synth/scene_labels.ts). The head is thrown away; the
 * model saved at OUT/final/ is the start checkpoint with only `visual.*` changed. Two heads (`scene_head`):
 * - "cells" (the default): every merged token (the tokens the language model will read) predicts the objects under
 *   it, 0/1/2+ per label (`cellLabels`); an image's count is the sum over its cells. Through the language model this
 *   is the one that helps (docs/results.md, attempt 10).
 * - "pooled": the mean merger token of each image, standardised over the batch, predicts the image's counts. The
 *   mean token is nearly the same for every image (the background dominates: its spread across images is about
 *   0.5% of the tokens' own), so a head on the raw mean stays at the majority answer for hundreds of steps;
 *   standardised, it sees the differences between images at unit scale (attempt 9).
 *
 * Same conventions as the SFT loop (sft.ts): AdamW with HF's no-decay groups, warmup + cosine, clipping, a data
 * order that is a pure function of (seed, epoch), `OUT/checkpoint-<step>/` with trainer_state.json and the
 * optimizer, metrics.jsonl, resume from the latest checkpoint. One process (no data parallelism: the pooled head's
 * batch statistics are per process); the engine's threads do the work.
 */
import { performance } from "node:perf_hooks";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Tensor, crossEntropy, keep, noGrad, tensor, tidy } from "../tensor/index.ts";
import { Linear } from "../nn/index.ts";
import type { Schedule } from "../nn/optim/schedule.ts";
import type { Qwen2VisionTransformer } from "../models/qwen2vl/vision.ts";
import type { GridThw } from "../models/qwen2vl/rope.ts";
import { processImageFiles, type PreprocessorConfig } from "../models/qwen2vl/processor.ts";
import { loadSafetensors, saveSafetensors, writeJsonAtomic } from "../io/safetensors.ts";
import {
  CELL_COUNT_CLASSES,
  SCENE_COUNT_CLASSES,
  SCENE_LABELS,
  cellLabels,
  sceneImages,
  type SceneImage,
} from "../tasks/synth/scene_labels.ts";
import { readRecords } from "./samples.ts";
import { MetricsLog, Progress, type Metrics } from "./metrics.ts";
import type { TrainOptions } from "./sft.ts";
import {
  DataOrder,
  METRICS_FILE,
  loadTrainingModel,
  makeOptimizer,
  openTrainingDir,
  optimizerStep,
  restoreLoopState,
  saveFinal,
  saveRunCheckpoint,
  type LoopState,
} from "./run.ts";

// ---- defaults ----------------------------------------------------------------------------------------------------
export const VISION_PRETRAIN_DEFAULTS = {
  /** Images per optimizer step (also the batch the head's standardisation is computed over). */
  per_device_train_batch_size: 64,
  max_steps: 300,
  learning_rate: 3e-4,
  lr_scheduler_type: "cosine" as const,
  warmup_steps: 20,
  weight_decay: 0.01,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  max_grad_norm: 1,
  seed: 0,
  logging_steps: 10,
  save_steps: 100,
  save_total_limit: 2 as number | null,
  /** The last N labelled images of the file are held out of training and score the head at the end (0 = none). */
  eval_images: 2000,
  /** What the head reads: every merged token's own cell ("cells") or the images' mean token ("pooled"). */
  scene_head: "cells" as SceneHeadKind,
};

export type SceneHeadKind = "cells" | "pooled";

export type VisionPretrainConfig = typeof VISION_PRETRAIN_DEFAULTS & {
  /** The checkpoint to start from (its `visual.*` is trained; the rest is copied). */
  model_name_or_path: string;
  /** An instruct file with scene records (`rft data synth`'s A0-Instruct-train.json). */
  dataset_name: string;
  /** Directory the records' image paths are relative to. */
  image_root: string;
  output_dir: string;
};

/** Written at OUT/scene_eval.json: the head's held-out accuracy per label, and the majority answer's. */
export const SCENE_EVAL_FILE = "scene_eval.json";
/** The head's weights inside each checkpoint directory (needed to resume; not part of the model). */
export const SCENE_HEAD_FILE = "scene_head.safetensors";

export interface SceneEval {
  images: number;
  step: number;
  labels: Record<string, { accuracy: number; majority: number }>;
}

export interface VisionPretrainResult {
  out: string;
  final: string;
  steps: number;
  eval: SceneEval | null;
}

/**
 * The head, thrown away after training. "cells": a linear map of every merged token to CELL_COUNT_CLASSES logits per
 * label, trained on cellLabels (what lies under that token); an image's count is the sum of its cells' argmax.
 * "pooled": a linear map of the batch-standardised mean token to SCENE_COUNT_CLASSES logits per label.
 */
class SceneHead extends Linear {
  constructor(
    hidden: number,
    readonly kind: SceneHeadKind,
  ) {
    super(hidden, SCENE_LABELS.length * (kind === "cells" ? CELL_COUNT_CLASSES : SCENE_COUNT_CLASSES), {
      initStd: 0.02,
    });
  }

  /** Mean cross-entropy of the batch's labels from its merged tokens [tokens, H]. */
  loss(tokens: Tensor, batch: readonly SceneImage[], grids: readonly GridThw[], mergeSize: number): Tensor {
    return tidy(() => {
      let target: number[];
      let logits: Tensor;
      if (this.kind === "cells") {
        target = batch.flatMap((x, i) => {
          const [, h, w] = grids[i]!;
          return cellLabels(x.scene!, w / mergeSize, h / mergeSize);
        });
        logits = this.forward(tokens).view(-1, CELL_COUNT_CLASSES);
      } else {
        target = batch.flatMap((x) => x.labels);
        logits = this.pooledLogits(tokens, batch.length).view(-1, SCENE_COUNT_CLASSES);
      }
      if (target.length !== logits.size(0))
        throw new Error(`scene head: ${target.length} labels for ${logits.size(0)} rows`);
      const y = tensor(Int32Array.from(target), { shape: [target.length] }).to("int64");
      return crossEntropy(logits, y);
    });
  }

  /** Each image's predicted count per label: [images × labels], image-major. */
  counts(tokens: Tensor, images: number): number[] {
    return tidy(() => {
      const K = SCENE_LABELS.length;
      if (this.kind === "pooled") return Array.from(this.pooledLogits(tokens, images).argmax(-1).toArray(), Number);
      const perCell = this.forward(tokens).view(images, -1, K, CELL_COUNT_CLASSES).argmax(-1); // [images, cells, K]
      return Array.from(
        perCell
          .sum([1])
          .clamp(0, SCENE_COUNT_CLASSES - 1)
          .toArray(),
        Number,
      );
    });
  }

  /** [images, labels, classes] from the batch-standardised mean token of each image. */
  private pooledLogits(tokens: Tensor, images: number): Tensor {
    return tidy(() => {
      const pooled = tokens.view(images, -1, tokens.size(-1)).mean([1]); // [images, H]
      const centred = pooled.sub(pooled.mean([0], true));
      const z = centred.div(centred.pow(2).mean([0], true).add(1e-6).sqrt());
      return this.forward(z).view(images, SCENE_LABELS.length, SCENE_COUNT_CLASSES);
    });
  }
}

export async function pretrainVision(
  cfg: VisionPretrainConfig,
  o: Pick<TrainOptions, "resume" | "log" | "stream" | "progressPrefix"> = {},
): Promise<VisionPretrainResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + "\n"));

  // ---- set-up ------------------------------------------------------------------------------------------------------
  const { out, resumeFrom, release } = openTrainingDir(
    cfg.output_dir,
    { resume: !!o.resume, inputs: [cfg.model_name_or_path, cfg.dataset_name, cfg.image_root] },
    (dir) => writeVisionConfig(dir, cfg),
  );
  const all = sceneImages(readRecords(cfg.dataset_name, "vision pretraining") as Parameters<typeof sceneImages>[0]);
  if (cfg.scene_head === "cells" && all.some((x) => !x.scene))
    throw new Error(`${cfg.dataset_name}: scene_head=cells needs every scene's width, height and object positions`);
  const heldout = all.slice(all.length - Math.min(cfg.eval_images, Math.floor(all.length / 2)));
  const train = all.slice(0, all.length - heldout.length);
  // A set smaller than a batch is walked more than once per step (the data order crosses epochs).
  if (train.length === 0)
    throw new Error(`${cfg.dataset_name}: no counting-style images with scenes to train on (${all.length} in all)`);
  const loaded = await loadTrainingModel(cfg.model_name_or_path, resumeFrom);
  const { model, preprocessor } = loaded;
  const visual = model.visual;
  const head = new SceneHead(model.config.vision_config.hidden_size, cfg.scene_head);
  const merge = model.config.vision_config.spatial_merge_size;
  if (resumeFrom) loadHead(head, resumeFrom);
  model.freeze("**");
  model.unfreeze("visual.**");
  const params: [string, Tensor][] = [
    ...model.trainableParameters(),
    ...[...head.namedParameters()].map(([n, p]): [string, Tensor] => [`scene_head.${n}`, p]),
  ];
  const opt = makeOptimizer(params, cfg);
  const B = cfg.per_device_train_batch_size;
  const schedule: Schedule = { name: cfg.lr_scheduler_type, warmupSteps: cfg.warmup_steps, totalSteps: cfg.max_steps };
  const state: LoopState = { step: 0, data: new DataOrder(train.length, cfg.seed) };
  if (resumeFrom) {
    restoreLoopState(resumeFrom, state, opt);
    log(`resuming from ${resumeFrom} at step ${state.step}`);
  }
  const metrics = new MetricsLog(join(out, METRICS_FILE), true);
  metrics.truncateAfter(state.step);
  const saveCtx = {
    out,
    model,
    startDir: cfg.model_name_or_path,
    loaded,
    saveTotalLimit: cfg.save_total_limit,
  };
  const progress = new Progress({
    total: cfg.max_steps,
    keys: ["loss", "learning_rate", "grad_norm", "images_per_second"],
    every: cfg.logging_steps,
    stream: o.stream,
    prefix: o.progressPrefix,
  });
  log(
    `vision pretraining: ${train.length} images (${heldout.length} held out), ${cfg.max_steps} steps of ${B}, ` +
      `${SCENE_LABELS.length} counts per image, ${params.length} trainable tensors`,
  );
  /** The model and the head, for the step's zeroGrad. */
  const both = {
    zeroGrad: () => {
      model.zeroGrad();
      head.zeroGrad();
    },
  };
  const checkpoint = async () => {
    const dir = await saveRunCheckpoint(saveCtx, state, opt);
    saveHead(head, dir);
    return dir;
  };

  // ---- the loop ----------------------------------------------------------------------------------------------------
  try {
    while (state.step < cfg.max_steps) {
      const t0 = performance.now();
      const batch = state.data.take(B).map((i) => train[i]!);
      using pixels = await pixelBatch(batch, cfg.image_root, preprocessor);
      // Mean cross-entropy over every image's (or every cell's) every count.
      const loss = keep(head.loss(visual.forward(pixels.values, pixels.grids), batch, pixels.grids, merge));
      loss.backward();
      const lossValue = loss.item();
      loss.dispose();
      const { gradNorm, lr } = optimizerStep({
        model: both,
        params,
        optimizer: opt,
        cfg,
        schedule,
        state,
        loss: lossValue,
        out,
      });

      const m: Metrics = {
        step: state.step,
        epoch: state.data.progress,
        loss: lossValue,
        learning_rate: lr,
        grad_norm: gradNorm,
        images_per_second: B / ((performance.now() - t0) / 1000),
      };
      metrics.append(m);
      progress.update(state.step, m);
      if (state.step % cfg.save_steps === 0 && state.step < cfg.max_steps) progress.log(`saved ${await checkpoint()}`);
    }
  } finally {
    progress.end();
  }
  await checkpoint(); // the end state: a resume of a finished run has nothing to do
  const evalResult = heldout.length
    ? { ...(await scoreHead(head, visual, heldout, cfg.image_root, preprocessor)), step: state.step }
    : null;
  if (evalResult) {
    writeJsonAtomic(join(out, SCENE_EVAL_FILE), evalResult);
    const l = evalResult.labels;
    log(
      `held-out (${heldout.length} images): total count ${l.total!.accuracy.toFixed(3)} (majority ${l.total!.majority.toFixed(3)}); ` +
        `mean over the ${SCENE_LABELS.length} counts ${mean(Object.values(l).map((x) => x.accuracy)).toFixed(3)} ` +
        `(majority ${mean(Object.values(l).map((x) => x.majority)).toFixed(3)})`,
    );
  }
  const final = await saveFinal(saveCtx);
  log(`done: ${state.step} steps; model in ${final}`);
  release(); // OUT's lock: the run is done
  opt.dispose();
  model.dispose();
  head.dispose();
  return { out, final, steps: state.step, eval: evalResult };
}

// ---- helpers -----------------------------------------------------------------------------------------------------

/** The resolved config as `key: JSON value` lines (OUT/config.yaml; the demo compares its time with the start model's). */
function writeVisionConfig(out: string, cfg: VisionPretrainConfig): void {
  const text = Object.entries(cfg)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join("\n");
  writeFileSync(join(out, "config.yaml"), `# trainer: vision-pretrain (src/train/vision_pretrain.ts)\n${text}\n`);
}

interface PixelBatch extends Disposable {
  values: Tensor;
  grids: GridThw[];
}

async function pixelBatch(
  images: readonly SceneImage[],
  imageRoot: string,
  preprocessor: PreprocessorConfig,
): Promise<PixelBatch> {
  const px = await processImageFiles(
    images.map((x) => join(imageRoot, x.image)),
    preprocessor,
  );
  const rows = px.imageGridThw.reduce((a, [t, h, w]) => a + t * h * w, 0);
  const values = tensor(px.pixelValues, { shape: [rows, px.pixelValues.length / rows] });
  return { values, grids: px.imageGridThw, [Symbol.dispose]: () => values.dispose() };
}

/** The head's held-out accuracy per label (batches of 100 images: the standardisation uses each batch's statistics). */
async function scoreHead(
  head: SceneHead,
  visual: Qwen2VisionTransformer,
  images: readonly SceneImage[],
  imageRoot: string,
  preprocessor: PreprocessorConfig,
): Promise<Omit<SceneEval, "step">> {
  const K = SCENE_LABELS.length;
  const correct = new Array<number>(K).fill(0);
  for (let s = 0; s < images.length; s += 100) {
    const batch = images.slice(s, s + 100);
    using pixels = await pixelBatch(batch, imageRoot, preprocessor);
    const pred = noGrad(() => tidy(() => head.counts(visual.forward(pixels.values, pixels.grids), batch.length)));

    batch.forEach((x, n) => x.labels.forEach((y, k) => (correct[k]! += pred[n * K + k] === y ? 1 : 0)));
  }
  const labels: SceneEval["labels"] = {};
  SCENE_LABELS.forEach(({ name }, k) => {
    const freq = new Map<number, number>();
    for (const x of images) freq.set(x.labels[k]!, (freq.get(x.labels[k]!) ?? 0) + 1);
    labels[name] = { accuracy: correct[k]! / images.length, majority: Math.max(...freq.values()) / images.length };
  });
  return { images: images.length, labels };
}

function saveHead(head: SceneHead, dir: string): void {
  saveSafetensors(join(dir, SCENE_HEAD_FILE), new Map(head.namedParameters()));
}

function loadHead(head: SceneHead, dir: string): void {
  const path = join(dir, SCENE_HEAD_FILE);
  if (!existsSync(path)) throw new Error(`${dir}: no ${SCENE_HEAD_FILE} (the checkpoint was not finished)`);
  const { tensors } = loadSafetensors(path);
  try {
    noGrad(() => {
      for (const [n, p] of head.namedParameters()) {
        const t = tensors.get(n);
        if (!t) throw new Error(`${path}: no tensor '${n}'`);
        p.copy_(t);
      }
    });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}
