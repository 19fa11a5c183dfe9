/** The basic layers: Linear, Embedding, RMSNorm, LayerNorm. Parameter names follow torch.nn (weight, bias). */
import { Tensor, empty, linear, embedding, layerNorm, ones, zeros, type DType } from "../tensor/index.ts";
import { Module } from "./module.ts";
import { kaimingUniformDefault_, normal_, uniform_ } from "./init.ts";

export interface LayerOptions {
  dtype?: DType;
  /** Std of a normal init (HF `initializer_range`); torch's default init when absent. */
  initStd?: number;
  /** Device of the new parameters ("meta" builds the module without allocating, e.g. before loading weights). */
  device?: string;
}

/** y = x Wᵀ + b with W: [outFeatures, inFeatures] (torch.nn.Linear). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LayerOptions & { bias?: boolean } = {},
  ) {
    super();
    const dtype = opts.dtype ?? "float32";
    const device = opts.device;
    this.weight = this.param("weight", empty([outFeatures, inFeatures], { dtype, device }));
    if (opts.initStd !== undefined) normal_(this.weight, 0, opts.initStd);
    else kaimingUniformDefault_(this.weight);
    this.bias = opts.bias === false ? null : this.param("bias", zeros([outFeatures], { dtype, device }));
    if (this.bias && opts.initStd === undefined) {
      const b = 1 / Math.sqrt(inFeatures);
      uniform_(this.bias, -b, b);
    }
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** Lookup table [numEmbeddings, dim] (torch.nn.Embedding; N(0,1) init by default, as torch). */
export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    opts: LayerOptions = {},
  ) {
    super();
    this.weight = this.param(
      "weight",
      empty([numEmbeddings, dim], { dtype: opts.dtype ?? "float32", device: opts.device }),
    );
    normal_(this.weight, 0, opts.initStd ?? 1);
  }
  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}

/**
 * Root-mean-square norm as Qwen2RMSNorm: computed in (at least) float32, cast back to the input dtype, then scaled.
 * y = weight * (x / sqrt(mean(x²) + eps))
 */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
    opts: LayerOptions = {},
  ) {
    super();
    this.weight = this.param("weight", ones([dim], { dtype: opts.dtype ?? "float32", device: opts.device }));
  }
  forward(x: Tensor): Tensor {
    const inDtype = x.dtype;
    // float32 at least (float64 inputs stay float64, which only gradient checks use).
    const keepDtype = inDtype === "float32" || inDtype === "float64";
    using xf = keepDtype ? x.alias() : x.to("float32");
    using sq = xf.square();
    using variance = sq.mean(-1, true);
    using inv = variance.add(this.eps).rsqrt();
    using normed = xf.mul(inv);
    if (keepDtype) return this.weight.mul(normed);
    using back = normed.to(inDtype);
    return this.weight.mul(back);
  }
}

/** torch.nn.LayerNorm over the last dim, with weight and bias. */
export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    opts: LayerOptions = {},
  ) {
    super();
    const dtype = opts.dtype ?? "float32";
    this.weight = this.param("weight", ones([dim], { dtype, device: opts.device }));
    this.bias = this.param("bias", zeros([dim], { dtype, device: opts.device }));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, [this.dim], this.weight, this.bias, this.eps);
  }
}
