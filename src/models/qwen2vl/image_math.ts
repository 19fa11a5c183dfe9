/**
 * The pure maths of the Qwen2-VL image processor, on plain arrays (no decoding, no tensors): smart_resize, Pillow's
 * BICUBIC resize, rescale and CLIP normalisation, temporal duplication, HF patch order and image_grid_thw.
 * Output matches transformers' Qwen2VLImageProcessor: `pixel_values` of shape
 * (grid_t·grid_h·grid_w, C·temporal_patch_size·patch_size²) and `image_grid_thw` = (grid_t, grid_h, grid_w).
 * Decoding files and buffers (sharp/libvips) is in image_io.ts.
 */
import type { PreprocessorConfig } from "./processor_config.ts";
import { checkImagePixels } from "./limits.ts";

// ---------------------------------------------------------------------------------------------------------------
// smart_resize

/** Python 3's round(): nearest integer, ties to even (Math.round rounds ties up). */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface SmartResizeOptions {
  factor?: number;
  minPixels?: number;
  maxPixels?: number;
}

/**
 * transformers' smart_resize: both sides multiples of `factor` (patch·merge = 28), pixel count within
 * [minPixels, maxPixels], aspect ratio kept as closely as possible. Same float operations in the same order as the
 * Python, so results are identical. Aspect ratio above 200 is an error, as in transformers. A side shorter than
 * `factor` is not an error here (transformers 4.50 raises): it rounds up to `factor`, as qwen-vl-utils does and as
 * LLaMA-Factory's stretching to 28 px gives.
 */
export function smartResize(
  height: number,
  width: number,
  opts: SmartResizeOptions = {},
): { height: number; width: number } {
  const factor = opts.factor ?? 28;
  const minPixels = opts.minPixels ?? 56 * 56;
  const maxPixels = opts.maxPixels ?? 14 * 14 * 4 * 1280;
  if (!(height > 0 && width > 0)) throw new Error(`smart_resize: height ${height} and width ${width} must be positive`);
  const ratio = Math.max(height, width) / Math.min(height, width);
  if (ratio > 200)
    throw new Error(`smart_resize: absolute aspect ratio must be smaller than 200, got ${ratio} (${height}x${width})`);
  let h = Math.max(factor, pyRound(height / factor) * factor);
  let w = Math.max(factor, pyRound(width / factor) * factor);
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    h = Math.max(factor, Math.floor(height / beta / factor) * factor);
    w = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / factor) * factor;
    w = Math.ceil((width * beta) / factor) * factor;
  }
  return { height: h, width: w };
}

// ---------------------------------------------------------------------------------------------------------------
// Images

/** An 8-bit RGB image, row-major, interleaved (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

const PRECISION_BITS = 32 - 8 - 2;

function bicubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output index, first input index and fixed-point weights. */
function coeffs(inSize: number, outSize: number): { bounds: Int32Array; ksize: number; kk: Int32Array } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += k[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      kk[xx * ksize + x] =
        w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, ksize, kk };
}

function clip8(ss: number): number {
  const v = Math.floor(ss / (1 << PRECISION_BITS));
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Bicubic resize of an 8-bit RGB image, a port of Pillow's 8-bit two-pass convolution (Image.resize with BICUBIC,
 * no reducing_gap), which is what transformers' Qwen2VLImageProcessor calls: Keys cubic with a = -0.5, support
 * widened by the downscale factor (antialiasing), fixed-point weights, horizontal pass then vertical, rounding to
 * 8 bits after each pass. sharp's own "cubic" kernel (libvips) differs slightly from Pillow's, so we do not use it.
 * Tests reproduce Pillow's own BICUBIC accuracy cases (Tests/test_image_resample.py) exactly.
 */
