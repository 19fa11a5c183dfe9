/**
 * Qwen2-VL model benchmark: prefill and decode throughput and peak memory of the qwen2-vl-tiny preset with one
 * image per prompt, and text-only decoding at the anchor's shapes (shared/anchors/pytorch_qwen2_reference.py decode
 * mode: hidden 256, 4 layers, 4/2 heads, intermediate 704, vocab 1024, untied head, batch 8, prompt 64, 128 new
 * tokens, greedy) against the Python anchor run in a subprocess with the same thread count.
 *
 *   npm run bench -- model [--json] [--threads N] [--batch N] [--new N] [--bf16] [--no-anchor]
 *
 * Lines: {"bench": "prefill" | "decode" | "decode_anchor_shapes", ...}, then {"summary": true, ...} with
 * decode_ratio = our new tokens/s ÷ the anchor's at equal shapes (null when python3-torch is missing).
 * Memory: rss_peak_mb is the process's maximum RSS so far; cpu_bytes_peak_mb the largest live libtorch CPU storage
 * total (memory().cpuBytes) sampled after every forward while the KV cache is alive.
 */
import { hasPyTorch, runAnchorScript } from "./lib/anchor.ts";
import * as t from "../src/tensor/index.ts";
import { presetConfig, type Qwen2VLConfig } from "../src/models/qwen2vl/config.ts";
import { Qwen2VLForConditionalGeneration } from "../src/models/qwen2vl/model.ts";
import { collate, generate, type PromptSample } from "../src/models/qwen2vl/generate.ts";

interface Opts {
  json: boolean;
  threads: number;
  batch: number;
  newTokens: number;
  bf16: boolean;
  anchor: boolean;
}

function parse(argv: string[]): Opts {
  const o: Opts = { json: false, threads: t.getNumThreads(), batch: 8, newTokens: 128, bf16: false, anchor: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") o.json = true;
    else if (a === "--threads") o.threads = Number(argv[++i]);
    else if (a === "--batch") o.batch = Number(argv[++i]);
    else if (a === "--new") o.newTokens = Number(argv[++i]);
    else if (a === "--bf16") o.bf16 = true;
    else if (a === "--no-anchor") o.anchor = false;
    else throw new Error(`bench model: unknown option ${a}`);
  }
  return o;
}

const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const rssPeakMb = () => mb(process.resourceUsage().maxRSS * 1024);

/** A counting-style prompt: chat preamble, one 168×112 image (grid 8×12 → 24 image tokens), a question. */
function imagePrompt(cfg: Qwen2VLConfig, seed: number): PromptSample {
  const grid: [number, number, number] = [1, 8, 12];
  const n = grid[1] * grid[2];
  let s = seed + 1;
  const pixels = Float32Array.from({ length: n * 1176 }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
  const text = Array.from({ length: 40 }, (_, i) => (i * 7 + seed) % 900);
  const ids = [
    ...text.slice(0, 10),
    cfg.vision_start_token_id,
    ...Array(n / 4).fill(cfg.image_token_id),
    cfg.vision_end_token_id,
    ...text.slice(10),
  ];
  return { inputIds: ids, pixelValues: pixels, imageGridThw: [grid] };
}

function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, (performance.now() - t0) / 1000];
}

function withAutocast<T>(bf16: boolean, fn: () => T): T {
  return bf16 ? t.autocast(fn) : fn();
}

function prefill(m: Qwen2VLForConditionalGeneration, samples: PromptSample[], bf16: boolean): number {
  return t.inferenceMode(() =>
    withAutocast(bf16, () =>
      t.tidy(() => {
        using b = collate(samples, m.config.bos_token_id!);
        const [, dt] = timed(
          () =>
            m.forward({
              inputIds: b.inputIds,
              attentionMask: b.attentionMask,
              pixelValues: b.pixelValues,
              imageGridThw: b.imageGridThw,
            }).logits,
        );
        return dt;
      }),
    ),
  );
}

interface DecodeResult {
  newTokensPerS: number;
  totalS: number;
  cpuPeak: number;
}

function decode(
  m: Qwen2VLForConditionalGeneration,
  samples: PromptSample[],
  newTokens: number,
  bf16: boolean,
): DecodeResult {
  let cpuPeak = 0;
  const [g, dt] = timed(() =>
    withAutocast(bf16, () =>
      generate(m, samples, {
        maxNewTokens: newTokens,
        stopTokenIds: [],
        padTokenId: m.config.bos_token_id!,
        temperature: 0,
        onStep: () => (cpuPeak = Math.max(cpuPeak, t.memory().cpuBytes)),
      }),
    ),
  );
  const n = g.reduce((a, x) => a + x.ids.length, 0);
  return { newTokensPerS: n / dt, totalS: dt, cpuPeak };
}

