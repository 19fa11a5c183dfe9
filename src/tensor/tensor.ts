/**
 * Tensor: one owning handle to a libtorch tensor, plus typed methods for the operators the models and trainers use.
 *
 * Ownership (STYLE.md (e)): every op returns a new, caller-owned Tensor; methods never dispose `this` or their
 * arguments. Free a tensor with `dispose()` / `using`, or let a `tidy()` scope free temporaries. A GC finalizer in
 * the native layer is only a safety net. Every method goes through the one boxed dispatcher path (op.ts).
 */
import { native, type NativeHandle, type NativeValue } from "../native/index.ts";
import { DTYPE_CODE, dtypeFromCode, typedArrayFromBuffer, type AnyTypedArray, type DType } from "./dtype.ts";
import { op, opId } from "./op.ts";
import { track, type Scoped } from "./scope.ts";
import { Generator, nativeGenerator } from "./generator.ts";

export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | number;

/** Wraps a native return value: handles become Tensors (recursively through tuples/lists). */
export function wrapValue(v: NativeValue): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(wrapValue);
  return new Tensor(v);
}

/** Converts Tensors (recursively through arrays) into native handles for a raw call. */
export function unwrapArg(a: unknown): unknown {
  if (a instanceof Tensor) return handleOf(a);
  if (a instanceof Generator) return nativeGenerator(a);
  if (Array.isArray(a)) return a.map(unwrapArg);
  return a;
}

function T(v: NativeValue): Tensor {
  return new Tensor(v as NativeHandle);
}

function pair(v: NativeValue): [Tensor, Tensor] {
  const a = v as NativeHandle[];
  return [new Tensor(a[0]!), new Tensor(a[1]!)];
}

function list(v: NativeValue): Tensor[] {
  return (v as NativeHandle[]).map((h) => new Tensor(h));
}

function disposedError(): Error {
  return new Error(
    "tensor was disposed: it cannot be used after dispose(), after the tidy() scope that created it ended " +
      "(return it from the scope or keep() it), or after assign() moved its data to another tensor",
  );
}

/**
 * The native handle of a live tensor, for the tensor layer only (ops.ts, autograd.ts, generated_support.ts):
 * it is not exported from src/tensor/index.ts. Never keep a handle beyond the call it is passed to: after the tensor
 * is disposed the handle may point to freed memory. Throws the "tensor was disposed" error for a disposed tensor.
 */
export let handleOf: (t: Tensor) => NativeHandle;

// Operators of the generated methods, resolved lazily (first call) and cached by id.
// <generated name="op-table"> codegen/gen_ops.ts from codegen/surface.ts: do not edit by hand
const G = {
  abs: op("aten::abs"),
  add_Scalar: op("aten::add.Scalar"),
  add_Tensor: op("aten::add.Tensor"),
  add__Tensor: op("aten::add_.Tensor"),
  addcdiv_: op("aten::addcdiv_"),
  addcmul_: op("aten::addcmul_"),
  alias: op("aten::alias"),
  all: op("aten::all"),
  amax: op("aten::amax"),
  amin: op("aten::amin"),
  any: op("aten::any"),
  argmax: op("aten::argmax"),
  argmin: op("aten::argmin"),
  argsort: op("aten::argsort"),
  bernoulli: op("aten::bernoulli"),
  bernoulli__float: op("aten::bernoulli_.float"),
  bmm: op("aten::bmm"),
  ceil: op("aten::ceil"),
  chunk: op("aten::chunk"),
  clamp: op("aten::clamp"),
  clone: op("aten::clone"),
  contiguous: op("aten::contiguous"),
  copy_: op("aten::copy_"),
  cos: op("aten::cos"),
  cumsum: op("aten::cumsum"),
  detach: op("aten::detach"),
  eq_Scalar: op("aten::eq.Scalar"),
  eq_Tensor: op("aten::eq.Tensor"),
  exp: op("aten::exp"),
  expand: op("aten::expand"),
  fill__Scalar: op("aten::fill_.Scalar"),
  flatten_using_ints: op("aten::flatten.using_ints"),
  flip: op("aten::flip"),
  floor: op("aten::floor"),
  gather: op("aten::gather"),
  ge_Scalar: op("aten::ge.Scalar"),
  ge_Tensor: op("aten::ge.Tensor"),
  gelu: op("aten::gelu"),
  gt_Scalar: op("aten::gt.Scalar"),
  gt_Tensor: op("aten::gt.Tensor"),
  index_Tensor: op("aten::index.Tensor"),
  index_put: op("aten::index_put"),
  index_put_: op("aten::index_put_"),
  index_select: op("aten::index_select"),
  isfinite: op("aten::isfinite"),
  isnan: op("aten::isnan"),
  le_Scalar: op("aten::le.Scalar"),
  le_Tensor: op("aten::le.Tensor"),
  lerp__Scalar: op("aten::lerp_.Scalar"),
  linalg_vector_norm: op("aten::linalg_vector_norm"),
  log: op("aten::log"),
  log1p: op("aten::log1p"),
  log_softmax_int: op("aten::log_softmax.int"),
  logical_and: op("aten::logical_and"),
  logical_not: op("aten::logical_not"),
  logical_or: op("aten::logical_or"),
  logsumexp: op("aten::logsumexp"),
  lt_Scalar: op("aten::lt.Scalar"),
  lt_Tensor: op("aten::lt.Tensor"),
  masked_fill_Scalar: op("aten::masked_fill.Scalar"),
  masked_fill_Tensor: op("aten::masked_fill.Tensor"),
  masked_scatter: op("aten::masked_scatter"),
  masked_select: op("aten::masked_select"),
  matmul: op("aten::matmul"),
  max: op("aten::max"),
  max_dim: op("aten::max.dim"),
  maximum: op("aten::maximum"),
  min: op("aten::min"),
  min_dim: op("aten::min.dim"),
  minimum: op("aten::minimum"),
  mm: op("aten::mm"),
  mul_Scalar: op("aten::mul.Scalar"),
  mul_Tensor: op("aten::mul.Tensor"),
  mul__Scalar: op("aten::mul_.Scalar"),
  mul__Tensor: op("aten::mul_.Tensor"),
  multinomial: op("aten::multinomial"),
  nan_to_num: op("aten::nan_to_num"),
  narrow: op("aten::narrow"),
  ne_Scalar: op("aten::ne.Scalar"),
  ne_Tensor: op("aten::ne.Tensor"),
  neg: op("aten::neg"),
  nonzero: op("aten::nonzero"),
  normal_: op("aten::normal_"),
  outer: op("aten::outer"),
  permute: op("aten::permute"),
  pow_Tensor_Scalar: op("aten::pow.Tensor_Scalar"),
  pow_Tensor_Tensor: op("aten::pow.Tensor_Tensor"),
  prod: op("aten::prod"),
  reciprocal: op("aten::reciprocal"),
  relu: op("aten::relu"),
  remainder_Scalar: op("aten::remainder.Scalar"),
  remainder_Tensor: op("aten::remainder.Tensor"),
  repeat: op("aten::repeat"),
  repeat_interleave_self_Tensor: op("aten::repeat_interleave.self_Tensor"),
  repeat_interleave_self_int: op("aten::repeat_interleave.self_int"),
  reshape: op("aten::reshape"),
  roll: op("aten::roll"),
  round: op("aten::round"),
  rsqrt: op("aten::rsqrt"),
  rsub_Scalar: op("aten::rsub.Scalar"),
  scatter_add: op("aten::scatter_add"),
  scatter_src: op("aten::scatter.src"),
  select_int: op("aten::select.int"),
  sigmoid: op("aten::sigmoid"),
  sign: op("aten::sign"),
  silu: op("aten::silu"),
  sin: op("aten::sin"),
  slice_Tensor: op("aten::slice.Tensor"),
  softmax_int: op("aten::softmax.int"),
  sort: op("aten::sort"),
  split_Tensor: op("aten::split.Tensor"),
  split_with_sizes: op("aten::split_with_sizes"),
  sqrt: op("aten::sqrt"),
  sub_Scalar: op("aten::sub.Scalar"),
  sub_Tensor: op("aten::sub.Tensor"),
  tanh: op("aten::tanh"),
  topk: op("aten::topk"),
  transpose_int: op("aten::transpose.int"),
  tril: op("aten::tril"),
  triu: op("aten::triu"),
  unbind_int: op("aten::unbind.int"),
  uniform_: op("aten::uniform_"),
  unsqueeze: op("aten::unsqueeze"),
  var_correction: op("aten::var.correction"),
  view: op("aten::view"),
  zero_: op("aten::zero_"),
};
// </generated>

