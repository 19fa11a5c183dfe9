/**
 * Trainer state beside a Hugging Face checkpoint directory, for exact resume: `trainer_state.json` (step, epoch,
 * data position, schedule state, RNG states, world size, log history, free-form extras; HF Trainer's file name and
 * its `global_step`/`epoch`/`log_history` keys) and, when a trainer has one, the AdamW state in
 * `optimizer.safetensors` (optimizer_state.ts's format).
 *
 * Each file is written atomically (temp file, fsync, rename), the optimizer first and the JSON last; the JSON records
 * the optimizer's step, which loading checks against the optimizer file, so a crash between the two renames is
 * detected instead of resuming from mismatched halves. saveCheckpoint (models/qwen2vl/checkpoint.ts, option
 * `trainerState`) writes the pair inside its temporary directory, so weights and trainer state appear together in
 * one rename; saveTrainerStateDir does the same for a directory of its own.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { z } from "zod";
import type { AdamW } from "../nn/index.ts";
import { readHeader, writeJsonAtomic } from "./safetensors.ts";
import { loadOptimizerState, saveOptimizerState } from "./optimizer_state.ts";

export const TRAINER_STATE_FILE = "trainer_state.json";
export const OPTIMIZER_STATE_FILE = "optimizer.safetensors";
const FORMAT = "reason-rft-trainer-state";
const VERSION = 1;

/** A random stream's saved state: bytes (libtorch generators) as base64, or a host-side RNG's JSON state. */
export type RngStateEntry = { base64: string } | { json: unknown };

export interface TrainerState {
  /** Optimizer steps taken (HF Trainer's name). */
  global_step: number;
  /** Fractional epochs done (HF Trainer's name). */
  epoch: number;
  /** Where the data stream stands (epoch, index in the shuffled order, its seed...): what the trainer needs. */
  data_position: Record<string, unknown>;
  /** Learning-rate schedule (and any other scheduler) state. */
  schedule: Record<string, unknown>;
  /** Every random stream by name (e.g. "torch", "sampler", "data", "rank0"). */
  rng_states: Record<string, RngStateEntry>;
  /** Number of data-parallel ranks that wrote it. */
  world_size: number;
  /** Logged metrics (HF Trainer's name). */
  log_history: Record<string, unknown>[];
  /** Free-form fields of a trainer (config hash, best metric...). */
  extras: Record<string, unknown>;
}

const schema = z
  .object({
    format: z.literal(FORMAT),
    version: z.literal(VERSION),
    global_step: z.number().int().nonnegative(),
    epoch: z.number().nonnegative(),
    data_position: z.record(z.unknown()).default({}),
    schedule: z.record(z.unknown()).default({}),
    rng_states: z
      .record(z.union([z.object({ base64: z.string() }).strict(), z.object({ json: z.unknown() }).strict()]))
      .default({}),
    world_size: z.number().int().positive(),
    log_history: z.array(z.record(z.unknown())).default([]),
    extras: z.record(z.unknown()).default({}),
    /** Optimizer file name (beside this file) and the step it must record; null when there is none. */
    optimizer: z.object({ file: z.string(), step: z.number().int().nonnegative() }).nullable().default(null),
  })
  .strict();

export class TrainerStateError extends Error {
  override name = "TrainerStateError";
}

/** Bytes (a libtorch RNG state, for instance) as a trainer_state.json entry. */
export function rngBytes(state: Uint8Array): RngStateEntry {
  return { base64: Buffer.from(state.buffer, state.byteOffset, state.byteLength).toString("base64") };
}

/** The bytes of an entry written by rngBytes. Errors name the stream. */
export function rngBytesOf(state: TrainerState, name: string): Buffer {
  const e = state.rng_states[name];
  if (!e || !("base64" in e)) throw new TrainerStateError(`trainer state: no byte RNG state named '${name}'`);
  return Buffer.from(e.base64, "base64");
}