export function resizeBicubic(img: RgbImage, outW: number, outH: number): RgbImage {
  const { width: inW, height: inH, data } = img;
  if (outW === inW && outH === inH) return { width: inW, height: inH, data: data.slice() };
  const half = 1 << (PRECISION_BITS - 1);
  const horiz = coeffs(inW, outW);
  const vert = coeffs(inH, outH);
  // Rows of the source that the vertical pass reads.
  const yFirst = vert.bounds[0]!;
  const yLast = vert.bounds[outH * 2 - 2]! + vert.bounds[outH * 2 - 1]!;
  let src = data;
  let srcW = inW;
  let rowOffset = 0;
  if (outW !== inW) {
    const rows = yLast - yFirst;
    const tmp = new Uint8Array(outW * rows * 3);
    for (let y = 0; y < rows; y++) {
      const inRow = (y + yFirst) * inW * 3;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = horiz.bounds[xx * 2]!;
        const xmax = horiz.bounds[xx * 2 + 1]!;
        const kOff = xx * horiz.ksize;
        for (let c = 0; c < 3; c++) {
          let ss = half;
          for (let x = 0; x < xmax; x++) ss += data[inRow + (x + xmin) * 3 + c]! * horiz.kk[kOff + x]!;
          tmp[(y * outW + xx) * 3 + c] = clip8(ss);
        }
      }
    }
    src = tmp;
    srcW = outW;
    rowOffset = yFirst;
  }
  if (outH === inH) return { width: outW, height: outH, data: src };
  const out = new Uint8Array(outW * outH * 3);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = vert.bounds[yy * 2]! - rowOffset;
    const ymax = vert.bounds[yy * 2 + 1]!;
    const kOff = yy * vert.ksize;
    for (let xx = 0; xx < outW; xx++) {
      for (let c = 0; c < 3; c++) {
        let ss = half;
        for (let y = 0; y < ymax; y++) ss += src[((y + ymin) * srcW + xx) * 3 + c]! * vert.kk[kOff + y]!;
        out[(yy * outW + xx) * 3 + c] = clip8(ss);
      }
    }
  }
  return { width: outW, height: outH, data: out };
}

// ---------------------------------------------------------------------------------------------------------------
// Patches

export interface PatchifyOptions {
  patchSize: number;
  temporalPatchSize: number;
  mergeSize: number;
}

/**
 * Rearranges frames (each channel-first, C×H×W float32) into HF's patch order. Equivalent to transformers'
 * reshape(grid_t, T, C, grid_h/m, m, P, grid_w/m, m, P) → transpose(0, 3, 6, 4, 7, 2, 1, 5, 8) → reshape(N, C·T·P·P):
 * rows run over (t, block row, block column, row in block, column in block) — the 2×2 patches that the merger
 * fuses are consecutive — and columns over (channel, frame, y in patch, x in patch), matching the Conv3d weight
 * layout [embed_dim, C, T, P, P].
 */
export function patchify(
  frames: Float32Array[],
  channels: number,
  height: number,
  width: number,
  o: PatchifyOptions,
): { data: Float32Array; rows: number; cols: number; gridThw: [number, number, number] } {
  const P = o.patchSize;
  const T = o.temporalPatchSize;
  const m = o.mergeSize;
  if (frames.length % T !== 0)
    throw new Error(`patchify: ${frames.length} frames is not a multiple of temporal_patch_size ${T}`);
  if (height % (P * m) !== 0 || width % (P * m) !== 0) {
    throw new Error(`patchify: ${height}x${width} is not a multiple of patch_size*merge_size = ${P * m}`);
  }
  const gt = frames.length / T;
  const gh = height / P;
  const gw = width / P;
  const rows = gt * gh * gw;
  const cols = channels * T * P * P;
  const out = new Float32Array(rows * cols);
  let r = 0;
  for (let t = 0; t < gt; t++)
    for (let bh = 0; bh < gh / m; bh++)
      for (let bw = 0; bw < gw / m; bw++)
        for (let mh = 0; mh < m; mh++)
          for (let mw = 0; mw < m; mw++, r++) {
            const y0 = (bh * m + mh) * P;
            const x0 = (bw * m + mw) * P;
            let col = r * cols;
            for (let c = 0; c < channels; c++)
              for (let tp = 0; tp < T; tp++) {
                const f = frames[t * T + tp]!;
                for (let py = 0; py < P; py++) {
                  const base = (c * height + y0 + py) * width + x0;
                  for (let px = 0; px < P; px++) out[col++] = f[base + px]!;
                }
              }
          }
  return { data: out, rows, cols, gridThw: [gt, gh, gw] };
}

