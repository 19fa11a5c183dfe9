/**
 * Qwen2-VL vision tower (HF `Qwen2VisionTransformerPretrainedModel`), parameter names under `visual.`:
 *   patch_embed.proj.weight: Conv3d weight [embed_dim, C, T, P, P], no bias; computed as a linear over the
 *     flattened patches (kernel = stride, so the convolution is exactly one matmul)
 *   blocks.N: norm1/norm2 (LayerNorm eps 1e-6), attn.qkv (+bias), attn.proj, mlp.fc1/fc2 (quick_gelu for Qwen2-VL)
 *   merger: ln_q (LayerNorm eps 1e-6) → the 2×2 neighbours as one row → mlp.0 → GELU → mlp.2 (→ text hidden_size)
 * Attention is per image (block-diagonal over the packed patch sequence, HF's cu_seqlens): images never attend to
 * each other. Patches arrive in the processor's HF order, where each 2×2 merge block is 4 consecutive rows.
 */
import { Tensor, empty, linear, cat, tidy } from "../../tensor/index.ts";
import { Module, ModuleList, Linear, LayerNorm, normal_ } from "../../nn/index.ts";
import { type BuildOptions, activation, hfLinear } from "./layers.ts";
import { type Qwen2VLConfig, visionHeadDim, visionMlpDim, mergerDim } from "./config.ts";
import { type GridThw, visionCosSin, applyRotary } from "./rope.ts";

// Re-exported for code that imported the shared layers from here before layers.ts existed.
export { type BuildOptions, activation, hfLinear } from "./layers.ts";

/**
 * Unmasked attention over the last two dims: softmax(q kᵀ · scale) v with the softmax in float32, cast back as
 * HF's eager attention does. q, k, v: [..., n, head_dim].
 */
export function attendFull(q: Tensor, k: Tensor, v: Tensor, scale: number): Tensor {
  return tidy(() => {
    const scores = q.matmul(k.mT).mul(scale); // [..., n, n]
    const probs = scores.softmax(-1, "float32");
    return (probs.dtype === v.dtype ? probs : probs.to(v.dtype)).matmul(v);
  });
}

/**
 * LayerNorm in the weights' dtype: under CPU autocast the activations may be bfloat16 while the norm weights stay
 * float32, and aten::layer_norm needs one dtype (libtorch 1.13's CPU autocast does not cast it).
 */
export function layerNormAs(norm: LayerNorm, x: Tensor): Tensor {
  if (x.dtype === norm.weight.dtype) return norm.forward(x);
  return tidy(() => norm.forward(x.to(norm.weight.dtype)));
}

/** `patch_embed.proj`: only the Conv3d weight. */
class Conv3dWeight extends Module {
  readonly weight: Tensor;
  constructor(shape: number[], std: number, o: BuildOptions) {
    super();
    this.weight = this.param("weight", empty(shape, { dtype: o.dtype ?? "float32", device: o.device }));
    normal_(this.weight, 0, std);
  }
}

export class PatchEmbed extends Module {
  readonly proj: Conv3dWeight;
  constructor(c: Qwen2VLConfig, o: BuildOptions) {
    super();
    const v = c.vision_config;
    const shape = [v.embed_dim, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size];
    this.proj = this.module("proj", new Conv3dWeight(shape, c.initializer_range, o));
  }
  /** pixelValues [N, C·T·P·P] (HF patch order) → [N, embed_dim]. */
  forward(pixelValues: Tensor): Tensor {
    return tidy(() => {
      const w = this.proj.weight;
      const x = pixelValues.dtype === w.dtype ? pixelValues : pixelValues.to(w.dtype);
      // [E, C, T, P, P] → [E, C·T·P·P]: the processor's columns run over (c, t, y, x), the kernel's flattening.
      return linear(x, w.view(w.size(0), -1)); // [N, E]
    });
  }
}

