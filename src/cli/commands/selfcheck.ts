/**
 * `rft selfcheck`: the embedded default of the main job until the full pipeline is wired in. It checks, end to end
 * on the laptop CPU and with no download:
 *   1. the engine: libtorch loads, fp32 and bf16 matmuls agree with a plain JS reference, GEMM speed;
 *   2. the data path: a small generated benchmark (instruct set), a tiny tokenizer trained on it, the processor;
 *   3. the model: a random qwen2-vl-tiny learns a fixed batch of image questions for a few AdamW steps (the loss
 *      must fall), with the live-tensor count flat from step to step;
 *   4. generation: greedy decoding of one trained sample.
 * Exit status 0 when every check passes, 1 otherwise.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandSpec } from "../args.ts";
import * as t from "../../tensor/index.ts";
import { blasCoreTypeSource } from "../../native/index.ts";
import { AdamW, clipGradNorm } from "../../nn/index.ts";
import { synthesize, INSTRUCT_FILE } from "../../tasks/synth/generate.ts";
import { trainByteLevelBpe, writeTokenizerFiles } from "../../models/qwen2vl/tiny_tokenizer.ts";
import { QwenTokenizer } from "../../models/qwen2vl/tokenizer.ts";
import { presetConfig } from "../../models/qwen2vl/config.ts";
import { paramCounts } from "../../models/qwen2vl/params.ts";
import { defaultPreprocessorConfig } from "../../models/qwen2vl/processor_config.ts";
import { prepareInputs } from "../../models/qwen2vl/inputs.ts";
import { Qwen2VLForConditionalGeneration } from "../../models/qwen2vl/model.ts";
import { completionLogProbs, generate, promptSample, type PromptSample } from "../../models/qwen2vl/generate.ts";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** C = A·B for row-major float arrays, in float64: the independent reference for the engine's GEMM. */
function jsMatmul(a: Float32Array, b: Float32Array, n: number, k: number, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p]!;
      for (let j = 0; j < m; j++) c[i * m + j]! += x * b[p * m + j]!;
    }
  return c;
}

function maxRelErr(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]!));
    err = Math.max(err, Math.abs(x[i]! - ref[i]!));
  }
  return err / (scale || 1);
}

function engineChecks(log: (s: string) => void): Check[] {
  const checks: Check[] = [];
  const info = t.buildInfo();
  log(
    `engine: libtorch ${info.torchVersion}, ${t.getNumThreads()} threads, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? "(OpenBLAS detection)"} (${blasCoreTypeSource})`,
  );
  t.manualSeed(0);
  const [n, k, m] = [67, 129, 45];
  const { fp32, bf16, ref } = t.tidy(() => {
    const a = t.randn([n, k]);
    const b = t.randn([k, m]);
    const r = jsMatmul(a.toFloat32(), b.toFloat32(), n, k, m);
    return { fp32: a.matmul(b).toFloat32(), bf16: t.autocast(() => a.matmul(b)).toFloat32(), ref: r };
  });
  const e32 = maxRelErr(fp32, ref);
  const e16 = maxRelErr(bf16, ref);
  checks.push({
    name: "fp32 matmul matches a JS reference",
    ok: e32 < 1e-5,
    detail: `max rel. error ${e32.toExponential(2)}`,
  });
  checks.push({
    name: "bf16 autocast matmul close to the reference",
    ok: e16 < 3e-2,
    detail: `max rel. error ${e16.toExponential(2)}`,
  });
  const gflops = t.tidy(() => {
    const a = t.randn([512, 512]);
    const b = t.randn([512, 512]);
    for (let i = 0; i < 3; i++) a.mm(b).dispose();
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) a.mm(b).dispose();
    return (10 * 2 * 512 ** 3) / ((performance.now() - t0) / 1000) / 1e9;
  });
  log(`engine: fp32 GEMM 512² at ${gflops.toFixed(0)} GFLOP/s`);
  return checks;
}

