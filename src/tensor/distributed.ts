/**
 * libtorch's distributed engine (c10d) on Tensors: a TCPStore for rendezvous and a process group (Gloo on CPU, NCCL
 * on a CUDA libtorch) with all-reduce, broadcast, all-gather and barrier. Collectives work in place on contiguous
 * tensors, block until done, and throw when a peer fails (Gloo sees its connection close) or the timeout passes
 * (a stuck peer); nothing waits forever. Training code uses src/dist/world.ts, which builds these from torchrun's
 * environment variables.
 *
 * @example
 * const store = new Store("127.0.0.1", 29500, { isServer: rank === 0, worldSize: 2 });
 * const pg = new ProcessGroup(store, rank, 2, { timeoutMs: 60_000 });
 * const t = tensor([rank + 1]);
 * pg.allReduce([t]);  // t = [3] on both ranks
 */
import { native, type NativeProcessGroup, type NativeStore } from "../native/index.ts";
import { handleOf, type Tensor } from "./tensor.ts";

export type ReduceOp = "sum" | "max" | "min" | "product";
export type Backend = "gloo" | "nccl";

/** Which c10d backends this build of the addon has. */
export function distributedBackends(): { gloo: boolean; nccl: boolean } {
  return native.distributedBackends();
}

function requireC10d(): void {
  if (!native.Store || !native.ProcessGroup)
    throw new Error(
      "this build of the native addon has no c10d (the Gloo headers were missing when it was built): install " +
        "libgloo-dev (Debian/Ubuntu: apt-get install libgloo-dev, or `npm run setup`) and rebuild with `npm run build:native`",
    );
}

export interface StoreOptions {
  /** This process hosts the store (rank 0 under torchrun's env:// rendezvous). */
  isServer: boolean;
  /** Processes that will connect (the server uses it to know when all are there). */
  worldSize?: number;
  /** Connect/get/wait timeout (default 300 000 ms). */
  timeoutMs?: number;
  /** The server waits in its constructor until worldSize clients connected (default false). */
  waitWorkers?: boolean;
}

/** A c10d TCPStore: a key-value store over TCP that the ranks rendezvous through. */
export class Store {
  /** @internal */ readonly native: NativeStore;
  constructor(host: string, port: number, o: StoreOptions) {
    requireC10d();
    this.native = new native.Store!(host, port, o);
  }
  set(key: string, value: Buffer | string): void {
    this.native.set(key, value);
  }
  /** Waits (up to the store's timeout) for the key to exist. */
  get(key: string): Buffer {
    return this.native.get(key);
  }
  /** Atomically adds `delta` to a counter key; returns the new value. */
  add(key: string, delta: number): number {
    return this.native.add(key, delta);
  }
  wait(keys: string[], timeoutMs?: number): void {
    this.native.wait(keys, timeoutMs);
  }
  check(keys: string[]): boolean {
    return this.native.check(keys);
  }
}

export interface ProcessGroupOptions {
  backend?: Backend;
  /** Default timeout of every collective (default 1 800 000 ms, torch's default). */
  timeoutMs?: number;
  /** Key prefix in the store (default "default_pg"). */
  prefix?: string;
  /** Gloo: bind to this address (e.g. "127.0.0.1" on one machine). */
  hostname?: string;
  /** Gloo: bind to this network interface (GLOO_SOCKET_IFNAME). */
  iface?: string;
}

/** A c10d process group. Every rank must call the same collectives in the same order. */
export class ProcessGroup {
  readonly #pg: NativeProcessGroup;
  constructor(store: Store, rank: number, size: number, o: ProcessGroupOptions = {}) {
    requireC10d();
    this.#pg = new native.ProcessGroup!(store.native, rank, size, o);
  }
  get rank(): number {
    return this.#pg.rank();
  }
  get size(): number {
    return this.#pg.size();
  }
  get backend(): string {
    return this.#pg.backend();
  }
  /**
   * Reduces across ranks in place. `tensors` follows c10d: one tensor per local device, all of one shape (on CPU:
   * one tensor). To reduce several tensors, call once per tensor or flatten them into one (src/dist/ddp.ts).
   */
  allReduce(tensors: readonly Tensor[], op: ReduceOp = "sum", timeoutMs?: number): void {
    this.#pg.allReduce(tensors.map(handleOf), op, timeoutMs);
  }
  /** Copies rank `root`'s tensor into everyone's, in place (one tensor per local device, as allReduce). */
  broadcast(tensors: readonly Tensor[], root = 0, timeoutMs?: number): void {
    this.#pg.broadcast(tensors.map(handleOf), root, timeoutMs);
  }
  /** Fills outputs[r] with rank r's `input` (outputs: one tensor per rank, shaped like input). */
  allGather(outputs: readonly Tensor[], input: Tensor, timeoutMs?: number): void {
    this.#pg.allGather(outputs.map(handleOf), handleOf(input), timeoutMs);
  }
  barrier(timeoutMs?: number): void {
    this.#pg.barrier(timeoutMs);
  }
}
