#!/usr/bin/env python3
"""PyTorch anchor of the all-reduce bandwidth bench (`npm run bench -- distributed`): the same steps as our worker
(bench/lib/allreduce_worker.ts) with torch.distributed, the way a PyTorch user runs them: init_process_group("gloo",
init_method="env://") from torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; rank 0 hosts the
TCPStore), then dist.all_reduce on float32 tensors.

Run under a launcher (bench/distributed.ts uses `rft launch --nproc 2 --exec`; torchrun --no-python works too):
  /usr/bin/python3 bench/anchors/allreduce.py --sizes BYTES[,BYTES...] --iters N[,N...] [--warmup N]

Per size: a tensor of BYTES/4 float32 elements holding rank + 1; `warmup` all-reduces (sum), then every element must
equal sum(r + 1) * W^(warmup - 1); the tensor is zeroed, a barrier lines the ranks up, and `iters` all-reduces are
timed back to back on rank 0, which prints one JSON line per size: {bytes, iters, seconds (per all-reduce, mean),
algbw_gbps, busbw_gbps, world}; GB = 1e9 bytes; bus bandwidth = algbw * 2(W - 1)/W (nccl-tests' definition).
"""
import argparse
import datetime
import json
import time

import torch
import torch.distributed as dist


def ints(s):
    xs = [int(x) for x in s.split(",")]
    if any(x < 1 for x in xs):
        raise argparse.ArgumentTypeError(f"positive integers separated by commas, got {s}")
    return xs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=ints, required=True)
    p.add_argument("--iters", type=ints, required=True)
    p.add_argument("--warmup", type=int, default=2)
    a = p.parse_args()
    if len(a.sizes) != len(a.iters) or any(b % 4 for b in a.sizes):
        p.error("--sizes (multiples of 4 bytes) and --iters need one entry per size")

    dist.init_process_group("gloo", init_method="env://", timeout=datetime.timedelta(seconds=120))
    rank, w = dist.get_rank(), dist.get_world_size()
    for bytes_, iters in zip(a.sizes, a.iters):
        t = torch.full((bytes_ // 4,), float(rank + 1), dtype=torch.float32)
        for _ in range(a.warmup):
            dist.all_reduce(t)
        want = w * (w + 1) / 2 * w ** (a.warmup - 1)
        lo, hi = t.min().item(), t.max().item()
        if lo != want or hi != want:
            raise SystemExit(f"all-reduce of {bytes_} bytes: elements in [{lo}, {hi}], expected {want} everywhere")
        t.zero_()
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(t)
        seconds = (time.perf_counter() - t0) / iters
        algbw = bytes_ / seconds / 1e9
        if rank == 0:
            print(json.dumps({"bytes": bytes_, "iters": iters, "seconds": seconds, "algbw_gbps": algbw,
                              "busbw_gbps": algbw * 2 * (w - 1) / w, "world": w}), flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
