/**
 * The typed op surface the project's code uses: which ATen overloads become which Tensor methods and free
 * functions. codegen/gen_ops.ts reads this list and the installed libtorch's schemas and writes the methods into
 * the marked regions of src/tensor/tensor.ts and the functions into src/tensor/ops.ts: parameter names, types,
 * optionality, argument order, conversions (tensors to handles, dtypes to codes, generators) and return wrapping
 * all come from the schema. Only the JS name, the overloads and a few layout flags are chosen here.
 *
 * An entry with two overloads dispatches on the one parameter whose type differs: a number selects the overload
 * that takes a number there (Scalar/int/float), anything else the other one (Tensor, or int[] for split).
 *
 * Hand-written exceptions (HAND_WRITTEN below) are the conveniences whose JS signature is not a schema's: they stay
 * in tensor.ts / ops.ts, outside the generated regions, as tch-rs and mlverse/torch keep theirs next to their
 * generators.
 */

export interface SurfaceEntry {
  /** The JS name (method or function). */
  name: string;
  /** Overloads, without the "aten::" prefix: "add.Tensor", "relu". At most two. */
  ops: string[];
  /** The first list parameter (int[]) becomes a rest parameter (`view(...shape)`); later parameters take defaults. */
  rest?: boolean;
  /** One extra line for the doc comment. */
  doc?: string;
}

