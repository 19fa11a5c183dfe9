/**
 * Training benchmark: the real trainers (`trainSft`, `trainGrpo`, as `rft train` runs them) on qwen2-vl-tiny and the
 * generated benchmark, each against the same step written in plain PyTorch eager the way a user of transformers + TRL
 * would run it (bench/anchors/train_step.py, built on scripts/fixtures/qwen2vl_reference.py's model math), run as a
 * child process with the same thread count and BLAS/OpenMP environment (lib/anchor.ts).
 *
 *   npm run bench -- train [--json] [--threads N] [--rounds N] [--steps N] [--completion-length N] [--no-anchor]
 *                          [--keep]
 *
 * Set-up (in a temporary directory): `rft data synth --size small --tasks counting`, `rft data build --task
 * clevr-math`, `rft model init --preset qwen2-vl-tiny`; its generation_config.json gets `eos_token_id: []` so that
 * every completion has exactly max_completion_length tokens on both sides (equal work; the unit below).
 * - SFT: recipe cot-sft (mini) with 8 records × 2 accumulation per optimizer step on a 16-record file (every step
 *   is one epoch in a new order, so after the first step every example is prepared and cached). Our per-step
 *   `time/step` and `num_tokens` come from the trainer's metrics; the anchor replays the exact micro-batches (the
 *   bench rebuilds the trainer's data order and exports token ids, pixel values and grids).
 *   Unit: supervised tokens per second. sft_ratio = ours ÷ PyTorch's.
 * - GRPO: recipe reason-rft-zero (mini) with 4 prompts × G 8 = 32 completions per step in 2 micro-batches of 16,
 *   L new tokens each (default 32), β 0.04 (a reference model), sampling as the paper (temperature 0.9, top-p 0.9,
 *   top-k 50). Unit: seconds per optimizer step of 4 prompts × 8 completions × L tokens.
 *   grpo_step_ratio = PyTorch's step seconds ÷ ours; the split is time/generate, time/reward, time/logprob (the
 *   reference model's log-probs), time/update (policy forward + backward + clip + AdamW).
 * Each round runs ours then the anchor, 1 + `steps` optimizer steps each (the first is a warm-up, not counted);
 * the ratio of every round is reported, the summary holds the median and the spread (min, max), because this
 * machine's speed drifts.
 *
 * Lines: {"bench": "sft" | "grpo", "round": k, ...} per round, then {"summary": true, ...} with sft_ratio,
 * grpo_step_ratio (null without python3-torch), their spreads, both splits and meets_targets
 * (sft_ratio ≥ 1.0 and grpo_step_ratio ≥ 1.3).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TRAIN_ANCHOR, hasPyTorch, runPythonJsonLines } from "./lib/anchor.ts";
import * as t from "../src/tensor/index.ts";
import { loadCheckpoint, padTokenId } from "../src/models/qwen2vl/checkpoint.ts";
import { resolveTrainConfig, type ResolvedRun } from "../src/train/recipes.ts";
import { trainSft } from "../src/train/sft.ts";
import { trainGrpo } from "../src/train/grpo.ts";
import { DataOrder } from "../src/train/run.ts";
import { prepareRlExample, prepareSftExample, readRecords, type PrepareContext } from "../src/train/samples.ts";
import type { ShareGptRecord, RlRecord } from "../src/data/convert.ts";
import type { PromptSample } from "../src/models/qwen2vl/batch.ts";
import type { Metrics } from "../src/train/metrics.ts";

export interface Opts {
  json: boolean;
  threads: number;
  rounds: number;
  steps: number;
  completionLength: number;
  anchor: boolean;
  keep: boolean;
}

export const SFT_BATCH = 8;
export const SFT_ACCUM = 2;
export const GRPO_PROMPTS = 4;
export const GRPO_G = 8;
export const GRPO_MICRO = 16;
export const TARGETS = { sft_ratio: 1.0, grpo_step_ratio: 1.3 } as const;

export function parseTrainBenchArgs(argv: string[], defaultThreads: number): Opts {
  const o: Opts = {
    json: false,
    threads: defaultThreads,
    rounds: 3,
    steps: 2,
    completionLength: 32,
    anchor: true,
    keep: false,
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`bench train: ${flag} needs an integer ≥ ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--json") o.json = true;
    else if (a === "--threads") o.threads = int(a, argv[++i], 1);
    else if (a === "--rounds") o.rounds = int(a, argv[++i], 1);
    else if (a === "--steps") o.steps = int(a, argv[++i], 1);
    else if (a === "--completion-length") o.completionLength = int(a, argv[++i], 2);
    else if (a === "--no-anchor") o.anchor = false;
    else if (a === "--keep") o.keep = true;
    else
      throw new Error(
        `bench train: unknown option ${a} (options: --json --threads N --rounds N --steps N --completion-length N --no-anchor --keep)`,
      );
  }
  return o;
}

/** Median, min and max of a non-empty list. */
export function spread(xs: readonly number[]): { median: number; min: number; max: number } {
  if (!xs.length) throw new Error("spread: no values");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return { median: s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, min: s[0]!, max: s[s.length - 1]! };
}

