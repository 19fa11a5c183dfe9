/**
 * Free functions: tensor creation, ops over several tensors, and the nn.functional-style ops the models use.
 * All go through the same boxed call path as the Tensor methods (op.ts).
 */
import { native, type NativeHandle, type NativeValue } from "../native/index.ts";
import { DTYPE_BYTES, DTYPE_CODE, inferDType, type AnyTypedArray, type DType } from "./dtype.ts";
import { op } from "./op.ts";
import { Tensor } from "./tensor.ts";

const T = (v: NativeValue) => new Tensor(v as NativeHandle);
const hs = (ts: Tensor[]) => ts.map((t) => t.handle);

export interface CreateOptions {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}

function finish(t: Tensor, o: CreateOptions): Tensor {
  if (o.requiresGrad) t.requiresGrad_(true);
  return t;
}
const dt = (o: CreateOptions, fallback: DType | null = "float32") =>
  o.dtype ? DTYPE_CODE[o.dtype] : fallback === null ? null : DTYPE_CODE[fallback];

const F = {
  zeros: op("aten::zeros"),
  ones: op("aten::ones"),
  full: op("aten::full"),
  empty: op("aten::empty.memory_format"),
  arange: op("aten::arange.start_step"),
  rand: op("aten::rand"),
  randn: op("aten::randn"),
  randint: op("aten::randint.low"),
  zerosLike: op("aten::zeros_like"),
  onesLike: op("aten::ones_like"),
  fullLike: op("aten::full_like"),
  randnLike: op("aten::randn_like"),
  cat: op("aten::cat"),
  stack: op("aten::stack"),
  where: op("aten::where.self"),
  whereS: op("aten::where.ScalarOther"),
  linear: op("aten::linear"),
  embedding: op("aten::embedding"),
  layerNorm: op("aten::layer_norm"),
  crossEntropy: op("aten::cross_entropy_loss"),
  dropout: op("aten::dropout"),
  conv2d: op("aten::conv2d"),
  conv3d: op("aten::conv3d"),
  scalarTensor: op("aten::scalar_tensor"),
};

/**
 * A tensor from JS data (copied). `data` is a typed array or a (nested) number array; `shape` defaults to the
 * nesting of `data` (or 1-D). Numbers become float32 unless `dtype` says otherwise.
 */
export function tensor(
  data: AnyTypedArray | number[] | number[][] | number[][][] | number,
  opts: CreateOptions & { shape?: number[] } = {},
): Tensor {
  let shape = opts.shape;
  let flat: AnyTypedArray;
  const dtype = opts.dtype ?? inferDType(data);
  if (typeof data === "number") {
    shape ??= [];
    data = [data];
  }
  if (ArrayBuffer.isView(data)) {
    flat = data;
    shape ??= [data.length];
  } else {
    const dims: number[] = [];
    let cur: unknown = data;
    while (Array.isArray(cur)) {
      dims.push(cur.length);
      cur = cur[0];
    }
    shape ??= dims;
    flat = toTyped((data as unknown[]).flat(Infinity) as number[], dtype);
  }
  if (!ArrayBuffer.isView(data) || inferDType(data) !== dtype)
    flat = toTyped(Array.from(flat as ArrayLike<number | bigint>, Number), dtype);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== flat.length) throw new Error(`tensor(): ${flat.length} values do not fill shape [${shape.join(", ")}]`);
  let t: Tensor;
  if (dtype === "bfloat16" || dtype === "float16") {
    using f = new Tensor(native.fromBuffer(flat, shape, DTYPE_CODE.float32));
    t = f.to(dtype);
  } else {
    t = new Tensor(native.fromBuffer(flat, shape, DTYPE_CODE[dtype]));
  }
  if (opts.device && opts.device !== "cpu") {
    const moved = t.to({ device: opts.device });
    t.dispose();
    t = moved;
  }
  return finish(t, opts);
}

function toTyped(values: number[], dtype: DType): AnyTypedArray {
  switch (dtype) {
    case "float64":
      return Float64Array.from(values);
    case "int64":
      return BigInt64Array.from(values, (v) => BigInt(Math.trunc(v)));
    case "int32":
      return Int32Array.from(values);
    case "int16":
      return Int16Array.from(values);
    case "int8":
      return Int8Array.from(values);
    case "uint8":
    case "bool":
      return Uint8Array.from(values, (v) => (dtype === "bool" ? (v ? 1 : 0) : v));
    default:
      return Float32Array.from(values);
  }
}

/** A tensor over raw little-endian bytes of the given dtype (copied once into torch memory). */
export function fromBytes(bytes: Uint8Array, shape: number[], dtype: DType): Tensor {
  const need = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
  if (bytes.byteLength !== need)
    throw new Error(`fromBytes: ${bytes.byteLength} bytes for [${shape}] ${dtype} (needs ${need})`);
  return new Tensor(native.fromBuffer(bytes, shape, DTYPE_CODE[dtype]));
}

