/**
 * The GRPO math as small pure functions on tensors (spec §4.7–4.9, DESIGN.md "Training"): group-relative
 * advantages, per-token KL estimators, the PPO-clipped surrogate, and the loss aggregations. No model, no data, no
 * state: every function takes tensors and returns new tensors (owned by the caller), with its temporaries freed by
 * `tidy`. The trainer's step composes them in `grpoLoss` (the last function of this file).
 *
 * Shapes, throughout:
 *   N = groups × G completions, in contiguous groups ([p1×G, p2×G, …]: the G samples of a prompt are adjacent);
 *   B = completions in a micro-batch, C = completion width (padded), so log-probs and masks are [B, C];
 *   mask[b, t] = 1 for the completion's tokens (its stop token included), 0 for padding after it.
 *
 * One GRPO step uses them like this (config fields in snake_case):
 *   const adv = groupAdvantages(tensor(totalRewards), num_generations, scale_rewards); // once per generation batch
 *   // then per micro-batch of rows [i, i + B); oldLogp only when num_iterations > 1, refLogp only when beta > 0,
 *   // totalTokens (completion tokens of the whole step) only for loss_type "dapo":
 *   const out = grpoLoss(
 *     { logp, oldLogp, refLogp, advantages: adv.advantages.slice(0, i, i + B), mask },
 *     { beta, klEstimator: kl_estimator, epsilon, epsilonHigh: epsilon_high, lossType: loss_type,
 *       maxCompletionLength: max_completion_length, gradientAccumulationSteps: gradient_accumulation_steps,
 *       totalTokens },
 *   );
 *   out.loss.backward();
 *
 * Option values are TRL's (GRPOConfig `scale_rewards`, `loss_type`) so settings carry over; docs/training.md has the
 * formulas and the mapping to the names of issue 9 (sequence-mean = "grpo", token-mean = "dapo", constant-norm =
 * "dr_grpo").
 */
import { Tensor, tensor, tidy } from "../tensor/index.ts";

/** How the group-centred rewards are divided (TRL `scale_rewards`). */
export type ScaleRewards = "group" | "batch" | "none";
/** Per-token KL estimator between the policy and the reference (Schulman's k1, k2, k3). */
export type KlEstimator = "k1" | "k2" | "k3";
/** How per-token losses become one number (TRL `loss_type`). */
export type LossType = "grpo" | "bnpo" | "dapo" | "dr_grpo";

/** The reference's advantage epsilon: A = (r − mean) / (std + 1e-4) (spec §4.8, TRL uses the same). */
export const ADVANTAGE_EPS = 1e-4;

// ---- advantages ---------------------------------------------------------------------------------------------------

export interface GroupAdvantages {
  /** [N] advantage of each completion (float32), to be used as a constant (no grad flows into rewards). */
  advantages: Tensor;
  /** [N/G] mean reward of each group. */
  groupMean: Tensor;
  /** [N/G] unbiased (G − 1) standard deviation of each group, whatever `scaleRewards` is (zero-variance counting). */
  groupStd: Tensor;
}

/**
 * Group-relative advantages from the total rewards `rewards` [N] of N = groups × G completions in contiguous groups.
 *
 *   "group" (the reference, spec §4.8): A_i = (r_i − mean_g) / (std_g + 1e-4), std unbiased (divisor G − 1);
 *   "batch": A_i = (r_i − mean_g) / (std_batch + 1e-4), std over all N rewards (unbiased), as TRL's "batch";
 *   "none":  A_i = r_i − mean_g (Dr. GRPO: no std scaling).
 *
 * A group whose rewards are all equal gets A = 0 in every mode. G must be ≥ 2 (the unbiased std needs it).
 *
 * @example
 * groupAdvantages(tensor([1, 0, 0.5, 0.5]), 2).advantages; // ≈ [0.70706, -0.70706, 0, 0]
 */
