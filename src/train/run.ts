/**
 * Side concerns shared by the two training loops (sft.ts, grpo.ts), each a small helper so the loops read top to
 * bottom:
 * - the run directory: refuse a non-empty OUT without --resume, lock it (`.rft-lock`), write the resolved config, find
 *   the latest checkpoint;
 * - checkpoints: `OUT/checkpoint-<step>/` = a Hugging Face directory (weights, config, tokenizer, processor and
 *   generation configs) + trainer_state.json + optimizer.safetensors, written to a temporary directory and renamed
 *   into place (saveCheckpoint), `save_total_limit` pruning, and `OUT/final/`;
 * - the model to train (start checkpoint or resume checkpoint), freezing, AdamW with HF's no-decay groups, the
 *   learning-rate schedule, the data order (a pure function of seed and epoch, so a data position is two integers);
 * - the NaN/Inf stop;
 * - data parallelism: the world of the run (torchrun's variables; one process alone without them), rank 0 alone
 *   opening the run directory and writing checkpoints.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { getRngState, setRngState } from "../tensor/index.ts";
import { AdamW, clipGradNorm } from "../nn/index.ts";
import { lrFactor, warmupFromRatio, type Schedule } from "../nn/optim/schedule.ts";
import {
  loadCheckpoint,
  saveCheckpoint,
  type LoadedCheckpoint,
  type SaveableModel,
} from "../models/qwen2vl/checkpoint.ts";
import type { Qwen2VLForConditionalGeneration } from "../models/qwen2vl/model.ts";
import { Rng } from "../data/rng.ts";
import { lockDir, prepareOutputDir, writeOutputMarker, readOutputMarker } from "../io/output.ts";
import {
  loadTrainerState,
  newTrainerState,
  rngBytes,
  rngBytesOf,
  TRAINER_STATE_FILE,
  type TrainerState,
} from "../io/trainer_state.ts";
import { writeRunConfig, type SFTConfig, type GRPOConfig, type TrainerKind } from "./config.ts";
import { initWorld, type World } from "../dist/world.ts";

export const RUN_KIND = "training-run";
export const FINAL_DIR = "final";
export const METRICS_FILE = "metrics.jsonl";

export interface RunMeta {
  recipe?: string;
  profile?: string;
  why?: string;
}

/** An opened run directory: OUT, the checkpoint to resume from, and `release` of OUT's lock (call it when done). */
export interface OpenedRun {
  out: string;
  resumeFrom: string | null;
  release: () => void;
}

/**
 * Prepares OUT: a fresh run needs a missing or empty directory (anything else is refused, naming --resume/--force);
 * a resume needs an earlier run of ours. Takes OUT's lock (`.rft-lock`: a second training into OUT at once, e.g. two
 * `--resume`, is refused), then writes the marker and the resolved config. Returns the latest checkpoint directory
 * when resuming (null when the run has none yet: it starts over).
 */
export function openRunDir(
  kind: TrainerKind,
  cfg: SFTConfig | GRPOConfig,
  meta: RunMeta,
  o: { resume: boolean; inputs: (string | null | undefined)[] },
): OpenedRun {
  return openTrainingDir(cfg.output_dir!, o, (out) => writeRunConfig(out, kind, cfg, meta));
}

/** openRunDir for any trainer: `writeConfig` writes the resolved config into OUT (after the marker). */
export function openTrainingDir(
  outDir: string,
  o: { resume: boolean; inputs: (string | null | undefined)[] },
  writeConfig: (out: string) => void,
): OpenedRun {
  const out = resolve(outDir);
  const inputs = o.inputs.filter((x): x is string => !!x);
  if (o.resume) {
    if (!existsSync(out)) throw new Error(`--resume: ${outDir} does not exist (nothing to resume)`);
    const marker = readOutputMarker(out);
    if (marker?.kind !== RUN_KIND)
      throw new Error(`--resume: ${outDir} is not a training run directory of ours (no ${RUN_KIND} marker)`);
  } else {
    const p = prepareOutputDir(out, { kind: RUN_KIND, flag: "--out", command: "rft train", inputs });
    if (p.existed)
      throw new Error(
        `--out ${outDir} already holds a training run; pass --resume to continue it, or choose another --out`,
      );
  }
  const { release } = lockDir(out, "rft train", () => {}, { ownIsStale: true });
  writeOutputMarker(out, RUN_KIND, "rft train");
  writeConfig(out);
  return { out, resumeFrom: o.resume ? latestCheckpoint(out) : null, release };
}

