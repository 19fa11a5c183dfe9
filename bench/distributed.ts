/**
 * Distributed benchmark (issue 11 item 7): all-reduce bandwidth of our c10d binding against PyTorch's Python c10d,
 * and data-parallel training steps (2 workers × 1 thread) against one process with 2 threads.
 *
 *   npm run bench -- distributed [--json] [--rounds N] [--sizes MIB,...] [--iters N] [--steps N]
 *                                [--sft-records N] [--grpo-prompts N] [--generations N] [--completion-length N]
 *                                [--only allreduce|train] [--no-anchor] [--keep]
 *
 * All-reduce: 2 processes on 127.0.0.1, Gloo (GLOO_SOCKET_IFNAME=lo on both sides, so both use the loopback device),
 * started by `rft launch --nproc 2 --threads 1 --exec` (torchrun's variables; rank 0 hosts the TCPStore). Ours is
 * bench/lib/allreduce_worker.ts (initWorld from src/dist/world.ts), the anchor bench/anchors/allreduce.py
 * (torch.distributed.init_process_group("gloo", init_method="env://") in Debian's python3-torch, the same libtorch and
 * Gloo). Per size (float32, default 1, 16 and 64 MiB): warm-up all-reduces checked for the right sum, then `iters`
 * back-to-back all-reduces timed on rank 0 (default: 512 MiB ÷ size, from 5 to 200). Reported:
 * bus bandwidth busbw = 2(W − 1)/W · bytes / seconds per all-reduce (nccl-tests' definition; = algbw for W = 2), in
 * GB/s (1e9 bytes), and ratio = ours ÷ anchor per round; each round runs ours then the anchor (the order flips every
 * round), and the summary holds the median over rounds and the spread (min, max). Target: ratio ≥ 0.8.
 *
 * Training: `rft train cot-sft` and `rft train reason-rft-zero` (profile mini) on qwen2-vl-tiny and the generated
 * benchmark (bench/train.ts's set-up), with the same global batch both ways (HF semantics: per_device_train_batch_size
 * × gradient_accumulation_steps × world size): one worker with 2 threads and accumulation 2, against `rft launch
 * --nproc 2 --threads 1 -- train ...` with accumulation 1. SFT: `sft-records` records per optimizer step (default
 * 16, micro-batches of half that). GRPO: `grpo-prompts` prompts × `generations` completions per step (default
 * 4 × 8, micro-batches of half), `completion-length` new tokens (default 16; no stop token, so every completion has
 * that length), β 0.04. Each run does 1 + `steps` optimizer steps; the time of a step is rank 0's `time/step` from
 * OUT/metrics.jsonl (GRPO: the sum of its time/generate, time/reward, time/logprob and time/update when it has no
 * time/step), the first step is a warm-up, and a run's figure is the median of the others. step ratio = seconds per
 * step of 1 worker × 2 threads ÷ seconds per step of 2 workers × 1 thread (> 1: data parallelism is faster), per
 * round (the order flips every round); the summary holds the median over rounds and the spread.
 *
 * Output: with --json one JSON object (fields below, in `run`); without, readable lines. Progress goes to stderr.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hasPyTorch, PY } from "./lib/anchor.ts";
import { setUp, spread, type Setup } from "./train.ts";

export const ALLREDUCE_ANCHOR = fileURLToPath(new URL("./anchors/allreduce.py", import.meta.url));
export const ALLREDUCE_WORKER = fileURLToPath(new URL("./lib/allreduce_worker.ts", import.meta.url));
const RFT = fileURLToPath(new URL("../bin/rft.js", import.meta.url));
const NODE_FLAGS = ["--single-threaded-gc", "--v8-pool-size=1"];
export const WORLD = 2;
export const ALLREDUCE_TARGET = 0.8;

export const ALLREDUCE_DEFINITION =
  "busbw_gbps = 2(W-1)/W * bytes / seconds per all-reduce / 1e9 (nccl-tests' bus bandwidth; W = 2 processes on " +
  "127.0.0.1, Gloo); ratio = ours / anchor (PyTorch's torch.distributed) per round, median and min-max over rounds";
export const STEP_RATIO_DEFINITION =
  "step ratio = seconds per optimizer step of 1 worker x 2 threads / seconds per step of 2 workers x 1 thread " +
  "(same global batch; > 1: data parallelism is faster); a run's seconds per step is the median of its steps after " +
  "the first; ratio per round, median and min-max over rounds";

export interface DistOpts {
  json: boolean;
  rounds: number;
  sizes: number[]; // bytes
  iters: number | null;
  steps: number;
  sftRecords: number;
  grpoPrompts: number;
  generations: number;
  completionLength: number;
  allreduce: boolean;
  train: boolean;
  anchor: boolean;
  keep: boolean;
}

export function parseDistributedBenchArgs(argv: string[]): DistOpts {
  const o: DistOpts = {
    json: false,
    rounds: 3,
    sizes: [1, 16, 64].map((m) => m * 2 ** 20),
    iters: null,
    steps: 2,
    sftRecords: 16,
    grpoPrompts: 4,
    generations: 8,
    completionLength: 16,
    allreduce: true,
    train: true,
    anchor: true,
    keep: false,
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`bench distributed: ${flag} needs an integer ≥ ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--json") o.json = true;
    else if (a === "--rounds") o.rounds = int(a, argv[++i], 1);
    else if (a === "--sizes") {
      const v = argv[++i];
      const xs = (v ?? "").split(",").map(Number);
      if (!v || xs.some((x) => !(x > 0) || !Number.isInteger((x * 2 ** 20) / 4)))
        throw new Error(`bench distributed: --sizes needs sizes in MiB separated by commas (e.g. 1,16,64), got ${v}`);
      o.sizes = xs.map((x) => x * 2 ** 20);
    } else if (a === "--iters") o.iters = int(a, argv[++i], 1);
    else if (a === "--steps") o.steps = int(a, argv[++i], 1);
    else if (a === "--sft-records") o.sftRecords = int(a, argv[++i], 2);
    else if (a === "--grpo-prompts") o.grpoPrompts = int(a, argv[++i], 2);
    else if (a === "--generations") o.generations = int(a, argv[++i], 2);
    else if (a === "--completion-length") o.completionLength = int(a, argv[++i], 2);
    else if (a === "--only") {
      const v = argv[++i];
      if (v !== "allreduce" && v !== "train")
        throw new Error(`bench distributed: --only needs allreduce or train, got ${v}`);
      o.allreduce = v === "allreduce";
      o.train = v === "train";
    } else if (a === "--no-anchor") o.anchor = false;
    else if (a === "--keep") o.keep = true;
    else
      throw new Error(
        `bench distributed: unknown option ${a} (options: --json --rounds N --sizes MIB,... --iters N --steps N ` +
          "--sft-records N --grpo-prompts N --generations N --completion-length N --only allreduce|train " +
          "--no-anchor --keep)",
      );
  }
  if (o.sftRecords % WORLD) throw new Error(`bench distributed: --sft-records must be even, got ${o.sftRecords}`);
  if (o.grpoPrompts % WORLD) throw new Error(`bench distributed: --grpo-prompts must be even, got ${o.grpoPrompts}`);
  return o;
}

/** Timed all-reduces per size: 512 MiB ÷ size, at least 5 and at most 200. */
export function allReduceIters(bytes: number): number {
  return Math.min(200, Math.max(5, Math.round(2 ** 29 / bytes)));
}

