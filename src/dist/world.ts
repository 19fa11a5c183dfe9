/**
 * The processes of a run ("the world") and the collectives training needs, built from torchrun's environment
 * contract (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), so `rft launch`, torchrun,
 * Slurm or Kubernetes can start our workers. Without WORLD_SIZE (or with 1) the world is this process alone and
 * every collective is the identity: the trainers have one code path.
 *
 * Rendezvous follows torch.distributed's env:// method: rank 0 hosts a c10d TCPStore at MASTER_ADDR:MASTER_PORT
 * and the others connect to it (under torchrun with TORCHELASTIC_USE_AGENT_STORE=True everyone connects to the
 * agent's store). The process group is Gloo on CPU; NCCL when asked for and the libtorch build has it.
 */
import { isIP } from "node:net";
import { ProcessGroup, Store, tensor, zeros, tidy, type Backend, type ReduceOp, type Tensor } from "../tensor/index.ts";

export interface World {
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  /** Rank 0: the process that writes checkpoints, metrics and logs. */
  readonly isMain: boolean;
  readonly backend: Backend | "none";
  /** Reduces each tensor across ranks, in place (one collective per tensor: flatten many small ones first). */
  allReduce(tensors: readonly Tensor[], op?: ReduceOp): void;
  /** Copies rank `root`'s values of each tensor into every rank's, in place (one collective per tensor). */
  broadcast(tensors: readonly Tensor[], root?: number): void;
  /** Each rank's `input`, in rank order (new tensors, owned by the caller). */
  allGather(input: Tensor): Tensor[];
  barrier(): void;
  /** Element-wise reduction of a float64 vector (same length on every rank). */
  reduceNumbers(xs: readonly number[], op?: ReduceOp): number[];
  /** Every rank's vector (lengths may differ), in rank order. */
  gatherNumbers(xs: readonly number[]): number[][];
}

/** torchrun's variables, parsed and checked. */
export interface WorldEnv {
  rank: number;
  size: number;
  localRank: number;
  localSize: number;
  masterAddr: string;
  masterPort: number;
  agentStore: boolean;
}

export function parseWorldEnv(env: NodeJS.ProcessEnv = process.env): WorldEnv {
  const int = (name: string, dflt: number | null): number => {
    const v = env[name];
    if (v === undefined || v === "") {
      if (dflt === null) throw new Error(`${name} is not set (the launcher sets it: rft launch, torchrun)`);
      return dflt;
    }
    if (!/^\d+$/.test(v.trim())) throw new Error(`${name}: expected a non-negative integer, got "${v}"`);
    return Number(v.trim());
  };
  const size = int("WORLD_SIZE", 1);
  if (size < 1) throw new Error("WORLD_SIZE must be >= 1");
  const rank = int("RANK", size > 1 ? null : 0);
  if (rank >= size) throw new Error(`RANK ${rank} is not below WORLD_SIZE ${size}`);
  const localSize = int("LOCAL_WORLD_SIZE", size);
  const localRank = int("LOCAL_RANK", rank % localSize);
  const masterPort = int("MASTER_PORT", size > 1 ? null : 29500);
  if (masterPort > 65535) throw new Error(`MASTER_PORT ${masterPort} is not a port`);
  const masterAddr = env.MASTER_ADDR || (size > 1 ? "" : "127.0.0.1");
  if (!masterAddr) throw new Error("MASTER_ADDR is not set (the launcher sets it: rft launch, torchrun)");
  return {
    rank,
    size,
    localRank,
    localSize,
    masterAddr,
    masterPort,
    agentStore: env.TORCHELASTIC_USE_AGENT_STORE === "True",
  };
}

/** This process alone: collectives are the identity. */
class SoloWorld implements World {
  readonly rank = 0;
  readonly size = 1;
  readonly localRank = 0;
  readonly localSize = 1;
  readonly isMain = true;
  readonly backend = "none" as const;
  allReduce(): void {}
  broadcast(): void {}
  allGather(input: Tensor): Tensor[] {
    return [input.clone()];
  }
  barrier(): void {}
  reduceNumbers(xs: readonly number[]): number[] {
    return [...xs];
  }
  gatherNumbers(xs: readonly number[]): number[][] {
    return [[...xs]];
  }
}

