/** The tensor layer: Tensor, creation and functional ops, scopes, autograd modes, runtime settings. */
export { Tensor, callOp } from "./tensor.ts";
export type { TensorOrScalar } from "./tensor.ts";
export * from "./ops.ts";
export * from "./autograd.ts";
export * from "./runtime.ts";
export { tidy, keep, scopeDepth } from "./scope.ts";
export { opSchema } from "./op.ts";
export type { DType } from "./dtype.ts";
export { DTYPE_BYTES, isFloating } from "./dtype.ts";