/** nccl-tests' bus bandwidth of an all-reduce: 2(W − 1)/W · bytes / seconds, in GB/s (1e9 bytes). */
export function busBandwidth(bytes: number, seconds: number, world: number): number {
  return ((2 * (world - 1)) / world) * (bytes / seconds / 1e9);
}

/** The environment of a child: ours without torchrun's variables (this process may itself run under a launcher). */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]) delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith("TORCHELASTIC_") || k.startsWith("GROUP_")) delete env[k];
  delete env.RFT_NUM_THREADS;
  delete env.OMP_NUM_THREADS;
  return { ...env, ...extra };
}

function runOrThrow(what: string, args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, [...NODE_FLAGS, ...args], { env, encoding: "utf8", maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0)
    throw new Error(
      `bench distributed: ${what} failed (exit ${r.status ?? r.signal}):\n${(r.stderr ?? "").slice(-2000)}`,
    );
  return r.stdout;
}

export interface AllReduceLine {
  bytes: number;
  iters: number;
  seconds: number;
  algbw_gbps: number;
  busbw_gbps: number;
  world: number;
}

/** One all-reduce run of 2 workers under `rft launch --exec`: ours (node) or the anchor (python3). */
export function allReduceRun(side: "ours" | "anchor", sizes: number[], iters: number[]): AllReduceLine[] {
  const program =
    side === "ours" ? [process.execPath, ...NODE_FLAGS, "--import", "tsx", ALLREDUCE_WORKER] : [PY, ALLREDUCE_ANCHOR];
  const out = runOrThrow(
    `all-reduce (${side})`,
    [
      RFT,
      "launch",
      "--nproc",
      String(WORLD),
      "--threads",
      "1",
      "--exec",
      "--",
      ...program,
      "--sizes",
      sizes.join(","),
      "--iters",
      iters.join(","),
    ],
    childEnv({ GLOO_SOCKET_IFNAME: "lo" }),
  );
  const lines = out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as AllReduceLine);
  if (lines.length !== sizes.length || lines.some((l, k) => l.bytes !== sizes[k] || l.world !== WORLD))
    throw new Error(
      `bench distributed: all-reduce (${side}) printed ${JSON.stringify(lines)}, expected ${sizes.length} sizes`,
    );
  return lines;
}