/** The processes of this run: from torchrun's variables (rft launch), else this process alone. */
export function trainingWorld(cfg: SFTConfig | GRPOConfig, given?: World): World {
  return given ?? initWorld({ timeoutMs: cfg.ddp_timeout * 1000, backend: cfg.ddp_backend });
}

/**
 * openRunDir for a data-parallel run: rank 0 prepares OUT and picks the checkpoint to resume from, then tells the
 * other ranks (which read that checkpoint from the same path: OUT must be on a file system every node sees).
 * A refusal on rank 0 (OUT exists, no run to resume) becomes an error on every rank, not a hang.
 */
export function openSharedRunDir(world: World, ...args: Parameters<typeof openRunDir>): OpenedRun {
  if (world.size === 1) return openRunDir(...args);
  let res: OpenedRun | null = null;
  let err: unknown = null;
  if (world.isMain) {
    try {
      res = openRunDir(...args);
    } catch (e) {
      err = e;
    }
  }
  const step = res?.resumeFrom ? Number(/checkpoint-(\d+)$/.exec(res.resumeFrom)![1]) : -1;
  const [failed, resumeStep] = world.reduceNumbers(world.isMain ? [err ? 1 : 0, step] : [0, 0]);
  if (err) throw err;
  if (failed) throw new Error(`rank ${world.rank}: rank 0 could not open the run directory (its error says why)`);
  const out = resolve(args[1].output_dir!);
  return res ?? { out, resumeFrom: resumeStep! >= 0 ? join(out, `checkpoint-${resumeStep}`) : null, release: () => {} };
}

/** `OUT/checkpoint-<step>` directories that hold a trainer state, by step ascending. */
export function listCheckpoints(out: string): { step: number; dir: string }[] {
  if (!existsSync(out)) return [];
  return readdirSync(out)
    .map((n) => /^checkpoint-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), dir: join(out, m[0]) }))
    .filter((c) => existsSync(join(c.dir, TRAINER_STATE_FILE)))
    .sort((a, b) => a.step - b.step);
}

export function latestCheckpoint(out: string): string | null {
  return listCheckpoints(out).at(-1)?.dir ?? null;
}

/** The model to train: the resume checkpoint when there is one, else the start checkpoint. */
export async function loadTrainingModel(start: string, resumeFrom: string | null): Promise<LoadedCheckpoint> {
  const ck = await loadCheckpoint(resumeFrom ?? start);
  if (!ck.tokenizer) throw new Error(`${start}: the checkpoint has no tokenizer.json (needed for training)`);
  return ck;
}

/** Freezes the vision tower and/or the merger (LLaMA-Factory's flags, spec §5.5); returns the trainable parameters. */
export function trainableParameters(
  model: Qwen2VLForConditionalGeneration,
  o: { freeze_vision_tower: boolean; freeze_multi_modal_projector?: boolean },
): [string, import("../tensor/index.ts").Tensor][] {
  if (o.freeze_vision_tower) {
    model.freeze("visual.patch_embed.**");
    model.freeze("visual.blocks.**");
  }
  if (o.freeze_multi_modal_projector) model.freeze("visual.merger.**");
  return model.trainableParameters();
}

/** AdamW as HF Trainer builds it: no weight decay on biases and norm weights. */
export function makeOptimizer(
  params: [string, import("../tensor/index.ts").Tensor][],
  c: Pick<SFTConfig, "learning_rate" | "adam_beta1" | "adam_beta2" | "adam_epsilon" | "weight_decay">,
): AdamW {
  return new AdamW(params, {
    lr: c.learning_rate,
    betas: [c.adam_beta1, c.adam_beta2],
    eps: c.adam_epsilon,
    weightDecay: c.weight_decay,
    noDecay: (n) => n.endsWith(".bias") || /norm|ln_q/.test(n),
  });
}

