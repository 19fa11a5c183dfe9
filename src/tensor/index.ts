/** The tensor layer: Tensor, creation and functional ops, scopes, autograd modes, runtime settings. */
export { Tensor, callOp } from "./tensor.ts";
export type { TensorOrScalar } from "./tensor.ts";
export * from "./ops.ts";
export * from "./autograd.ts";
export * from "./runtime.ts";
export { Generator } from "./generator.ts";
export { tidy, keep, scopeDepth, isTensorContainer } from "./scope.ts";
export type { TensorContainer } from "./scope.ts";
export { opSchema } from "./op.ts";
export type { DType } from "./dtype.ts";
export { DTYPE_BYTES, isFloating } from "./dtype.ts";
/** Every ATen operator overload, typed, generated from the installed libtorch's schemas (codegen/gen_ops.ts). */
export * as aten from "./ops.generated.ts";
export { Store, ProcessGroup, distributedBackends } from "./distributed.ts";
export type { ReduceOp, Backend, StoreOptions, ProcessGroupOptions } from "./distributed.ts";
