/**
 * Loads the native addon (native/build/Release/rft_native.node) and types its surface.
 * Nothing else in the project touches the addon directly; src/tensor wraps it.
 */
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** Opaque handle owning one at::Tensor (a Napi::External). */
export type NativeHandle = { readonly __nativeTensor: unique symbol };

/** What a boxed operator call can return: a tensor, a scalar, a string, None, or a tuple/list of these. */
export type NativeValue = NativeHandle | number | boolean | string | null | NativeValue[];

export interface NativeMemory {
  liveHandles: number;
  cpuBytes: number;
  createdHandles: number;
  finalizedHandles: number;
}

/** An operator's schema in structured form (types are the schema's real types, e.g. "ScalarType?"). */
export interface NativeOpInfo {
  name: string;
  overload: string;
  schema: string;
  args: { name: string; type: string; kwargOnly: boolean; hasDefault: boolean; write: boolean }[];
  returns: string[];
  mutable: boolean;
}

/** A native at::Generator (rng.cc). */
export interface NativeGenerator {
  manualSeed(seed: number): void;
  initialSeed(): number;
  getState(): Buffer;
  setState(state: Buffer): void;
  device(): string;
}

/** A c10d TCPStore (distributed.cc). */
export interface NativeStore {
  set(key: string, value: Buffer | string): void;
  get(key: string): Buffer;
  add(key: string, delta: number): number;
  wait(keys: string[], timeoutMs?: number): void;
  check(keys: string[]): boolean;
  numKeys(): number;
  setTimeout(ms: number): void;
}

/** A c10d process group (distributed.cc); collectives block until done and throw on a peer's failure or timeout. */
export interface NativeProcessGroup {
  allReduce(tensors: NativeHandle[], op?: string, timeoutMs?: number): void;
  broadcast(tensors: NativeHandle[], root: number, timeoutMs?: number): void;
  allGather(outputs: NativeHandle[], input: NativeHandle, timeoutMs?: number): void;
  barrier(timeoutMs?: number): void;
  rank(): number;
  size(): number;
  backend(): string;
}

export interface RawBinding {
  opHandle(name: string, overload: string): number;
  call(id: number, ...args: unknown[]): NativeValue;
  opSchema(id: number): string;
  allOps(): string[];
  allOpInfos(): NativeOpInfo[];
  fromBuffer(data: ArrayBufferView | ArrayBuffer, shape: number[], dtype: number): NativeHandle;
  fromFile(path: string, offset: number, shape: number[], dtype: number): NativeHandle;
  toBuffer(h: NativeHandle): ArrayBuffer;
  view(h: NativeHandle): ArrayBuffer;
  item(h: NativeHandle): number | boolean;
  meta(h: NativeHandle): [number[], number, string, boolean];
  shape(h: NativeHandle): number[];
  dtype(h: NativeHandle): number;
  dispose(h: NativeHandle): void;
  /** Gives a handle created inside a scope the GC safety net (idempotent). */
  attachFinalizer(h: NativeHandle): void;
  /** Tells the binding whether a tidy() scope is open: handles created then get no finalizer. */
  setScoped(v: boolean): void;
  backward(
    tensors: NativeHandle[],
    grads: (NativeHandle | null)[] | null,
    retainGraph: boolean,
    createGraph: boolean,
  ): void;
  grad(
    outputs: NativeHandle[],
    inputs: NativeHandle[],
    gradOutputs: (NativeHandle | null)[] | null,
    retainGraph: boolean,
    createGraph: boolean,
    allowUnused: boolean,
  ): (NativeHandle | null)[];
  getGrad(h: NativeHandle): NativeHandle | null;
  setGrad(h: NativeHandle, g: NativeHandle | null): void;
  setRequiresGrad(h: NativeHandle, v: boolean): void;
  isLeaf(h: NativeHandle): boolean;
  gradFn(h: NativeHandle): string | null;
  setGradEnabled(v: boolean): boolean;
  isGradEnabled(): boolean;
  inferenceEnter(enabled?: boolean): number;
  inferenceExit(depth: number): void;
  isInferenceMode(): boolean;
  setAutocastCpu(enabled: boolean, dtype?: number): boolean;
  /** An independent libtorch generator (CPU, or CUDA on a CUDA build); ops with `Generator? generator` take it. */
  Generator: new (seed?: number | null, device?: string) => NativeGenerator;
  /** Seeds every default generator (CPU and CUDA). */
  manualSeed(seed: number): void;
  /** The default generator of a device ("cpu" when omitted): its full state. */
  getRngState(device?: string): Buffer;
  setRngState(state: Buffer, device?: string): void;
  /** Throws unless 1 <= n <= maxThreads(). */
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** The largest thread count setNumThreads accepts: min(1024, 4 x cores). */
  maxThreads(): number;
  memory(): NativeMemory;
  /** Which c10d backends this build has (Gloo needs its headers at build time; NCCL a CUDA libtorch). */
  distributedBackends(): { gloo: boolean; nccl: boolean };
  Store?: new (
    host: string,
    port: number,
    o: { isServer: boolean; worldSize?: number; timeoutMs?: number; waitWorkers?: boolean },
  ) => NativeStore;
  ProcessGroup?: new (
    store: NativeStore,
    rank: number,
    size: number,
    o: { backend?: string; timeoutMs?: number; prefix?: string; hostname?: string; iface?: string },
  ) => NativeProcessGroup;
  buildInfo(): { torchVersion: string; config: string; parallel: string; hasCuda: boolean; hasMkldnn: boolean };
}

