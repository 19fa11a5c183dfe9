/**
 * GRPO with verifiable rewards (spec §4): Reason-RFT-Zero (from the base model) and Reason-RFT's Stage 2 (from the
 * Stage-1 checkpoint).
 *
 * One generation round, read top to bottom in `step()` below:
 *   1. take P prompts (P = completions per step / G) and sample G completions each (the prompt is prefilled once and
 *      its KV cache shared; its image goes through the vision tower once);
 *   2. score them with the task's rewards (weighted sum), group-relative advantages;
 *      (dynamic sampling: drop groups whose rewards are all equal and sample more prompts to refill);
 *   3. log-probs of the sampled tokens under the rollout policy (when μ > 1) and the frozen reference (when β > 0),
 *      micro-batch by micro-batch, each batch built once and reused;
 *   4. μ optimizer steps over the same rollouts: per micro-batch the policy log-probs with autograd, the clipped
 *      surrogate + β·KL aggregated by `loss_type` (rl_math.ts), backward; then clip, AdamW, schedule.
 * Fixes of the reference's bugs (spec §4.4–4.9, §10): prompts, completions and answers share one ordering (prompt-
 * major groups); a completion ends at any stop id and nothing after it is scored or trained on; exactly G samples
 * per prompt; β = 0 loads no reference model.
 *
 * Exact resume: the data order is a function of (seed, epoch), rollouts are sampled from seeds derived from
 * (seed, step, prompt position), and checkpoints are taken between generation rounds.
 *
 * Data parallel (rft launch): the round's prompts are the global batch (per_device_train_batch_size ×
 * gradient_accumulation_steps / G prompts per rank); rank r generates and trains on its own contiguous slice, so a
 * group never spans ranks and its statistics stay per group; each prompt's samples come from its own seed, so the
 * rollouts do not depend on the number of ranks. Gradients are averaged across ranks before each optimizer step and
 * the metrics are computed over the whole round (rank 0 writes them).
 */
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { tensor, tidy, noGrad, autocast, type Tensor } from "../tensor/index.ts";
import { generate } from "../models/qwen2vl/generate.ts";
import { logProbBatch, type LogProbBatch } from "../models/qwen2vl/batch.ts";
import { tokenLogProbs } from "../models/qwen2vl/logprobs.ts";
import { loadCheckpoint, padTokenId, stopTokenIds } from "../models/qwen2vl/checkpoint.ts";
import type { Qwen2VLForConditionalGeneration } from "../models/qwen2vl/model.ts";
import { hash32 } from "../data/rng.ts";
import { RL_TASKS, type RlTask } from "../tasks/tasks.ts";
import type { ResolvedRun } from "./recipes.ts";
import { checkSequenceBudget, grpoBatchPlan, imageTokenBound, type GRPOConfig } from "./config.ts";
import { groupAdvantages, grpoLoss, fracZeroStd, groupsWithVariance } from "./rl_math.ts";
import { ExampleCache, checkRlRecords, prepareRlExample, readRecords, type RlExample } from "./samples.ts";
import { loadRewards, type LoadedRewards } from "./rewards.ts";
import { GrpoAlarms, MetricsLog, Progress, type Metrics } from "./metrics.ts";
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
import type { TrainOptions, TrainResult } from "./sft.ts";

/** One scored rollout: G completions of each of P prompts, prompt-major. */
interface Rollouts {
  examples: RlExample[];
  /** Per completion: its prompt example, ids (stop token included), text. */
  completions: { example: RlExample; ids: number[]; text: string; clipped: boolean }[];
  rewards: Record<string, (number | null)[]>;
  totals: number[];
  advantages: number[];
  groupStd: number[];
  /** Seconds spent scoring (the rest of the round is generation). */
  rewardSeconds: number;
}

/**
 * The seed of the samples of the prompt at position `position` of step `step`'s generation round `round`: a function
 * of the run's seed and these positions only (exact resume; the same rollouts on any number of ranks).
 */
export function rolloutSeed(seed: number, step: number, round = 0, position = 0): number {
  return hash32(`grpo-rollout/${seed}/${step}/${round}/${position}`);
}

