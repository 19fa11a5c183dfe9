/**
 * Free functions: tensor creation, ops over several tensors, and the nn.functional-style ops the models use.
 * The functions in the generated region come from codegen/surface.ts and the schemas (codegen/gen_ops.ts); the
 * others are hand-written conveniences (creation with options, crossEntropy, dropout). All go through the same
 * call path as the Tensor methods (op.ts).
 */
import { native, type NativeHandle, type NativeValue } from "../native/index.ts";
import { DTYPE_BYTES, DTYPE_CODE, inferDType, type AnyTypedArray, type DType } from "./dtype.ts";
import { type Generator, nativeGenerator } from "./generator.ts";
import { op } from "./op.ts";
import { Tensor, handleOf as H } from "./tensor.ts";

const T = (v: NativeValue) => new Tensor(v as NativeHandle);

export interface CreateOptions {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}

/** Options of the random creation functions: a Generator draws from that stream instead of the default one. */
export interface RandomOptions extends CreateOptions {
  generator?: Generator | null;
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
  randG: op("aten::rand.generator"),
  randn: op("aten::randn"),
  randnG: op("aten::randn.generator"),
  randint: op("aten::randint.low"),
  randintG: op("aten::randint.low_generator"),
  randperm: op("aten::randperm"),
  randpermG: op("aten::randperm.generator"),
  zerosLike: op("aten::zeros_like"),
  onesLike: op("aten::ones_like"),
  fullLike: op("aten::full_like"),
  randnLike: op("aten::randn_like"),
  crossEntropy: op("aten::cross_entropy_loss"),
  dropout: op("aten::dropout"),
  scalarTensor: op("aten::scalar_tensor"),
  emptyLike: op("aten::empty_like"),
  bernoulli_: op("aten::bernoulli_.float"),
  mul: op("aten::mul.Tensor"),
  divS_: op("aten::div_.Scalar"),
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
/** Uniform [0, 1) samples from `o.generator`, else the default generator (seed with manualSeed). */
export function rand(shape: number[], o: RandomOptions = {}): Tensor {
  const g = nativeGenerator(o.generator);
  return finish(
    T(g ? F.randG(shape, g, dt(o), null, o.device ?? null) : F.rand(shape, dt(o), null, o.device ?? null)),
    o,
  );
}
export function randn(shape: number[], o: RandomOptions = {}): Tensor {
  const g = nativeGenerator(o.generator);
  return finish(
    T(g ? F.randnG(shape, g, dt(o), null, o.device ?? null) : F.randn(shape, dt(o), null, o.device ?? null)),
    o,
  );
}
/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: number[], o: RandomOptions = {}): Tensor {
  const g = nativeGenerator(o.generator);
  return finish(
    T(
      g
        ? F.randintG(low, high, shape, g, dt(o, "int64"), null, o.device ?? null)
        : F.randint(low, high, shape, dt(o, "int64"), null, o.device ?? null),
    ),
    o,
  );
}
/** A random permutation of 0..n-1 (int64 unless a dtype is given). */
export function randperm(n: number, o: RandomOptions = {}): Tensor {
  const g = nativeGenerator(o.generator);
  return finish(
    T(
      g
        ? F.randpermG(n, g, dt(o, "int64"), null, o.device ?? null)
        : F.randperm(n, dt(o, "int64"), null, o.device ?? null),
    ),
    o,
  );
}
export function zerosLike(t: Tensor, o: CreateOptions = {}): Tensor {
  return finish(T(F.zerosLike(H(t), dt(o, null))), o);
}
export function onesLike(t: Tensor, o: CreateOptions = {}): Tensor {
  return finish(T(F.onesLike(H(t), dt(o, null))), o);
}
export function fullLike(t: Tensor, value: number, o: CreateOptions = {}): Tensor {
  return finish(T(F.fullLike(H(t), value, dt(o, null))), o);
}
export function randnLike(t: Tensor): Tensor {
  return T(F.randnLike(H(t)));
}
/** A 0-dim tensor. */
export function scalarTensor(x: number, dtype: DType = "float32"): Tensor {
  return T(F.scalarTensor(x, DTYPE_CODE[dtype]));
}

// <generated name="functions"> codegen/gen_ops.ts from codegen/surface.ts: do not edit by hand
const G = {
  cat: op("aten::cat"),
  conv2d: op("aten::conv2d"),
  conv3d: op("aten::conv3d"),
  embedding: op("aten::embedding"),
  layer_norm: op("aten::layer_norm"),
  linear: op("aten::linear"),
  stack: op("aten::stack"),
  where_ScalarOther: op("aten::where.ScalarOther"),
  where_self: op("aten::where.self"),
};

