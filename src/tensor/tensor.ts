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
  if (a instanceof Tensor) return a.handle;
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

const h = (t: Tensor) => t.handle;

// Operators, resolved lazily (first call) and cached by id.
const A = {
  add: op("aten::add.Tensor"),
  addS: op("aten::add.Scalar"),
  sub: op("aten::sub.Tensor"),
  subS: op("aten::sub.Scalar"),
  rsubS: op("aten::rsub.Scalar"),
  mul: op("aten::mul.Tensor"),
  mulS: op("aten::mul.Scalar"),
  div: op("aten::div.Tensor"),
  divS: op("aten::div.Scalar"),
  divMode: op("aten::div.Tensor_mode"),
  remainderS: op("aten::remainder.Scalar"),
  neg: op("aten::neg"),
  powS: op("aten::pow.Tensor_Scalar"),
  powT: op("aten::pow.Tensor_Tensor"),
  sqrt: op("aten::sqrt"),
  rsqrt: op("aten::rsqrt"),
  exp: op("aten::exp"),
  log: op("aten::log"),
  log1p: op("aten::log1p"),
  abs: op("aten::abs"),
  sign: op("aten::sign"),
  cos: op("aten::cos"),
  sin: op("aten::sin"),
  tanh: op("aten::tanh"),
  sigmoid: op("aten::sigmoid"),
  relu: op("aten::relu"),
  silu: op("aten::silu"),
  gelu: op("aten::gelu"),
  floor: op("aten::floor"),
  ceil: op("aten::ceil"),
  round: op("aten::round"),
  reciprocal: op("aten::reciprocal"),
  clamp: op("aten::clamp"),
  maximum: op("aten::maximum"),
  minimum: op("aten::minimum"),
  eq: op("aten::eq.Tensor"),
  eqS: op("aten::eq.Scalar"),
  ne: op("aten::ne.Tensor"),
  neS: op("aten::ne.Scalar"),
  lt: op("aten::lt.Tensor"),
  ltS: op("aten::lt.Scalar"),
  le: op("aten::le.Tensor"),
  leS: op("aten::le.Scalar"),
  gt: op("aten::gt.Tensor"),
  gtS: op("aten::gt.Scalar"),
  ge: op("aten::ge.Tensor"),
  geS: op("aten::ge.Scalar"),
  logicalAnd: op("aten::logical_and"),
  logicalOr: op("aten::logical_or"),
  logicalNot: op("aten::logical_not"),
  isfinite: op("aten::isfinite"),
  isnan: op("aten::isnan"),
  nanToNum: op("aten::nan_to_num"),
  matmul: op("aten::matmul"),
  mm: op("aten::mm"),
  bmm: op("aten::bmm"),
  sumAll: op("aten::sum"),
  sumDim: op("aten::sum.dim_IntList"),
  meanAll: op("aten::mean"),
  meanDim: op("aten::mean.dim"),
  maxAll: op("aten::max"),
  maxDim: op("aten::max.dim"),
  minAll: op("aten::min"),
  minDim: op("aten::min.dim"),
  amax: op("aten::amax"),
  amin: op("aten::amin"),
  argmax: op("aten::argmax"),
  argmin: op("aten::argmin"),
  logsumexp: op("aten::logsumexp"),
  prod: op("aten::prod"),
  varDim: op("aten::var.correction"),
  vnorm: op("aten::linalg_vector_norm"),
  all: op("aten::all"),
  any: op("aten::any"),
  softmax: op("aten::softmax.int"),
  logSoftmax: op("aten::log_softmax.int"),
  cumsum: op("aten::cumsum"),
  topk: op("aten::topk"),
  sort: op("aten::sort"),
  argsort: op("aten::argsort"),
  multinomial: op("aten::multinomial"),
  triu: op("aten::triu"),
  tril: op("aten::tril"),
  outer: op("aten::outer"),
  view: op("aten::view"),
  reshape: op("aten::reshape"),
  permute: op("aten::permute"),
  transpose: op("aten::transpose.int"),
  contiguous: op("aten::contiguous"),
  expand: op("aten::expand"),
  repeat: op("aten::repeat"),
  repeatInterleaveInt: op("aten::repeat_interleave.self_int"),
  repeatInterleaveT: op("aten::repeat_interleave.self_Tensor"),
  unsqueeze: op("aten::unsqueeze"),
  squeezeDim: op("aten::squeeze.dim"),
  squeeze: op("aten::squeeze"),
  flatten: op("aten::flatten.using_ints"),
  flip: op("aten::flip"),
  roll: op("aten::roll"),
  slice: op("aten::slice.Tensor"),
  select: op("aten::select.int"),
  narrow: op("aten::narrow"),
  index: op("aten::index.Tensor"),
  indexPut: op("aten::index_put"),
  indexPut_: op("aten::index_put_"),
  indexSelect: op("aten::index_select"),
  gather: op("aten::gather"),
  scatter: op("aten::scatter.src"),
  scatterAdd: op("aten::scatter_add"),
  maskedFill: op("aten::masked_fill.Scalar"),
  maskedFillT: op("aten::masked_fill.Tensor"),
  maskedScatter: op("aten::masked_scatter"),
  maskedSelect: op("aten::masked_select"),
  nonzero: op("aten::nonzero"),
  where: op("aten::where.self"),
  split: op("aten::split.Tensor"),
  splitSizes: op("aten::split_with_sizes"),
  chunk: op("aten::chunk"),
  unbind: op("aten::unbind.int"),
  toDtype: op("aten::to.dtype"),
  toDevice: op("aten::to.device"),
  clone: op("aten::clone"),
  detach: op("aten::detach"),
  alias: op("aten::alias"),
  copy_: op("aten::copy_"),
  zero_: op("aten::zero_"),
  fill_: op("aten::fill_.Scalar"),
  add_: op("aten::add_.Tensor"),
  mul_: op("aten::mul_.Tensor"),
  mulS_: op("aten::mul_.Scalar"),
  addcmul_: op("aten::addcmul_"),
  addcdiv_: op("aten::addcdiv_"),
  lerpS_: op("aten::lerp_.Scalar"),
  uniform_: op("aten::uniform_"),
  normal_: op("aten::normal_"),
  clampMax_: op("aten::clamp_max_"),
  numelOp: op("aten::numel"),
};

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

  /** The native handle; throws if this tensor was disposed. */
  get handle(): NativeHandle {
    if (this.#h === null) throw new Error("Tensor is disposed");
    return this.#h;
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
    const nh = other.handle;
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
    return (this.#shape ??= native.shape(this.handle));
  }
  get dtype(): DType {
    return (this.#dtype ??= dtypeFromCode(native.dtype(this.handle)));
  }
  get device(): string {
    return native.meta(this.handle)[2];
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
    return typedArrayFromBuffer(native.toBuffer(this.handle), d);
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
    return native.view(this.handle);
  }
  /** The value of a one-element tensor. Host sync point on accelerators. */
  item(): number {
    const v = native.item(this.handle);
    return typeof v === "boolean" ? (v ? 1 : 0) : v;
  }

  // ---- autograd -------------------------------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return native.meta(this.handle)[3];
  }
  /** Sets requires_grad in place; returns this. */
  requiresGrad_(v = true): this {
    native.setRequiresGrad(this.handle, v);
    return this;
  }
  /** A new handle to the accumulated gradient, or null. The caller owns the returned tensor. */
  get grad(): Tensor | null {
    const g = native.getGrad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  /** Replaces the gradient (null frees it: zero_grad with set_to_none). */
  setGrad(g: Tensor | null): void {
    native.setGrad(this.handle, g === null ? null : g.handle);
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }
  get gradFn(): string | null {
    return native.gradFn(this.handle);
  }
  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward([this.handle], gradient ? [gradient.handle] : null, !!opts.retainGraph, !!opts.createGraph);
  }
  detach(): Tensor {
    return T(A.detach(this.handle));
  }
  /** A new handle sharing this tensor's data and autograd history (the way to "return an input"). */
  alias(): Tensor {
    return T(A.alias(this.handle));
  }

  // ---- elementwise arithmetic -----------------------------------------------------------------------------------
  add(o: TensorOrScalar, alpha?: number): Tensor {
    return T(typeof o === "number" ? A.addS(this.handle, o, alpha) : A.add(this.handle, h(o), alpha));
  }
  sub(o: TensorOrScalar, alpha?: number): Tensor {
    return T(typeof o === "number" ? A.subS(this.handle, o, alpha) : A.sub(this.handle, h(o), alpha));
  }
  /** `o - this` for a scalar o. */
  rsub(o: number): Tensor {
    return T(A.rsubS(this.handle, o));
  }
  mul(o: TensorOrScalar): Tensor {
    return T(typeof o === "number" ? A.mulS(this.handle, o) : A.mul(this.handle, h(o)));
  }
  div(o: TensorOrScalar, roundingMode?: "trunc" | "floor"): Tensor {
    if (roundingMode) {
      if (typeof o !== "number") return T(A.divMode(this.handle, h(o), roundingMode));
      using s = scalarLike(this, o);
      return T(A.divMode(this.handle, s.handle, roundingMode));
    }
    return T(typeof o === "number" ? A.divS(this.handle, o) : A.div(this.handle, h(o)));
  }
  remainder(o: number): Tensor {
    return T(A.remainderS(this.handle, o));
  }
  neg(): Tensor {
    return T(A.neg(this.handle));
  }
  pow(e: TensorOrScalar): Tensor {
    return T(typeof e === "number" ? A.powS(this.handle, e) : A.powT(this.handle, h(e)));
  }
  square(): Tensor {
    return T(A.mul(this.handle, this.handle));
  }
  sqrt(): Tensor {
    return T(A.sqrt(this.handle));
  }
  rsqrt(): Tensor {
    return T(A.rsqrt(this.handle));
  }
  exp(): Tensor {
    return T(A.exp(this.handle));
  }
  log(): Tensor {
    return T(A.log(this.handle));
  }
  log1p(): Tensor {
    return T(A.log1p(this.handle));
  }
  abs(): Tensor {
    return T(A.abs(this.handle));
  }
  sign(): Tensor {
    return T(A.sign(this.handle));
  }
  cos(): Tensor {
    return T(A.cos(this.handle));
  }
  sin(): Tensor {
    return T(A.sin(this.handle));
  }
  tanh(): Tensor {
    return T(A.tanh(this.handle));
  }
  sigmoid(): Tensor {
    return T(A.sigmoid(this.handle));
  }
  relu(): Tensor {
    return T(A.relu(this.handle));
  }
  silu(): Tensor {
    return T(A.silu(this.handle));
  }
  /** GELU; approximate "tanh" as in `gelu_pytorch_tanh`, "none" (exact erf) by default. */
  gelu(approximate: "none" | "tanh" = "none"): Tensor {
    return T(A.gelu(this.handle, approximate));
  }
  floor(): Tensor {
    return T(A.floor(this.handle));
  }
  ceil(): Tensor {
    return T(A.ceil(this.handle));
  }
  round(): Tensor {
    return T(A.round(this.handle));
  }
  reciprocal(): Tensor {
    return T(A.reciprocal(this.handle));
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return T(A.clamp(this.handle, min ?? null, max ?? null));
  }
  maximum(o: Tensor): Tensor {
    return T(A.maximum(this.handle, h(o)));
  }
  minimum(o: Tensor): Tensor {
    return T(A.minimum(this.handle, h(o)));
  }
  nanToNum(nan = 0, posinf?: number, neginf?: number): Tensor {
    return T(A.nanToNum(this.handle, nan, posinf ?? null, neginf ?? null));
  }

  // ---- comparison and logic (bool results) ----------------------------------------------------------------------
  eq(o: TensorOrScalar): Tensor {
    return T(typeof o === "number" ? A.eqS(this.handle, o) : A.eq(this.handle, h(o)));
  }
  ne(o: TensorOrScalar): Tensor {
    return T(typeof o === "number" ? A.neS(this.handle, o) : A.ne(this.handle, h(o)));
  }
  lt(o: TensorOrScalar): Tensor {
    return T(typeof o === "number" ? A.ltS(this.handle, o) : A.lt(this.handle, h(o)));
  }
  le(o: TensorOrScalar): Tensor {
    return T(typeof o === "number" ? A.leS(this.handle, o) : A.le(this.handle, h(o)));
  }
  gt(o: TensorOrScalar): Tensor {
    return T(typeof o === "number" ? A.gtS(this.handle, o) : A.gt(this.handle, h(o)));
  }
  ge(o: TensorOrScalar): Tensor {
    return T(typeof o === "number" ? A.geS(this.handle, o) : A.ge(this.handle, h(o)));
  }
  logicalAnd(o: Tensor): Tensor {
    return T(A.logicalAnd(this.handle, h(o)));
  }
  logicalOr(o: Tensor): Tensor {
    return T(A.logicalOr(this.handle, h(o)));
  }
  logicalNot(): Tensor {
    return T(A.logicalNot(this.handle));
  }
  isfinite(): Tensor {
    return T(A.isfinite(this.handle));
  }
  isnan(): Tensor {
    return T(A.isnan(this.handle));
  }

  // ---- linear algebra -------------------------------------------------------------------------------------------
  matmul(o: Tensor): Tensor {
    return T(A.matmul(this.handle, h(o)));
  }
  mm(o: Tensor): Tensor {
    return T(A.mm(this.handle, h(o)));
  }
  bmm(o: Tensor): Tensor {
    return T(A.bmm(this.handle, h(o)));
  }
  outer(o: Tensor): Tensor {
    return T(A.outer(this.handle, h(o)));
  }

  // ---- reductions -----------------------------------------------------------------------------------------------
  sum(dim?: number | number[], keepdim = false, dtype?: DType): Tensor {
    const dt = dtype ? DTYPE_CODE[dtype] : null;
    return T(dim === undefined ? A.sumAll(this.handle, dt) : A.sumDim(this.handle, dim, keepdim, dt));
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return T(dim === undefined ? A.meanAll(this.handle) : A.meanDim(this.handle, dim, keepdim));
  }
  /** Maximum over all elements. */
  max(): Tensor {
    return T(A.maxAll(this.handle));
  }
  /** [values, indices] along a dim. */
  maxDim(dim: number, keepdim = false): [Tensor, Tensor] {
    return pair(A.maxDim(this.handle, dim, keepdim));
  }
  min(): Tensor {
    return T(A.minAll(this.handle));
  }
  minDim(dim: number, keepdim = false): [Tensor, Tensor] {
    return pair(A.minDim(this.handle, dim, keepdim));
  }
  amax(dim: number | number[], keepdim = false): Tensor {
    return T(A.amax(this.handle, dim, keepdim));
  }
  amin(dim: number | number[], keepdim = false): Tensor {
    return T(A.amin(this.handle, dim, keepdim));
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return T(A.argmax(this.handle, dim ?? null, keepdim));
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return T(A.argmin(this.handle, dim ?? null, keepdim));
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return T(A.logsumexp(this.handle, dim, keepdim));
  }
  prod(): Tensor {
    return T(A.prod(this.handle));
  }
  /** Variance along dims with Bessel correction `correction` (1 = unbiased, as torch.var). */
  var(dim?: number | number[], correction = 1, keepdim = false): Tensor {
    return T(A.varDim(this.handle, dim ?? null, correction, keepdim));
  }
  /** Vector p-norm over all elements or given dims. */
  norm(ord = 2, dim?: number | number[], keepdim = false): Tensor {
    return T(A.vnorm(this.handle, ord, dim ?? null, keepdim));
  }
  all(): Tensor {
    return T(A.all(this.handle));
  }
  any(): Tensor {
    return T(A.any(this.handle));
  }
  softmax(dim: number, dtype?: DType): Tensor {
    return T(A.softmax(this.handle, dim, dtype ? DTYPE_CODE[dtype] : null));
  }
  logSoftmax(dim: number, dtype?: DType): Tensor {
    return T(A.logSoftmax(this.handle, dim, dtype ? DTYPE_CODE[dtype] : null));
  }
  cumsum(dim: number, dtype?: DType): Tensor {
    return T(A.cumsum(this.handle, dim, dtype ? DTYPE_CODE[dtype] : null));
  }
  /** [values, indices] of the k largest (or smallest) along dim. */
  topk(k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] {
    return pair(A.topk(this.handle, k, dim, largest, sorted));
  }
  sort(dim = -1, descending = false): [Tensor, Tensor] {
    return pair(A.sort(this.handle, dim, descending));
  }
  argsort(dim = -1, descending = false): Tensor {
    return T(A.argsort(this.handle, dim, descending));
  }
  /** Samples indices from the rows of a probability tensor (uses the global generator). */
  multinomial(numSamples: number, replacement = false): Tensor {
    return T(A.multinomial(this.handle, numSamples, replacement));
  }
  triu(diagonal = 0): Tensor {
    return T(A.triu(this.handle, diagonal));
  }
  tril(diagonal = 0): Tensor {
    return T(A.tril(this.handle, diagonal));
  }

  // ---- shape ----------------------------------------------------------------------------------------------------
  view(...shape: number[]): Tensor {
    return T(A.view(this.handle, shape));
  }
  reshape(...shape: number[]): Tensor {
    return T(A.reshape(this.handle, shape));
  }
  permute(...dims: number[]): Tensor {
    return T(A.permute(this.handle, dims));
  }
  transpose(d0: number, d1: number): Tensor {
    return T(A.transpose(this.handle, d0, d1));
  }
  /** Transpose of the last two dims. */
  get mT(): Tensor {
    return this.transpose(-2, -1);
  }
  contiguous(): Tensor {
    return T(A.contiguous(this.handle));
  }
  expand(...shape: number[]): Tensor {
    return T(A.expand(this.handle, shape));
  }
  repeat(...times: number[]): Tensor {
    return T(A.repeat(this.handle, times));
  }
  repeatInterleave(repeats: number | Tensor, dim?: number): Tensor {
    return T(
      typeof repeats === "number"
        ? A.repeatInterleaveInt(this.handle, repeats, dim ?? null)
        : A.repeatInterleaveT(this.handle, h(repeats), dim ?? null),
    );
  }
  unsqueeze(dim: number): Tensor {
    return T(A.unsqueeze(this.handle, dim));
  }
  squeeze(dim?: number): Tensor {
    return T(dim === undefined ? A.squeeze(this.handle) : A.squeezeDim(this.handle, dim));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return T(A.flatten(this.handle, startDim, endDim));
  }
  flip(...dims: number[]): Tensor {
    return T(A.flip(this.handle, dims));
  }
  roll(shifts: number | number[], dims: number | number[]): Tensor {
    return T(A.roll(this.handle, shifts, dims));
  }

  // ---- indexing -------------------------------------------------------------------------------------------------
  /** Python's `t[..., start:end:step, ...]` on one dim (a view). Negative and open bounds as in Python. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return T(A.slice(this.handle, dim, start ?? null, end ?? null, step));
  }
  /** `t.select(dim, i)`: drops the dim (a view). */
  select(dim: number, index: number): Tensor {
    return T(A.select(this.handle, dim, index));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return T(A.narrow(this.handle, dim, start, length));
  }
  /** Advanced indexing `t[i0, i1, ...]` with index tensors (null = full slice). */
  index(indices: (Tensor | null)[]): Tensor {
    return T(
      A.index(
        this.handle,
        indices.map((i) => (i === null ? null : i.handle)),
      ),
    );
  }
  /** Out-of-place `t[indices] = values` (accumulate adds instead). */
  indexPut(indices: (Tensor | null)[], values: Tensor, accumulate = false): Tensor {
    return T(
      A.indexPut(
        this.handle,
        indices.map((i) => (i === null ? null : i.handle)),
        h(values),
        accumulate,
      ),
    );
  }
  /** In-place `t[indices] = values`; returns this. */
  indexPut_(indices: (Tensor | null)[], values: Tensor, accumulate = false): this {
    native.dispose(
      A.indexPut_(
        this.handle,
        indices.map((i) => (i === null ? null : i.handle)),
        h(values),
        accumulate,
      ) as NativeHandle,
    );
    return this;
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return T(A.indexSelect(this.handle, dim, h(index)));
  }
  gather(dim: number, index: Tensor): Tensor {
    return T(A.gather(this.handle, dim, h(index)));
  }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor {
    return T(A.scatter(this.handle, dim, h(index), h(src)));
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return T(A.scatterAdd(this.handle, dim, h(index), h(src)));
  }
  maskedFill(mask: Tensor, value: number | Tensor): Tensor {
    return T(
      typeof value === "number"
        ? A.maskedFill(this.handle, h(mask), value)
        : A.maskedFillT(this.handle, h(mask), h(value)),
    );
  }
  /** Copies `source` elements, in order, into the positions where `mask` is true. */
  maskedScatter(mask: Tensor, source: Tensor): Tensor {
    return T(A.maskedScatter(this.handle, h(mask), h(source)));
  }
  maskedSelect(mask: Tensor): Tensor {
    return T(A.maskedSelect(this.handle, h(mask)));
  }
  nonzero(): Tensor {
    return T(A.nonzero(this.handle));
  }
  split(sizeOrSizes: number | number[], dim = 0): Tensor[] {
    return list(
      typeof sizeOrSizes === "number"
        ? A.split(this.handle, sizeOrSizes, dim)
        : A.splitSizes(this.handle, sizeOrSizes, dim),
    );
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return list(A.chunk(this.handle, chunks, dim));
  }
  unbind(dim = 0): Tensor[] {
    return list(A.unbind(this.handle, dim));
  }

  // ---- conversion and copies ------------------------------------------------------------------------------------
  /** Cast to a dtype or move to a device ("cpu", "cuda:0"). Always returns a new handle. */
  to(target: DType | { device: string; dtype?: DType }): Tensor {
    if (typeof target === "string") return T(A.toDtype(this.handle, DTYPE_CODE[target], false, false));
    const dt = target.dtype ? DTYPE_CODE[target.dtype] : this.#dtypeCode();
    return T(A.toDevice(this.handle, target.device, dt, false, false));
  }
  float(): Tensor {
    return this.to("float32");
  }
  long(): Tensor {
    return this.to("int64");
  }
  #dtypeCode(): number {
    return DTYPE_CODE[this.dtype];
  }
  clone(): Tensor {
    return T(A.clone(this.handle));
  }

  // ---- in-place (return this; use under noGrad for parameters) -------------------------------------------------
  copy_(src: Tensor): this {
    native.dispose(A.copy_(this.handle, h(src)) as NativeHandle);
    return this;
  }
  zero_(): this {
    native.dispose(A.zero_(this.handle) as NativeHandle);
    return this;
  }
  fill_(v: number): this {
    native.dispose(A.fill_(this.handle, v) as NativeHandle);
    return this;
  }
  add_(o: Tensor, alpha?: number): this {
    native.dispose(A.add_(this.handle, h(o), alpha) as NativeHandle);
    return this;
  }
  mul_(o: TensorOrScalar): this {
    native.dispose((typeof o === "number" ? A.mulS_(this.handle, o) : A.mul_(this.handle, h(o))) as NativeHandle);
    return this;
  }
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    native.dispose(A.addcmul_(this.handle, h(t1), h(t2), value) as NativeHandle);
    return this;
  }
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    native.dispose(A.addcdiv_(this.handle, h(t1), h(t2), value) as NativeHandle);
    return this;
  }
  lerp_(end: Tensor, weight: number): this {
    native.dispose(A.lerpS_(this.handle, h(end), weight) as NativeHandle);
    return this;
  }
  uniform_(from = 0, to = 1): this {
    native.dispose(A.uniform_(this.handle, from, to) as NativeHandle);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    native.dispose(A.normal_(this.handle, mean, std) as NativeHandle);
    return this;
  }
}

const scalarTensorOp = op("aten::scalar_tensor");

/** A 0-dim tensor of `x` with `like`'s dtype (for ops that have no Scalar overload). */
function scalarLike(like: Tensor, x: number): Tensor {
  return T(scalarTensorOp(x, DTYPE_CODE[like.dtype]));
}

/** Calls any ATen operator by schema name ("aten::name.overload"), converting Tensors in and out. */
export function callOp(qualified: string, ...args: unknown[]): unknown {
  return wrapValue(native.call(opId(qualified), ...args.map(unwrapArg)));
}