export function newTrainerState(over: Partial<TrainerState> = {}): TrainerState {
  return {
    global_step: 0,
    epoch: 0,
    data_position: {},
    schedule: {},
    rng_states: {},
    world_size: 1,
    log_history: [],
    extras: {},
    ...over,
  };
}

/**
 * Writes trainer_state.json (and optimizer.safetensors when `optimizer` is given) into `dir`, replacing earlier
 * ones. The optimizer file goes in first, the JSON (which names it and its step) last.
 */
export function saveTrainerState(dir: string, state: TrainerState, optimizer?: AdamW): string[] {
  const s = schema.safeParse({ format: FORMAT, version: VERSION, ...state, optimizer: null });
  if (!s.success)
    throw new TrainerStateError(
      `trainer state: ${s.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  let opt: { file: string; step: number } | null = null;
  if (optimizer) {
    saveOptimizerState(join(dir, OPTIMIZER_STATE_FILE), optimizer); // itself atomic (temp + rename)
    opt = { file: OPTIMIZER_STATE_FILE, step: optimizer.state().step };
    files.push(OPTIMIZER_STATE_FILE);
  } else if (existsSync(join(dir, OPTIMIZER_STATE_FILE))) {
    rmSync(join(dir, OPTIMIZER_STATE_FILE)); // a stale optimizer of an earlier save would not match this state
  }
  writeJsonAtomic(join(dir, TRAINER_STATE_FILE), { ...s.data, optimizer: opt });
  files.push(TRAINER_STATE_FILE);
  return files;
}

export interface LoadTrainerStateOptions {
  /** Restore the AdamW state into this optimizer (an error when the directory has none). */
  optimizer?: AdamW;
  /** Refuse a state written by another number of ranks. */
  expectWorldSize?: number;
}

/** Reads `dir`/trainer_state.json (and restores the optimizer, when asked). Errors name the file and field. */
export function loadTrainerState(dir: string, opts: LoadTrainerStateOptions = {}): TrainerState {
  const path = join(dir, TRAINER_STATE_FILE);
  if (!existsSync(path)) throw new TrainerStateError(`${dir}: no ${TRAINER_STATE_FILE} (not a resumable checkpoint)`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new TrainerStateError(`${path}: ${(e as Error).message}`);
  }
  const r = schema.safeParse(json);
  if (!r.success)
    throw new TrainerStateError(
      `${path}: ${r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  const { format: _f, version: _v, optimizer: opt, ...state } = r.data;
  if (opts.expectWorldSize !== undefined && state.world_size !== opts.expectWorldSize)
    throw new TrainerStateError(
      `${path}: written by a run of ${state.world_size} rank(s), resuming with ${opts.expectWorldSize} (world_size differs): ` +
        `the data order and batch layout depend on the number of ranks, so resume with the same number ` +
        `(rft launch --nproc/--nnodes giving WORLD_SIZE=${state.world_size}), or start a new run from this checkpoint's weights`,
    );
  if (opts.optimizer) {
    if (!opt) throw new TrainerStateError(`${path}: no optimizer state was saved with this trainer state`);
    if (basename(opt.file) !== opt.file) throw new TrainerStateError(`${path}: optimizer.file must be a file name`);
    const op = join(dir, opt.file);
    if (!existsSync(op)) throw new TrainerStateError(`${path}: names ${opt.file}, which does not exist`);
    const step = Number(readHeader(op).metadata.step);
    if (step !== opt.step)
      throw new TrainerStateError(
        `${op}: optimizer step ${step} does not match trainer_state.json's ${opt.step} (an interrupted save?)`,
      );
    loadOptimizerState(op, opts.optimizer);
  }
  return state as TrainerState;
}

/**
 * Saves trainer state into a fresh temporary sibling of `dir`, then renames it into place: for trainers that keep
 * the state in its own directory (e.g. `runs/x/trainer/`) rather than inside a checkpoint.
 */
export function saveTrainerStateDir(dir: string, state: TrainerState, optimizer?: AdamW): string[] {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const files = saveTrainerState(tmp, state, optimizer);
    const old = `${tmp}.old`;
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
    return files;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
