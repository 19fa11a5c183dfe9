/**
 * Per-channel pixel statistics of a set of images, in [0, 1] (what image_mean/image_std hold in a
 * preprocessor_config.json). Images are decoded at their stored size; no tensors.
 */
import { loadImage } from "../models/qwen2vl/image_io.ts";

export interface ImageStats {
  mean: [number, number, number];
  std: [number, number, number];
  images: number;
  pixels: number;
}

/** Mean and standard deviation of R, G and B over every pixel of the images (each pixel weighs the same). */
export async function imageStats(paths: readonly string[]): Promise<ImageStats> {
  if (paths.length === 0) throw new Error("image statistics: no images");
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  let pixels = 0;
  for (const p of paths) {
    const img = await loadImage(p);
    const d = img.data;
    for (let i = 0; i < d.length; i += 3)
      for (let c = 0; c < 3; c++) {
        const v = d[i + c]! / 255;
        sum[c]! += v;
        sq[c]! += v * v;
      }
    pixels += img.width * img.height;
  }
  const mean = sum.map((x) => x / pixels) as [number, number, number];
  // A flat image has std 0: keep 1e-3 so normalising never divides by zero.
  const std = sq.map((x, c) => Math.max(1e-3, Math.sqrt(Math.max(0, x / pixels - mean[c]! ** 2)))) as [
    number,
    number,
    number,
  ];
  return { mean, std, images: paths.length, pixels };
}