const divOps = {
  Tensor: op("aten::div.Tensor"),
  Scalar: op("aten::div.Scalar"),
  Tensor_mode: op("aten::div.Tensor_mode"),
};
const sumOps = { all: op("aten::sum"), dim: op("aten::sum.dim_IntList") };
const meanOps = { all: op("aten::mean"), dim: op("aten::mean.dim") };
const squeezeOps = { all: op("aten::squeeze"), dim: op("aten::squeeze.dim") };
const toOps = { dtype: op("aten::to.dtype"), device: op("aten::to.device") };
const mulOp = op("aten::mul.Tensor");

export class Tensor implements Scoped, Disposable {
  #h: NativeHandle | null;
  #shape: number[] | undefined;
  #dtype: DType | undefined;
  /** Scope bookkeeping (scope.ts); not part of the public API. */
  scopeDepth = 0;

  constructor(handle: NativeHandle) {
    this.#h = handle;
    track(this);
  }

  /** The native handle; throws if this tensor was disposed. Private: see handleOf for the tensor layer. */
  #hd(): NativeHandle {
    const h = this.#h;
    if (h === null) throw disposedError();
    return h;
  }

  static {
    handleOf = (t) => t.#hd();
  }

  get isDisposed(): boolean {
    return this.#h === null;
  }

  /** Scope bookkeeping (scope.ts): this tensor left every scope, so it needs the GC safety net. */
  untracked(): void {
    if (this.#h !== null) native.attachFinalizer(this.#h);
  }

  /** Frees the tensor's reference now. Idempotent. */
  dispose(): void {
    if (this.#h !== null) {
      native.dispose(this.#h);
      this.#h = null;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Makes this Tensor object take over `other`'s handle (like tfjs `Variable.assign`): the old data is released,
   * `other` becomes disposed. Used to change a parameter's dtype/device while modules keep their references.
   */
  assign(other: Tensor): this {
    if (other === this) return this;
    const nh = other.#hd();
    other.#h = null;
    if (this.#h !== null) native.dispose(this.#h);
    this.#h = nh;
    if (this.scopeDepth === 0) native.attachFinalizer(nh);
    this.#shape = undefined;
    this.#dtype = undefined;
    return this;
  }

  // ---- metadata -------------------------------------------------------------------------------------------------
  get shape(): number[] {
    return (this.#shape ??= native.shape(this.#hd()));
  }
  get dtype(): DType {
    return (this.#dtype ??= dtypeFromCode(native.dtype(this.#hd())));
  }
  get device(): string {
    return native.meta(this.#hd())[2];
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    let n = 1;
    for (const s of this.shape) n *= s;
    return n;
  }
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`size(${dim}): tensor has ${s.length} dims`);
    return s[d]!;
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
  toString(): string {
    return this.isDisposed ? "Tensor(<disposed>)" : `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype})`;
  }

  // ---- data out -------------------------------------------------------------------------------------------------
  /** Copies the data into a typed array (float16/bfloat16 are converted to float32; int64 to BigInt64Array). */
  toArray(): AnyTypedArray {
    const d = this.dtype;
    if (d === "float16" || d === "bfloat16") {
      using f = this.to("float32");
      return f.toArray();
    }
    return typedArrayFromBuffer(native.toBuffer(this.#hd()), d);
  }
  /** Data as float32 regardless of dtype. */
  toFloat32(): Float32Array {
    if (this.dtype === "float32") return this.toArray() as Float32Array;
    using f = this.to("float32");
    return f.toArray() as Float32Array;
  }
  /** Data as plain numbers (int64 converted with Number()). */
  toNumbers(): number[] {
    const a = this.toArray();
    return a instanceof BigInt64Array ? Array.from(a, Number) : Array.from(a as ArrayLike<number>);
  }
  /** Zero-copy view of a contiguous CPU tensor's memory (keeps the storage alive while referenced). */
  dataView(): ArrayBuffer {
    return native.view(this.#hd());
  }
  /** The value of a one-element tensor. Host sync point on accelerators. */
  item(): number {
    const v = native.item(this.#hd());
    return typeof v === "boolean" ? (v ? 1 : 0) : v;
  }

  // ---- autograd -------------------------------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return native.meta(this.#hd())[3];
  }
  /** Sets requires_grad in place; returns this. */
  requiresGrad_(v = true): this {
    native.setRequiresGrad(this.#hd(), v);
    return this;
  }
  /** A new handle to the accumulated gradient, or null. The caller owns the returned tensor. */
  get grad(): Tensor | null {
    const g = native.getGrad(this.#hd());
    return g === null ? null : new Tensor(g);
  }
  /** Replaces the gradient (null frees it: zero_grad with set_to_none). */
  setGrad(g: Tensor | null): void {
    native.setGrad(this.#hd(), g === null ? null : g.#hd());
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.#hd());
  }
  get gradFn(): string | null {
    return native.gradFn(this.#hd());
  }
  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward([this.#hd()], gradient ? [gradient.#hd()] : null, !!opts.retainGraph, !!opts.createGraph);
  }

  // ---- hand-written conveniences (codegen/surface.ts HAND_WRITTEN says why each is not generated) ---------------
  /** Division; with roundingMode "trunc" or "floor" as torch.div(..., rounding_mode=). */
  div(o: TensorOrScalar, roundingMode?: "trunc" | "floor"): Tensor {
    if (roundingMode) {
      if (typeof o !== "number") return T(divOps.Tensor_mode(this.#hd(), o.#hd(), roundingMode));
      using s = scalarLike(this, o);
      return T(divOps.Tensor_mode(this.#hd(), s.#hd(), roundingMode));
    }
    return T(typeof o === "number" ? divOps.Scalar(this.#hd(), o) : divOps.Tensor(this.#hd(), o.#hd()));
  }
  square(): Tensor {
    return T(mulOp(this.#hd(), this.#hd()));
  }
  /** Transpose of the last two dims. */
  get mT(): Tensor {
    return this.transpose(-2, -1);
  }
  /** Sum over all elements, or over `dim`. */
  sum(dim?: number | number[], keepdim = false, dtype?: DType): Tensor {
    const dt = dtype ? DTYPE_CODE[dtype] : null;
    return T(dim === undefined ? sumOps.all(this.#hd(), dt) : sumOps.dim(this.#hd(), dim, keepdim, dt));
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return T(dim === undefined ? meanOps.all(this.#hd()) : meanOps.dim(this.#hd(), dim, keepdim));
  }
  squeeze(dim?: number): Tensor {
    return T(dim === undefined ? squeezeOps.all(this.#hd()) : squeezeOps.dim(this.#hd(), dim));
  }
  /** Cast to a dtype or move to a device ("cpu", "cuda:0"). Always returns a new handle. */
  to(target: DType | { device: string; dtype?: DType }): Tensor {
    if (typeof target === "string") return T(toOps.dtype(this.#hd(), DTYPE_CODE[target], false, false));
    const dt = DTYPE_CODE[target.dtype ?? this.dtype];
    return T(toOps.device(this.#hd(), target.device, dt, false, false));
  }
  float(): Tensor {
    return this.to("float32");
  }
  long(): Tensor {
    return this.to("int64");
  }

  // ---- generated from the schemas (codegen/surface.ts lists the names and overloads) ---------------------------
  // <generated name="methods"> codegen/gen_ops.ts from codegen/surface.ts: do not edit by hand
  /**
   * aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor
   * aten::add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor
   */
  add(other: Tensor | number | boolean, alpha?: number | boolean): Tensor {
    return T(
      typeof other === "object" ? G.add_Tensor(this.#hd(), other.#hd(), alpha) : G.add_Scalar(this.#hd(), other, alpha),
    );
  }
  /**
   * aten::sub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor
   * aten::sub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor
   */
  sub(other: Tensor | number | boolean, alpha?: number | boolean): Tensor {
    return T(
      typeof other === "object" ? G.sub_Tensor(this.#hd(), other.#hd(), alpha) : G.sub_Scalar(this.#hd(), other, alpha),
    );
  }
  /**
   * `other - alpha·this` for a scalar other.
   * aten::rsub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor
   */
  rsub(other: number | boolean, alpha?: number | boolean): Tensor {
    return T(G.rsub_Scalar(this.#hd(), other, alpha));
  }
  /**
   * aten::mul.Tensor(Tensor self, Tensor other) -> Tensor
   * aten::mul.Scalar(Tensor self, Scalar other) -> Tensor
   */
  mul(other: Tensor | number | boolean): Tensor {
    return T(typeof other === "object" ? G.mul_Tensor(this.#hd(), other.#hd()) : G.mul_Scalar(this.#hd(), other));
  }
  /**
   * aten::remainder.Tensor(Tensor self, Tensor other) -> Tensor
   * aten::remainder.Scalar(Tensor self, Scalar other) -> Tensor
   */
  remainder(other: Tensor | number | boolean): Tensor {
    return T(
      typeof other === "object" ? G.remainder_Tensor(this.#hd(), other.#hd()) : G.remainder_Scalar(this.#hd(), other),
    );
  }
  /**
   * aten::neg(Tensor self) -> Tensor
   */
  neg(): Tensor {
    return T(G.neg(this.#hd()));
  }
  /**
   * aten::pow.Tensor_Tensor(Tensor self, Tensor exponent) -> Tensor
   * aten::pow.Tensor_Scalar(Tensor self, Scalar exponent) -> Tensor
   */
  pow(exponent: Tensor | number | boolean): Tensor {
    return T(
      typeof exponent === "object"
        ? G.pow_Tensor_Tensor(this.#hd(), exponent.#hd())
        : G.pow_Tensor_Scalar(this.#hd(), exponent),
    );
  }
  /**
   * aten::sqrt(Tensor self) -> Tensor
   */
  sqrt(): Tensor {
    return T(G.sqrt(this.#hd()));
  }
  /**
   * aten::rsqrt(Tensor self) -> Tensor
   */
  rsqrt(): Tensor {
    return T(G.rsqrt(this.#hd()));
  }
  /**
   * aten::exp(Tensor self) -> Tensor
   */
  exp(): Tensor {
    return T(G.exp(this.#hd()));
  }
  /**
   * aten::log(Tensor self) -> Tensor
   */
  log(): Tensor {
    return T(G.log(this.#hd()));
  }
  /**
   * aten::log1p(Tensor self) -> Tensor
   */
  log1p(): Tensor {
    return T(G.log1p(this.#hd()));
  }
  /**
   * aten::abs(Tensor self) -> Tensor
   */
  abs(): Tensor {
    return T(G.abs(this.#hd()));
  }
  /**
   * aten::sign(Tensor self) -> Tensor
   */
  sign(): Tensor {
    return T(G.sign(this.#hd()));
  }
  /**
   * aten::cos(Tensor self) -> Tensor
   */
  cos(): Tensor {
    return T(G.cos(this.#hd()));
  }
  /**
   * aten::sin(Tensor self) -> Tensor
   */
  sin(): Tensor {
    return T(G.sin(this.#hd()));
  }
  /**
   * aten::tanh(Tensor self) -> Tensor
   */
  tanh(): Tensor {
    return T(G.tanh(this.#hd()));
  }
  /**
   * aten::sigmoid(Tensor self) -> Tensor
   */
  sigmoid(): Tensor {
    return T(G.sigmoid(this.#hd()));
  }
  /**
   * aten::relu(Tensor self) -> Tensor
   */
  relu(): Tensor {
    return T(G.relu(this.#hd()));
  }
  /**
   * aten::silu(Tensor self) -> Tensor
   */
  silu(): Tensor {
    return T(G.silu(this.#hd()));
  }
  /**
   * approximate "tanh" as in `gelu_pytorch_tanh`, "none" (exact erf) by default.
   * aten::gelu(Tensor self, *, str approximate="none") -> Tensor
   */
  gelu(approximate?: string): Tensor {
    return T(G.gelu(this.#hd(), approximate));
  }
  /**
   * aten::floor(Tensor self) -> Tensor
   */
  floor(): Tensor {
    return T(G.floor(this.#hd()));
  }
  /**
   * aten::ceil(Tensor self) -> Tensor
   */
  ceil(): Tensor {
    return T(G.ceil(this.#hd()));
  }
  /**
   * aten::round(Tensor self) -> Tensor
   */
  round(): Tensor {
    return T(G.round(this.#hd()));
  }
  /**
   * aten::reciprocal(Tensor self) -> Tensor
   */
  reciprocal(): Tensor {
    return T(G.reciprocal(this.#hd()));
  }
  /**
   * aten::clamp(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor
   */
  clamp(min?: number | boolean | null, max?: number | boolean | null): Tensor {
    return T(G.clamp(this.#hd(), min, max));
  }
  /**
   * aten::maximum(Tensor self, Tensor other) -> Tensor
   */
  maximum(other: Tensor): Tensor {
    return T(G.maximum(this.#hd(), other.#hd()));
  }
  /**
   * aten::minimum(Tensor self, Tensor other) -> Tensor
   */
  minimum(other: Tensor): Tensor {
    return T(G.minimum(this.#hd(), other.#hd()));
  }
  /**
   * aten::nan_to_num(Tensor self, float? nan=None, float? posinf=None, float? neginf=None) -> Tensor
   */
  nanToNum(nan?: number | null, posinf?: number | null, neginf?: number | null): Tensor {
    return T(G.nan_to_num(this.#hd(), nan, posinf, neginf));
  }
  /**
   * aten::eq.Tensor(Tensor self, Tensor other) -> Tensor
   * aten::eq.Scalar(Tensor self, Scalar other) -> Tensor
   */
  eq(other: Tensor | number | boolean): Tensor {
    return T(typeof other === "object" ? G.eq_Tensor(this.#hd(), other.#hd()) : G.eq_Scalar(this.#hd(), other));
  }
  /**
   * aten::ne.Tensor(Tensor self, Tensor other) -> Tensor
   * aten::ne.Scalar(Tensor self, Scalar other) -> Tensor
   */
  ne(other: Tensor | number | boolean): Tensor {
    return T(typeof other === "object" ? G.ne_Tensor(this.#hd(), other.#hd()) : G.ne_Scalar(this.#hd(), other));
  }
  /**
   * aten::lt.Tensor(Tensor self, Tensor other) -> Tensor
   * aten::lt.Scalar(Tensor self, Scalar other) -> Tensor
   */
  lt(other: Tensor | number | boolean): Tensor {
    return T(typeof other === "object" ? G.lt_Tensor(this.#hd(), other.#hd()) : G.lt_Scalar(this.#hd(), other));
  }
  /**
   * aten::le.Tensor(Tensor self, Tensor other) -> Tensor
   * aten::le.Scalar(Tensor self, Scalar other) -> Tensor
   */
  le(other: Tensor | number | boolean): Tensor {
    return T(typeof other === "object" ? G.le_Tensor(this.#hd(), other.#hd()) : G.le_Scalar(this.#hd(), other));
  }
  /**
   * aten::gt.Tensor(Tensor self, Tensor other) -> Tensor
   * aten::gt.Scalar(Tensor self, Scalar other) -> Tensor
   */
  gt(other: Tensor | number | boolean): Tensor {
    return T(typeof other === "object" ? G.gt_Tensor(this.#hd(), other.#hd()) : G.gt_Scalar(this.#hd(), other));
  }
  /**
   * aten::ge.Tensor(Tensor self, Tensor other) -> Tensor
   * aten::ge.Scalar(Tensor self, Scalar other) -> Tensor
   */
  ge(other: Tensor | number | boolean): Tensor {
    return T(typeof other === "object" ? G.ge_Tensor(this.#hd(), other.#hd()) : G.ge_Scalar(this.#hd(), other));
  }
  /**
   * aten::logical_and(Tensor self, Tensor other) -> Tensor
   */
  logicalAnd(other: Tensor): Tensor {
    return T(G.logical_and(this.#hd(), other.#hd()));
  }
  /**
   * aten::logical_or(Tensor self, Tensor other) -> Tensor
   */
  logicalOr(other: Tensor): Tensor {
    return T(G.logical_or(this.#hd(), other.#hd()));
  }
  /**
   * aten::logical_not(Tensor self) -> Tensor
   */
  logicalNot(): Tensor {
    return T(G.logical_not(this.#hd()));
  }
  /**
   * aten::isfinite(Tensor self) -> Tensor
   */
  isfinite(): Tensor {
    return T(G.isfinite(this.#hd()));
  }
  /**
   * aten::isnan(Tensor self) -> Tensor
   */
  isnan(): Tensor {
    return T(G.isnan(this.#hd()));
  }
  /**
   * aten::matmul(Tensor self, Tensor other) -> Tensor
   */
  matmul(other: Tensor): Tensor {
    return T(G.matmul(this.#hd(), other.#hd()));
  }
  /**
   * aten::mm(Tensor self, Tensor mat2) -> Tensor
   */
  mm(mat2: Tensor): Tensor {
    return T(G.mm(this.#hd(), mat2.#hd()));
  }
  /**
   * aten::bmm(Tensor self, Tensor mat2) -> Tensor
   */
  bmm(mat2: Tensor): Tensor {
    return T(G.bmm(this.#hd(), mat2.#hd()));
  }
  /**
   * aten::outer(Tensor self, Tensor vec2) -> Tensor
   */
  outer(vec2: Tensor): Tensor {
    return T(G.outer(this.#hd(), vec2.#hd()));
  }
  /**
   * Maximum over all elements.
   * aten::max(Tensor self) -> Tensor
   */
  max(): Tensor {
    return T(G.max(this.#hd()));
  }
  /**
   * [values, indices] along a dim.
   * aten::max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)
   */
  maxDim(dim: number, keepdim?: boolean): [Tensor, Tensor] {
    return pair(G.max_dim(this.#hd(), dim, keepdim));
  }
  /**
   * aten::min(Tensor self) -> Tensor
   */
  min(): Tensor {
    return T(G.min(this.#hd()));
  }
  /**
   * aten::min.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)
   */
  minDim(dim: number, keepdim?: boolean): [Tensor, Tensor] {
    return pair(G.min_dim(this.#hd(), dim, keepdim));
  }
  /**
   * aten::amax(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor
   */
  amax(dim?: number[] | number, keepdim?: boolean): Tensor {
    return T(G.amax(this.#hd(), dim, keepdim));
  }
  /**
   * aten::amin(Tensor self, int[1] dim=[], bool keepdim=False) -> Tensor
   */
  amin(dim?: number[] | number, keepdim?: boolean): Tensor {
    return T(G.amin(this.#hd(), dim, keepdim));
  }
  /**
   * aten::argmax(Tensor self, int? dim=None, bool keepdim=False) -> Tensor
   */
  argmax(dim?: number | null, keepdim?: boolean): Tensor {
    return T(G.argmax(this.#hd(), dim, keepdim));
  }
  /**
   * aten::argmin(Tensor self, int? dim=None, bool keepdim=False) -> Tensor
   */
  argmin(dim?: number | null, keepdim?: boolean): Tensor {
    return T(G.argmin(this.#hd(), dim, keepdim));
  }
  /**
   * aten::logsumexp(Tensor self, int[1] dim, bool keepdim=False) -> Tensor
   */
  logsumexp(dim: number[] | number, keepdim?: boolean): Tensor {
    return T(G.logsumexp(this.#hd(), dim, keepdim));
  }
  /**
   * aten::prod(Tensor self, *, ScalarType? dtype=None) -> Tensor
   */
  prod(dtype?: DType | null): Tensor {
    return T(G.prod(this.#hd(), dtype == null ? dtype : DTYPE_CODE[dtype]));
  }
  /**
   * Variance with Bessel correction `correction` (default 1, as torch.var).
   * aten::var.correction(Tensor self, int[1]? dim, *, int? correction, bool keepdim=False) -> Tensor
   */
  var(dim?: number[] | number | null, correction?: number | null, keepdim?: boolean): Tensor {
    return T(G.var_correction(this.#hd(), dim, correction, keepdim));
  }
  /**
   * Vector p-norm over all elements or given dims.
   * aten::linalg_vector_norm(Tensor self, Scalar ord=2, int[1]? dim=None, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor
   */
  norm(ord?: number | boolean, dim?: number[] | number | null, keepdim?: boolean, dtype?: DType | null): Tensor {
    return T(G.linalg_vector_norm(this.#hd(), ord, dim, keepdim, dtype == null ? dtype : DTYPE_CODE[dtype]));
  }
  /**
   * aten::all(Tensor self) -> Tensor
   */
  all(): Tensor {
    return T(G.all(this.#hd()));
  }
  /**
   * aten::any(Tensor self) -> Tensor
   */
  any(): Tensor {
    return T(G.any(this.#hd()));
  }
  /**
   * aten::softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor
   */
  softmax(dim: number, dtype?: DType | null): Tensor {
    return T(G.softmax_int(this.#hd(), dim, dtype == null ? dtype : DTYPE_CODE[dtype]));
  }
  /**
   * aten::log_softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor
   */
  logSoftmax(dim: number, dtype?: DType | null): Tensor {
    return T(G.log_softmax_int(this.#hd(), dim, dtype == null ? dtype : DTYPE_CODE[dtype]));
  }
  /**
   * aten::cumsum(Tensor self, int dim, *, ScalarType? dtype=None) -> Tensor
   */
  cumsum(dim: number, dtype?: DType | null): Tensor {
    return T(G.cumsum(this.#hd(), dim, dtype == null ? dtype : DTYPE_CODE[dtype]));
  }
  /**
   * [values, indices] of the k largest (or smallest) along dim.
   * aten::topk(Tensor self, int k, int dim=-1, bool largest=True, bool sorted=True) -> (Tensor values, Tensor indices)
   */
  topk(k: number, dim?: number, largest?: boolean, sorted?: boolean): [Tensor, Tensor] {
    return pair(G.topk(this.#hd(), k, dim, largest, sorted));
  }
  /**
   * aten::sort(Tensor self, int dim=-1, bool descending=False) -> (Tensor values, Tensor indices)
   */
  sort(dim?: number, descending?: boolean): [Tensor, Tensor] {
    return pair(G.sort(this.#hd(), dim, descending));
  }
  /**
   * aten::argsort(Tensor self, int dim=-1, bool descending=False) -> Tensor
   */
  argsort(dim?: number, descending?: boolean): Tensor {
    return T(G.argsort(this.#hd(), dim, descending));
  }
  /**
   * Samples indices from the rows of a probability tensor (from `generator`, else the default generator).
   * aten::multinomial(Tensor self, int num_samples, bool replacement=False, *, Generator? generator=None) -> Tensor
   */
  multinomial(numSamples: number, replacement?: boolean, generator?: Generator | null): Tensor {
    return T(G.multinomial(this.#hd(), numSamples, replacement, nativeGenerator(generator)));
  }
  /**
   * aten::triu(Tensor self, int diagonal=0) -> Tensor
   */
  triu(diagonal?: number): Tensor {
    return T(G.triu(this.#hd(), diagonal));
  }
  /**
   * aten::tril(Tensor self, int diagonal=0) -> Tensor
   */
  tril(diagonal?: number): Tensor {
    return T(G.tril(this.#hd(), diagonal));
  }
  /**
   * aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)
   */
  view(...size: number[]): Tensor {
    return T(G.view(this.#hd(), size));
  }
  /**
   * aten::reshape(Tensor(a) self, SymInt[] shape) -> Tensor(a)
   */
  reshape(...shape: number[]): Tensor {
    return T(G.reshape(this.#hd(), shape));
  }
  /**
   * aten::permute(Tensor(a) self, int[] dims) -> Tensor(a)
   */
  permute(...dims: number[]): Tensor {
    return T(G.permute(this.#hd(), dims));
  }
  /**
   * aten::transpose.int(Tensor(a) self, int dim0, int dim1) -> Tensor(a)
   */
  transpose(dim0: number, dim1: number): Tensor {
    return T(G.transpose_int(this.#hd(), dim0, dim1));
  }
  /**
   * aten::contiguous(Tensor(a) self, *, MemoryFormat memory_format=0) -> Tensor(a)
   */
  contiguous(memoryFormat?: number): Tensor {
    return T(G.contiguous(this.#hd(), memoryFormat));
  }
  /**
   * aten::expand(Tensor(a) self, SymInt[] size, *, bool implicit=False) -> Tensor(a)
   */
  expand(...size: number[]): Tensor {
    return T(G.expand(this.#hd(), size));
  }
  /**
   * aten::repeat(Tensor self, SymInt[] repeats) -> Tensor
   */
  repeat(...repeats: number[]): Tensor {
    return T(G.repeat(this.#hd(), repeats));
  }
  /**
   * aten::repeat_interleave.self_Tensor(Tensor self, Tensor repeats, int? dim=None, *, int? output_size=None) -> Tensor
   * aten::repeat_interleave.self_int(Tensor self, int repeats, int? dim=None, *, int? output_size=None) -> Tensor
   */
  repeatInterleave(repeats: Tensor | number, dim?: number | null, outputSize?: number | null): Tensor {
    return T(
      typeof repeats === "object"
        ? G.repeat_interleave_self_Tensor(this.#hd(), repeats.#hd(), dim, outputSize)
        : G.repeat_interleave_self_int(this.#hd(), repeats, dim, outputSize),
    );
  }
  /**
   * aten::unsqueeze(Tensor(a) self, int dim) -> Tensor(a)
   */
  unsqueeze(dim: number): Tensor {
    return T(G.unsqueeze(this.#hd(), dim));
  }
  /**
   * aten::flatten.using_ints(Tensor(a) self, int start_dim=0, int end_dim=-1) -> Tensor(a)
   */
  flatten(startDim?: number, endDim?: number): Tensor {
    return T(G.flatten_using_ints(this.#hd(), startDim, endDim));
  }
  /**
   * aten::flip(Tensor self, int[] dims) -> Tensor
   */
  flip(...dims: number[]): Tensor {
    return T(G.flip(this.#hd(), dims));
  }
  /**
   * aten::roll(Tensor self, int[1] shifts, int[1] dims=[]) -> Tensor
   */
  roll(shifts: number[] | number, dims?: number[] | number): Tensor {
    return T(G.roll(this.#hd(), shifts, dims));
  }
  /**
   * Python's `t[..., start:end:step, ...]` on one dim (a view). Negative and open bounds as in Python.
   * aten::slice.Tensor(Tensor(a) self, int dim=0, SymInt? start=None, SymInt? end=None, SymInt step=1) -> Tensor(a)
   */
  slice(dim?: number, start?: number | null, end?: number | null, step?: number): Tensor {
    return T(G.slice_Tensor(this.#hd(), dim, start, end, step));
  }
  /**
   * `t.select(dim, i)`: drops the dim (a view).
   * aten::select.int(Tensor(a) self, int dim, int index) -> Tensor(a)
   */
  select(dim: number, index: number): Tensor {
    return T(G.select_int(this.#hd(), dim, index));
  }
  /**
   * aten::narrow(Tensor(a) self, int dim, int start, int length) -> Tensor(a)
   */
  narrow(dim: number, start: number, length: number): Tensor {
    return T(G.narrow(this.#hd(), dim, start, length));
  }
  /**
   * Advanced indexing `t[i0, i1, ...]` with index tensors (null = full slice).
   * aten::index.Tensor(Tensor self, Tensor?[] indices) -> Tensor
   */
  index(indices: (Tensor | null)[]): Tensor {
    return T(
      G.index_Tensor(
        this.#hd(),
        indices.map((x) => (x === null ? null : x.#hd())),
      ),
    );
  }
  /**
   * Out-of-place `t[indices] = values` (accumulate adds instead).
   * aten::index_put(Tensor self, Tensor?[] indices, Tensor values, bool accumulate=False) -> Tensor
   */
  indexPut(indices: (Tensor | null)[], values: Tensor, accumulate?: boolean): Tensor {
    return T(
      G.index_put(
        this.#hd(),
        indices.map((x) => (x === null ? null : x.#hd())),
        values.#hd(),
        accumulate,
      ),
    );
  }
  /**
   * In-place `t[indices] = values`.
   * aten::index_put_(Tensor(a!) self, Tensor?[] indices, Tensor values, bool accumulate=False) -> Tensor(a!)
   */
  indexPut_(indices: (Tensor | null)[], values: Tensor, accumulate?: boolean): this {
    native.dispose(
      G.index_put_(
        this.#hd(),
        indices.map((x) => (x === null ? null : x.#hd())),
        values.#hd(),
        accumulate,
      ) as NativeHandle,
    );
    return this;
  }
  /**
   * aten::index_select(Tensor self, int dim, Tensor index) -> Tensor
   */
  indexSelect(dim: number, index: Tensor): Tensor {
    return T(G.index_select(this.#hd(), dim, index.#hd()));
  }
  /**
   * aten::gather(Tensor self, int dim, Tensor index, *, bool sparse_grad=False) -> Tensor
   */
  gather(dim: number, index: Tensor, sparseGrad?: boolean): Tensor {
    return T(G.gather(this.#hd(), dim, index.#hd(), sparseGrad));
  }
  /**
   * aten::scatter.src(Tensor self, int dim, Tensor index, Tensor src) -> Tensor
   */
  scatter(dim: number, index: Tensor, src: Tensor): Tensor {
    return T(G.scatter_src(this.#hd(), dim, index.#hd(), src.#hd()));
  }
  /**
   * aten::scatter_add(Tensor self, int dim, Tensor index, Tensor src) -> Tensor
   */
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return T(G.scatter_add(this.#hd(), dim, index.#hd(), src.#hd()));
  }
  /**
   * aten::masked_fill.Tensor(Tensor self, Tensor mask, Tensor value) -> Tensor
   * aten::masked_fill.Scalar(Tensor self, Tensor mask, Scalar value) -> Tensor
   */
  maskedFill(mask: Tensor, value: Tensor | number | boolean): Tensor {
    return T(
      typeof value === "object"
        ? G.masked_fill_Tensor(this.#hd(), mask.#hd(), value.#hd())
        : G.masked_fill_Scalar(this.#hd(), mask.#hd(), value),
    );
  }
  /**
   * Copies `source` elements, in order, where `mask` is true.
   * aten::masked_scatter(Tensor self, Tensor mask, Tensor source) -> Tensor
   */
  maskedScatter(mask: Tensor, source: Tensor): Tensor {
    return T(G.masked_scatter(this.#hd(), mask.#hd(), source.#hd()));
  }
  /**
   * aten::masked_select(Tensor self, Tensor mask) -> Tensor
   */
  maskedSelect(mask: Tensor): Tensor {
    return T(G.masked_select(this.#hd(), mask.#hd()));
  }
  /**
   * aten::nonzero(Tensor self) -> Tensor
   */
  nonzero(): Tensor {
    return T(G.nonzero(this.#hd()));
  }
  /**
   * aten::split_with_sizes(Tensor(a -> *) self, int[] split_sizes, int dim=0) -> Tensor(a)[]
   * aten::split.Tensor(Tensor(a -> *) self, int split_size, int dim=0) -> Tensor(a)[]
   */
  split(splitSizes: number[] | number | number, dim?: number): Tensor[] {
    return list(
      typeof splitSizes === "object"
        ? G.split_with_sizes(this.#hd(), splitSizes, dim)
        : G.split_Tensor(this.#hd(), splitSizes, dim),
    );
  }
  /**
   * aten::chunk(Tensor(a -> *) self, int chunks, int dim=0) -> Tensor(a)[]
   */
  chunk(chunks: number, dim?: number): Tensor[] {
    return list(G.chunk(this.#hd(), chunks, dim));
  }
  /**
   * aten::unbind.int(Tensor(a -> *) self, int dim=0) -> Tensor(a)[]
   */
  unbind(dim?: number): Tensor[] {
    return list(G.unbind_int(this.#hd(), dim));
  }
  /**
   * aten::clone(Tensor self, *, MemoryFormat? memory_format=None) -> Tensor
   */
  clone(memoryFormat?: number | null): Tensor {
    return T(G.clone(this.#hd(), memoryFormat));
  }
  /**
   * aten::detach(Tensor(a) self) -> Tensor(a)
   */
  detach(): Tensor {
    return T(G.detach(this.#hd()));
  }
  /**
   * A new handle sharing this tensor's data and autograd history (the way to "return an input").
   * aten::alias(Tensor(a) self) -> Tensor(a)
   */
  alias(): Tensor {
    return T(G.alias(this.#hd()));
  }
  /**
   * aten::copy_(Tensor(a!) self, Tensor src, bool non_blocking=False) -> Tensor(a!)
   */
  copy_(src: Tensor, nonBlocking?: boolean): this {
    native.dispose(G.copy_(this.#hd(), src.#hd(), nonBlocking) as NativeHandle);
    return this;
  }
  /**
   * aten::zero_(Tensor(a!) self) -> Tensor(a!)
   */
  zero_(): this {
    native.dispose(G.zero_(this.#hd()) as NativeHandle);
    return this;
  }
  /**
   * aten::fill_.Scalar(Tensor(a!) self, Scalar value) -> Tensor(a!)
   */
  fill_(value: number | boolean): this {
    native.dispose(G.fill__Scalar(this.#hd(), value) as NativeHandle);
    return this;
  }
  /**
   * aten::add_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)
   */
  add_(other: Tensor, alpha?: number | boolean): this {
    native.dispose(G.add__Tensor(this.#hd(), other.#hd(), alpha) as NativeHandle);
    return this;
  }
  /**
   * aten::mul_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)
   * aten::mul_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)
   */
  mul_(other: Tensor | number | boolean): this {
    native.dispose(
      (typeof other === "object"
        ? G.mul__Tensor(this.#hd(), other.#hd())
        : G.mul__Scalar(this.#hd(), other)) as NativeHandle,
    );
    return this;
  }
  /**
   * aten::addcmul_(Tensor(a!) self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor(a!)
   */
  addcmul_(tensor1: Tensor, tensor2: Tensor, value?: number | boolean): this {
    native.dispose(G.addcmul_(this.#hd(), tensor1.#hd(), tensor2.#hd(), value) as NativeHandle);
    return this;
  }
  /**
   * aten::addcdiv_(Tensor(a!) self, Tensor tensor1, Tensor tensor2, *, Scalar value=1) -> Tensor(a!)
   */
  addcdiv_(tensor1: Tensor, tensor2: Tensor, value?: number | boolean): this {
    native.dispose(G.addcdiv_(this.#hd(), tensor1.#hd(), tensor2.#hd(), value) as NativeHandle);
    return this;
  }
  /**
   * aten::lerp_.Scalar(Tensor(a!) self, Tensor end, Scalar weight) -> Tensor(a!)
   */
  lerp_(end: Tensor, weight: number | boolean): this {
    native.dispose(G.lerp__Scalar(this.#hd(), end.#hd(), weight) as NativeHandle);
    return this;
  }
  /**
   * aten::uniform_(Tensor(a!) self, float from=0., float to=1., *, Generator? generator=None) -> Tensor(a!)
   */
  uniform_(from?: number, to?: number, generator?: Generator | null): this {
    native.dispose(G.uniform_(this.#hd(), from, to, nativeGenerator(generator)) as NativeHandle);
    return this;
  }
  /**
   * aten::normal_(Tensor(a!) self, float mean=0., float std=1., *, Generator? generator=None) -> Tensor(a!)
   */
  normal_(mean?: number, std?: number, generator?: Generator | null): this {
    native.dispose(G.normal_(this.#hd(), mean, std, nativeGenerator(generator)) as NativeHandle);
    return this;
  }
  /**
   * Fills with 1 with probability p, else 0.
   * aten::bernoulli_.float(Tensor(a!) self, float p=0.5, *, Generator? generator=None) -> Tensor(a!)
   */
  bernoulli_(p?: number, generator?: Generator | null): this {
    native.dispose(G.bernoulli__float(this.#hd(), p, nativeGenerator(generator)) as NativeHandle);
    return this;
  }
  /**
   * 1 with probability `this` (elementwise), else 0.
   * aten::bernoulli(Tensor self, *, Generator? generator=None) -> Tensor
   */
  bernoulli(generator?: Generator | null): Tensor {
    return T(G.bernoulli(this.#hd(), nativeGenerator(generator)));
  }
  // </generated>
}

const scalarTensorOp = op("aten::scalar_tensor");

/** A 0-dim tensor of `x` with `like`'s dtype (for ops that have no Scalar overload). */
function scalarLike(like: Tensor, x: number): Tensor {
  return T(scalarTensorOp(x, DTYPE_CODE[like.dtype]));
}

/**
 * The escape hatch: calls any ATen operator by schema name ("aten::name.overload"), converting Tensors (also inside
 * arrays) to handles and returned handles to Tensors. Arguments follow the schema's order; `undefined` takes the
 * schema default, `null` is None. Untyped: prefer a Tensor method, a function of ops.ts or the typed `aten`
 * namespace (ops.generated.ts), and add an entry to codegen/surface.ts for an op the code calls often.
 */
export function callOp(qualified: string, ...args: unknown[]): unknown {
  return wrapValue(native.call(opId(qualified), ...args.map(unwrapArg)));
}
