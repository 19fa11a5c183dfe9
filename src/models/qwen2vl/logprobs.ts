/**
 * Per-token log-probs of completions (GRPO's policy, old-policy and reference passes, spec §4.6), bounded in memory
 * for any vocabulary.
 *
 * The trunk runs once (`forwardHidden`, final-normed hidden states of the completion positions only); the output
 * projection and log-softmax are then applied over chunks of positions, gathering only the chosen token's log-prob
 * (and the entropy, a metric). A 152k vocabulary never materialises `[b, C, V]` floats:
 * - without gradients each chunk's logits are freed before the next chunk;
 * - with gradients, when the micro-batch's logits fit `chunkBytes` the chunk graph is kept (plain autograd); when
 *   they do not, the result is a leaf and `backward()` recomputes each chunk's logits with autograd, pushes
 *   `dLoss/dlogp` through the LM head chunk by chunk, then through the trunk. Call it after `loss.backward()`:
 *
 *     using lp = tokenLogProbs(policy, batch, { temperature });
 *     const loss = grpoLoss(lp.logprobs, ...);
 *     loss.backward();
 *     lp.backward();      // no-op when the graph was kept
 *
 * One micro-batch per call: the caller decides how long the graph lives.
 */
import { Tensor, tidy, keep, noGrad, enableGrad, isGradEnabled, linear, cat } from "../../tensor/index.ts";
import type { Qwen2VLForConditionalGeneration } from "./model.ts";
import type { LogProbBatch } from "./batch.ts";

export interface TokenLogProbOptions {
  /** Divide logits by this before the softmax (TRL does so with the sampling temperature); default 1. */
  temperature?: number;
  /** Bytes of float32 logits held at once (per chunk of positions); default 64 MiB. */
  chunkBytes?: number;
  /** Also compute the per-token entropy of the (tempered) distribution, without gradients; default false. */
  entropy?: boolean;
}

export interface TokenLogProbs extends Disposable {
  /** [b, C] float32 log p of each completion token (0 where the mask is 0). */
  logprobs: Tensor;
  /** [b, C] float32 entropy (0 where masked), when asked for. */
  entropy: Tensor | null;
  /** Positions per LM-head chunk that were used. */
  chunkPositions: number;
  /** True when `backward()` has work to do (the recomputing path). */
  readonly recomputes: boolean;
  /** Propagates `logprobs.grad` into the model (recomputing path); a no-op otherwise. */
  backward(): void;
  dispose(): void;
}

/** Positions per chunk so that a chunk's float32 logits (and the softmax/entropy temporaries, about 6 of them) fit the budget. */
export function positionsPerChunk(rows: number, vocab: number, chunkBytes: number): number {
  return Math.max(1, Math.floor(chunkBytes / (rows * vocab * 4 * 6)));
}

/** log p(chosen) and entropy for hidden [b, n, H]; ids [b, n]. */
function headChunk(
  hidden: Tensor,
  weight: Tensor,
  ids: Tensor,
  temperature: number,
  withEntropy: boolean,
): [Tensor, Tensor | null] {
  let logits = linear(hidden, weight).to("float32"); // [b, n, V]
  if (temperature !== 1) logits = logits.div(temperature);
  const lse = logits.logsumexp(-1); // [b, n]
  const chosen = logits.gather(2, ids.unsqueeze(-1)).squeeze(-1);
  const lp = chosen.sub(lse);
  let ent: Tensor | null = null;
  if (withEntropy)
    ent = noGrad(() => {
      const d = logits.detach();
      // H = lse − Σ p·logit
      return lse.detach().sub(d.softmax(-1).mul(d).sum(-1));
    });
  return [lp, ent];
}