function runAnchor(o: Opts): Record<string, number> | null {
  const args = [
    "decode",
    "--threads",
    String(o.threads),
    "--batch",
    String(o.batch),
    "--new",
    String(o.newTokens),
    "--prompt",
    "64",
  ];
  if (o.bf16) args.push("--bf16");
  return runAnchorScript(args, o.threads, "bench model: anchor");
}

export async function run(argv: string[]): Promise<void> {
  const o = parse(argv);
  t.setNumThreads(o.threads);
  const print = (rec: Record<string, unknown>) =>
    console.log(
      o.json
        ? JSON.stringify(rec)
        : Object.entries(rec)
            .map(([k, v]) => `${k}=${typeof v === "number" ? Math.round(v * 100) / 100 : JSON.stringify(v)}`)
            .join(" "),
    );
  const dtype = o.bf16 ? "bf16-autocast" : "float32";

  // qwen2-vl-tiny with one image per prompt.
  const cfg = presetConfig("qwen2-vl-tiny");
  t.manualSeed(0);
  const m = new Qwen2VLForConditionalGeneration(cfg).eval();
  const weightsMb = mb(t.memory().cpuBytes);
  const samples = Array.from({ length: o.batch }, (_, i) => imagePrompt(cfg, i));
  const promptLen = samples[0]!.inputIds.length;
  prefill(m, samples, o.bf16); // warm-up (operator lookups, allocator)
  const reps = 5;
  let best = Infinity;
  for (let i = 0; i < reps; i++) best = Math.min(best, prefill(m, samples, o.bf16));
  print({
    bench: "prefill",
    model: "qwen2-vl-tiny",
    dtype,
    threads: o.threads,
    batch: o.batch,
    prompt_tokens: promptLen,
    image_tokens: 24,
    tokens_per_s: (o.batch * promptLen) / best,
    seconds: best,
    rss_peak_mb: rssPeakMb(),
  });
  decode(m, samples, 8, o.bf16); // warm-up
  const d = decode(m, samples, o.newTokens, o.bf16);
  print({
    bench: "decode",
    model: "qwen2-vl-tiny",
    dtype,
    threads: o.threads,
    batch: o.batch,
    prompt_tokens: promptLen,
    new_tokens: o.newTokens,
    new_tokens_per_s: d.newTokensPerS,
    seconds: d.totalS,
    weights_mb: weightsMb,
    cpu_bytes_peak_mb: mb(d.cpuPeak),
    rss_peak_mb: rssPeakMb(),
  });
  m.dispose();

  // Text-only decoding at the anchor's shapes (untied head as in the anchor).
  const acfg: Qwen2VLConfig = { ...cfg, tie_word_embeddings: false, vocab_size: 1024 };
  t.manualSeed(0);
  const am = new Qwen2VLForConditionalGeneration(acfg).eval();
  const text = Array.from({ length: o.batch }, (_, b): PromptSample => ({
    inputIds: Array.from({ length: 64 }, (_, i) => (i * 13 + b * 7) % 900),
  }));
  decode(am, text, 8, o.bf16);
  const ours = decode(am, text, o.newTokens, o.bf16);
  am.dispose();
  let anchor: Record<string, number> | null = null;
  if (!o.anchor) console.error("bench model: --no-anchor: decode ratio skipped");
  else if (!hasPyTorch())
    console.error(
      "bench model: /usr/bin/python3 with torch not found (apt-get install python3-torch); decode ratio skipped",
    );
  else anchor = runAnchor(o);
  const ratio = anchor ? ours.newTokensPerS / anchor.new_tokens_per_s! : null;
  print({
    bench: "decode_anchor_shapes",
    dtype,
    threads: o.threads,
    batch: o.batch,
    prompt_tokens: 64,
    new_tokens: o.newTokens,
    new_tokens_per_s: ours.newTokensPerS,
    seconds: ours.totalS,
    anchor_new_tokens_per_s: anchor?.new_tokens_per_s ?? null,
    ratio,
  });
  print({
    summary: true,
    dtype,
    threads: o.threads,
    prefill_tokens_per_s: (o.batch * promptLen) / best,
    decode_tokens_per_s: d.newTokensPerS,
    decode_anchor_shapes_tokens_per_s: ours.newTokensPerS,
    anchor_decode_tokens_per_s: anchor?.new_tokens_per_s ?? null,
    decode_ratio: ratio,
    rss_peak_mb: rssPeakMb(),
    cpu_bytes_peak_mb: mb(d.cpuPeak),
  });
}