export function makeSchedule(c: SFTConfig | GRPOConfig, totalSteps: number): Schedule {
  return {
    name: c.lr_scheduler_type,
    warmupSteps: c.warmup_steps > 0 ? c.warmup_steps : warmupFromRatio(c.warmup_ratio, totalSteps),
    totalSteps,
  };
}

export function learningRate(c: Pick<SFTConfig, "learning_rate">, s: Schedule, step: number): number {
  return c.learning_rate * lrFactor(s, step);
}

/**
 * The data order: epoch `e` visits the records in a permutation that depends only on (seed, e), so the position
 * in the stream is just (epoch, index) and resume needs no RNG state for it.
 */
export class DataOrder {
  #perm: number[] = [];
  #permEpoch = -1;
  constructor(
    readonly n: number,
    readonly seed: number,
    public epoch = 0,
    public index = 0,
  ) {
    if (n <= 0) throw new Error("no training records");
  }

  #order(e: number): number[] {
    if (this.#permEpoch !== e) {
      const r = Rng.stream(this.seed, "data-order", e);
      const p = Array.from({ length: this.n }, (_, i) => i);
      for (let i = p.length - 1; i > 0; i--) {
        const j = r.u32() % (i + 1);
        [p[i], p[j]] = [p[j]!, p[i]!];
      }
      this.#perm = p;
      this.#permEpoch = e;
    }
    return this.#perm;
  }

  /** The next `k` record indices (crossing into the next epoch when needed). */
  take(k: number): number[] {
    const out: number[] = [];
    while (out.length < k) {
      if (this.index >= this.n) {
        this.epoch++;
        this.index = 0;
      }
      out.push(this.#order(this.epoch)[this.index++]!);
    }
    return out;
  }

  /** Fractional epochs done. */
  get progress(): number {
    return this.epoch + this.index / this.n;
  }

  position(): Record<string, unknown> {
    return { epoch: this.epoch, index: this.index, n: this.n, seed: this.seed };
  }

  restore(p: Record<string, unknown>): void {
    if (p.n !== this.n)
      throw new Error(`resume: the checkpoint was trained on ${String(p.n)} records, the data file has ${this.n}`);
    if (p.seed !== this.seed)
      throw new Error(`resume: the checkpoint used seed ${String(p.seed)}, the config ${this.seed}`);
    this.epoch = Number(p.epoch);
    this.index = Number(p.index);
  }
}

/** What the loops checkpoint and restore besides weights and the optimizer. */
export interface LoopState {
  step: number;
  data: DataOrder;
  /** Extra host RNG streams by name (restored in place). */
  rngs?: Record<string, Rng>;
  extras?: Record<string, unknown>;
  /** Ranks of the run (saved; a resume with another number is refused). Default 1. */
  worldSize?: number;
}

export function trainerStateOf(s: LoopState): TrainerState {
  const rng: TrainerState["rng_states"] = { torch: rngBytes(getRngState()) };
  for (const [k, r] of Object.entries(s.rngs ?? {})) rng[k] = { json: r.getState() };
  return newTrainerState({
    global_step: s.step,
    epoch: s.data.progress,
    data_position: s.data.position(),
    rng_states: rng,
    extras: s.extras ?? {},
    world_size: s.worldSize ?? 1,
  });
}

/** Restores step, data position, RNG streams and the optimizer from a checkpoint directory; returns the state. */
export function restoreLoopState(dir: string, s: LoopState, optimizer: AdamW): TrainerState {
  const st = loadTrainerState(dir, { optimizer, expectWorldSize: s.worldSize ?? 1 });
  s.step = st.global_step;
  s.data.restore(st.data_position);
  setRngState(rngBytesOf(st, "torch"));
  for (const [k, r] of Object.entries(s.rngs ?? {})) {
    const e = st.rng_states[k];
    if (!e || !("json" in e)) throw new Error(`${dir}: trainer state has no RNG stream '${k}'`);
    r.setState(e.json as ReturnType<Rng["getState"]>);
  }
  return st;
}

