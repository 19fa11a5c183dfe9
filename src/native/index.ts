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
  manualSeed(seed: number): void;
  getRngState(): Buffer;
  setRngState(state: Buffer): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  memory(): NativeMemory;
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
    throw new Error(`cannot load ${addonPath}: ${(e as Error).message} (rebuild with \`npm run setup\`)`);
  }
}

export const native: RawBinding = load();

/** Intra-op threads: RFT_NUM_THREADS, else OMP_NUM_THREADS, else every available core (OpenMP may default to 1). */
{
  const n = Number(process.env.RFT_NUM_THREADS || process.env.OMP_NUM_THREADS || availableParallelism());
  if (Number.isInteger(n) && n > 0) native.setNumThreads(n);
}
