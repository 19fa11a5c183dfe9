/**
 * Data parallelism the way PyTorch's DistributedDataParallel does it, as two small functions the training loops
 * call: the parameters are broadcast from rank 0 once at start, and before each optimizer step the gradients are
 * averaged across ranks in buckets (flattened into ~bucket_cap_mb tensors, one all-reduce per bucket). After that
 * every rank holds the same gradients, so clipping and AdamW keep the replicas identical without further traffic.
 *
 * Averaging matches one process with W× the gradient accumulation when each rank normalises its loss by its own
 * micro-batch count (HF's global batch = per_device_train_batch_size × gradient_accumulation_steps × world size).
 */
import { cat, tidy, zerosLike, DTYPE_BYTES, type Tensor } from "../tensor/index.ts";
import type { World } from "./world.ts";

const DEFAULT_BUCKET = 25 * 1024 * 1024;

/** Consecutive tensors of one dtype, up to `bucketBytes` each (a larger tensor is a bucket of its own). */
function buckets(tensors: readonly Tensor[], bucketBytes: number): Tensor[][] {
  const out: Tensor[][] = [];
  let cur: Tensor[] = [];
  let curBytes = 0;
  for (const t of tensors) {
    const b = t.numel * DTYPE_BYTES[t.dtype];
    if (cur.length && (curBytes + b > bucketBytes || cur[0]!.dtype !== t.dtype)) {
      out.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(t);
    curBytes += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Runs `f` on each bucket flattened into one tensor, then copies the result back into the bucket's tensors. */
function eachFlatBucket(tensors: readonly Tensor[], bucketBytes: number, f: (flat: Tensor) => void): number {
  const all = buckets(tensors, bucketBytes);
  for (const bucket of all) {
    tidy(() => {
      const flat = cat(bucket.map((t) => t.detach().reshape(-1)));
      f(flat);
      let off = 0;
      for (const t of bucket) {
        t.detach().copy_(flat.narrow(0, off, t.numel).view(...t.shape));
        off += t.numel;
      }
    });
  }
  return all.length;
}

/** Copies rank 0's values of `tensors` (parameters, buffers) into every rank's, in place, in buckets. */
export function broadcastParameters(world: World, tensors: readonly Tensor[], bucketBytes = DEFAULT_BUCKET): void {
  if (world.size === 1 || tensors.length === 0) return;
  eachFlatBucket(tensors, bucketBytes, (flat) => world.broadcast([flat], 0));
}

export interface GradSyncStats {
  buckets: number;
  bytes: number;
}

/**
 * Averages the gradients of `params` across ranks, in buckets of at most `bucketBytes` (a tensor larger than that is
 * a bucket of its own). A parameter whose gradient is missing on some ranks (unused in their micro-batches) gets a
 * zero gradient there; one that no rank has a gradient for is left without one, as in one process.
 */
export function allReduceGradients(
  world: World,
  params: readonly Tensor[],
  bucketBytes = DEFAULT_BUCKET,
): GradSyncStats {
  if (world.size === 1 || params.length === 0) return { buckets: 0, bytes: 0 };
  const grads = params.map((p) => p.grad);
  try {
    const present = world.reduceNumbers(grads.map((g) => (g ? 1 : 0)));
    params.forEach((p, i) => {
      if (!grads[i] && present[i]! > 0) {
        const z = zerosLike(p);
        p.setGrad(z);
        z.dispose();
        grads[i] = p.grad;
      }
    });
    const live = grads.filter((g): g is Tensor => g !== null);
    const n = eachFlatBucket(live, bucketBytes, (flat) => {
      world.allReduce([flat], "sum");
      flat.mul_(1 / world.size);
    });
    const bytes = live.reduce((a, g) => a + g.numel * DTYPE_BYTES[g.dtype], 0);
    return { buckets: n, bytes };
  } finally {
    for (const g of grads) g?.dispose();
  }
}