/**
 * OpenBLAS picks its kernels by CPU detection at load time, and on some CPUs (AVX-512 ones among them) it falls back
 * to slow generic kernels: DESIGN.md measured 29 GFLOP/s auto-detected against 140-160 with the right core type on
 * one machine of this kind. So unless the user set OPENBLAS_CORETYPE, we choose it from the CPU flags before
 * libtorch (and with it OpenBLAS) is loaded. `npm run bench -- engine` measures the alternatives on the machine.
 */
export function chooseBlasCoreType(cpuFlags: string): string | undefined {
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(cpuFlags);
  if (has("avx512_bf16") && has("avx512f")) return "Cooperlake";
  if (has("avx512f") && has("avx512bw")) return "SkylakeX";
  if (has("avx2")) return "Haswell";
  return undefined;
}

function cpuFlags(): string {
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    return /^flags\s*:(.*)$/m.exec(info)?.[1] ?? "";
  } catch {
    return "";
  }
}

/** How the BLAS core type was chosen: "env" (user set OPENBLAS_CORETYPE), "auto" (our choice) or "none". */
export let blasCoreTypeSource: "env" | "auto" | "none" = "none";
if (process.env.OPENBLAS_CORETYPE) blasCoreTypeSource = "env";
else if (process.env.RFT_BLAS_CORETYPE !== "detect") {
  const core = process.env.RFT_BLAS_CORETYPE || chooseBlasCoreType(cpuFlags());
  if (core) {
    process.env.OPENBLAS_CORETYPE = core;
    blasCoreTypeSource = "auto";
  }
}

/**
 * libgomp's workers spin (by default ~300k iterations) before sleeping between parallel regions. On a machine whose
 * cores are also busy with other work, a spinning worker holds a core the other thread needs: we measured a tiny
 * Qwen2-VL training step at 2.5 s with the default against 0.2-0.5 s with GOMP_SPINCOUNT 0-100000 on a loaded 2-core
 * machine (docs/engine.md). Unless the user chose a wait policy, spin briefly (10000) before sleeping. It must be
 * in the environment before libgomp loads with libtorch.
 */
