/**
 * Engine benchmark: per-op call overhead, GEMM peak, BLAS core-type choice, and the Qwen2-style decoder of
 * shared/anchors/pytorch_qwen2_reference.py as our model code builds it (Qwen2VLForConditionalGeneration at the
 * anchor's shapes, text only), in train and decode modes, fp32 and bf16 autocast,
 * against the Python anchor run in the same process tree with the same threads and BLAS environment.
 *
 *   npm run bench -- engine [--json] [--threads N] [--steps N] [--repeats N] [--quick] [--no-anchor] [--only train|decode]
 * Every figure (ours and the anchor's) is the best of --repeats runs (default 3).
 *
 * Summary fields: train_ratio / decode_ratio (our tokens/s ÷ anchor tokens/s, fp32 and bf16), gflops (achieved in
 * fp32 train mode) and gemm_peak_gflops (fp32 1024² matmul, same run), gflops_fraction = gflops / gemm_peak_gflops.
 * Targets: train_ratio >= 1.0, decode_ratio >= 1.2, gflops_fraction >= 0.6.
 * FLOPs count 6 × (parameters other than the embedding table, whose lookup multiplies nothing) × tokens, plus
 * attention 12 × layers × batch × seq² × hidden (QKᵀ and AV, forward and backward, full matrices as computed).
 */
import { spawnSync } from "node:child_process";
import { PY, anchorEnv, hasPyTorch, runAnchorScript } from "./lib/anchor.ts";
import { fileURLToPath } from "node:url";
import * as t from "../src/tensor/index.ts";
import { blasCoreTypeSource } from "../src/native/index.ts";
import { AdamW } from "../src/nn/index.ts";
import { presetConfig, type Qwen2VLConfig } from "../src/models/qwen2vl/config.ts";
import { Qwen2VLForConditionalGeneration } from "../src/models/qwen2vl/model.ts";

interface Opts {
  json: boolean;
  threads: number;
  steps: number;
  quick: boolean;
  anchor: boolean;
  gemmOnly: boolean;
  /** Each measurement (ours and the anchor's) is the best of this many runs: timings here are noisy. */
  repeats: number;
  /** Run only one part: "train" or "decode" (skips the BLAS/GEMM/overhead probes). */
  only?: string;
}

function parse(argv: string[]): Opts {
  const o: Opts = {
    json: false,
    threads: t.getNumThreads(),
    steps: 10,
    quick: false,
    anchor: true,
    gemmOnly: false,
    repeats: 3,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") o.json = true;
    else if (a === "--threads") o.threads = Number(argv[++i]);
    else if (a === "--steps") o.steps = Number(argv[++i]);
    else if (a === "--quick") o.quick = true;
    else if (a === "--no-anchor") o.anchor = false;
    else if (a === "--gemm-only") o.gemmOnly = true;
    else if (a === "--only") o.only = argv[++i]!;
    else if (a === "--repeats") o.repeats = Number(argv[++i]);
    else throw new Error(`bench engine: unknown option ${a}`);
  }
  return o;
}

// ---- the anchor's architecture, built from the model code ---------------------------------------------------------
// The anchor (shared/anchors/pytorch_qwen2_reference.py) is a Qwen2 decoder: hidden 256, 4 layers, 4 heads, 2 KV
// heads, SwiGLU 704, vocabulary 1024, rotary theta 1e6, RMSNorm eps 1e-6, q/k/v with bias, untied LM head. That is
// our Qwen2-VL model's text decoder at the tiny preset's shapes with an untied head, so the bench instantiates
// Qwen2VLForConditionalGeneration itself (text.ts, model.ts: masks, M-RoPE positions, KV cache) and cannot drift
// from it. With text only, the three M-RoPE components are equal and the rotary is the anchor's 1D one. The vision
// tower is cut to one block of width 16 and takes no part (no image tokens are fed; it is left out of the
// optimizer and of the FLOP count).
const SHAPE = {
  hidden: 256,
  layers: 4,
  heads: 4,
  kvHeads: 2,
  intermediate: 704,
  vocab: 1024,
  batch: 8,
  seq: 256,
  prompt: 64,
  newTokens: 128,
};