// ---------------------------------------------------------------------------------------------------------------
// The processor

export interface ProcessedImage {
  /** Row-major (N, C·T·P·P) patches in HF order. */
  pixelValues: Float32Array;
  shape: [number, number];
  gridThw: [number, number, number];
  originalHeight: number;
  originalWidth: number;
  resizedHeight: number;
  resizedWidth: number;
  /** Number of `<|image_pad|>` tokens this image takes after the 2×2 merge: t·h·w / merge². */
  numImageTokens: number;
}

export interface ProcessOptions {
  minPixels?: number;
  maxPixels?: number;
  /**
   * The SFT-time pre-resize of spec §1.9 (LLaMA-Factory's `image_max_pixels`, default 262,144 = 512²): images
   * above this many pixels are first shrunk with Pillow NEAREST (see preResize). Off (undefined) for rollouts and
   * evaluation, which the reference does not pre-resize.
   */
  imageMaxPixels?: number;
}

/** LLaMA-Factory's default `image_max_pixels` (`image_resolution` 512·512), applied before the HF processor in SFT. */
export const SFT_IMAGE_MAX_PIXELS = 262_144;

/**
 * Pillow's Image.resize(size, NEAREST) (ImagingScaleAffine): source column of output x is int(xo) with
 * xo = scale/2 + x·scale accumulated in doubles, scale = in/out; the same for rows.
 */