// ---- training ---------------------------------------------------------------------------------------------------

export type Config = "1x2" | "2x1";

/** Seconds of one optimizer step from a metrics.jsonl line: time/step, else the sum of GRPO's split. */
export function stepSeconds(m: Record<string, unknown>): number {
  if (typeof m["time/step"] === "number") return m["time/step"];
  const split = ["time/generate", "time/reward", "time/logprob", "time/update"].map((k) => m[k]);
  if (split.every((x) => typeof x === "number")) return (split as number[]).reduce((a, b) => a + b, 0);
  throw new Error(`bench distributed: a metrics line without time/step or the GRPO time split: ${JSON.stringify(m)}`);
}

/** What a run measured: every step's seconds, their median after the first (the warm-up), and each step's work. */
export interface RunSteps {
  /** Median seconds per optimizer step after the first. */
  seconds: number;
  /** Seconds of every logged step, the first included. */
  steps: number[];
  /** Work of every step: SFT's num_tokens (supervised tokens), GRPO's completions/mean_length. */
  work: number[];
}

/** A run's figures from its metrics.jsonl lines (rank 0 writes them, over the whole world's step). */
export function runSteps(kind: "sft" | "grpo", lines: readonly Record<string, unknown>[]): RunSteps {
  const steps = lines.filter((l) => typeof l.step === "number").sort((a, b) => (a.step as number) - (b.step as number));
  if (steps.length < 2)
    throw new Error(`bench distributed: ${steps.length} logged step(s); need ≥ 2 (the first is a warm-up)`);
  const key = kind === "sft" ? "num_tokens" : "completions/mean_length";
  const work = steps.map((l) => l[key]);
  if (work.some((x) => typeof x !== "number"))
    throw new Error(`bench distributed: a ${kind} metrics line without ${key}`);
  const all = steps.map(stepSeconds);
  return { seconds: spread(all.slice(1)).median, steps: all, work: work as number[] };
}

/** Both configurations must do the same work step by step (same global batch and data order); throws otherwise. */
export function checkSameWork(kind: "sft" | "grpo", a: RunSteps, b: RunSteps): void {
  const same =
    a.work.length === b.work.length && a.work.every((x, i) => Math.abs(x - b.work[i]!) <= 1e-9 * Math.abs(x));
  if (!same)
    throw new Error(
      `bench distributed: ${kind}: 1 worker did ${JSON.stringify(a.work)} and 2 workers ${JSON.stringify(b.work)} ` +
        `(${kind === "sft" ? "supervised tokens" : "mean completion length"} per step): not the same work`,
    );
}

/** The `--set` overrides of one configuration: the same global batch either way. */
export function trainSets(kind: "sft" | "grpo", config: Config, o: DistOpts): string[] {
  const accum = config === "1x2" ? WORLD : 1;
  const common = [
    `max_steps=${o.steps + 1}`,
    "save_steps=100000",
    "logging_steps=1",
    `gradient_accumulation_steps=${accum}`,
  ];
  if (kind === "sft") return [...common, `per_device_train_batch_size=${o.sftRecords / WORLD}`];
  return [
    ...common,
    `per_device_train_batch_size=${(o.grpoPrompts * o.generations) / WORLD}`,
    `num_generations=${o.generations}`,
    `max_completion_length=${o.completionLength}`,
    "beta=0.04",
    "temperature=0.9",
    "top_p=0.9",
    "top_k=50",
  ];
}

