/**
 * The GRPO math on fixed small tensors, against values worked out by hand (the formulas are in the comments).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as t from "../../src/tensor/index.ts";
import {
  ADVANTAGE_EPS,
  aggregateLoss,
  clippedPolicyLoss,
  entropyFromLogits,
  fracZeroStd,
  groupAdvantages,
  groupsWithVariance,
  grpoLoss,
  lengthMask,
  maskedMean,
  maskedSequenceMean,
  perTokenKl,
} from "../../src/train/rl_math.ts";
import { assertClose } from "../helpers.ts";

test("group advantages, reference scaling: (r − mean_g) / (unbiased std_g + 1e-4); equal rewards give 0", () => {
  // Group 1 = [1, 0]: mean 0.5, unbiased std sqrt((0.25 + 0.25) / 1) = sqrt(0.5). Group 2 = [0.5, 0.5]: std 0.
  const r = t.tensor([1, 0, 0.5, 0.5]);
  const { advantages, groupMean, groupStd } = groupAdvantages(r, 2);
  const a = 0.5 / (Math.SQRT1_2 + 1e-4);
  assertClose(advantages.toFloat32(), [a, -a, 0, 0], 1e-6);
  assertClose(groupMean.toFloat32(), [0.5, 0.5]);
  assertClose(groupStd.toFloat32(), [Math.SQRT1_2, 0], 1e-6);
  assert.equal(ADVANTAGE_EPS, 1e-4);
  // The 1e-4 is really there: without it the advantage would be exactly 0.5 / sqrt(0.5) = 0.70711.
  assert.ok(Math.abs(advantages.toFloat32()[0]! - 0.5 / Math.SQRT1_2) > 5e-5);
  assert.equal(fracZeroStd(groupStd), 0.5);
  // G = 3: [2, 0, 1] has mean 1 and unbiased variance (1 + 1 + 0) / 2 = 1 (a biased std would be sqrt(2/3)).
  const g3 = groupAdvantages(t.tensor([2, 0, 1]), 3);
  assertClose(g3.advantages.toFloat32(), [1 / 1.0001, -1 / 1.0001, 0], 1e-6);
});

test("group advantages, batch and no scaling", () => {
  const r = t.tensor([1, 0, 0.5, 0.5]);
  // batch: centred on the group mean, divided by the std of all four rewards: mean 0.5, var (0.25+0.25)/3 = 1/6.
  const sb = Math.sqrt(1 / 6) + 1e-4;
  assertClose(groupAdvantages(r, 2, "batch").advantages.toFloat32(), [0.5 / sb, -0.5 / sb, 0, 0], 1e-6);
  assertClose(groupAdvantages(r, 2, "none").advantages.toFloat32(), [0.5, -0.5, 0, 0], 1e-6);
  // The per-group std is returned whatever the scaling (for frac_reward_zero_std).
  assertClose(groupAdvantages(r, 2, "none").groupStd.toFloat32(), [Math.SQRT1_2, 0], 1e-6);
  assert.throws(() => groupAdvantages(r, 3), /groups × 3/);
  assert.throws(() => groupAdvantages(r, 1), /≥ 2/);
  assert.deepEqual(groupsWithVariance([1, 0, 0.5, 0.5, 0, 0, 1, 1], 2), [0]);
  assert.deepEqual(groupsWithVariance([1, 1, 0, 0, 1, 0, 0], 1).length, 0);
});

test("KL estimators k1, k2, k3", () => {
  // d = ref − logp = [−0.5, 1]
  const logp = t.tensor([-1, -2]);
  const ref = t.tensor([-1.5, -1]);
  assertClose(perTokenKl(logp, ref, "k1").toFloat32(), [0.5, -1], 1e-6);
  assertClose(perTokenKl(logp, ref, "k2").toFloat32(), [0.125, 0.5], 1e-6);
  assertClose(perTokenKl(logp, ref, "k3").toFloat32(), [Math.exp(-0.5) - 0.5, Math.E - 2], 1e-6);
  assertClose(perTokenKl(logp, ref).toFloat32(), [0.10653066, 0.71828183], 1e-6);
  // All three are 0 when the policies agree.
  for (const k of ["k1", "k2", "k3"] as const) assertClose(perTokenKl(logp, logp, k).toFloat32(), [0, 0]);
});

test("clipped policy loss: both clip sides, indicators and gradients", () => {
  const ratios = [0.5, 0.9, 1.1, 1.5];
  const old = t.tensor([
    [-1, -1, -1, -1],
    [-2, -2, -2, -2],
  ]);
  const logp = old
    .add(t.tensor(ratios.map(Math.log)).unsqueeze(0))
    .detach()
    .requiresGrad_(true);
  const adv = t.tensor([1, -1]);
  const out = clippedPolicyLoss(logp, old, adv, { epsilon: 0.2, epsilonHigh: 0.28 });
  // A = +1: −min(r, clip(r, 0.8, 1.28)); A = −1: −min(−r, −clip(r)) = max(r, clip(r)).
  assertClose(out.loss.toFloat32(), [-0.5, -0.9, -1.1, -1.28, 0.8, 0.9, 1.1, 1.5], 1e-6);
  assert.deepEqual(out.highClipped.toNumbers(), [0, 0, 0, 1, 0, 0, 0, 0]);
  assert.deepEqual(out.lowClipped.toNumbers(), [0, 0, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(out.regionClipped.toNumbers(), [0, 0, 0, 1, 1, 0, 0, 0]);
  // d(ratio)/d(logp) = ratio; a clipped branch has no gradient.
  out.loss.sum().backward();
  assertClose(logp.grad!.toFloat32(), [-0.5, -0.9, -1.1, 0, 0, 0.9, 1.1, 1.5], 1e-6);
  // Symmetric epsilon when epsilon_high is not given: 1.5 > 1.2 is clipped for A > 0.
  const sym = clippedPolicyLoss(logp, old, adv, { epsilon: 0.2 });
  assertClose(sym.loss.toFloat32().slice(0, 4), [-0.5, -0.9, -1.1, -1.2], 1e-6);
  assert.throws(() => clippedPolicyLoss(logp, old, adv, { epsilon: -0.1 }), /must be ≥ 0/);
});

test("on-policy (old = logp.detach()) the loss is the reference's −exp(logp − stopgrad(logp))·A", () => {
  const logp = t.tensor([[-0.3, -2.0, -1.2]]).requiresGrad_(true);
  const out = clippedPolicyLoss(logp, logp.detach(), t.tensor([0.7]), { epsilon: 0.2 });
  assertClose(out.loss.toFloat32(), [-0.7, -0.7, -0.7], 1e-6);
  assert.deepEqual(out.regionClipped.toNumbers(), [0, 0, 0]);
  out.loss.sum().backward();
  assertClose(logp.grad!.toFloat32(), [-0.7, -0.7, -0.7], 1e-6);
  // Even with a zero-width clip range the on-policy gradient flows (the clamp's bounds are inclusive).
  const p0 = t.tensor([[-0.3, -2.0]]).requiresGrad_(true);
  clippedPolicyLoss(p0, p0.detach(), t.tensor([0.7]), { epsilon: 0 })
    .loss.sum()
    .backward();
  assertClose(p0.grad!.toFloat32(), [-0.7, -0.7], 1e-6);
});

test("loss aggregations: grpo (sequence-mean), bnpo, dapo (token-mean), dr_grpo (constant-norm)", () => {
  const x = t.tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const m = t.tensor([
    [1, 1, 0],
    [1, 0, 0],
  ]);
  // grpo: mean of row means ((1 + 2) / 2, 4 / 1) = 2.75
  assertClose([aggregateLoss(x, m, { lossType: "grpo" }).item()], [2.75]);
  assertClose([aggregateLoss(x, m, { lossType: "grpo", gradientAccumulationSteps: 2 }).item()], [1.375]);
  // bnpo and dapo without totalTokens: (1 + 2 + 4) / 3
  assertClose([aggregateLoss(x, m, { lossType: "bnpo" }).item()], [7 / 3]);
  assertClose([aggregateLoss(x, m, { lossType: "dapo" }).item()], [7 / 3]);
  // dapo over a step of 10 tokens: 7 / 10 (summing the micro-batches gives the step's token mean)
  assertClose([aggregateLoss(x, m, { lossType: "dapo", totalTokens: 10, gradientAccumulationSteps: 4 }).item()], [0.7]);
  // dr_grpo: 7 / (B · max_completion_length) = 7 / (2 · 4)
  assertClose([aggregateLoss(x, m, { lossType: "dr_grpo", maxCompletionLength: 4 }).item()], [0.875]);
  assert.throws(() => aggregateLoss(x, m, { lossType: "dr_grpo" }), /maxCompletionLength/);
  // A row without tokens counts as 0 in the sequence mean (no NaN).
  const empty = t.tensor([
    [1, 1, 0],
    [0, 0, 0],
  ]);
  assertClose([aggregateLoss(x, empty, { lossType: "grpo" }).item()], [0.75]);
  assertClose(maskedSequenceMean(x, empty).toFloat32(), [1.5, 0]);
  assertClose([maskedMean(x, m).item()], [7 / 3]);
  // Bool masks work too.
  assertClose([aggregateLoss(x, m.gt(0), { lossType: "bnpo" }).item()], [7 / 3]);
});

test("grpoLoss: value, KL metric and gradient w.r.t. logp on a tiny case", () => {
  const logp = t
    .tensor([
      [-1, -2],
      [-0.5, -3],
    ])
    .requiresGrad_(true);
  const ref = t.tensor([
    [-1.5, -1],
    [-0.5, -2],
  ]);
  const adv = t.tensor([1, -2]);
  const mask = t.tensor([
    [1, 1],
    [1, 0],
  ]);
  const beta = 0.1;
  const out = grpoLoss({ logp, refLogp: ref, advantages: adv, mask }, { beta, epsilon: 0.2, lossType: "grpo" });
  // per-token loss l = −A·1 + β·k3, k3 = e^d − d − 1 with d = ref − logp.
  const k3 = (d: number) => Math.exp(d) - d - 1;
  const l00 = -1 + beta * k3(-0.5);
  const l01 = -1 + beta * k3(1);
  const l10 = 2 + beta * k3(0);
  assertClose([out.loss.item()], [((l00 + l01) / 2 + l10) / 2], 1e-6);
  assertClose([out.kl!.item()], [(k3(-0.5) + k3(1) + 0) / 3], 1e-6);
  assert.equal(out.clipRegion.item(), 0);
  // dl/dlogp = −A + β(1 − e^d), times mask / (tokens of the row · B).
  out.loss.backward();
  const g = (A: number, d: number) => -A + beta * (1 - Math.exp(d));
  assertClose(logp.grad!.toFloat32(), [g(1, -0.5) / 4, g(1, 1) / 4, g(-2, 0) / 2, 0], 1e-6);
  // beta = 0: no KL, no reference needed.
  const noKl = grpoLoss({ logp, advantages: adv, mask }, { beta: 0, epsilon: 0.2, lossType: "grpo" });
  assert.equal(noKl.kl, null);
  assertClose([noKl.loss.item()], [(-1 + 2) / 2], 1e-6);
  assert.throws(
    () => grpoLoss({ logp, advantages: adv, mask }, { beta: 0.1, epsilon: 0.2, lossType: "grpo" }),
    /refLogp/,
  );
});

test("grpoLoss with an old policy (num_iterations > 1) clips and reports clip ratios", () => {
  const old = t.tensor([[0, 0]]);
  const logp = t.tensor([[Math.log(1.5), Math.log(0.5)]]).requiresGrad_(true);
  const out = grpoLoss(
    { logp, oldLogp: old, advantages: t.tensor([1]), mask: t.tensor([[1, 1]]) },
    { beta: 0, epsilon: 0.2, lossType: "bnpo" },
  );
  // −min(1.5, 1.2) and −min(0.5, 0.8): mean −(1.2 + 0.5) / 2; the first token is high-clipped.
  assertClose([out.loss.item()], [-0.85], 1e-6);
  assertClose([out.clipHigh.item(), out.clipLow.item(), out.clipRegion.item()], [0.5, 0, 0.5]);
});

test("helpers: length mask, entropy, and no tensor leaks", () => {
  assert.deepEqual(lengthMask([2, 0, 3], 3).toNumbers(), [1, 1, 0, 0, 0, 0, 1, 1, 1]);
  assert.throws(() => lengthMask([4], 3), /not in \[0, 3\]/);
  // Uniform over 4 → ln 4; a one-hot-ish distribution → ≈ 0.
  assertClose(
    entropyFromLogits(
      t.tensor([
        [0, 0, 0, 0],
        [100, 0, 0, 0],
      ]),
    ).toFloat32(),
    [Math.log(4), 0],
    1e-5,
  );
  const logp = t.tensor([[-1, -2]]).requiresGrad_(true);
  const ref = t.tensor([[-1, -1]]);
  const adv = t.tensor([0.5]);
  const mask = t.tensor([[1, 1]]);
  t.expectNoLeaks(() => {
    const r = t.tidy(() => {
      const o = grpoLoss({ logp, refLogp: ref, advantages: adv, mask }, { beta: 0.04, epsilon: 0.2, lossType: "grpo" });
      const a = groupAdvantages(t.tensor([1, 0]), 2);
      return o.loss.item() + a.advantages.sum().item();
    });
    assert.ok(Number.isFinite(r));
  });
});

test("accumulation: 4 micro-batches of 1 give the gradient of one batch of 4 (grpo, dapo, dr_grpo)", () => {
  const init = [
    [-1, -2, -0.5],
    [-0.3, -1.5, -2.5],
    [-2, -0.1, -0.7],
    [-1.1, -0.9, -0.4],
  ];
  const ref = t.tensor([
    [-1.2, -1.8, -0.5],
    [-0.4, -1.0, -2.0],
    [-1.5, -0.3, -0.9],
    [-1.0, -1.0, -1.0],
  ]);
  const adv = t.tensor([1.5, -0.5, 0.25, -1.25]);
  const mask = t.tensor([
    [1, 1, 1],
    [1, 0, 0],
    [1, 1, 0],
    [1, 1, 1],
  ]);
  const totalTokens = 9;
  for (const lossType of ["grpo", "dapo", "dr_grpo"] as const) {
    const opts = { beta: 0.04, epsilon: 0.2, lossType, maxCompletionLength: 5 };
    const whole = t.tensor(init).requiresGrad_(true);
    grpoLoss({ logp: whole, refLogp: ref, advantages: adv, mask }, opts).loss.backward();
    const parts = t.tensor(init).requiresGrad_(true);
    for (let b = 0; b < 4; b++) {
      const row = (x: t.Tensor) => x.slice(0, b, b + 1);
      grpoLoss(
        { logp: row(parts), refLogp: row(ref), advantages: adv.slice(0, b, b + 1), mask: row(mask) },
        { ...opts, gradientAccumulationSteps: 4, totalTokens: lossType === "dapo" ? totalTokens : undefined },
      ).loss.backward();
    }
    assertClose(parts.grad!.toFloat32(), whole.grad!.toFloat32(), 1e-6, lossType);
    assert.ok(whole.grad!.abs().sum().item() > 0);
  }
});