const tinyPreset = presetConfig("qwen2-vl-tiny");
const CFG: Qwen2VLConfig = {
  ...tinyPreset,
  vocab_size: SHAPE.vocab,
  hidden_size: SHAPE.hidden,
  num_hidden_layers: SHAPE.layers,
  num_attention_heads: SHAPE.heads,
  num_key_value_heads: SHAPE.kvHeads,
  intermediate_size: SHAPE.intermediate,
  rope_theta: 1e6,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  vision_config: { ...tinyPreset.vision_config, depth: 1, embed_dim: 16, num_heads: 1 },
};
/** Token ids drawn for inputs: below the special tokens (the tiny layout puts them last), so no image pads. */
const PLAIN_VOCAB = Math.min(
  CFG.image_token_id,
  CFG.video_token_id,
  CFG.vision_start_token_id,
  CFG.vision_end_token_id,
  CFG.bos_token_id ?? SHAPE.vocab,
);

function newDecoder(): Qwen2VLForConditionalGeneration {
  return new Qwen2VLForConditionalGeneration(CFG);
}

/** The text decoder's parameters (what the anchor has): everything but the unused vision tower. */
function textParameters(m: Qwen2VLForConditionalGeneration): [string, t.Tensor][] {
  return [...m.namedParameters()].filter(([n]) => !n.startsWith("visual."));
}

// ---- measurements -------------------------------------------------------------------------------------------------
function timeIt(fn: () => void, iters: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) fn();
  return (performance.now() - t0) / iters / 1000;
}

function gemmPeak(dtype: "float32" | "bfloat16", n = 1024): number {
  using a = t.randn([n, n], { dtype });
  using b = t.randn([n, n], { dtype });
  let best = Infinity;
  for (let r = 0; r < 5; r++)
    best = Math.min(
      best,
      timeIt(() => a.mm(b).dispose(), 10, 2),
    );
  return (2 * n ** 3) / best / 1e9;
}

function opOverheadUs(): number {
  using a = t.ones([1]);
  using b = t.ones([1]);
  const n = 20000;
  let best = Infinity;
  for (let r = 0; r < 5; r++)
    best = Math.min(
      best,
      timeIt(
        () => {
          for (let i = 0; i < n; i++) a.add(b).dispose();
        },
        1,
        r === 0 ? 1 : 0,
      ),
    );
  return (best * 1e6) / n;
}

function trainTokensPerSec(
  bf16: boolean,
  steps: number,
): { tokensPerSec: number; stepMs: number; params: number; flopsPerStep: number } {
  t.manualSeed(0);
  const m = newDecoder();
  const params = textParameters(m);
  const opt = new AdamW(params, { lr: 1e-4 });
  const x = t.randint(0, PLAIN_VOCAB, [SHAPE.batch, SHAPE.seq]);
  const y = t.randint(0, SHAPE.vocab, [SHAPE.batch, SHAPE.seq]).view(-1);
  const full = () => {
    opt.zeroGrad();
    t.tidy(() => {
      const logits = t.autocast(() => m.forward({ inputIds: x }).logits, { enabled: bf16 });
      t.crossEntropy(logits.float().view(-1, SHAPE.vocab), y).backward();
    });
    opt.stepUpdate();
  };
  const dt = timeIt(full, steps, 2);
  const nParams = params.reduce((a, [, p]) => a + p.numel, 0);
  const nonEmb = nParams - SHAPE.vocab * SHAPE.hidden;
  const tokens = SHAPE.batch * SHAPE.seq;
  const flopsPerStep = 6 * nonEmb * tokens + 12 * SHAPE.layers * SHAPE.batch * SHAPE.seq ** 2 * SHAPE.hidden;
  opt.dispose();
  m.dispose();
  x.dispose();
  y.dispose();
  return { tokensPerSec: tokens / dt, stepMs: dt * 1000, params: nParams, flopsPerStep };
}

/**
 * Greedy decoding tokens/s (best of `repeats`) through the model's forward and KV cache. `variant` "mirror" grows
 * the cache by concatenation each step, as the anchor does; "inplace" preallocates it for prompt + new tokens (what
 * generate() does). Returns the generated ids too, so the two can be checked equal.
 */