export function resizeNearest(img: RgbImage, outW: number, outH: number): RgbImage {
  const { width: inW, height: inH, data } = img;
  const xs = new Int32Array(outW);
  const sx = inW / outW;
  let xo = sx * 0.5;
  for (let x = 0; x < outW; x++) {
    xs[x] = Math.min(inW - 1, Math.trunc(xo));
    xo += sx;
  }
  const out = new Uint8Array(outW * outH * 3);
  const sy = inH / outH;
  let yo = sy * 0.5;
  for (let y = 0; y < outH; y++) {
    const row = Math.min(inH - 1, Math.trunc(yo)) * inW * 3;
    for (let x = 0; x < outW; x++) {
      const s = row + xs[x]! * 3;
      const d = (y * outW + x) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
    yo += sy;
  }
  return { width: outW, height: outH, data: out };
}

/** The size preResize gives an image of this size (no pixels touched). */
export function preResizeSize(height: number, width: number, maxPixels = SFT_IMAGE_MAX_PIXELS) {
  let h = height;
  let w = width;
  if (w * h > maxPixels) {
    const f = Math.sqrt(maxPixels / (w * h));
    [w, h] = [Math.max(1, Math.trunc(w * f)), Math.max(1, Math.trunc(h * f))];
  }
  if (Math.min(w, h) < 28) [w, h] = [Math.max(w, 28), Math.max(h, 28)];
  if (w / h > 200) w = h * 180;
  if (h / w > 200) h = w * 180;
  return { height: h, width: w };
}

/**
 * LLaMA-Factory's image preparation before the Qwen2-VL processor (spec §1.9, SFT): when w·h > maxPixels the image
 * is resized by sqrt(maxPixels / (w·h)) with both sides truncated to integers, NEAREST; then a side shorter than
 * 28 is stretched to 28, and an aspect ratio above 200 is squashed to 180:1 (those two with Pillow's default
 * resize filter, BICUBIC). Returns the image unchanged when nothing applies.
 */
export function preResize(img: RgbImage, maxPixels = SFT_IMAGE_MAX_PIXELS): RgbImage {
  let out = img;
  if (out.width * out.height > maxPixels) {
    const f = Math.sqrt(maxPixels / (out.width * out.height));
    const w = Math.max(1, Math.trunc(out.width * f));
    const h = Math.max(1, Math.trunc(out.height * f));
    out = resizeNearest(out, w, h);
  }
  if (Math.min(out.width, out.height) < 28) out = resizeBicubic(out, Math.max(out.width, 28), Math.max(out.height, 28));
  if (out.width / out.height > 200) out = resizeBicubic(out, out.height * 180, out.height);
  if (out.height / out.width > 200) out = resizeBicubic(out, out.width, out.width * 180);
  return out;
}

/** Resized size, grid and token count of an image of the given size, without touching pixels. */
export function imageGeometry(height: number, width: number, cfg: PreprocessorConfig, opts: ProcessOptions = {}) {
  if (opts.imageMaxPixels !== undefined) ({ height, width } = preResizeSize(height, width, opts.imageMaxPixels));
  const factor = cfg.patch_size * cfg.merge_size;
  const r = cfg.do_resize
    ? smartResize(height, width, {
        factor,
        minPixels: opts.minPixels ?? cfg.min_pixels,
        maxPixels: opts.maxPixels ?? cfg.max_pixels,
      })
    : { height, width };
  const gridThw: [number, number, number] = [1, r.height / cfg.patch_size, r.width / cfg.patch_size];
  return {
    resizedHeight: r.height,
    resizedWidth: r.width,
    gridThw,
    numImageTokens: (gridThw[1] * gridThw[2]) / cfg.merge_size ** 2,
  };
}

/** Processes one decoded RGB image (a still image: one frame duplicated temporal_patch_size times). */
export function processImage(original: RgbImage, cfg: PreprocessorConfig, opts: ProcessOptions = {}): ProcessedImage {
  const img = opts.imageMaxPixels !== undefined ? preResize(original, opts.imageMaxPixels) : original;
  const g = imageGeometry(img.height, img.width, cfg, { ...opts, imageMaxPixels: undefined });
  const H = g.resizedHeight;
  const W = g.resizedWidth;
  checkImagePixels(
    H,
    W,
    3 * cfg.temporal_patch_size * cfg.patch_size ** 2,
    cfg.patch_size,
    `image ${img.width}x${img.height}`,
  );
  const resized = H === img.height && W === img.width ? img : resizeBicubic(img, W, H);
  // Rescale and normalise in float32 in the order numpy does: (x·scale) then (x − mean) / std.
  const frame = new Float32Array(3 * H * W);
  const f32 = Math.fround;
  const scale = cfg.rescale_factor;
  const mean = cfg.image_mean.map(f32);
  const std = cfg.image_std.map(f32);
  for (let c = 0; c < 3; c++) {
    const mc = mean[c]!;
    const sc = std[c]!;
    for (let i = 0; i < H * W; i++) {
      let v = resized.data[i * 3 + c]!;
      if (cfg.do_rescale) v = f32(v * scale);
      if (cfg.do_normalize) v = f32(f32(v - mc) / sc);
      frame[c * H * W + i] = v;
    }
  }
  const frames = Array.from({ length: cfg.temporal_patch_size }, () => frame);
  const p = patchify(frames, 3, H, W, {
    patchSize: cfg.patch_size,
    temporalPatchSize: cfg.temporal_patch_size,
    mergeSize: cfg.merge_size,
  });
  return {
    pixelValues: p.data,
    shape: [p.rows, p.cols],
    gridThw: p.gridThw,
    originalHeight: original.height,
    originalWidth: original.width,
    resizedHeight: H,
    resizedWidth: W,
    numImageTokens: g.numImageTokens,
  };
}

export interface ProcessedImages {
  /** All images' patches concatenated along rows, in image order. */
  pixelValues: Float32Array;
  shape: [number, number];
  imageGridThw: [number, number, number][];
  images: ProcessedImage[];
}

/** Concatenates processed images (several images of one prompt, or of a batch) as HF's `pixel_values`. */
export function concatProcessed(images: ProcessedImage[]): ProcessedImages {
  const cols = images[0]?.shape[1] ?? 0;
  const rows = images.reduce((a, im) => a + im.shape[0], 0);
  const pixelValues = new Float32Array(rows * cols);
  let off = 0;
  for (const im of images) {
    if (im.shape[1] !== cols) throw new Error("concatProcessed: images have different patch widths");
    pixelValues.set(im.pixelValues, off);
    off += im.pixelValues.length;
  }
  return { pixelValues, shape: [rows, cols], imageGridThw: images.map((i) => i.gridThw), images };
}