export let ompSpinSource: "env" | "auto" = "env";
if (process.env.GOMP_SPINCOUNT === undefined && process.env.OMP_WAIT_POLICY === undefined) {
  process.env.GOMP_SPINCOUNT = process.env.RFT_GOMP_SPINCOUNT || "10000";
  ompSpinSource = "auto";
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const addonPath = join(root, "native", "build", "Release", "rft_native.node");

function load(): RawBinding {
  if (!existsSync(addonPath)) {
    throw new Error(
      `native addon not built (${addonPath} missing): run \`npm run setup\` ` +
        "(installs libtorch-dev/libopenblas0-openmp when missing, or uses LIBTORCH=/path, and builds the addon)",
    );
  }
  const require = createRequire(import.meta.url);
  try {
    return require(addonPath) as RawBinding;
  } catch (e) {
    const msg = (e as Error).message;
    // The addon refuses a second JS thread (native/src/loader.cc): that is not a build problem.
    if (msg.includes("one JS thread")) throw new Error(msg);
    throw new Error(`cannot load ${addonPath}: ${msg} (rebuild with \`npm run setup\`)`);
  }
}

export const native: RawBinding = load();

/** The largest intra-op thread count accepted: min(1024, 4 x cores), as the native setter enforces. */
export function maxThreads(): number {
  return Math.min(1024, 4 * Math.max(1, availableParallelism()));
}

/**
 * Checks a thread count given by a user (a flag, an environment variable, a config key) and returns it as a number.
 * `name` is what the error message names (e.g. "--threads", "RFT_NUM_THREADS"). Accepts integers from 1 to
 * maxThreads(): more threads than that only oversubscribe the cores (and 99999 makes OpenMP start thousands of
 * threads and hang).
 */
/** A setting from the environment or a flag that the engine refuses; `rft` prints its message without a stack. */
export class EngineConfigError extends Error {
  override name = "EngineConfigError";
  readonly code = "RFT_CONFIG";
}

export function parseThreadCount(value: unknown, name: string): number {
  const text = typeof value === "string" ? value.trim() : value;
  const n = typeof text === "number" ? text : typeof text === "string" && /^[+]?\d+$/.test(text) ? Number(text) : NaN;
  const hi = maxThreads();
  if (!Number.isInteger(n) || n < 1 || n > hi)
    throw new EngineConfigError(
      `${name}: the thread count must be an integer from 1 to ${hi} (4 x ${availableParallelism()} cores, at most 1024), got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
    );
  return n;
}

/**
 * The default intra-op thread count, from the environment:
 * - RFT_NUM_THREADS when set (validated: `abc`, `0`, `-3` are refused with an error naming it);
 * - else OMP_NUM_THREADS when set (its first entry; OpenMP allows a nested list such as "4,2");
 * - else the available cores divided by LOCAL_WORLD_SIZE when that is set (torchrun's contract: that many worker
 *   processes share this machine), at least 1;
 * - else every available core (libgomp here would default to 1).
 */
export function defaultThreadCount(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): number {
  if (env.RFT_NUM_THREADS !== undefined && env.RFT_NUM_THREADS !== "")
    return parseThreadCount(env.RFT_NUM_THREADS, "RFT_NUM_THREADS");
  if (env.OMP_NUM_THREADS !== undefined && env.OMP_NUM_THREADS !== "")
    return parseThreadCount(env.OMP_NUM_THREADS.split(",")[0], "OMP_NUM_THREADS");
  if (env.LOCAL_WORLD_SIZE !== undefined && env.LOCAL_WORLD_SIZE !== "") {
    const w = Number(env.LOCAL_WORLD_SIZE.trim());
    if (!/^\d+$/.test(env.LOCAL_WORLD_SIZE.trim()) || w < 1)
      throw new EngineConfigError(
        `LOCAL_WORLD_SIZE: expected a positive integer (processes on this machine), got "${env.LOCAL_WORLD_SIZE}"`,
      );
    return Math.max(1, Math.floor(cores / w));
  }
  return Math.max(1, cores);
}

native.setNumThreads(Math.min(defaultThreadCount(), maxThreads()));