export function decodeTokensPerSec(
  bf16: boolean,
  repeats = 3,
  variant: "mirror" | "inplace" = "mirror",
): { tokensPerSec: number; totalS: number; tokens: number[] } {
  t.manualSeed(0);
  const m = newDecoder().eval();
  const ids = t.randint(0, PLAIN_VOCAB, [SHAPE.batch, SHAPE.prompt]);
  let tokens: number[] = [];
  const gen = () =>
    t.inferenceMode(() =>
      t.autocast(
        () => {
          using cache = m.newCache(variant === "inplace" ? SHAPE.prompt + SHAPE.newTokens : 0);
          const out: t.Tensor[] = [];
          let deltas: number[] = [];
          const step = (inputIds: t.Tensor) =>
            t.tidy(() => {
              const n = inputIds.size(1);
              const r = m.forward({ inputIds }, { cache, ropeDeltas: deltas, logitsRange: [n - 1, n] });
              deltas = r.ropeDeltas;
              return r.logits.select(1, 0).argmax(-1, true);
            });
          let nxt = step(ids);
          for (let i = 0; i < SHAPE.newTokens - 1; i++) {
            const prev = nxt;
            nxt = step(prev);
            out.push(prev); // kept on the device; read once after the loop (no per-step host sync)
          }
          out.push(nxt);
          using all = t.cat(out, 1);
          tokens = all.toNumbers();
          for (const x of out) x.dispose();
        },
        { enabled: bf16 },
      ),
    );
  gen();
  let dt = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    gen();
    dt = Math.min(dt, (performance.now() - t0) / 1000);
  }
  m.dispose();
  ids.dispose();
  return { tokensPerSec: (SHAPE.batch * SHAPE.newTokens) / dt, totalS: dt, tokens };
}

/** The anchor's best of `o.repeats` runs (each a fresh process), as ours is the best of as many measurements. */
function runAnchor(mode: "train" | "decode", bf16: boolean, o: Opts): Record<string, number> | null {
  let best: Record<string, number> | null = null;
  const key = mode === "train" ? "tokens_per_s" : "new_tokens_per_s";
  for (let r = 0; r < o.repeats; r++) {
    const x = runAnchorOnce(mode, bf16, o);
    if (x && (!best || x[key]! > best[key]!)) best = x;
  }
  return best;
}

function runAnchorOnce(mode: "train" | "decode", bf16: boolean, o: Opts): Record<string, number> | null {
  const args = [mode, "--threads", String(o.threads), "--steps", String(o.steps)];
  if (bf16) args.push("--bf16");
  return runAnchorScript(args, o.threads, `anchor ${mode}${bf16 ? " bf16" : ""}`);
}