const RFT = fileURLToPath(new URL("../bin/rft.js", import.meta.url));

function rft(args: string[], threads: number): void {
  const r = spawnSync(process.execPath, ["--single-threaded-gc", "--v8-pool-size=1", RFT, ...args], {
    encoding: "utf8",
    env: { ...process.env, RFT_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0)
    throw new Error(`bench train: rft ${args.slice(0, 2).join(" ")} failed:\n${r.stderr.slice(-1500)}`);
}

interface Exported {
  prompt: number[];
  target?: number[];
  solution?: string;
  grids: number[][];
  pixel_offset: number;
  pixel_count: number;
}

/** Collects prepared examples and their pixel values for the anchor (one JSON + one float32 file). */
class Exporter {
  examples: Exported[] = [];
  #index = new Map<string, number>();
  #fd: number;
  #offset = 0;
  patchDim = 0;
  constructor(readonly pixelsFile: string) {
    this.#fd = openSync(pixelsFile, "w");
  }
  add(key: string, prompt: PromptSample, extra: { target?: number[]; solution?: string }): number {
    const known = this.#index.get(key);
    if (known !== undefined) return known;
    const grids = (prompt.imageGridThw ?? []).map((g) => [g[0], g[1], g[2]]);
    const pv = prompt.pixelValues ?? new Float32Array(0);
    const rows = grids.reduce((a, [tt, h, w]) => a + tt! * h! * w!, 0);
    if (rows) this.patchDim = pv.length / rows;
    writeSync(this.#fd, new Uint8Array(pv.buffer, pv.byteOffset, pv.byteLength));
    this.examples.push({
      prompt: [...prompt.inputIds],
      ...extra,
      grids,
      pixel_offset: this.#offset,
      pixel_count: pv.length,
    });
    this.#offset += pv.length;
    this.#index.set(key, this.examples.length - 1);
    return this.examples.length - 1;
  }
  close(): void {
    closeSync(this.#fd);
  }
}

export interface Setup {
  dir: string;
  model: string;
  imageRoot: string;
  sftData: string;
  rlData: string;
}

export function setUp(o: Opts): Setup {
  const dir = mkdtempSync(join(tmpdir(), "rft-bench-train-"));
  const synth = join(dir, "synth");
  rft(["data", "synth", "--out", synth, "--size", "small", "--tasks", "counting", "--seed", "0"], o.threads);
  const built = join(dir, "built");
  rft(
    [
      "data",
      "build",
      "--task",
      "clevr-math",
      "--meta",
      join(synth, "train_jsons", "A3-Visual-Counting-train-35k-cot.json"),
      "--image-root",
      join(synth, "images"),
      "--out",
      built,
      "--stage1-size",
      "2",
    ],
    o.threads,
  );
  const model = join(dir, "tiny");
  rft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", model, "--seed", "0"], o.threads);
  // No stop token: every completion is max_completion_length tokens long, on both sides.
  const genPath = join(model, "generation_config.json");
  const gen = JSON.parse(readFileSync(genPath, "utf8")) as Record<string, unknown>;
  writeFileSync(genPath, JSON.stringify({ ...gen, eos_token_id: [] }, null, 2));
  const sft = readRecords<ShareGptRecord>(join(built, "clevr_math_cot_sft.json"), "SFT");
  const rl = readRecords<RlRecord>(join(built, "clevr_math_rl.json"), "RL");
  const need = SFT_BATCH * SFT_ACCUM;
  if (sft.length < need || rl.length < GRPO_PROMPTS) throw new Error("bench train: the small benchmark is too small");
  const sftData = join(dir, "sft.json");
  const rlData = join(dir, "rl.json");
  writeFileSync(sftData, JSON.stringify(sft.slice(0, need)));
  writeFileSync(rlData, JSON.stringify(rl.slice(0, GRPO_PROMPTS)));
  return { dir, model, imageRoot: join(synth, "images"), sftData, rlData };
}

export function sftRun(s: Setup, o: Opts, out: string): ResolvedRun<"sft"> {
  return resolveTrainConfig({
    recipe: "cot-sft",
    profile: "mini",
    task: "clevr-math",
    flags: { model_name_or_path: s.model, dataset_name: s.sftData, image_root: s.imageRoot, output_dir: out },
    sets: [
      `per_device_train_batch_size=${SFT_BATCH}`,
      `gradient_accumulation_steps=${SFT_ACCUM}`,
      `max_steps=${o.steps + 1}`,
      "save_steps=100000",
      "logging_steps=1",
    ],
  }) as ResolvedRun<"sft">;
}

export function grpoRun(s: Setup, o: Opts, out: string): ResolvedRun<"grpo"> {
  return resolveTrainConfig({
    recipe: "reason-rft-zero",
    profile: "mini",
    task: "clevr-math",
    flags: { model_name_or_path: s.model, dataset_name: s.rlData, image_root: s.imageRoot, output_dir: out },
    sets: [
      `num_generations=${GRPO_G}`,
      `per_device_train_batch_size=${GRPO_MICRO}`,
      `gradient_accumulation_steps=${(GRPO_PROMPTS * GRPO_G) / GRPO_MICRO}`,
      `max_completion_length=${o.completionLength}`,
      `max_steps=${o.steps + 1}`,
      "beta=0.04",
      "temperature=0.9",
      "top_p=0.9",
      "top_k=50",
      "save_steps=100000",
      "logging_steps=1",
    ],
  }) as ResolvedRun<"grpo">;
}

/**
 * The anchor's work file: the SFT micro-batches our trainer takes (rebuilt with its DataOrder), the GRPO prompts,
 * and the settings, prepared by our preprocessing path (the same token ids and pixel values on both sides).
 */
export async function exportWork(s: Setup, o: Opts): Promise<string> {
  const sft = sftRun(s, o, join(s.dir, "unused")).config;
  const grpo = grpoRun(s, o, join(s.dir, "unused")).config;
  const loaded = await loadCheckpoint(s.model);
  loaded.model.dispose();
  const pad = padTokenId(loaded.generationConfig, loaded.config);
  const base = { tokenizer: loaded.tokenizer!, preprocessor: loaded.preprocessor, imageRoot: s.imageRoot };
  const ex = new Exporter(join(s.dir, "pixels.f32"));

  const sftCtx: PrepareContext = {
    ...base,
    process: { maxPixels: sft.max_pixels, minPixels: sft.min_pixels, imageMaxPixels: sft.max_pixels },
  };
  const sftRecs = readRecords<ShareGptRecord>(s.sftData, "SFT");
  const order = new DataOrder(sftRecs.length, sft.seed);
  const steps: number[][][] = [];
  for (let k = 0; k < o.steps + 1; k++) {
    const step: number[][] = [];
    for (let m = 0; m < sft.gradient_accumulation_steps; m++) {
      const micro: number[] = [];
      for (const i of order.take(sft.per_device_train_batch_size)) {
        const e = await prepareSftExample(sftRecs[i]!, sftCtx, sft.cutoff_len);
        micro.push(ex.add(`sft/${i}`, e.prompt, { target: e.target }));
      }
      step.push(micro);
    }
    steps.push(step);
  }

  const rlCtx: PrepareContext = { ...base, process: { maxPixels: grpo.max_pixels, minPixels: grpo.min_pixels } };
  const rlRecs = readRecords<RlRecord>(s.rlData, "RL");
  const prompts: number[] = [];
  for (const [i, r] of rlRecs.entries()) {
    const e = await prepareRlExample(r, "clevr-math", rlCtx);
    prompts.push(ex.add(`rl/${i}`, e.prompt, { solution: e.solution }));
  }
  ex.close();
  const work = join(s.dir, "work.json");
  writeFileSync(
    work,
    JSON.stringify({
      pixels_file: ex.pixelsFile,
      patch_dim: ex.patchDim,
      examples: ex.examples,
      sft: {
        pad_token_id: pad,
        learning_rate: sft.learning_rate,
        weight_decay: sft.weight_decay,
        max_grad_norm: sft.max_grad_norm,
        steps,
      },
      grpo: {
        pad_token_id: pad,
        prompts,
        steps: o.steps + 1,
        num_generations: grpo.num_generations,
        per_device_train_batch_size: grpo.per_device_train_batch_size,
        gradient_accumulation_steps: grpo.gradient_accumulation_steps,
        max_completion_length: grpo.max_completion_length,
        beta: grpo.beta,
        temperature: grpo.temperature,
        top_p: grpo.top_p,
        top_k: grpo.top_k,
        learning_rate: grpo.learning_rate,
        weight_decay: grpo.weight_decay,
        max_grad_norm: grpo.max_grad_norm,
      },
    }),
  );
  return work;
}

const SPLIT = ["time/generate", "time/reward", "time/logprob", "time/update"] as const;
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const meanOf = (xs: readonly number[]) => sum(xs) / xs.length;

/**
 * Step 1 of our SFT and of the anchor (same weights, same batches): the loss and the gradient norm agree when both
 * do the same work. Throws when they differ by more than 1e-3 (relative).
 */
export function firstStepCheck(
  ours: Metrics,
  anchor: Record<string, unknown>,
): { loss: number; anchor_loss: number; grad_norm: number; anchor_grad_norm: number } {
  const r = {
    loss: ours.loss!,
    anchor_loss: anchor.loss as number,
    grad_norm: ours.grad_norm!,
    anchor_grad_norm: anchor.grad_norm as number,
  };
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b));
  if (!close(r.loss, r.anchor_loss) || !close(r.grad_norm, r.anchor_grad_norm))
    throw new Error(`bench train: step 1 differs from the anchor's (${JSON.stringify(r)}): not the same work`);
  return r;
}

/** Our SFT: supervised tokens per second over the measured steps (the first step is the warm-up). */
export function sftThroughput(ms: readonly Metrics[]): { tokensPerS: number; secondsPerStep: number; tokens: number } {
  const m = ms.slice(1);
  if (!m.length) throw new Error("bench train: no measured SFT step (need ≥ 2 steps)");
  const tokens = sum(m.map((x) => x.num_tokens!));
  const seconds = sum(m.map((x) => x["time/step"]!));
  return { tokensPerS: tokens / seconds, secondsPerStep: seconds / m.length, tokens: tokens / m.length };
}

/** Our GRPO: mean step seconds (new tokens ÷ tokens_per_second, i.e. the trainer's t4 − t0) and the split. */
export function grpoStep(ms: readonly Metrics[]): { secondsPerStep: number; split: Record<string, number> } {
  const m = ms.slice(1);
  if (!m.length) throw new Error("bench train: no measured GRPO step (need ≥ 2 steps)");
  const secs = m.map((x) => (x["completions/mean_length"]! * GRPO_PROMPTS * GRPO_G) / x.tokens_per_second!);
  return {
    secondsPerStep: meanOf(secs),
    split: Object.fromEntries(SPLIT.map((k) => [k, meanOf(m.map((x) => x[k]!))])),
  };
}

export async function run(argv: string[]): Promise<void> {
  const o = parseTrainBenchArgs(argv, t.getNumThreads());
  t.setNumThreads(o.threads);
  const print = (rec: Record<string, unknown>) =>
    console.log(
      o.json
        ? JSON.stringify(rec)
        : Object.entries(rec)
            .map(([k, v]) => `${k}=${typeof v === "number" ? Math.round(v * 1000) / 1000 : JSON.stringify(v)}`)
            .join(" "),
    );
  const anchorOk = o.anchor && hasPyTorch(TRAIN_ANCHOR);
  if (!o.anchor) console.error("bench train: --no-anchor: ratios skipped");
  else if (!anchorOk)
    console.error("bench train: /usr/bin/python3 with torch not found (apt-get install python3-torch); ratios skipped");

  const load0 = loadavg();
  const s = setUp(o);
  try {
    const work = anchorOk ? await exportWork(s, o) : null;
    let lossCheck: { loss: number; anchor_loss: number; grad_norm: number; anchor_grad_norm: number } | null = null;
    const quiet = { log: () => {}, stream: devNull() };
    const sftRatios: number[] = [];
    const grpoRatios: number[] = [];
    const oursSft: number[] = [];
    const anchorSft: number[] = [];
    const oursGrpo: number[] = [];
    const anchorGrpo: number[] = [];
    const oursSplits: Record<string, number>[] = [];
    const anchorSplits: Record<string, number>[] = [];
    let sftTokens = 0;
    for (let round = 1; round <= o.rounds; round++) {
      // ---- SFT ----
      const sftMetrics = (await trainSft(sftRun(s, o, join(s.dir, `sft-${round}`)), quiet)).metrics;
      const ours = sftThroughput(sftMetrics);
      sftTokens = ours.tokens;
      oursSft.push(ours.tokensPerS);
      let anchor: { tokensPerS: number; secondsPerStep: number } | null = null;
      if (work) {
        const lines = runPythonJsonLines(
          TRAIN_ANCHOR,
          ["sft", "--model", s.model, "--work", work, "--threads", String(o.threads), "--json"],
          o.threads,
          "bench train: SFT anchor",
        );
        const all = (lines ?? []).filter((l) => typeof l.step === "number");
        if (all.length && !lossCheck) lossCheck = firstStepCheck(sftMetrics[0]!, all[0]!);
        const steps = all.slice(1);
        if (steps.length) {
          const tok = sum(steps.map((l) => l.tokens as number));
          const sec = sum(steps.map((l) => l.seconds as number));
          if (Math.round(tok / steps.length) !== Math.round(ours.tokens))
            throw new Error(
              `bench train: the anchor's SFT steps hold ${tok / steps.length} tokens, ours ${ours.tokens}`,
            );
          anchor = { tokensPerS: tok / sec, secondsPerStep: sec / steps.length };
          anchorSft.push(anchor.tokensPerS);
          sftRatios.push(ours.tokensPerS / anchor.tokensPerS);
        }
      }
      print({
        bench: "sft",
        round,
        threads: o.threads,
        tokens_per_step: ours.tokens,
        tokens_per_second: ours.tokensPerS,
        seconds_per_step: ours.secondsPerStep,
        anchor_tokens_per_second: anchor?.tokensPerS ?? null,
        anchor_seconds_per_step: anchor?.secondsPerStep ?? null,
        ratio: anchor ? ours.tokensPerS / anchor.tokensPerS : null,
        load_average: loadavg()[0],
      });

      // ---- GRPO ----
      const g = grpoStep((await trainGrpo(grpoRun(s, o, join(s.dir, `grpo-${round}`)), quiet)).metrics);
      oursGrpo.push(g.secondsPerStep);
      oursSplits.push(g.split);
      let a: { seconds: number; split: Record<string, number> } | null = null;
      if (work) {
        const lines = runPythonJsonLines(
          TRAIN_ANCHOR,
          ["grpo", "--model", s.model, "--work", work, "--threads", String(o.threads), "--json"],
          o.threads,
          "bench train: GRPO anchor",
        );
        const steps = (lines ?? []).filter((l) => typeof l.step === "number").slice(1);
        if (steps.length) {
          const want = GRPO_PROMPTS * GRPO_G * o.completionLength;
          if (steps.some((l) => l.new_tokens !== want))
            throw new Error(
              `bench train: the anchor generated ${String(steps[0]!.new_tokens)} tokens per step, not ${want}`,
            );
          a = {
            seconds: meanOf(steps.map((l) => l.seconds as number)),
            split: Object.fromEntries(SPLIT.map((k) => [k, meanOf(steps.map((l) => l[k] as number))])),
          };
          anchorGrpo.push(a.seconds);
          anchorSplits.push(a.split);
          grpoRatios.push(a.seconds / g.secondsPerStep);
        }
      }
      print({
        bench: "grpo",
        round,
        threads: o.threads,
        unit: `${GRPO_PROMPTS} prompts × ${GRPO_G} completions × ${o.completionLength} tokens`,
        seconds_per_step: g.secondsPerStep,
        ...Object.fromEntries(SPLIT.map((k) => [k, g.split[k]])),
        anchor_seconds_per_step: a?.seconds ?? null,
        ...Object.fromEntries(SPLIT.map((k) => [`anchor_${k}`, a?.split[k] ?? null])),
        ratio: a ? a.seconds / g.secondsPerStep : null,
        load_average: loadavg()[0],
      });
    }
    const med = (xs: number[]) => (xs.length ? spread(xs).median : null);
    const splitMedian = (xs: Record<string, number>[]) =>
      xs.length ? Object.fromEntries(SPLIT.map((k) => [k, spread(xs.map((x) => x[k]!)).median])) : null;
    const sr = sftRatios.length ? spread(sftRatios) : null;
    const gr = grpoRatios.length ? spread(grpoRatios) : null;
    print({
      summary: true,
      model: "qwen2-vl-tiny",
      threads: o.threads,
      rounds: o.rounds,
      measured_steps_per_round: o.steps,
      sft_unit: `supervised tokens/s, ${SFT_ACCUM} × ${SFT_BATCH} records per step (≈ ${Math.round(sftTokens)} tokens)`,
      grpo_unit: `seconds per step of ${GRPO_PROMPTS} prompts × ${GRPO_G} completions × ${o.completionLength} tokens`,
      sft_tokens_per_second: med(oursSft),
      sft_first_step: lossCheck,
      anchor_sft_tokens_per_second: med(anchorSft),
      sft_ratio: sr?.median ?? null,
      sft_ratio_min: sr?.min ?? null,
      sft_ratio_max: sr?.max ?? null,
      grpo_seconds_per_step: med(oursGrpo),
      anchor_grpo_seconds_per_step: med(anchorGrpo),
      grpo_split: splitMedian(oursSplits),
      anchor_grpo_split: splitMedian(anchorSplits),
      grpo_step_ratio: gr?.median ?? null,
      grpo_step_ratio_min: gr?.min ?? null,
      grpo_step_ratio_max: gr?.max ?? null,
      meets_targets: sr && gr ? sr.median >= TARGETS.sft_ratio && gr.median >= TARGETS.grpo_step_ratio : null,
      load_average_start: load0[0],
      load_average_end: loadavg()[0],
    });
  } finally {
    if (o.keep) console.error(`bench train: kept ${s.dir}`);
    else rmSync(s.dir, { recursive: true, force: true });
  }
}

/** A write stream that discards (the trainers' progress lines would interleave with the bench's). */
function devNull(): NodeJS.WriteStream {
  return { isTTY: false, write: () => true } as unknown as NodeJS.WriteStream;
}
