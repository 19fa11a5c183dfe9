/**
 * Building blocks shared by the vision tower and the text decoder: build options (dtype, meta device), HF's
 * activation table and HF-style Linear initialisation. Kept apart from vision.ts and text.ts so neither imports
 * the other and other models (the engine bench's decoder, future heads) can reuse them.
 */
import { type Tensor, tidy, type DType } from "../../tensor/index.ts";
import { Linear } from "../../nn/index.ts";

export interface BuildOptions {
  dtype?: DType;
  /** "meta" builds without allocating (weights are assigned from a checkpoint afterwards). */
  device?: string;
}

/** HF ACT2FN for the activations Qwen2-VL configs use. */
export function activation(name: string): (x: Tensor) => Tensor {
  switch (name) {
    case "quick_gelu":
      // x · sigmoid(1.702 x): CLIP's QuickGELU (HF QuickGELUActivation)
      return (x) => tidy(() => x.mul(x.mul(1.702).sigmoid()));
    case "gelu":
      return (x) => x.gelu("none");
    case "gelu_pytorch_tanh":
      return (x) => x.gelu("tanh");
    case "silu":
      return (x) => x.silu();
    case "relu":
      return (x) => x.relu();
    default:
      throw new Error(`unsupported activation '${name}'`);
  }
}

/** HF-style init of a Linear: normal(0, std) weight, zero bias. */
export function hfLinear(inF: number, outF: number, std: number, o: BuildOptions, bias = true): Linear {
  return new Linear(inF, outF, { bias, initStd: std, dtype: o.dtype, device: o.device });
}
