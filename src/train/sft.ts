/**
 * Supervised fine-tuning (spec §5): ANS-SFT, CoT-SFT and Reason-RFT's Stage 1.
 *
 * One optimizer step = `gradient_accumulation_steps` micro-batches of `per_device_train_batch_size` records. Each
 * record is the system + user turn (labels off) followed by the assistant turn `response<|im_end|>\n` (labels on),
 * truncated by the reference rule (sft_data.ts). A micro-batch's loss is the mean token cross-entropy over its
 * supervised tokens, divided by the accumulation steps (spec §5.5 allows this normalisation). Then: clip the global
 * gradient norm, AdamW with the warmup + cosine schedule, log, checkpoint.
 *
 * Layout: the micro-batch is built by logProbBatch (prompts left-padded, targets right after them, padding on the
 * right of the targets), the same layout the GRPO log-probs use; M-RoPE positions follow the attention mask, so the
 * loss equals that of the reference's right-padded batch. The LM head runs in chunks (logprobs.ts).
 *
 * Data parallel (rft launch): a step's global batch is per device × accumulation × ranks records; every rank walks the
 * same data order and trains on its own slice; gradients are averaged across ranks before the step (src/dist/ddp.ts).
 */
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { tidy, autocast } from "../tensor/index.ts";
import { logProbBatch } from "../models/qwen2vl/batch.ts";
import { tokenLogProbs } from "../models/qwen2vl/logprobs.ts";
import { padTokenId } from "../models/qwen2vl/checkpoint.ts";
import type { ResolvedRun } from "./recipes.ts";
import { checkSequenceBudget, imageTokenBound, type SFTConfig } from "./config.ts";
import { ExampleCache, checkSftRecords, prepareSftExample, readRecords, type SftExample } from "./samples.ts";
import { MetricsLog, Progress, type Metrics } from "./metrics.ts";
import {
  DataOrder,
  METRICS_FILE,
  loadTrainingModel,
  makeOptimizer,
  makeSchedule,
  optimizerStep,
  openSharedRunDir,
  restoreLoopState,
  saveFinal,
  saveRunCheckpoint,
  trainableParameters,
  trainingWorld,
  type LoopState,
} from "./run.ts";
import { allReduceGradients, broadcastParameters } from "../dist/ddp.ts";
import type { World } from "../dist/world.ts";

export interface TrainOptions {
  resume?: boolean;
  /** Log lines (the first names the recipe and profile); default stderr. */
  log?: (msg: string) => void;
  stream?: NodeJS.WriteStream;
  /** Put before every progress line (step lines and checkpoint messages). */
  progressPrefix?: string;
  /** Called after each optimizer step with its metrics (tests, the demo). */
  onStep?: (m: Metrics) => void;
  /** The processes of the run (default: from torchrun's variables; this process alone without them). */
  world?: World;
}

export interface TrainResult {
  out: string;
  final: string;
  steps: number;
  metrics: Metrics[];
}