/** One training run (1 + steps optimizer steps) in a configuration, through the CLI. */
export function trainRun(s: Setup, kind: "sft" | "grpo", config: Config, o: DistOpts, out: string): RunSteps {
  const recipe = kind === "sft" ? "cot-sft" : "reason-rft-zero";
  const train = [
    "train",
    recipe,
    "--profile",
    "mini",
    "--task",
    "clevr-math",
    "--data",
    kind === "sft" ? s.sftData : s.rlData,
    "--image-root",
    s.imageRoot,
    "--model",
    s.model,
    "--out",
    out,
    ...trainSets(kind, config, o).flatMap((x) => ["--set", x]),
  ];
  if (config === "1x2")
    runOrThrow(`${recipe} (1 worker)`, [RFT, ...train], childEnv({ RFT_NUM_THREADS: "2", OMP_NUM_THREADS: "2" }));
  else
    runOrThrow(
      `${recipe} (2 workers)`,
      [RFT, "launch", "--nproc", String(WORLD), "--threads", "1", "--", ...train],
      childEnv({}),
    );
  const file = join(out, "metrics.jsonl");
  if (!existsSync(file)) throw new Error(`bench distributed: ${recipe} (${config}) wrote no ${file}`);
  const lines = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return runSteps(kind, lines);
}