export function groupAdvantages(
  rewards: Tensor,
  numGenerations: number,
  scaleRewards: ScaleRewards = "group",
): GroupAdvantages {
  const G = numGenerations;
  if (!Number.isInteger(G) || G < 2)
    throw new Error(`groupAdvantages: num_generations must be an integer ≥ 2, got ${G}`);
  if (rewards.ndim !== 1 || rewards.size(0) % G !== 0 || rewards.size(0) === 0)
    throw new Error(`groupAdvantages: rewards must be [groups × ${G}], got [${rewards.shape.join(", ")}]`);
  return tidy(() => {
    const r = rewards.float();
    const grouped = r.view(-1, G); // [groups, G]
    const groupMean = grouped.mean(1); // [groups]
    const groupStd = grouped.var(1, 1).sqrt(); // [groups], unbiased
    const centred = grouped.sub(groupMean.unsqueeze(1)); // [groups, G]
    let adv: Tensor;
    if (scaleRewards === "group") adv = centred.div(groupStd.unsqueeze(1).add(ADVANTAGE_EPS));
    else if (scaleRewards === "batch") adv = centred.div(r.var(undefined, 1).sqrt().add(ADVANTAGE_EPS));
    else if (scaleRewards === "none") adv = centred;
    else throw new Error(`groupAdvantages: unknown scale_rewards ${JSON.stringify(scaleRewards)}`);
    return { advantages: adv.reshape(-1), groupMean, groupStd };
  });
}

/**
 * Fraction of groups whose rewards have zero spread (TRL's `frac_reward_zero_std`, computed per group as TRL does
 * under "group" scaling). Such groups carry no policy gradient; only the KL term acts on them. A host sync.
 */
export function fracZeroStd(groupStd: Tensor): number {
  return tidy(() => groupStd.le(1e-8).float().mean().item());
}

/**
 * Indices of the groups with a non-zero reward spread, from plain reward numbers (N = groups × G, contiguous):
 * what dynamic sampling keeps (DAPO drops the zero-variance groups and samples more prompts to refill the batch).
 */
export function groupsWithVariance(rewards: readonly number[], numGenerations: number): number[] {
  const G = numGenerations;
  if (rewards.length % G !== 0) throw new Error(`groupsWithVariance: ${rewards.length} rewards for groups of ${G}`);
  const keep: number[] = [];
  for (let g = 0; g < rewards.length / G; g++) {
    const group = rewards.slice(g * G, (g + 1) * G);
    if (group.some((x) => x !== group[0])) keep.push(g);
  }
  return keep;
}

// ---- KL -----------------------------------------------------------------------------------------------------------

/**
 * Per-token KL estimate between the policy and the reference from the log-probs of the sampled tokens ([B, C] each).
 * With d = refLogp − logp (= log of π_ref/π at the sampled token):
 *   k1 = −d                  (unbiased, can be negative)
 *   k2 = d² / 2              (biased, ≥ 0)
 *   k3 = exp(d) − d − 1      (unbiased, ≥ 0; the reference's, spec §4.7, and TRL's)
 * The gradient flows through `logp` (and `refLogp` if it requires grad, which it should not).
 */
export function perTokenKl(logp: Tensor, refLogp: Tensor, estimator: KlEstimator = "k3"): Tensor {
  return tidy(() => {
    const d = refLogp.sub(logp);
    switch (estimator) {
      case "k1":
        return d.neg();
      case "k2":
        return d.square().mul(0.5);
      case "k3":
        return d.exp().sub(d).sub(1);
      default:
        throw new Error(`perTokenKl: unknown kl estimator ${JSON.stringify(estimator)}`);
    }
  });
}

// ---- clipped surrogate --------------------------------------------------------------------------------------------

export interface ClipOptions {
  /** ε_low: the ratio is clipped below at 1 − epsilon (TRL `epsilon`, default 0.2). */
  epsilon: number;
  /** ε_high: clipped above at 1 + epsilonHigh (TRL `epsilon_high`; DAPO's clip-higher uses 0.28); null = epsilon. */
  epsilonHigh?: number | null;
}

export interface PolicyLoss {
  /** [B, C] per-token policy loss −min(ratio·A, clip(ratio, 1 − ε_low, 1 + ε_high)·A) (with grad through logp). */
  loss: Tensor;
  /** [B, C] float, 1 where the lower clip is active: ratio < 1 − ε_low and A < 0 (TRL clip_ratio/low). */
  lowClipped: Tensor;
  /** [B, C] float, 1 where the upper clip is active: ratio > 1 + ε_high and A > 0 (TRL clip_ratio/high). */
  highClipped: Tensor;
  /** [B, C] float, low or high (TRL clip_ratio/region). */
  regionClipped: Tensor;
}

/**
 * The PPO-clipped policy loss per token (the negated surrogate). `logp` [B, C] are the current policy's log-probs of
 * the sampled tokens (with grad), `oldLogp` [B, C] those at rollout time (no grad), `advantages` [B] (or [B, 1]).
 * ratio = exp(logp − oldLogp).
 *
 * With one policy epoch per rollout (num_iterations = 1) pass `oldLogp = logp.detach()`: the ratio is exactly 1, no
 * clip is active, and the loss is the reference's −exp(logp − stopgrad(logp))·A, whose gradient is −A·∇logp
 * (spec §4.9).
 */