function pythonOpOverheadUs(threads: number): number | null {
  const code = `import torch,time\ntorch.set_num_threads(${threads})\na=torch.ones(1);b=torch.ones(1)\nfor _ in range(2000): a+b\nn=20000\nbest=1e9\nfor r in range(5):\n  t0=time.perf_counter()\n  for _ in range(n): a+b\n  best=min(best,time.perf_counter()-t0)\nprint(best/n*1e6)`;
  const r = spawnSync(PY, ["-c", code], { env: anchorEnv(threads), encoding: "utf8" });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

/** GEMM peak in a child process with a given BLAS core-type setting (they are fixed at library load). */
function gemmInChild(core: string | null, threads: number): number | null {
  const env: NodeJS.ProcessEnv = { ...process.env, RFT_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  if (core === null) env.RFT_BLAS_CORETYPE = "detect";
  else env.OPENBLAS_CORETYPE = core;
  const runner = fileURLToPath(new URL("./run.ts", import.meta.url));
  const r = spawnSync(process.execPath, ["--import", "tsx", runner, "engine", "--gemm-only", "--json"], {
    env,
    encoding: "utf8",
  });
  if (r.status !== 0) return null;
  const line = r.stdout
    .trim()
    .split("\n")
    .find((l) => l.includes('"gemm_fp32_gflops"'));
  return line ? JSON.parse(line).gemm_fp32_gflops : null;
}

export async function run(argv: string[]): Promise<void> {
  const o = parse(argv);
  t.setNumThreads(o.threads);
  const out = (rec: Record<string, unknown>) => {
    if (o.json) console.log(JSON.stringify(rec));
    else
      console.log(
        Object.entries(rec)
          .map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(3) : v}`)
          .join(" "),
      );
  };
  if (o.gemmOnly) {
    out({ gemm_fp32_gflops: gemmPeak("float32"), blas_coretype: process.env.OPENBLAS_CORETYPE ?? "detect" });
    return;
  }
  if (o.quick) {
    o.steps = Math.min(o.steps, 3);
    o.repeats = 1;
  }
  const py = o.anchor && hasPyTorch();
  if (o.anchor && !py)
    console.error(
      "bench engine: /usr/bin/python3 with torch not found (apt-get install python3-torch); ratios skipped",
    );

  const info = t.buildInfo();
  out({
    bench: "env",
    torch: info.torchVersion,
    threads: o.threads,
    blas_coretype: process.env.OPENBLAS_CORETYPE ?? "detect",
    blas_coretype_source: blasCoreTypeSource,
  });

  let peak32 = NaN;
  let peak16 = NaN;
  let ours = NaN;
  if (!o.only) {
    // BLAS core type: OpenBLAS's own detection vs the project's choice, each in a fresh process.
    const detected = gemmInChild(null, o.threads);
    const chosen = gemmInChild(process.env.OPENBLAS_CORETYPE ?? null, o.threads);
    out({
      bench: "blas_coretype",
      openblas_detect_gflops: detected,
      chosen: process.env.OPENBLAS_CORETYPE ?? "detect",
      chosen_gflops: chosen,
    });

    peak32 = gemmPeak("float32");
    peak16 = gemmPeak("bfloat16");
    out({ bench: "gemm", n: 1024, fp32_gflops: peak32, bf16_gflops: peak16 });

    ours = opOverheadUs();
    const theirs = py ? pythonOpOverheadUs(o.threads) : null;
    out({
      bench: "op_overhead",
      op: "add([1],[1])",
      us_per_op: ours,
      python_us_per_op: theirs,
      ratio: theirs ? theirs / ours : null,
    });
  }

  const summary: Record<string, unknown> = { summary: true, gemm_peak_gflops: peak32, gemm_peak_bf16_gflops: peak16 };
  const measureTrain = (bf16: boolean): { ratio: number | null; gflops: number } => {
    let tr = trainTokensPerSec(bf16, o.steps);
    for (let r = 1; r < o.repeats; r++) {
      const x = trainTokensPerSec(bf16, o.steps);
      if (x.tokensPerSec > tr.tokensPerSec) tr = x;
    }
    const gflops = tr.flopsPerStep / (tr.stepMs / 1000) / 1e9;
    const a = py ? runAnchor("train", bf16, o) : null;
    const ratio = a ? tr.tokensPerSec / a.tokens_per_s! : null;
    out({
      bench: "train",
      dtype: bf16 ? "bf16" : "fp32",
      tokens_per_s: tr.tokensPerSec,
      step_ms: tr.stepMs,
      gflops,
      params: tr.params,
      anchor_tokens_per_s: a?.tokens_per_s ?? null,
      ratio,
    });
    return { ratio, gflops };
  };
  const measureDecode = (bf16: boolean): [number | null, number | null] => {
    const d = decodeTokensPerSec(bf16, o.repeats, "mirror");
    const g = decodeTokensPerSec(bf16, o.repeats, "inplace");
    const ad = py ? runAnchor("decode", bf16, o) : null;
    const ratio = ad ? d.tokensPerSec / ad.new_tokens_per_s! : null;
    const gratio = ad ? g.tokensPerSec / ad.new_tokens_per_s! : null;
    // Same greedy tokens from both cache variants (fp32; bf16 rounding may legitimately flip a near tie).
    const same = d.tokens.length === g.tokens.length && d.tokens.every((x, i) => x === g.tokens[i]);
    if (!bf16 && !same) throw new Error("bench engine: the preallocated-cache decoder generated different tokens");
    out({
      bench: "decode",
      dtype: bf16 ? "bf16" : "fp32",
      new_tokens_per_s: d.tokensPerSec,
      total_s: d.totalS,
      anchor_new_tokens_per_s: ad?.new_tokens_per_s ?? null,
      ratio,
    });
    out({
      bench: "decode_inplace_grouped",
      dtype: bf16 ? "bf16" : "fp32",
      new_tokens_per_s: g.tokensPerSec,
      total_s: g.totalS,
      same_tokens_as_mirror: same,
      anchor_new_tokens_per_s: ad?.new_tokens_per_s ?? null,
      ratio: gratio,
    });
    return [ratio, gratio];
  };
  for (const bf16 of [false, true]) {
    const suffix = bf16 ? "_bf16" : "";
    if (o.only !== "decode") {
      const { ratio, gflops } = measureTrain(bf16);
      summary[`train_ratio${suffix}`] = ratio;
      summary[`gflops${suffix}`] = gflops;
      if (!bf16) summary.gflops_fraction = gflops / peak32;
    }
    if (o.only !== "train") {
      const [ratio, gratio] = measureDecode(bf16);
      summary[`decode_ratio${suffix}`] = ratio;
      summary[`decode_ratio_inplace_grouped${suffix}`] = gratio;
    }
  }
  summary.op_overhead_us = ours;
  summary.targets = { train_ratio: ">= 1.0", decode_ratio: ">= 1.2", gflops_fraction: ">= 0.6" };
  summary.meets_targets =
    typeof summary.train_ratio === "number" && typeof summary.decode_ratio === "number"
      ? (summary.train_ratio as number) >= 1.0 &&
        (summary.decode_ratio as number) >= 1.2 &&
        (summary.gflops_fraction as number) >= 0.6
      : null;
  out(summary);
}
