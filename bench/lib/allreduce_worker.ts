/**
 * Our side of the all-reduce bandwidth bench (`npm run bench -- distributed`): one worker of a world started with
 * torchrun's variables (bench/distributed.ts runs it under `rft launch --nproc 2 --exec`), joined with initWorld
 * (src/dist/world.ts: TCPStore + Gloo). The PyTorch anchor bench/anchors/allreduce.py does the same steps.
 *
 *   node --import tsx bench/lib/allreduce_worker.ts --sizes BYTES[,BYTES...] --iters N[,N...] [--warmup N]
 *
 * Per size: a float32 tensor of BYTES/4 elements holding rank + 1; `warmup` all-reduces (sum), after which every
 * element must equal Σ (r + 1) · W^(warmup − 1) (checked: a wrong reduction is an error, not a fast number); then
 * the tensor is zeroed (no overflow, no denormals), a barrier lines the ranks up, and `iters` all-reduces are timed
 * back to back on rank 0. Rank 0 prints one JSON line per size: {bytes, iters, seconds (per all-reduce, mean),
 * algbw_gbps, busbw_gbps, world}; GB = 1e9 bytes; bus bandwidth = algbw · 2(W − 1)/W (nccl-tests' definition).
 */
import { initWorld } from "../../src/dist/world.ts";
import { full, tidy } from "../../src/tensor/index.ts";

function parse(argv: string[]): { sizes: number[]; iters: number[]; warmup: number } {
  const o = { sizes: [] as number[], iters: [] as number[], warmup: 2 };
  const ints = (flag: string, v: string | undefined) => {
    const xs = (v ?? "").split(",").map(Number);
    if (!v || xs.some((x) => !Number.isInteger(x) || x < 1))
      throw new Error(`allreduce_worker: ${flag} needs positive integers separated by commas, got ${v}`);
    return xs;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === "--sizes") o.sizes = ints(f, argv[++i]);
    else if (f === "--iters") o.iters = ints(f, argv[++i]);
    else if (f === "--warmup") o.warmup = ints(f, argv[++i])[0]!;
    else throw new Error(`allreduce_worker: unknown option ${f} (options: --sizes --iters --warmup)`);
  }
  if (!o.sizes.length || o.sizes.length !== o.iters.length || o.sizes.some((b) => b % 4))
    throw new Error("allreduce_worker: --sizes (multiples of 4 bytes) and --iters need one entry per size");
  return o;
}

const a = parse(process.argv.slice(2));
const world = initWorld({ timeoutMs: 120_000 });
const W = world.size;
for (const [k, bytes] of a.sizes.entries()) {
  const iters = a.iters[k]!;
  using t = full([bytes / 4], world.rank + 1, { dtype: "float32" });
  for (let i = 0; i < a.warmup; i++) world.allReduce([t]);
  const want = ((W * (W + 1)) / 2) * W ** (a.warmup - 1);
  const [lo, hi] = tidy(() => [t.min().item(), t.max().item()]);
  if (lo !== want || hi !== want)
    throw new Error(`all-reduce of ${bytes} bytes: elements in [${lo}, ${hi}], expected ${want} everywhere`);
  t.zero_();
  world.barrier();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) world.allReduce([t]);
  const seconds = (performance.now() - t0) / 1000 / iters;
  const algbw = bytes / seconds / 1e9;
  if (world.isMain)
    console.log(
      JSON.stringify({ bytes, iters, seconds, algbw_gbps: algbw, busbw_gbps: (algbw * 2 * (W - 1)) / W, world: W }),
    );
}
world.barrier();