/**
 * aten::cat(Tensor[] tensors, int dim=0) -> Tensor
 */
export function cat(tensors: Tensor[], dim?: number): Tensor {
  return T(
    G.cat(
      tensors.map((x) => H(x)),
      dim,
    ),
  );
}

/**
 * aten::stack(Tensor[] tensors, int dim=0) -> Tensor
 */
export function stack(tensors: Tensor[], dim?: number): Tensor {
  return T(
    G.stack(
      tensors.map((x) => H(x)),
      dim,
    ),
  );
}

/**
 * Elementwise `condition ? self : other`.
 * aten::where.self(Tensor condition, Tensor self, Tensor other) -> Tensor
 * aten::where.ScalarOther(Tensor condition, Tensor self, Scalar other) -> Tensor
 */
export function where(condition: Tensor, self: Tensor, other: Tensor | number | boolean): Tensor {
  return T(
    typeof other === "object"
      ? G.where_self(H(condition), H(self), H(other))
      : G.where_ScalarOther(H(condition), H(self), other),
  );
}

/**
 * y = x W^T + b (W: [out, in], as torch.nn.functional.linear).
 * aten::linear(Tensor input, Tensor weight, Tensor? bias=None) -> Tensor
 */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return T(G.linear(H(input), H(weight), bias == null ? null : H(bias)));
}

/**
 * aten::embedding(Tensor weight, Tensor indices, int padding_idx=-1, bool scale_grad_by_freq=False, bool sparse=False) -> Tensor
 */
export function embedding(
  weight: Tensor,
  indices: Tensor,
  paddingIdx?: number,
  scaleGradByFreq?: boolean,
  sparse?: boolean,
): Tensor {
  return T(G.embedding(H(weight), H(indices), paddingIdx, scaleGradByFreq, sparse));
}

/**
 * aten::layer_norm(Tensor input, int[] normalized_shape, Tensor? weight=None, Tensor? bias=None, float eps=1.0000000000000001e-05, bool cudnn_enable=True) -> Tensor
 */
export function layerNorm(
  input: Tensor,
  normalizedShape: number[] | number,
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps?: number,
  cudnnEnable?: boolean,
): Tensor {
  return T(
    G.layer_norm(
      H(input),
      normalizedShape,
      weight == null ? null : H(weight),
      bias == null ? null : H(bias),
      eps,
      cudnnEnable,
    ),
  );
}

/**
 * aten::conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, int[2] dilation=1, int groups=1) -> Tensor
 */
export function conv2d(
  input: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  stride?: number[] | number,
  padding?: number[] | number,
  dilation?: number[] | number,
  groups?: number,
): Tensor {
  return T(G.conv2d(H(input), H(weight), bias == null ? null : H(bias), stride, padding, dilation, groups));
}

/**
 * aten::conv3d(Tensor input, Tensor weight, Tensor? bias=None, int[3] stride=1, int[3] padding=0, int[3] dilation=1, int groups=1) -> Tensor
 */
export function conv3d(
  input: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  stride?: number[] | number,
  padding?: number[] | number,
  dilation?: number[] | number,
  groups?: number,
): Tensor {
  return T(G.conv3d(H(input), H(weight), bias == null ? null : H(bias), stride, padding, dilation, groups));
}
// </generated>

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
  return T(F.crossEntropy(H(logits), H(target), null, red, opts.ignoreIndex ?? -100, opts.labelSmoothing ?? 0));
}
/**
 * Dropout: zeroes elements with probability p and scales the rest by 1/(1-p) when `train`. With a Generator the
 * mask comes from that stream, computed as ATen's dropout does (bernoulli_(1-p) mask divided by 1-p, times x).
 */
export function dropout(x: Tensor, p: number, train: boolean, generator?: Generator | null): Tensor {
  const g = nativeGenerator(generator);
  if (!g || !train || p === 0) return T(F.dropout(H(x), p, train));
  if (p === 1) {
    using zero = T(F.zerosLike(H(x)));
    return T(F.mul(H(x), H(zero)));
  }
  using noise = T(F.emptyLike(H(x)));
  native.dispose(F.bernoulli_(H(noise), 1 - p, g) as NativeHandle);
  native.dispose(F.divS_(H(noise), 1 - p) as NativeHandle);
  return T(F.mul(H(x), H(noise)));
}