export interface SaveContext {
  out: string;
  model: SaveableModel;
  /** The checkpoint training started from: its tokenizer and chat template are copied. */
  startDir: string;
  loaded: LoadedCheckpoint;
  saveTotalLimit: number | null;
  /** Whether this process writes (rank 0 of a data-parallel run); default true. */
  isMain?: boolean;
}

/** Writes OUT/checkpoint-<step>/ (atomically) and prunes old ones beyond save_total_limit. */
export async function saveRunCheckpoint(ctx: SaveContext, s: LoopState, optimizer: AdamW): Promise<string> {
  const dir = join(ctx.out, `checkpoint-${s.step}`);
  if (ctx.isMain === false) return dir;
  await saveCheckpoint(ctx.model, dir, {
    tokenizerDir: ctx.startDir,
    preprocessor: ctx.loaded.preprocessor,
    generationConfig: ctx.loaded.generationConfig,
    trainerState: { state: trainerStateOf(s), optimizer },
  });
  if (ctx.saveTotalLimit !== null) {
    const all = listCheckpoints(ctx.out);
    for (const c of all.slice(0, Math.max(0, all.length - ctx.saveTotalLimit)))
      rmSync(c.dir, { recursive: true, force: true });
  }
  return dir;
}

/** Writes the final model as a Hugging Face directory at OUT/final/. */
export async function saveFinal(ctx: SaveContext): Promise<string> {
  const dir = join(ctx.out, FINAL_DIR);
  if (ctx.isMain === false) return dir;
  await saveCheckpoint(ctx.model, dir, {
    tokenizerDir: ctx.startDir,
    preprocessor: ctx.loaded.preprocessor,
    generationConfig: ctx.loaded.generationConfig,
  });
  return dir;
}

export interface OptimizerStepInputs {
  model: { zeroGrad(): void };
  params: [string, import("../tensor/index.ts").Tensor][];
  optimizer: AdamW;
  cfg: Pick<SFTConfig, "learning_rate" | "max_grad_norm">;
  schedule: Schedule;
  state: LoopState;
  /** The step's loss, for the NaN/Inf stop. */
  loss: number;
  /** The run directory (names the last good checkpoint when stopping). */
  out: string;
}

/**
 * One optimizer step from the accumulated gradients, the same in both loops: clip the global norm (max_grad_norm;
 * 0 = no clipping), stop on a NaN/Inf loss or norm, set the scheduled learning rate, AdamW, zero the gradients,
 * count the step. Returns the norm before clipping and the rate used.
 */
export function optimizerStep(x: OptimizerStepInputs): { gradNorm: number; lr: number } {
  const gradNorm = clipGradNorm(
    x.params.map(([, p]) => p),
    x.cfg.max_grad_norm > 0 ? x.cfg.max_grad_norm : Infinity,
  );
  assertFinite({ loss: x.loss, grad_norm: gradNorm }, x.state.step + 1, x.out);
  const lr = learningRate(x.cfg, x.schedule, x.state.step);
  x.optimizer.lr = lr;
  x.optimizer.stepUpdate();
  x.model.zeroGrad();
  x.state.step++;
  return { gradNorm, lr };
}

/** Stops the run on a NaN/Inf loss or gradient norm, naming the step and the last good checkpoint. */
export function assertFinite(what: Record<string, number>, step: number, out: string): void {
  const bad = Object.entries(what).filter(([, v]) => !Number.isFinite(v));
  if (!bad.length) return;
  const last = latestCheckpoint(out);
  throw new Error(
    `step ${step}: ${bad.map(([k, v]) => `${k} is ${v}`).join(", ")}; stopping. ` +
      (last
        ? `The last good checkpoint is ${last} (--resume continues from it; lower learning_rate first).`
        : "No checkpoint was written yet."),
  );
}
