/**
 * The one preprocessing path shared by SFT, rollouts and evaluation: conversation + images → prompt text, token
 * ids with each `<|image_pad|>` expanded to its image's merged patch count, pixel values and image_grid_thw, with
 * the per-sample pad-count check. Tensor-free: the model code turns the arrays into tensors.
 *
 * Importing this module does not load sharp (libvips): image_io.ts is imported on first use, only when a sample
 * gives images as paths or encoded buffers (decoded RgbImages need no decoder).
 */
import { type ChatMessage, type ChatTemplateOptions, countImages } from "./chat_template.ts";
import type { PreprocessorConfig } from "./processor_config.ts";
import {
  type ProcessOptions,
  type ProcessedImage,
  type RgbImage,
  concatProcessed,
  processImage,
} from "./image_math.ts";
import { checkImagePadCounts, expandImagePads } from "./image_pads.ts";
import type { QwenTokenizer } from "./tokenizer.ts";

/** One prepared sample (host arrays): what prepareInputs returns and generate/logProbBatch take (a PromptSample). */
export interface PreparedInputs {
  /** Name used in errors (dataset id, file:record...). */
  sampleId: string;
  /** Rendered prompt, one `<|image_pad|>` per image (as the chat template writes it). */
  text: string;
  /** Token ids with every `<|image_pad|>` expanded. */
  inputIds: number[];
  /** Row-major (N, C·T·P·P), all images of the sample in order; empty when there are none. */
  pixelValues: Float32Array;
  pixelShape: [number, number];
  imageGridThw: [number, number, number][];
}

export interface PrepareOptions extends ChatTemplateOptions, ProcessOptions {
  sampleId?: string;
}

function isRgbImage(x: unknown): x is RgbImage {
  return typeof x === "object" && x !== null && "data" in x && "width" in x && "height" in x;
}

/**
 * Prepares one sample. Images are given in the order the conversation refers to them (paths, encoded buffers, or
 * decoded RGB images). Throws, naming the sample, when the number of images and image placeholders differ or when
 * the expanded pad count does not match the patches.
 */
export async function prepareInputs(
  tok: QwenTokenizer,
  pp: PreprocessorConfig,
  messages: readonly ChatMessage[],
  images: readonly (string | Buffer | Uint8Array | RgbImage)[],
  opts: PrepareOptions = {},
): Promise<PreparedInputs> {
  const sampleId = opts.sampleId ?? "(unnamed sample)";
  const wanted = countImages(messages);
  if (wanted !== images.length) {
    throw new Error(
      `sample ${sampleId}: the conversation has ${wanted} image placeholder(s) but ${images.length} image(s) were given`,
    );
  }
  const processed: ProcessedImage[] = [];
  for (const im of images) {
    const rgb = isRgbImage(im) ? im : await (await import("./image_io.ts")).loadImage(im);
    processed.push(processImage(rgb, pp, opts));
  }
  const text = tok.applyChatTemplate(messages, opts);
  const imagePad = tok.configIds().imagePad;
  const ids = tok.encode(text);
  const pads = ids.filter((x) => x === imagePad).length;
  if (pads !== images.length) {
    throw new Error(
      `sample ${sampleId}: the rendered prompt has ${pads} <|image_pad|> token(s) for ${images.length} image(s) (check the chat template)`,
    );
  }
  const grids = processed.map((p) => p.gridThw);
  const inputIds = expandImagePads(ids, grids, imagePad, pp.merge_size);
  checkImagePadCounts([{ id: sampleId, inputIds, imageGridThw: grids }], imagePad, pp.merge_size);
  const all = concatProcessed(processed);
  return { sampleId, text, inputIds, pixelValues: all.pixelValues, pixelShape: all.shape, imageGridThw: grids };
}

/** @deprecated the earlier name of PreparedInputs. */
export type ModelInputs = PreparedInputs;