/** Packed-sequence segments in order: segment i covers the next lengths[i] rows (one image, or one of its frames). */
export interface Segments {
  lengths: number[];
}

export function imageSegments(grids: readonly GridThw[]): Segments {
  // HF: cu_seqlens = cumsum(repeat_interleave(h·w, t)): each temporal slice of an image is its own segment.
  const lengths: number[] = [];
  for (const [t, h, w] of grids) for (let k = 0; k < t; k++) lengths.push(h * w);
  return { lengths };
}

export class VisionAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  constructor(c: Qwen2VLConfig, o: BuildOptions) {
    super();
    const E = c.vision_config.embed_dim;
    this.numHeads = c.vision_config.num_heads;
    this.headDim = visionHeadDim(c);
    this.qkv = this.module("qkv", hfLinear(E, 3 * E, c.initializer_range, o));
    this.proj = this.module("proj", hfLinear(E, E, c.initializer_range, o));
  }

  /** x [N, E]; cos/sin [N, head_dim] float32. */
  forward(x: Tensor, cos: Tensor, sin: Tensor, seg: Segments): Tensor {
    return tidy(() => {
      const N = x.size(0);
      const H = this.numHeads;
      const hd = this.headDim;
      const qkv = this.qkv.forward(x).view(N, 3, H, hd).permute(1, 2, 0, 3); // [3, H, N, hd]
      const [q0, k0, v] = qkv.unbind(0) as [Tensor, Tensor, Tensor]; // each [H, N, hd]
      // Rotary in float32, back to the activation dtype (HF apply_rotary_pos_emb_vision).
      const rot = (t: Tensor) => {
        const r = applyRotary(t.to("float32"), cos, sin);
        return r.dtype === x.dtype ? r : r.to(x.dtype);
      };
      const q = rot(q0);
      const k = rot(k0);
      const scale = 1 / Math.sqrt(hd);
      const L = seg.lengths;
      let out: Tensor; // [N, E]
      if (L.every((n) => n === L[0])) {
        // Equal-length images (the usual batch): one batched attention over [images, H, n, hd].
        const n = L[0]!;
        const m = L.length;
        const split = (t: Tensor) => t.view(H, m, n, hd).transpose(0, 1); // [m, H, n, hd]
        const o = attendFull(split(q), split(k), split(v), scale); // [m, H, n, hd]
        out = o.permute(0, 2, 1, 3).reshape(N, H * hd); // rows back in packed order
      } else {
        const parts: Tensor[] = [];
        let s = 0;
        for (const n of L) {
          parts.push(attendFull(q.narrow(1, s, n), k.narrow(1, s, n), v.narrow(1, s, n), scale)); // [H, n, hd]
          s += n;
        }
        out = cat(parts, 1)
          .transpose(0, 1)
          .reshape(N, H * hd); // [H, N, hd] → [N, H·hd]
      }
      return this.proj.forward(out);
    });
  }
}

export class VisionMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly act: (x: Tensor) => Tensor;
  constructor(c: Qwen2VLConfig, o: BuildOptions) {
    super();
    const E = c.vision_config.embed_dim;
    this.fc1 = this.module("fc1", hfLinear(E, visionMlpDim(c), c.initializer_range, o));
    this.fc2 = this.module("fc2", hfLinear(visionMlpDim(c), E, c.initializer_range, o));
    this.act = activation(c.vision_config.hidden_act);
  }
  forward(x: Tensor): Tensor {
    return tidy(() => this.fc2.forward(this.act(this.fc1.forward(x))));
  }
}