export function clippedPolicyLoss(logp: Tensor, oldLogp: Tensor, advantages: Tensor, o: ClipOptions): PolicyLoss {
  const epsLow = o.epsilon;
  const epsHigh = o.epsilonHigh ?? o.epsilon;
  if (!(epsLow >= 0) || !(epsHigh >= 0))
    throw new Error(`clippedPolicyLoss: epsilon (${epsLow}) and epsilon_high (${epsHigh}) must be ≥ 0`);
  return tidy(() => {
    const A = advantages.ndim === 1 ? advantages.unsqueeze(1) : advantages; // [B, 1]
    const ratio = logp.sub(oldLogp).exp(); // [B, C]
    const clipped = ratio.clamp(1 - epsLow, 1 + epsHigh);
    const loss = ratio.mul(A).minimum(clipped.mul(A)).neg();
    const r = ratio.detach();
    const lowClipped = r
      .lt(1 - epsLow)
      .logicalAnd(A.lt(0))
      .float();
    const highClipped = r
      .gt(1 + epsHigh)
      .logicalAnd(A.gt(0))
      .float();
    const regionClipped = lowClipped.maximum(highClipped);
    return { loss, lowClipped, highClipped, regionClipped };
  });
}

// ---- masked reductions and aggregation ----------------------------------------------------------------------------

/** Σ x·mask / max(Σ mask, 1): a scalar mean over the unmasked entries (0 when there are none). */
export function maskedMean(x: Tensor, mask: Tensor): Tensor {
  return tidy(() => {
    const m = mask.to(x.dtype);
    return x.mul(m).sum().div(m.sum().clamp(1));
  });
}

/** Per-row mean over the unmasked tokens of [B, C] → [B] (rows with no tokens give 0). */
export function maskedSequenceMean(x: Tensor, mask: Tensor): Tensor {
  return tidy(() => {
    const m = mask.to(x.dtype);
    return x.mul(m).sum(-1).div(m.sum(-1).clamp(1));
  });
}

export interface AggregateOptions {
  lossType: LossType;
  /** dr_grpo's constant: the configured max_completion_length (not the batch's actual width). */
  maxCompletionLength?: number;
  /**
   * Micro-batches per optimizer step. "grpo", "bnpo" and "dr_grpo" divide by it, so the gradients accumulated over
   * the step are those of the mean over micro-batches (default 1).
   */
  gradientAccumulationSteps?: number;
  /**
   * "dapo" only: the number of completion tokens in the whole optimizer step (all micro-batches), so that the sum of
   * the micro-batch losses is the token mean over the step (TRL's `num_items_in_batch`). When omitted, "dapo" falls
   * back to this micro-batch's token mean divided by gradientAccumulationSteps (the same as "bnpo").
   */
  totalTokens?: number;
}

/**
 * One micro-batch's loss from per-token losses [B, C] and the completion mask [B, C], such that backpropagating each
 * micro-batch's value and summing the gradients gives the optimizer step's gradient:
 *
 *   "grpo"    (sequence-mean, the reference, spec §4.9): mean_b( Σ_t l·m / Σ_t m ) / accumulation
 *   "bnpo"    (token mean per micro-batch):              Σ l·m / Σ m / accumulation
 *   "dapo"    (token-mean over the step, DAPO):          Σ l·m / totalTokens
 *   "dr_grpo" (constant-norm, Dr. GRPO):                 Σ l·m / (B · maxCompletionLength) / accumulation
 */
export function aggregateLoss(perToken: Tensor, mask: Tensor, o: AggregateOptions): Tensor {
  const accum = o.gradientAccumulationSteps ?? 1;
  if (!(Number.isInteger(accum) && accum >= 1))
    throw new Error(`aggregateLoss: gradientAccumulationSteps must be an integer ≥ 1, got ${accum}`);
  return tidy(() => {
    const m = mask.to(perToken.dtype);
    const masked = perToken.mul(m);
    switch (o.lossType) {
      case "grpo":
        return masked.sum(-1).div(m.sum(-1).clamp(1)).mean().div(accum);
      case "bnpo":
        return masked.sum().div(m.sum().clamp(1)).div(accum);
      case "dapo": {
        if (o.totalTokens !== undefined) {
          if (!(o.totalTokens > 0)) throw new Error(`aggregateLoss: totalTokens must be > 0, got ${o.totalTokens}`);
          return masked.sum().div(o.totalTokens);
        }
        return masked.sum().div(m.sum().clamp(1)).div(accum);
      }
      case "dr_grpo": {
        const L = o.maxCompletionLength;
        if (L === undefined || !(L > 0))
          throw new Error(`aggregateLoss: loss_type "dr_grpo" needs maxCompletionLength > 0, got ${L}`);
        return masked.sum().div(perToken.size(0) * L * accum);
      }
      default:
        throw new Error(`aggregateLoss: unknown loss_type ${JSON.stringify(o.lossType)}`);
    }
  });
}