/** Reads a tensor straight from a file region into torch memory (no intermediate JS buffer). */
export function fromFile(path: string, offset: number, shape: number[], dtype: DType): Tensor {
  return new Tensor(native.fromFile(path, offset, shape, DTYPE_CODE[dtype]));
}

export function zeros(shape: number[], o: CreateOptions = {}): Tensor {
  return finish(T(F.zeros(shape, dt(o), null, o.device ?? null)), o);
}
export function ones(shape: number[], o: CreateOptions = {}): Tensor {
  return finish(T(F.ones(shape, dt(o), null, o.device ?? null)), o);
}
export function full(shape: number[], value: number, o: CreateOptions = {}): Tensor {
  return finish(T(F.full(shape, value, dt(o), null, o.device ?? null)), o);
}
export function empty(shape: number[], o: CreateOptions = {}): Tensor {
  return finish(T(F.empty(shape, dt(o), null, o.device ?? null)), o);
}
/** `arange(end)` or `arange(start, end, step)`; int64 unless a dtype is given or any bound is fractional. */
export function arange(startOrEnd: number, end?: number, step = 1, o: CreateOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, startOrEnd] : [startOrEnd, end];
  return finish(T(F.arange(s, e, step, dt(o, null), null, o.device ?? null)), o);
}
/** Uniform [0, 1) samples from the global generator (seed with manualSeed). */
export function rand(shape: number[], o: CreateOptions = {}): Tensor {
  return finish(T(F.rand(shape, dt(o), null, o.device ?? null)), o);
}
export function randn(shape: number[], o: CreateOptions = {}): Tensor {
  return finish(T(F.randn(shape, dt(o), null, o.device ?? null)), o);
}
/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: number[], o: CreateOptions = {}): Tensor {
  return finish(T(F.randint(low, high, shape, dt(o, "int64"), null, o.device ?? null)), o);
}
export function zerosLike(t: Tensor, o: CreateOptions = {}): Tensor {
  return finish(T(F.zerosLike(t.handle, dt(o, null))), o);
}
export function onesLike(t: Tensor, o: CreateOptions = {}): Tensor {
  return finish(T(F.onesLike(t.handle, dt(o, null))), o);
}
export function fullLike(t: Tensor, value: number, o: CreateOptions = {}): Tensor {
  return finish(T(F.fullLike(t.handle, value, dt(o, null))), o);
}
export function randnLike(t: Tensor): Tensor {
  return T(F.randnLike(t.handle));
}
/** A 0-dim tensor. */
export function scalarTensor(x: number, dtype: DType = "float32"): Tensor {
  return T(F.scalarTensor(x, DTYPE_CODE[dtype]));
}

export function cat(ts: Tensor[], dim = 0): Tensor {
  return T(F.cat(hs(ts), dim));
}
export function stack(ts: Tensor[], dim = 0): Tensor {
  return T(F.stack(hs(ts), dim));
}
/** Elementwise `cond ? a : b`. */
export function where(cond: Tensor, a: Tensor, b: Tensor | number): Tensor {
  return T(typeof b === "number" ? F.whereS(cond.handle, a.handle, b) : F.where(cond.handle, a.handle, b.handle));
}

/** y = x W^T + b (W: [out, in], as torch.nn.functional.linear). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return T(F.linear(x.handle, weight.handle, bias ? bias.handle : null));
}
export function embedding(weight: Tensor, ids: Tensor, paddingIdx = -1): Tensor {
  return T(F.embedding(weight.handle, ids.handle, paddingIdx));
}
export function layerNorm(
  x: Tensor,
  normalizedShape: number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  return T(F.layerNorm(x.handle, normalizedShape, weight?.handle ?? null, bias?.handle ?? null, eps));
}
/**
 * Cross-entropy of logits [N, C] against class ids [N] (int64); `ignoreIndex` targets are skipped.
 * reduction: "mean" over non-ignored targets (default), "sum", or "none" (per-row losses).
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  opts: { reduction?: "none" | "mean" | "sum"; ignoreIndex?: number; labelSmoothing?: number } = {},
): Tensor {
  const red = { none: 0, mean: 1, sum: 2 }[opts.reduction ?? "mean"];
  return T(F.crossEntropy(logits.handle, target.handle, null, red, opts.ignoreIndex ?? -100, opts.labelSmoothing ?? 0));
}
export function dropout(x: Tensor, p: number, train: boolean): Tensor {
  return T(F.dropout(x.handle, p, train));
}
export function conv2d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  stride: number | number[] = 1,
  padding: number | number[] = 0,
): Tensor {
  return T(F.conv2d(x.handle, w.handle, b?.handle ?? null, stride, padding));
}
export function conv3d(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  stride: number | number[] = 1,
  padding: number | number[] = 0,
): Tensor {
  return T(F.conv3d(x.handle, w.handle, b?.handle ?? null, stride, padding));
}