export class VisionBlock extends Module {
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly attn: VisionAttention;
  readonly mlp: VisionMlp;
  constructor(c: Qwen2VLConfig, o: BuildOptions) {
    super();
    const E = c.vision_config.embed_dim;
    this.norm1 = this.module("norm1", new LayerNorm(E, 1e-6, o));
    this.norm2 = this.module("norm2", new LayerNorm(E, 1e-6, o));
    this.attn = this.module("attn", new VisionAttention(c, o));
    this.mlp = this.module("mlp", new VisionMlp(c, o));
  }
  forward(x: Tensor, cos: Tensor, sin: Tensor, seg: Segments): Tensor {
    return tidy(() => {
      const h = x.add(this.attn.forward(layerNormAs(this.norm1, x), cos, sin, seg));
      return h.add(this.mlp.forward(layerNormAs(this.norm2, h)));
    });
  }
}

/** `merger.mlp` as nn.Sequential(Linear, GELU, Linear): children named "0" and "2". */
class MergerMlp extends Module {
  readonly fc0: Linear;
  readonly fc2: Linear;
  constructor(c: Qwen2VLConfig, o: BuildOptions) {
    super();
    const M = mergerDim(c);
    this.fc0 = this.module("0", hfLinear(M, M, c.initializer_range, o));
    this.fc2 = this.module("2", hfLinear(M, c.vision_config.hidden_size, c.initializer_range, o));
  }
  forward(x: Tensor): Tensor {
    return tidy(() => this.fc2.forward(this.fc0.forward(x).gelu("none")));
  }
}

export class PatchMerger extends Module {
  readonly ln_q: LayerNorm;
  readonly mlp: MergerMlp;
  readonly mergedDim: number;
  constructor(c: Qwen2VLConfig, o: BuildOptions) {
    super();
    this.mergedDim = mergerDim(c);
    this.ln_q = this.module("ln_q", new LayerNorm(c.vision_config.embed_dim, 1e-6, o));
    this.mlp = this.module("mlp", new MergerMlp(c, o));
  }
  /** x [N, E] → [N / merge², hidden_size]. */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const h = layerNormAs(this.ln_q, x);
      // [N, E] → [N/m², m²·E]: the m² patches of a merge block are consecutive rows (HF patch order).
      return this.mlp.forward(h.reshape(-1, this.mergedDim));
    });
  }
}

export class Qwen2VisionTransformer extends Module {
  readonly patch_embed: PatchEmbed;
  readonly blocks: ModuleList<VisionBlock>;
  readonly merger: PatchMerger;
  constructor(
    readonly config: Qwen2VLConfig,
    o: BuildOptions = {},
  ) {
    super();
    this.patch_embed = this.module("patch_embed", new PatchEmbed(config, o));
    this.blocks = this.module(
      "blocks",
      new ModuleList(Array.from({ length: config.vision_config.depth }, () => new VisionBlock(config, o))),
    );
    this.merger = this.module("merger", new PatchMerger(config, o));
  }

  /** Features of the blocks before the merger: [N, embed_dim]. */
  encode(pixelValues: Tensor, grids: readonly GridThw[]): Tensor {
    return tidy(() => {
      const v = this.config.vision_config;
      const total = grids.reduce((a, [t, h, w]) => a + t * h * w, 0);
      if (pixelValues.size(0) !== total) {
        throw new Error(
          `vision: pixel_values has ${pixelValues.size(0)} patch rows but image_grid_thw ${JSON.stringify(grids)} needs ${total}`,
        );
      }
      let [cos, sin] = visionCosSin(grids, v.spatial_merge_size, visionHeadDim(this.config)); // built on the CPU
      if (pixelValues.device !== "cpu")
        [cos, sin] = [cos.to({ device: pixelValues.device }), sin.to({ device: pixelValues.device })];
      const seg = imageSegments(grids);
      let h = this.patch_embed.forward(pixelValues);
      for (const b of this.blocks) h = b.forward(h, cos, sin, seg);
      return h;
    });
  }

  /** pixelValues [N, C·T·P·P], grids per image → merged image features [N / merge², hidden_size]. */
  forward(pixelValues: Tensor, grids: readonly GridThw[]): Tensor {
    return tidy(() => this.merger.forward(this.encode(pixelValues, grids)));
  }
}