// ---- helpers for the step -----------------------------------------------------------------------------------------

/** [B, C] float32 mask with mask[b, t] = 1 for t < lengths[b] (completions right-padded to width C). */
export function lengthMask(lengths: readonly number[], width: number): Tensor {
  const data = new Float32Array(lengths.length * width);
  lengths.forEach((n, b) => {
    if (!(Number.isInteger(n) && n >= 0 && n <= width))
      throw new Error(`lengthMask: length ${n} of row ${b} is not in [0, ${width}]`);
    data.fill(1, b * width, b * width + n);
  });
  return tensor(data, { shape: [lengths.length, width] });
}

/**
 * Entropy of the categorical distribution at each position, from logits [..., V] → [...]:
 * H = logsumexp(l) − Σ softmax(l)·l (TRL logs its masked mean as `entropy`). No grad is needed for logging:
 * call it under noGrad.
 */
export function entropyFromLogits(logits: Tensor): Tensor {
  return tidy(() => {
    const l = logits.float();
    return l.logsumexp(-1).sub(l.softmax(-1).mul(l).sum(-1));
  });
}

// ---- the composed loss --------------------------------------------------------------------------------------------

export interface GrpoLossInputs {
  /** [B, C] policy log-probs of the sampled tokens, with grad. */
  logp: Tensor;
  /** [B, C] log-probs at rollout time (num_iterations > 1); null/undefined → logp.detach() (on-policy). */
  oldLogp?: Tensor | null;
  /** [B, C] reference-model log-probs; required when beta > 0, ignored when beta = 0. */
  refLogp?: Tensor | null;
  /** [B] advantages of the micro-batch's completions. */
  advantages: Tensor;
  /** [B, C] completion mask. */
  mask: Tensor;
}

export interface GrpoLossOptions extends ClipOptions, AggregateOptions {
  /** KL coefficient β; 0 skips the KL term (and needs no reference log-probs). */
  beta: number;
  klEstimator?: KlEstimator;
}

export interface GrpoLoss {
  /** Scalar micro-batch loss with grad: call backward() on it (scaled for accumulation, see aggregateLoss). */
  loss: Tensor;
  /** Scalar masked mean of the per-token KL (detached), null when beta = 0 (TRL `kl`). */
  kl: Tensor | null;
  /** Scalar masked means of the clip indicators (TRL `clip_ratio/low_mean`, `/high_mean`, `/region_mean`). */
  clipLow: Tensor;
  clipHigh: Tensor;
  clipRegion: Tensor;
}

/**
 * The GRPO loss of one micro-batch: per-token loss = −min(ratio·A, clip(ratio)·A) + β·KL, aggregated by `lossType`.
 * With the defaults of the reference (num_iterations 1, β 0.04, k3, "grpo") this is spec §4.9 exactly.
 */
export function grpoLoss(x: GrpoLossInputs, o: GrpoLossOptions): GrpoLoss {
  if (o.beta > 0 && !x.refLogp) throw new Error("grpoLoss: beta > 0 needs the reference log-probs (refLogp)");
  return tidy(() => {
    const old = x.oldLogp ?? x.logp.detach();
    const pol = clippedPolicyLoss(x.logp, old, x.advantages, o);
    let perToken = pol.loss;
    let kl: Tensor | null = null;
    if (o.beta > 0) {
      const k = perTokenKl(x.logp, x.refLogp!, o.klEstimator ?? "k3");
      perToken = perToken.add(k.mul(o.beta));
      kl = maskedMean(k.detach(), x.mask);
    }
    return {
      loss: aggregateLoss(perToken, x.mask, o),
      kl,
      clipLow: maskedMean(pol.lowClipped, x.mask),
      clipHigh: maskedMean(pol.highClipped, x.mask),
      clipRegion: maskedMean(pol.regionClipped, x.mask),
    };
  });
}