async function modelChecks(steps: number, batch: number, log: (s: string) => void): Promise<Check[]> {
  const checks: Check[] = [];
  const dir = mkdtempSync(join(tmpdir(), "rft-selfcheck-"));
  try {
    const t0 = performance.now();
    const manifest = await synthesize({
      out: join(dir, "bench"),
      size: "small",
      seed: 0,
      tasks: ["counting", "geometry", "transformation", "instruct"],
    });
    type Rec = { id: string; image: string | string[]; problem: string; cot?: string; answer: string };
    const read = (f: string) => JSON.parse(readFileSync(join(dir, "bench", f), "utf8")) as Rec[];
    const records = read(INSTRUCT_FILE);
    const corpus = Object.keys(manifest.files)
      .flatMap(read)
      .map((r) => `${r.problem}\n${r.cot ?? ""}\n${r.answer}`);
    const bpe = trainByteLevelBpe(corpus, { vocabSize: 512 });
    await writeTokenizerFiles(join(dir, "tok"), bpe);
    const tok = await QwenTokenizer.fromDir(join(dir, "tok"));
    log(
      `data: ${corpus.length} generated records (${records.length} instruct), tiny tokenizer trained (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );

    const cfg = presetConfig("qwen2-vl-tiny", tok.configIds());
    const pp = defaultPreprocessorConfig();
    // One image per sample keeps the check short; the test suite covers two-image prompts.
    const chosen = records.filter((r) => typeof r.image === "string" || r.image.length === 1).slice(0, batch);
    const prompts: PromptSample[] = [];
    const targets: number[][] = [];
    const imEnd = tok.configIds().imEnd;
    for (const r of chosen) {
      const img = join(dir, "bench", "images", typeof r.image === "string" ? r.image : r.image[0]!);
      const inputs = await prepareInputs(
        tok,
        pp,
        [{ role: "user", content: [{ type: "image" }, { type: "text", text: r.problem }] }],
        [img],
        {
          addGenerationPrompt: true,
          sampleId: r.id,
        },
      );
      prompts.push(promptSample(inputs));
      targets.push([...tok.encode(r.answer), imEnd]);
    }
    t.manualSeed(0);
    using model = new Qwen2VLForConditionalGeneration(cfg);
    // The count depends on the vocabulary: this check trains its own 512-token tokenizer, while the preset (and
    // `rft model info --preset qwen2-vl-tiny`) uses the default 1024-token layout: 512 × hidden fewer embedding rows.
    const presetParams = paramCounts(presetConfig("qwen2-vl-tiny")).total;
    log(
      `model: qwen2-vl-tiny with this check's ${cfg.vocab_size}-token vocabulary, ` +
        `${(model.numParameters() / 1e6).toFixed(2)}M parameters (the preset's default ${presetConfig("qwen2-vl-tiny").vocab_size}-token ` +
        `vocabulary gives ${(presetParams / 1e6).toFixed(2)}M), batch of ${prompts.length} image questions`,
    );
    using opt = new AdamW(model.namedParameters(), { lr: 2e-3, weightDecay: 0 });
    const padId = tok.padTokenId();
    const losses: number[] = [];
    const handles: number[] = [];
    const tTrain = performance.now();
    for (let s = 0; s < steps; s++) {
      const loss = t.tidy(() => {
        const { logprobs, mask } = completionLogProbs(model, prompts, targets, { padTokenId: padId });
        const l = logprobs.sum().neg().div(mask.sum());
        l.backward();
        return l.item();
      });
      clipGradNorm(model.parameters(), 1.0);
      opt.stepUpdate();
      opt.zeroGrad();
      losses.push(loss);
      handles.push(t.handleBalance());
      if (s === 0 || (s + 1) % 5 === 0 || s === steps - 1) log(`train: step ${s + 1}/${steps} loss ${loss.toFixed(3)}`);
    }
    const perStep = (performance.now() - tTrain) / steps;
    const drop = losses[losses.length - 1]! / losses[0]!;
    checks.push({
      name: "the tiny model learns (loss falls)",
      ok: drop < 0.5,
      detail: `loss ${losses[0]!.toFixed(3)} -> ${losses[losses.length - 1]!.toFixed(3)}, ${perStep.toFixed(0)} ms/step`,
    });
    const flat = handles.slice(2).every((h) => h === handles[2]);
    checks.push({
      name: "live tensors flat across training steps",
      ok: flat,
      detail: `live handles per step: ${[...new Set(handles)].join(", ")}`,
    });

    const gen = generate(model, [prompts[0]!], {
      maxNewTokens: targets[0]!.length + 4,
      temperature: 0,
      stopTokenIds: [imEnd],
      padTokenId: padId,
      tokenizer: tok,
    });
    const want = chosen[0]!.answer;
    log(`generate: "${chosen[0]!.problem.slice(0, 60)}..." -> "${gen[0]!.text}" (trained answer "${want}")`);
    checks.push({
      name: "greedy generation runs and stops",
      ok: gen[0]!.ids.length > 0,
      detail: `${gen[0]!.ids.length} tokens, finish ${gen[0]!.finishReason}`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return checks;
}

export const command: CommandSpec = {
  name: "selfcheck",
  summary: "check the engine and train a tiny random Qwen2-VL for a few steps on generated images (no download)",
  options: {
    steps: { type: "number", help: "training steps", default: 30 },
    batch: { type: "number", help: "image questions in the fixed training batch", default: 4 },
    threads: { type: "number", help: "intra-op threads (default: RFT_NUM_THREADS or all cores)" },
    json: { type: "boolean", help: "print the checks as one JSON object" },
  },
  details: "Example:\n  rft selfcheck --steps 30",
  async run(opts) {
    if (opts.threads !== undefined) t.setNumThreads(opts.threads as number, "--threads");
    const steps = opts.steps as number;
    const batch = opts.batch as number;
    if (!(steps >= 2 && Number.isInteger(steps))) throw new Error("--steps must be an integer >= 2");
    if (!(batch >= 1 && Number.isInteger(batch))) throw new Error("--batch must be an integer >= 1");
    const log = (s: string) => console.error(s);
    const t0 = performance.now();
    const checks = [...engineChecks(log), ...(await modelChecks(steps, batch, log))];
    const ok = checks.every((c) => c.ok);
    const seconds = (performance.now() - t0) / 1000;
    if (opts.json) console.log(JSON.stringify({ ok, seconds, checks }));
    else {
      for (const c of checks) console.log(`${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`);
      console.log(`selfcheck ${ok ? "passed" : "FAILED"} in ${seconds.toFixed(1)} s`);
    }
    return ok ? 0 : 1;
  },
};