// ---- the bench --------------------------------------------------------------------------------------------------

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export async function run(argv: string[]): Promise<void> {
  const o = parseDistributedBenchArgs(argv);
  const log = (msg: string) => console.error(`bench distributed: ${msg}`);
  const load0 = loadavg()[0];
  const result: Record<string, unknown> = {
    bench: "distributed",
    world_size: WORLD,
    backend: "gloo",
    launcher: `rft launch --nproc ${WORLD} --threads 1`,
    rounds: o.rounds,
  };

  // ---- all-reduce bandwidth ----
  if (o.allreduce) {
    let anchorMessage: string | null = null;
    if (!o.anchor) anchorMessage = "--no-anchor: the PyTorch side was not run";
    else if (!hasPyTorch(ALLREDUCE_ANCHOR))
      anchorMessage = `${PY} with torch not found (apt-get install python3-torch): the PyTorch side was not run`;
    if (anchorMessage) log(anchorMessage);
    const iters = o.sizes.map((b) => o.iters ?? allReduceIters(b));
    const ours: AllReduceLine[][] = [];
    const anchor: AllReduceLine[][] = [];
    for (let r = 1; r <= o.rounds; r++) {
      const order: ("ours" | "anchor")[] = anchorMessage ? ["ours"] : r % 2 ? ["ours", "anchor"] : ["anchor", "ours"];
      for (const side of order) {
        log(`all-reduce round ${r}/${o.rounds}: ${side}`);
        (side === "ours" ? ours : anchor).push(allReduceRun(side, o.sizes, iters));
      }
    }
    result.allreduce = o.sizes.map((bytes, k) => {
      const oursBw = ours.map((x) => x[k]!.busbw_gbps);
      const anchorBw = anchor.map((x) => x[k]!.busbw_gbps);
      const ratios = anchorBw.map((a, r) => oursBw[r]! / a);
      const rs = ratios.length ? spread(ratios) : null;
      return {
        bytes,
        iters: iters[k],
        ours_busbw_gbps: spread(oursBw).median,
        anchor_busbw_gbps: anchorBw.length ? spread(anchorBw).median : null,
        ratio_median: rs?.median ?? null,
        ratio_min: rs?.min ?? null,
        ratio_max: rs?.max ?? null,
        rounds: oursBw.map((b, r) => ({
          ours_busbw_gbps: b,
          anchor_busbw_gbps: anchorBw[r] ?? null,
          ratio: ratios[r] ?? null,
        })),
      };
    });
    result.allreduce_definition = ALLREDUCE_DEFINITION;
    result.allreduce_anchor_message = anchorMessage;
    const meds = (result.allreduce as { ratio_median: number | null }[]).map((x) => x.ratio_median);
    result.allreduce_meets_target = meds.every((m) => m !== null) ? meds.every((m) => m! >= ALLREDUCE_TARGET) : null;
    result.allreduce_target = ALLREDUCE_TARGET;
  }

  // ---- training steps ----
  if (o.train) {
    log("set-up: rft data synth, data build, model init (qwen2-vl-tiny)");
    const s = setUp({
      json: false,
      threads: 2,
      rounds: 1,
      steps: 1,
      completionLength: o.completionLength,
      anchor: false,
      keep: false,
    });
    try {
      for (const kind of ["sft", "grpo"] as const) {
        const runs: Record<Config, RunSteps[]> = { "1x2": [], "2x1": [] };
        for (let r = 1; r <= o.rounds; r++) {
          const order: Config[] = r % 2 ? ["1x2", "2x1"] : ["2x1", "1x2"];
          for (const c of order) {
            log(`${kind} round ${r}/${o.rounds}: ${c === "1x2" ? "1 worker × 2 threads" : "2 workers × 1 thread"}`);
            runs[c].push(trainRun(s, kind, c, o, join(s.dir, `${kind}-${c}-${r}`)));
          }
          checkSameWork(kind, runs["1x2"][r - 1]!, runs["2x1"][r - 1]!);
        }
        const secs = { "1x2": runs["1x2"].map((x) => x.seconds), "2x1": runs["2x1"].map((x) => x.seconds) };
        const ratios = secs["1x2"].map((x, r) => x / secs["2x1"][r]!);
        const rs = spread(ratios);
        result[kind] = {
          unit:
            kind === "sft"
              ? `seconds per optimizer step of ${o.sftRecords} records (cot-sft, mini)`
              : `seconds per optimizer step of ${o.grpoPrompts} prompts × ${o.generations} completions × ${o.completionLength} tokens (reason-rft-zero, mini, beta 0.04)`,
          work_unit: kind === "sft" ? "supervised tokens per step (num_tokens)" : "mean completion length (tokens)",
          one_worker_two_threads_seconds: spread(secs["1x2"]).median,
          two_workers_one_thread_seconds: spread(secs["2x1"]).median,
          work_per_step: runs["1x2"][0]!.work,
          rounds: ratios.map((x, r) => ({
            one_worker_two_threads_seconds: secs["1x2"][r],
            two_workers_one_thread_seconds: secs["2x1"][r],
            ratio: x,
            one_worker_two_threads_step_seconds: runs["1x2"][r]!.steps,
            two_workers_one_thread_step_seconds: runs["2x1"][r]!.steps,
          })),
        };
        result[`${kind}_step_ratio`] = rs.median;
        result[`${kind}_step_ratio_min`] = rs.min;
        result[`${kind}_step_ratio_max`] = rs.max;
      }
      result.measured_steps_per_run = o.steps;
      result.step_ratio_definition = STEP_RATIO_DEFINITION;
    } finally {
      if (o.keep) log(`kept ${s.dir}`);
      else rmSync(s.dir, { recursive: true, force: true });
    }
  }
  result.load_average_start = load0;
  result.load_average_end = loadavg()[0];

  if (o.json) {
    console.log(JSON.stringify(result));
    return;
  }
  for (const a of (result.allreduce ?? []) as Record<string, number | null>[]) {
    const f = (x: number | null) => (x === null ? "—" : round3(x));
    console.log(
      `all-reduce ${a.bytes! / 2 ** 20} MiB × ${a.iters}: ours ${f(a.ours_busbw_gbps!)} GB/s, PyTorch ${f(a.anchor_busbw_gbps!)} GB/s, ` +
        `ratio ${f(a.ratio_median!)} (${f(a.ratio_min!)}–${f(a.ratio_max!)})`,
    );
  }
  for (const kind of ["sft", "grpo"]) {
    const k = result[kind] as Record<string, number> | undefined;
    if (!k) continue;
    console.log(
      `${kind} step: 1 worker × 2 threads ${round3(k.one_worker_two_threads_seconds!)} s, 2 workers × 1 thread ` +
        `${round3(k.two_workers_one_thread_seconds!)} s, ratio ${round3(result[`${kind}_step_ratio`] as number)} ` +
        `(${round3(result[`${kind}_step_ratio_min`] as number)}–${round3(result[`${kind}_step_ratio_max`] as number)})`,
    );
  }
  console.log(`load average ${round3(load0)} → ${round3(result.load_average_end as number)}`);
}