/** Tensor methods: `self` is `this`. */
export const TENSOR_METHODS: SurfaceEntry[] = [
  // elementwise arithmetic
  { name: "add", ops: ["add.Tensor", "add.Scalar"] },
  { name: "sub", ops: ["sub.Tensor", "sub.Scalar"] },
  { name: "rsub", ops: ["rsub.Scalar"], doc: "`other - alpha·this` for a scalar other." },
  { name: "mul", ops: ["mul.Tensor", "mul.Scalar"] },
  { name: "remainder", ops: ["remainder.Tensor", "remainder.Scalar"] },
  { name: "neg", ops: ["neg"] },
  { name: "pow", ops: ["pow.Tensor_Tensor", "pow.Tensor_Scalar"] },
  { name: "sqrt", ops: ["sqrt"] },
  { name: "rsqrt", ops: ["rsqrt"] },
  { name: "exp", ops: ["exp"] },
  { name: "log", ops: ["log"] },
  { name: "log1p", ops: ["log1p"] },
  { name: "abs", ops: ["abs"] },
  { name: "sign", ops: ["sign"] },
  { name: "cos", ops: ["cos"] },
  { name: "sin", ops: ["sin"] },
  { name: "tanh", ops: ["tanh"] },
  { name: "sigmoid", ops: ["sigmoid"] },
  { name: "relu", ops: ["relu"] },
  { name: "silu", ops: ["silu"] },
  { name: "gelu", ops: ["gelu"], doc: 'approximate "tanh" as in `gelu_pytorch_tanh`, "none" (exact erf) by default.' },
  { name: "floor", ops: ["floor"] },
  { name: "ceil", ops: ["ceil"] },
  { name: "round", ops: ["round"] },
  { name: "reciprocal", ops: ["reciprocal"] },
  { name: "clamp", ops: ["clamp"] },
  { name: "maximum", ops: ["maximum"] },
  { name: "minimum", ops: ["minimum"] },
  { name: "nanToNum", ops: ["nan_to_num"] },
  // comparison and logic (bool results)
  { name: "eq", ops: ["eq.Tensor", "eq.Scalar"] },
  { name: "ne", ops: ["ne.Tensor", "ne.Scalar"] },
  { name: "lt", ops: ["lt.Tensor", "lt.Scalar"] },
  { name: "le", ops: ["le.Tensor", "le.Scalar"] },
  { name: "gt", ops: ["gt.Tensor", "gt.Scalar"] },
  { name: "ge", ops: ["ge.Tensor", "ge.Scalar"] },
  { name: "logicalAnd", ops: ["logical_and"] },
  { name: "logicalOr", ops: ["logical_or"] },
  { name: "logicalNot", ops: ["logical_not"] },
  { name: "isfinite", ops: ["isfinite"] },
  { name: "isnan", ops: ["isnan"] },
  // linear algebra
  { name: "matmul", ops: ["matmul"] },
  { name: "mm", ops: ["mm"] },
  { name: "bmm", ops: ["bmm"] },
  { name: "outer", ops: ["outer"] },
  // reductions
  { name: "max", ops: ["max"], doc: "Maximum over all elements." },
  { name: "maxDim", ops: ["max.dim"], doc: "[values, indices] along a dim." },
  { name: "min", ops: ["min"] },
  { name: "minDim", ops: ["min.dim"] },
  { name: "amax", ops: ["amax"] },
  { name: "amin", ops: ["amin"] },
  { name: "argmax", ops: ["argmax"] },
  { name: "argmin", ops: ["argmin"] },
  { name: "logsumexp", ops: ["logsumexp"] },
  { name: "prod", ops: ["prod"] },
  {
    name: "var",
    ops: ["var.correction"],
    doc: "Variance with Bessel correction `correction` (default 1, as torch.var).",
  },
  { name: "norm", ops: ["linalg_vector_norm"], doc: "Vector p-norm over all elements or given dims." },
  { name: "all", ops: ["all"] },
  { name: "any", ops: ["any"] },
  { name: "softmax", ops: ["softmax.int"] },
  { name: "logSoftmax", ops: ["log_softmax.int"] },
  { name: "cumsum", ops: ["cumsum"] },
  { name: "topk", ops: ["topk"], doc: "[values, indices] of the k largest (or smallest) along dim." },
  { name: "sort", ops: ["sort"] },
  { name: "argsort", ops: ["argsort"] },
  {
    name: "multinomial",
    ops: ["multinomial"],
    doc: "Samples indices from the rows of a probability tensor (from `generator`, else the default generator).",
  },
  { name: "triu", ops: ["triu"] },
  { name: "tril", ops: ["tril"] },
  // shape
  { name: "view", ops: ["view"], rest: true },
  { name: "reshape", ops: ["reshape"], rest: true },
  { name: "permute", ops: ["permute"], rest: true },
  { name: "transpose", ops: ["transpose.int"] },
  { name: "contiguous", ops: ["contiguous"] },
  { name: "expand", ops: ["expand"], rest: true },
  { name: "repeat", ops: ["repeat"], rest: true },
  { name: "repeatInterleave", ops: ["repeat_interleave.self_Tensor", "repeat_interleave.self_int"] },
  { name: "unsqueeze", ops: ["unsqueeze"] },
  { name: "flatten", ops: ["flatten.using_ints"] },
  { name: "flip", ops: ["flip"], rest: true },
  { name: "roll", ops: ["roll"] },
  // indexing
  {
    name: "slice",
    ops: ["slice.Tensor"],
    doc: "Python's `t[..., start:end:step, ...]` on one dim (a view). Negative and open bounds as in Python.",
  },
  { name: "select", ops: ["select.int"], doc: "`t.select(dim, i)`: drops the dim (a view)." },
  { name: "narrow", ops: ["narrow"] },
  {
    name: "index",
    ops: ["index.Tensor"],
    doc: "Advanced indexing `t[i0, i1, ...]` with index tensors (null = full slice).",
  },
  { name: "indexPut", ops: ["index_put"], doc: "Out-of-place `t[indices] = values` (accumulate adds instead)." },
  { name: "indexPut_", ops: ["index_put_"], doc: "In-place `t[indices] = values`." },
  { name: "indexSelect", ops: ["index_select"] },
  { name: "gather", ops: ["gather"] },
  { name: "scatter", ops: ["scatter.src"] },
  { name: "scatterAdd", ops: ["scatter_add"] },
  { name: "maskedFill", ops: ["masked_fill.Tensor", "masked_fill.Scalar"] },
  { name: "maskedScatter", ops: ["masked_scatter"], doc: "Copies `source` elements, in order, where `mask` is true." },
  { name: "maskedSelect", ops: ["masked_select"] },
  { name: "nonzero", ops: ["nonzero"] },
  { name: "split", ops: ["split_with_sizes", "split.Tensor"] },
  { name: "chunk", ops: ["chunk"] },
  { name: "unbind", ops: ["unbind.int"] },
  // copies and autograd views
  { name: "clone", ops: ["clone"] },
  { name: "detach", ops: ["detach"] },
  {
    name: "alias",
    ops: ["alias"],
    doc: 'A new handle sharing this tensor\'s data and autograd history (the way to "return an input").',
  },
  // in-place (return this; use under noGrad for parameters)
  { name: "copy_", ops: ["copy_"] },
  { name: "zero_", ops: ["zero_"] },
  { name: "fill_", ops: ["fill_.Scalar"] },
  { name: "add_", ops: ["add_.Tensor"] },
  { name: "mul_", ops: ["mul_.Tensor", "mul_.Scalar"] },
  { name: "addcmul_", ops: ["addcmul_"] },
  { name: "addcdiv_", ops: ["addcdiv_"] },
  { name: "lerp_", ops: ["lerp_.Scalar"] },
  { name: "uniform_", ops: ["uniform_"] },
  { name: "normal_", ops: ["normal_"] },
  { name: "bernoulli_", ops: ["bernoulli_.float"], doc: "Fills with 1 with probability p, else 0." },
  { name: "bernoulli", ops: ["bernoulli"], doc: "1 with probability `this` (elementwise), else 0." },
];