/** Per-token log-probs of a log-prob batch; see the module comment. */
export function tokenLogProbs(
  model: Qwen2VLForConditionalGeneration,
  batch: LogProbBatch,
  o: TokenLogProbOptions = {},
): TokenLogProbs {
  const temperature = o.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`tokenLogProbs: temperature must be > 0 (got ${temperature})`);
  const [b, C] = batch.completionIds.shape as [number, number];
  const P = batch.promptColumns;
  const V = model.config.vocab_size;
  const chunk = Math.min(C, positionsPerChunk(b, V, o.chunkBytes ?? 64 * 2 ** 20));
  const grad = isGradEnabled();
  const W = model.outputWeight;
  const device = model.device;
  const ids = keep(batch.completionIds.to({ device }));
  const mask = keep(batch.completionMask.to({ device }));

  const hidden = keep(
    tidy(
      () =>
        model.forwardHidden(
          {
            inputIds: batch.inputIds,
            attentionMask: batch.attentionMask,
            pixelValues: batch.pixelValues,
            imageGridThw: batch.imageGridThw,
            imageSource: batch.imageSource,
            sampleIds: batch.sampleIds,
            promptColumns: P,
          },
          { logitsRange: [P - 1, P + C - 1] }, // hidden at t predicts token t + 1: the C completion tokens
        ).hidden,
    ),
  ); // [b, C, H]

  let leaf: Tensor | null = null; // detached hidden, the recomputing path's cut point
  let logprobs: Tensor;
  let entropy: Tensor | null = null;
  const recomputes = grad && chunk < C;
  if (grad && !recomputes) {
    // Fits in one chunk: plain autograd through the head.
    [logprobs, entropy] = tidy(() => {
      const [lp, ent] = headChunk(hidden, W, ids, temperature, !!o.entropy);
      return [lp.mul(mask), ent ? ent.mul(mask) : null];
    });
  } else {
    if (recomputes) leaf = keep(noGrad(() => hidden.detach()).requiresGrad_(true));
    const parts: Tensor[] = [];
    const ents: Tensor[] = [];
    noGrad(() => {
      for (let s = 0; s < C; s += chunk) {
        const n = Math.min(chunk, C - s);
        const [lp, ent] = tidy(() =>
          headChunk(hidden.narrow(1, s, n), W, ids.narrow(1, s, n), temperature, !!o.entropy),
        );
        parts.push(lp);
        if (ent) ents.push(ent);
      }
    });
    [logprobs, entropy] = tidy(() => {
      const lp = (parts.length === 1 ? parts[0]!.alias() : cat(parts, 1)).mul(mask);
      const ent = ents.length ? (ents.length === 1 ? ents[0]!.alias() : cat(ents, 1)).mul(mask) : null;
      return [lp, ent];
    });
    for (const t of [...parts, ...ents]) t.dispose();
    if (recomputes) logprobs.requiresGrad_(true);
    else {
      hidden.dispose(); // no graph to keep: the trunk's activations can go now
    }
  }

  let disposed = false;
  const result: TokenLogProbs = {
    logprobs,
    entropy,
    chunkPositions: chunk,
    recomputes,
    backward() {
      if (!recomputes || disposed) return;
      const g = logprobs.grad;
      if (!g) return; // the loss did not use the log-probs
      try {
        enableGrad(() => {
          for (let s = 0; s < C; s += chunk) {
            const n = Math.min(chunk, C - s);
            tidy(() => {
              const [lp] = headChunk(leaf!.narrow(1, s, n), W, ids.narrow(1, s, n), temperature, false);
              lp.mul(g.narrow(1, s, n).mul(mask.narrow(1, s, n)))
                .sum()
                .backward();
            });
          }
          const gh = leaf!.grad;
          if (gh) {
            hidden.backward(gh);
            gh.dispose();
          }
        });
      } finally {
        g.dispose();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const t of [logprobs, entropy, leaf, hidden, ids, mask]) if (t && !t.isDisposed) t.dispose();
    },
    [Symbol.dispose]() {
      result.dispose();
    },
  };
  return result;
}