class GroupWorld implements World {
  readonly isMain: boolean;
  constructor(
    readonly env: WorldEnv,
    readonly pg: ProcessGroup,
    readonly backend: Backend,
    readonly timeoutMs: number,
  ) {
    this.isMain = env.rank === 0;
  }
  get rank(): number {
    return this.env.rank;
  }
  get size(): number {
    return this.env.size;
  }
  get localRank(): number {
    return this.env.localRank;
  }
  get localSize(): number {
    return this.env.localSize;
  }
  /** Runs a collective; a failure names this rank, the world and the likely cause. */
  #run<T>(what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      const msg = (e as Error).message;
      const cause = /timed out/i.test(msg)
        ? `a peer did not join it within the timeout (${this.timeoutMs / 1000} s; stuck or much slower)`
        : /closed|reset|broken pipe|refused/i.test(msg)
          ? "a peer died"
          : "the collective failed";
      throw new Error(`rank ${this.rank}/${this.size}: ${what}: ${cause}: ${msg}`);
    }
  }
  allReduce(tensors: readonly Tensor[], op: ReduceOp = "sum"): void {
    this.#run("all-reduce", () => tensors.forEach((t) => this.pg.allReduce([t], op)));
  }
  broadcast(tensors: readonly Tensor[], root = 0): void {
    this.#run("broadcast", () => tensors.forEach((t) => this.pg.broadcast([t], root)));
  }
  allGather(input: Tensor): Tensor[] {
    const outs = Array.from({ length: this.size }, () => zeros(input.shape, { dtype: input.dtype }));
    const src = input.contiguous();
    try {
      this.#run("all-gather", () => this.pg.allGather(outs, src));
    } catch (e) {
      for (const t of outs) t.dispose();
      throw e;
    } finally {
      src.dispose();
    }
    return outs;
  }
  barrier(): void {
    this.#run("barrier", () => this.pg.barrier());
  }
  reduceNumbers(xs: readonly number[], op: ReduceOp = "sum"): number[] {
    if (!xs.length) return [];
    return tidy(() => {
      const t = tensor([...xs], { dtype: "float64" });
      this.allReduce([t], op);
      return t.toNumbers();
    });
  }
  gatherNumbers(xs: readonly number[]): number[][] {
    // Lengths first, then the values padded to the longest.
    const lens = this.reduceNumbers(Array.from({ length: this.size }, (_, r) => (r === this.rank ? xs.length : 0)));
    const n = Math.max(1, ...lens);
    return tidy(() => {
      const mine = tensor([...xs, ...new Array<number>(n - xs.length).fill(0)], { dtype: "float64" });
      return this.allGather(mine).map((t, r) => t.toNumbers().slice(0, lens[r]!));
    });
  }
}

export interface WorldOptions {
  env?: NodeJS.ProcessEnv;
  /** Timeout of the rendezvous and of every collective (ms). A dead or stuck peer becomes an error after it. */
  timeoutMs?: number;
  backend?: Backend;
}

/**
 * The world of this process from the environment: SoloWorld when WORLD_SIZE is unset or 1, else a c10d process group
 * (this waits, up to the timeout, for every rank to join).
 */
export function initWorld(o: WorldOptions = {}): World {
  const env = o.env ?? process.env;
  const w = parseWorldEnv(env);
  if (w.size === 1) return new SoloWorld();
  const timeoutMs = o.timeoutMs ?? 1_800_000;
  const backend = o.backend ?? "gloo";
  let store: Store;
  let pg: ProcessGroup;
  const ifname = env.GLOO_SOCKET_IFNAME?.split(",")[0];
  try {
    store = new Store(w.masterAddr, w.masterPort, {
      isServer: w.rank === 0 && !w.agentStore,
      worldSize: w.size,
      timeoutMs,
    });
    pg = new ProcessGroup(store, w.rank, w.size, {
      backend,
      timeoutMs,
      ...(ifname ? { iface: ifname } : isLoopback(w.masterAddr) ? { hostname: "127.0.0.1" } : {}),
    });
  } catch (e) {
    throw new Error(
      `rank ${w.rank}/${w.size}: cannot join the process group at ${w.masterAddr}:${w.masterPort} ` +
        `(${backend}, timeout ${timeoutMs / 1000} s): ${(e as Error).message}`,
    );
  }
  return new GroupWorld(w, pg, backend, timeoutMs);
}

function isLoopback(addr: string): boolean {
  return addr === "localhost" || (isIP(addr) === 4 && addr.startsWith("127.")) || addr === "::1";
}
