/**
 * Image decoding for the processor: files and encoded buffers (PNG/JPEG/WebP through sharp, i.e. libvips) to 8-bit
 * RGB. The only module of the model package that loads sharp; everything else (image_math.ts, image_pads.ts,
 * processor_config.ts) is pure.
 */
import { readFile } from "node:fs/promises";
import sharp from "sharp";
import {
  type RgbImage,
  type ProcessOptions,
  type ProcessedImage,
  type ProcessedImages,
  concatProcessed,
  processImage,
} from "./image_math.ts";
import type { PreprocessorConfig } from "./processor_config.ts";

/**
 * Decodes PNG/JPEG/WebP (anything sharp reads) to 8-bit RGB: alpha composited over white (as transformers'
 * convert_to_rgb and qwen-vl-utils do), grey expanded to RGB. Pixels are taken in stored order, without applying
 * an EXIF orientation tag, as the reference's PIL Image.open does (transformers' load_image would rotate).
 */
export async function loadImage(input: string | Buffer | Uint8Array): Promise<RgbImage> {
  let buf: Buffer | Uint8Array;
  try {
    buf = typeof input === "string" ? await readFile(input) : input;
  } catch (e) {
    throw new Error(`cannot read image ${String(input)}: ${(e as Error).message}`);
  }
  try {
    const { data, info } = await sharp(buf)
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    const name = typeof input === "string" ? input : "image buffer";
    throw new Error(`cannot decode ${name}: ${(e as Error).message}`);
  }
}

/** Loads and processes images (paths or encoded buffers) in order. */
export async function processImageFiles(
  inputs: (string | Buffer | Uint8Array)[],
  cfg: PreprocessorConfig,
  opts: ProcessOptions = {},
): Promise<ProcessedImages> {
  const out: ProcessedImage[] = [];
  for (const inp of inputs) out.push(processImage(await loadImage(inp), cfg, opts));
  return concatProcessed(out);
}