/** Free functions (tensor arguments in schema order). */
export const FUNCTIONS: SurfaceEntry[] = [
  { name: "cat", ops: ["cat"] },
  { name: "stack", ops: ["stack"] },
  { name: "where", ops: ["where.self", "where.ScalarOther"], doc: "Elementwise `condition ? self : other`." },
  { name: "linear", ops: ["linear"], doc: "y = x W^T + b (W: [out, in], as torch.nn.functional.linear)." },
  { name: "embedding", ops: ["embedding"] },
  { name: "layerNorm", ops: ["layer_norm"] },
  { name: "conv2d", ops: ["conv2d"] },
  { name: "conv3d", ops: ["conv3d"] },
];

/**
 * The hand-written exceptions, with the reason each is not generated. gen_ops.ts checks that none of these names
 * is also generated.
 */
export const HAND_WRITTEN: Record<string, string> = {
  // Tensor methods
  div: "one name for div.Tensor, div.Scalar and div.Tensor_mode (a scalar with a rounding mode goes through a 0-dim tensor)",
  square: "mul(this, this)",
  mT: "a getter (transpose of the last two dims)",
  sum: "dispatches on whether dim is given (sum / sum.dim_IntList), with a keepdim default",
  mean: "dispatches on whether dim is given (mean / mean.dim)",
  squeeze: "dispatches on whether dim is given (squeeze / squeeze.dim)",
  to: "one name for to.dtype and to.device, with an options object",
  float: "to('float32')",
  long: "to('int64')",
  // free functions
  tensor: "creation from JS data (not an operator)",
  fromBytes: "creation from bytes (not an operator)",
  fromFile: "creation from a file region (not an operator)",
  zeros: "creation: TensorOptions (dtype, device, requiresGrad) in one options object",
  ones: "creation: TensorOptions in one options object",
  full: "creation: TensorOptions in one options object",
  empty: "creation: TensorOptions in one options object",
  arange: "creation: arange(end) or arange(start, end, step), int64 unless fractional",
  rand: "creation with an optional Generator in the options (rand / rand.generator)",
  randn: "creation with an optional Generator in the options (randn / randn.generator)",
  randint: "creation with an optional Generator in the options (randint.low / randint.low_generator)",
  randperm: "creation with an optional Generator in the options (randperm / randperm.generator)",
  zerosLike: "creation: TensorOptions in one options object",
  onesLike: "creation: TensorOptions in one options object",
  fullLike: "creation: TensorOptions in one options object",
  randnLike: "creation",
  scalarTensor: "creation of a 0-dim tensor",
  crossEntropy: "reduction by name and options object (cross_entropy_loss takes an enum int)",
  dropout: "aten::dropout has no generator argument: with a Generator it is computed as ATen does, from bernoulli_",
};