export async function trainGrpo(run: ResolvedRun<"grpo">, o: TrainOptions = {}): Promise<TrainResult> {
  const cfg: GRPOConfig = run.config;
  const world = trainingWorld(cfg, o.world);
  const log = !world.isMain ? () => {} : (o.log ?? ((m: string) => process.stderr.write(m + "\n")));
  log(run.headline);

  // ---- set-up ------------------------------------------------------------------------------------------------------
  const task = cfg.task_name as RlTask | null;
  if (!task || !(task in RL_TASKS))
    throw new Error(`--task: GRPO needs a reward task (${Object.keys(RL_TASKS).join(", ")})`);
  const { out, resumeFrom, release } = openSharedRunDir(
    world,
    "grpo",
    cfg,
    { recipe: run.recipe.name, profile: run.profile, why: run.why },
    { resume: !!o.resume, inputs: [cfg.model_name_or_path, cfg.dataset_name, cfg.image_root, cfg.reward_module] },
  );
  const records = checkRlRecords(readRecords(cfg.dataset_name!, "RL"), cfg.dataset_name!);
  const rewards: LoadedRewards = await loadRewards(task, cfg);
  const loaded = await loadTrainingModel(cfg.model_name_or_path!, resumeFrom);
  const { model: policy, tokenizer, preprocessor } = loaded;
  checkSequenceBudget("grpo", cfg, {
    maxPositionEmbeddings: policy.config.max_position_embeddings,
    imageTokens: imageTokenBound(cfg.max_pixels, preprocessor.patch_size, preprocessor.merge_size),
  });
  // β = 0 needs no reference model; otherwise the start checkpoint, frozen (never the resume checkpoint).
  const ref: Qwen2VLForConditionalGeneration | null =
    cfg.beta > 0 ? (await loadCheckpoint(cfg.model_name_or_path!, { dtype: policy.dtype })).model.eval() : null;
  ref?.freeze();
  policy.train();
  broadcastParameters(world, policy.parameters());
  const params = trainableParameters(policy, { freeze_vision_tower: cfg.freeze_vision_tower });
  const opt = makeOptimizer(params, cfg);
  const plan = grpoBatchPlan(cfg);
  const G = cfg.num_generations;
  const rounds =
    cfg.max_steps > 0
      ? Math.ceil(cfg.max_steps / plan.stepsPerGeneration)
      : Math.ceil((cfg.num_train_epochs * records.length) / (plan.promptsPerStep * world.size));
  const total = cfg.max_steps > 0 ? cfg.max_steps : rounds * plan.stepsPerGeneration;
  const schedule = makeSchedule(cfg, total);
  const state: LoopState = { step: 0, data: new DataOrder(records.length, cfg.seed), worldSize: world.size };
  if (resumeFrom) {
    restoreLoopState(resumeFrom, state, opt);
    log(`resuming from ${resumeFrom} at step ${state.step} (epoch ${state.data.progress.toFixed(3)})`);
  }
  const metrics = new MetricsLog(join(out, METRICS_FILE), world.isMain);
  metrics.truncateAfter(state.step);
  const pad = padTokenId(loaded.generationConfig, policy.config);
  const stops = stopTokenIds(loaded.generationConfig, policy.config);
  const ctx = {
    tokenizer: tokenizer!,
    preprocessor,
    imageRoot: cfg.image_root ?? ".",
    process: { maxPixels: cfg.max_pixels, minPixels: cfg.min_pixels },
  };
  const cache = new ExampleCache<RlExample>();
  const example = (i: number) => cache.get(records[i]!.id, () => prepareRlExample(records[i]!, task, ctx));
  const saveCtx = {
    out,
    model: policy,
    startDir: cfg.model_name_or_path!,
    loaded,
    saveTotalLimit: cfg.save_total_limit,
    isMain: world.isMain,
  };
  const progress = new Progress({
    total,
    keys: ["reward", "loss", "kl", "completions/mean_length"],
    every: cfg.logging_steps,
    stream: o.stream,
    prefix: o.progressPrefix,
    enabled: world.isMain,
  });
  const alarms = new GrpoAlarms();
  log(
    `grpo: ${records.length} prompts, ${total} optimizer steps; each round ${world.size > 1 ? `${world.size} ranks × ` : ""}${plan.promptsPerStep} prompts × G ${G} = ${plan.completionsPerStep} completions in ${plan.microBatches} micro-batches of ${plan.completionsPerMicroBatch}, μ ${plan.stepsPerGeneration}; rewards ${rewards.names.join(" + ")}; ${ref ? `reference model (β ${cfg.beta})` : "no reference model (β 0)"}`,
  );
  const history: Metrics[] = [];

  /** 1–2: sample and score one round (with dynamic-sampling refills). */
  async function rollout(step: number): Promise<Rollouts> {
    const keptExamples: RlExample[] = [];
    const kept: Rollouts["completions"] = [];
    const keptRewards: Record<string, (number | null)[]> = Object.fromEntries(rewards.names.map((n) => [n, []]));
    const keptTotals: number[] = [];
    let need = plan.promptsPerStep;
    let rewardSeconds = 0;
    for (let round = 0; ; round++) {
      // The round's prompts across all ranks; this rank's are its slice (positions `first`…).
      const needs = world.gatherNumbers([need]).map((x) => x[0]!);
      if (needs.every((n) => n === 0)) break;
      const first = needs.slice(0, world.rank).reduce((a, b) => a + b, 0);
      const ids = state.data.take(needs.reduce((a, b) => a + b, 0)).slice(first, first + need);
      const examples = await Promise.all(ids.map(example));
      const gens = generate(
        policy,
        examples.map((e) => e.prompt),
        {
          numReturnSequences: G,
          maxNewTokens: cfg.max_completion_length,
          stopTokenIds: stops,
          padTokenId: pad,
          temperature: cfg.temperature,
          topP: cfg.top_p,
          topK: cfg.top_k,
          promptSeeds: examples.map((_, i) => rolloutSeed(cfg.seed, step, round, first + i)),
          tokenizer: tokenizer!,
        },
      );
      const comps = gens.map((g, i) => ({
        example: examples[Math.floor(i / G)]!,
        ids: g.ids,
        text: g.text ?? "",
        clipped: g.finishReason === "length",
      }));
      const tr = performance.now();
      const scored = await rewards.score(
        comps.map((c) => c.text),
        comps.map((c) => c.example),
        step,
        G,
      );
      rewardSeconds += (performance.now() - tr) / 1000;
      const last = !cfg.dynamic_sampling || round + 1 >= cfg.dynamic_sampling_max_rounds;
      const groups = cfg.dynamic_sampling && !last ? groupsWithVariance(scored.totals, G) : examples.map((_, g) => g);
      for (const g of groups.slice(0, need)) {
        keptExamples.push(examples[g]!);
        for (let k = g * G; k < (g + 1) * G; k++) {
          kept.push(comps[k]!);
          keptTotals.push(scored.totals[k]!);
          for (const n of rewards.names) keptRewards[n]!.push(scored.rewards[n]![k]!);
        }
      }
      need = plan.promptsPerStep - keptExamples.length;
      if (last) break;
    }
    const adv = tidy(() => {
      const a = groupAdvantages(tensor(keptTotals), G, cfg.scale_rewards);
      return { advantages: a.advantages.toNumbers(), groupStd: a.groupStd.toNumbers() };
    });
    return {
      examples: keptExamples,
      completions: kept,
      rewards: keptRewards,
      totals: keptTotals,
      ...adv,
      rewardSeconds,
    };
  }

  /** 3: the micro-batches of a round, built once; old-policy and reference log-probs without gradients. */
  function microBatches(r: Rollouts): { batch: LogProbBatch; old: Tensor | null; ref: Tensor | null; adv: Tensor }[] {
    const mb = plan.completionsPerMicroBatch;
    const out: { batch: LogProbBatch; old: Tensor | null; ref: Tensor | null; adv: Tensor }[] = [];
    for (let s = 0; s < r.completions.length; s += mb) {
      const rows = r.completions.slice(s, s + mb);
      const batch = logProbBatch(
        rows.map((c) => ({ prompt: c.example.prompt, completion: c.ids })),
        pad,
        policy.dtype,
        cfg.max_completion_length,
      );
      const pass = (m: Qwen2VLForConditionalGeneration) =>
        noGrad(() =>
          autocast(
            () => {
              using lp = tokenLogProbs(m, batch, { temperature: cfg.temperature });
              return lp.logprobs.alias();
            },
            { enabled: cfg.bf16 },
          ),
        );
      out.push({
        batch,
        old: plan.stepsPerGeneration > 1 ? pass(policy) : null,
        ref: ref ? pass(ref) : null,
        adv: tensor(r.advantages.slice(s, s + mb)),
      });
    }
    return out;
  }

  // ---- the loop: one generation round, then μ optimizer steps over it -------------------------------------------------
  try {
    while (state.step < total) {
      const t0 = performance.now();
      const r = await rollout(state.step);
      const t1 = performance.now();
      const mbs = microBatches(r);
      const all = gatherRound(world, r, rewards.names); // the whole round's numbers, for the metrics
      // dapo normalises by the round's tokens on all ranks; averaging over ranks divides by the world size again.
      const totalTokens = all.lengths.reduce((a, b) => a + b, 0) / world.size;
      const t2 = performance.now();
      try {
        for (let it = 0; it < plan.stepsPerGeneration && state.step < total; it++) {
          const t3 = performance.now();
          let loss = 0;
          let kl = 0;
          let clip = 0;
          let entropy = 0;
          for (const mb of mbs) {
            autocast(
              () => {
                using lp = tokenLogProbs(policy, mb.batch, { temperature: cfg.temperature, entropy: it === 0 });
                const l = grpoLoss(
                  {
                    logp: lp.logprobs,
                    oldLogp: mb.old,
                    refLogp: mb.ref,
                    advantages: mb.adv,
                    mask: mb.batch.completionMask,
                  },
                  {
                    beta: cfg.beta,
                    klEstimator: cfg.kl_estimator,
                    epsilon: cfg.epsilon,
                    epsilonHigh: cfg.epsilon_high,
                    lossType: cfg.loss_type,
                    maxCompletionLength: cfg.max_completion_length,
                    gradientAccumulationSteps: mbs.length,
                    totalTokens,
                  },
                );
                l.loss.backward();
                lp.backward();
                loss += l.loss.item();
                kl += (l.kl?.item() ?? 0) / mbs.length;
                clip += l.clipRegion.item() / mbs.length;
                if (lp.entropy)
                  entropy +=
                    tidy(() => lp.entropy!.sum().div(mb.batch.completionMask.sum().clamp(1)).item()) / mbs.length;
                for (const x of [l.loss, l.kl, l.clipLow, l.clipHigh, l.clipRegion]) x?.dispose();
              },
              { enabled: cfg.bf16 },
            );
          }
          allReduceGradients(
            world,
            params.map(([, p]) => p),
            cfg.ddp_bucket_cap_mb * 2 ** 20,
          );
          [loss, kl, clip, entropy] = world.reduceNumbers([loss, kl, clip, entropy]).map((x) => x / world.size) as [
            number,
            number,
            number,
            number,
          ];
          const { gradNorm, lr } = optimizerStep({
            model: policy,
            params,
            optimizer: opt,
            cfg,
            schedule,
            state,
            loss,
            out,
          });
          const t4 = performance.now();

          const lengths = all.lengths;
          const m: Metrics = {
            step: state.step,
            epoch: state.data.progress,
            loss,
            learning_rate: lr,
            grad_norm: gradNorm,
            tokens_per_second: lengths.reduce((a, b) => a + b, 0) / ((t4 - t0) / 1000),
            reward: mean(all.totals),
            reward_std: mean(all.groupStd),
            ...Object.fromEntries(
              rewards.names.map((n) => [`rewards/${n}/mean`, mean(all.rewards[n]!.filter((v) => !Number.isNaN(v)))]),
            ),
            kl,
            "completions/mean_length": mean(lengths),
            "completions/max_length": Math.max(...lengths),
            "completions/clipped_ratio": mean(all.clipped),
            "clip_ratio/region_mean": clip,
            frac_reward_zero_std: fracZeroStdOf(all.groupStd),
            ...(it === 0 ? { entropy } : {}),
            "time/generate": it === 0 ? (t1 - t0) / 1000 - r.rewardSeconds : 0,
            "time/reward": it === 0 ? r.rewardSeconds : 0,
            "time/logprob": it === 0 ? (t2 - t1) / 1000 : 0,
            "time/update": (t4 - t3) / 1000,
          };
          metrics.append(m);
          history.push(m);
          o.onStep?.(m);
          progress.update(state.step, m);
          for (const a of alarms.check({
            rewards: Object.fromEntries(rewards.names.map((n) => [n, m[`rewards/${n}/mean`]!])),
            fracZeroStd: m.frac_reward_zero_std!,
            clippedRatio: m["completions/clipped_ratio"]!,
          }))
            progress.log(a);
        }
      } finally {
        for (const mb of mbs) {
          mb.batch[Symbol.dispose]();
          mb.old?.dispose();
          mb.ref?.dispose();
          mb.adv.dispose();
        }
      }
      // Checkpoints fall between rounds (a round's rollouts are not saved).
      if (
        Math.floor(state.step / cfg.save_steps) > Math.floor((state.step - plan.stepsPerGeneration) / cfg.save_steps) &&
        state.step < total
      ) {
        const dir = await saveRunCheckpoint(saveCtx, state, opt);
        progress.log(`saved ${dir}`);
      }
    }
  } finally {
    progress.end();
  }
  await saveRunCheckpoint(saveCtx, state, opt);
  const final = await saveFinal(saveCtx);
  world.barrier(); // every rank ends after rank 0 wrote the final model
  log(`done: ${state.step} steps; final model in ${final}`);
  release(); // OUT's lock: the run is done
  opt.dispose();
  policy.dispose();
  ref?.dispose();
  return { out, final, steps: state.step, metrics: history };
}

/** A round's per-completion numbers from every rank, in rank order (= one process's order); null rewards → NaN. */
function gatherRound(world: World, r: Rollouts, names: readonly string[]) {
  const cat = (xs: readonly number[]) => world.gatherNumbers(xs).flat();
  return {
    totals: cat(r.totals),
    groupStd: cat(r.groupStd),
    lengths: cat(r.completions.map((c) => c.ids.length)),
    clipped: cat(r.completions.map((c) => (c.clipped ? 1 : 0))),
    rewards: Object.fromEntries(names.map((n) => [n, cat(r.rewards[n]!.map((v) => v ?? NaN))])),
  };
}

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

function fracZeroStdOf(groupStd: readonly number[]): number {
  return tidy(() => fracZeroStd(tensor(groupStd.length ? [...groupStd] : [0])));
}