export async function trainSft(run: ResolvedRun<"sft">, o: TrainOptions = {}): Promise<TrainResult> {
  const cfg: SFTConfig = run.config;
  const world = trainingWorld(cfg, o.world);
  const log = !world.isMain ? () => {} : (o.log ?? ((m: string) => process.stderr.write(m + "\n")));
  log(run.headline);

  // ---- set-up ------------------------------------------------------------------------------------------------------
  const { out, resumeFrom, release } = openSharedRunDir(
    world,
    "sft",
    cfg,
    { recipe: run.recipe.name, profile: run.profile, why: run.why },
    {
      resume: !!o.resume,
      inputs: [cfg.model_name_or_path, cfg.dataset_name, cfg.image_root],
    },
  );
  const records = checkSftRecords(readRecords(cfg.dataset_name!, "SFT"), cfg.dataset_name!);
  const loaded = await loadTrainingModel(cfg.model_name_or_path!, resumeFrom);
  const { model, tokenizer, preprocessor } = loaded;
  checkSequenceBudget("sft", cfg, {
    maxPositionEmbeddings: model.config.max_position_embeddings,
    imageTokens: imageTokenBound(cfg.max_pixels, preprocessor.patch_size, preprocessor.merge_size),
  });
  model.train();
  broadcastParameters(world, model.parameters()); // replicas start equal (they loaded the same files: insurance)
  const params = trainableParameters(model, cfg);
  const opt = makeOptimizer(params, cfg);
  const B = cfg.per_device_train_batch_size;
  const accum = cfg.gradient_accumulation_steps;
  const perRank = B * accum;
  const perStep = perRank * world.size; // the global batch (HF): every rank takes its slice of it
  const total = cfg.max_steps > 0 ? cfg.max_steps : Math.ceil((cfg.num_train_epochs * records.length) / perStep);
  const schedule = makeSchedule(cfg, total);
  const state: LoopState = { step: 0, data: new DataOrder(records.length, cfg.seed), worldSize: world.size };
  if (resumeFrom) {
    restoreLoopState(resumeFrom, state, opt);
    log(`resuming from ${resumeFrom} at step ${state.step} (epoch ${state.data.progress.toFixed(3)})`);
  }
  const metrics = new MetricsLog(join(out, METRICS_FILE), world.isMain);
  metrics.truncateAfter(state.step);
  const pad = padTokenId(loaded.generationConfig, model.config);
  const ctx = {
    tokenizer: tokenizer!,
    preprocessor,
    imageRoot: cfg.image_root ?? ".",
    process: { maxPixels: cfg.max_pixels, minPixels: cfg.min_pixels, imageMaxPixels: cfg.max_pixels },
  };
  const cache = new ExampleCache<SftExample>();
  const example = (i: number) => cache.get(records[i]!.id, () => prepareSftExample(records[i]!, ctx, cfg.cutoff_len));
  const saveCtx = {
    out,
    model,
    startDir: cfg.model_name_or_path!,
    loaded,
    saveTotalLimit: cfg.save_total_limit,
    isMain: world.isMain,
  };
  const progress = new Progress({
    total,
    keys: ["loss", "learning_rate", "grad_norm", "tokens_per_second"],
    every: cfg.logging_steps,
    stream: o.stream,
    prefix: o.progressPrefix,
    enabled: world.isMain,
  });
  log(
    `sft: ${records.length} records, ${total} optimizer steps of ${accum} × ${B} records` +
      (world.size > 1 ? ` × ${world.size} ranks, ` : ", ") +
      `${params.length} trainable tensors (${params.reduce((a, [, p]) => a + p.numel, 0)} parameters)`,
  );
  const history: Metrics[] = [];

  // ---- the loop ----------------------------------------------------------------------------------------------------
  try {
    while (state.step < total) {
      const t0 = performance.now();
      let loss = 0;
      let tokens = 0;
      const mine = state.data.take(perStep).slice(world.rank * perRank, (world.rank + 1) * perRank);
      for (let micro = 0; micro < accum; micro++) {
        const examples = await Promise.all(mine.slice(micro * B, (micro + 1) * B).map(example));
        using batch = logProbBatch(
          examples.map((e) => ({ prompt: e.prompt, completion: e.target })),
          pad,
          model.dtype,
        );
        // Mean token cross-entropy of this micro-batch, averaged over the accumulation steps.
        autocast(
          () => {
            using lp = tokenLogProbs(model, batch);
            const l = tidy(() =>
              lp.logprobs
                .sum()
                .neg()
                .div(Math.max(1, batch.tokens) * accum),
            );
            l.backward();
            lp.backward();
            loss += l.item();
            l.dispose();
          },
          { enabled: cfg.bf16 },
        );
        tokens += batch.tokens;
      }
      // Data parallel: average the gradients (and the step's loss) over the ranks.
      allReduceGradients(
        world,
        params.map(([, p]) => p),
        cfg.ddp_bucket_cap_mb * 2 ** 20,
      );
      [loss, tokens] = world.reduceNumbers([loss / world.size, tokens]) as [number, number];
      const { gradNorm, lr } = optimizerStep({ model, params, optimizer: opt, cfg, schedule, state, loss, out });

      const seconds = (performance.now() - t0) / 1000;
      const m: Metrics = {
        step: state.step,
        epoch: state.data.progress,
        loss,
        learning_rate: lr,
        grad_norm: gradNorm,
        tokens_per_second: tokens / seconds,
        num_tokens: tokens,
        "time/step": seconds,
      };
      metrics.append(m);
      history.push(m);
      o.onStep?.(m);
      progress.update(state.step, m);
      if (state.step % cfg.save_steps === 0 && state.step < total) {
        const dir = await saveRunCheckpoint(saveCtx, state, opt);
        progress.log(`saved ${dir}`);
      }
    }
  } finally {
    progress.end();
  }
  await saveRunCheckpoint(saveCtx, state, opt); // the end state: a --resume of a finished run has nothing to do
  const final = await saveFinal(saveCtx);
  world.barrier(); // every rank ends after rank 0 wrote the final model
  log(`done: ${state.step} steps; final model in ${final}`);
  release(); // OUT's lock: the run is done
  opt.dispose();
  model.dispose();
  return { out, final, steps: state.step, metrics: history };
}
