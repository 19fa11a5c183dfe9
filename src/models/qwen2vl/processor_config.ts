/**
 * The image processor's configuration: `preprocessor_config.json` (what transformers 4.x and our checkpoints write)
 * and transformers 5.x's `processor_config.json` (the same fields nested under `image_processor`), read into one
 * typed object. No image decoding here (see image_io.ts), so the model and the trainers can import it without
 * loading libvips.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

export const CLIP_MEAN: [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

export interface PreprocessorConfig {
  min_pixels: number;
  max_pixels: number;
  patch_size: number;
  temporal_patch_size: number;
  merge_size: number;
  image_mean: number[];
  image_std: number[];
  rescale_factor: number;
  do_resize: boolean;
  do_rescale: boolean;
  do_normalize: boolean;
  do_convert_rgb: boolean;
  /** PIL resampling filter id; 3 = BICUBIC (the only one we implement, as HF's default). */
  resample: number;
  image_processor_type: string;
  processor_class: string;
}

/** Defaults of Qwen2-VL-{2B,7B}-Instruct's preprocessor_config.json. */
export function defaultPreprocessorConfig(over: Partial<PreprocessorConfig> = {}): PreprocessorConfig {
  return {
    min_pixels: 56 * 56,
    max_pixels: 28 * 28 * 16384, // 12,845,056 as shipped with the Instruct checkpoints
    patch_size: 14,
    temporal_patch_size: 2,
    merge_size: 2,
    image_mean: [...CLIP_MEAN],
    image_std: [...CLIP_STD],
    rescale_factor: 1 / 255,
    do_resize: true,
    do_rescale: true,
    do_normalize: true,
    do_convert_rgb: true,
    resample: 3,
    image_processor_type: "Qwen2VLImageProcessor",
    processor_class: "Qwen2VLProcessor",
    ...over,
  };
}

const pos = z.number().int().positive();
const ppSchema = z
  .object({
    min_pixels: pos.optional(),
    max_pixels: pos.optional(),
    size: z
      .object({
        shortest_edge: pos.optional(),
        longest_edge: pos.optional(),
        min_pixels: pos.optional(),
        max_pixels: pos.optional(),
      })
      .nullable()
      .optional(),
    patch_size: pos.optional(),
    temporal_patch_size: pos.optional(),
    merge_size: pos.optional(),
    image_mean: z.union([z.number(), z.array(z.number()).length(3)]).optional(),
    image_std: z.union([z.number().positive(), z.array(z.number().positive()).length(3)]).optional(),
    rescale_factor: z.number().positive().optional(),
    do_resize: z.boolean().optional(),
    do_rescale: z.boolean().optional(),
    do_normalize: z.boolean().optional(),
    do_convert_rgb: z.boolean().optional(),
    resample: z.number().int().optional(),
    image_processor_type: z.string().optional(),
    processor_class: z.string().optional(),
  })
  .passthrough();

/**
 * Reads a preprocessor_config.json object. min/max pixels come from `min_pixels`/`max_pixels` when present (they
 * override `size`, as in transformers), else from `size.shortest_edge`/`size.longest_edge`.
 */
export function parsePreprocessorConfig(json: unknown, source = "preprocessor_config.json"): PreprocessorConfig {
  const r = ppSchema.safeParse(json);
  if (!r.success) {
    throw new Error(`${source}: ` + r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  }
  const j = r.data;
  // Fields missing from the file take Qwen2VLImageProcessor's class defaults (max_pixels 28·28·1280), not the
  // Instruct checkpoints' file values, as transformers would.
  const d = defaultPreprocessorConfig({ max_pixels: 28 * 28 * 1280 });
  const triple = (x: number | number[] | undefined, dflt: number[]) =>
    x === undefined ? dflt : typeof x === "number" ? [x, x, x] : x;
  const cfg: PreprocessorConfig = {
    ...d,
    min_pixels: j.min_pixels ?? j.size?.shortest_edge ?? j.size?.min_pixels ?? d.min_pixels,
    max_pixels: j.max_pixels ?? j.size?.longest_edge ?? j.size?.max_pixels ?? d.max_pixels,
    patch_size: j.patch_size ?? d.patch_size,
    temporal_patch_size: j.temporal_patch_size ?? d.temporal_patch_size,
    merge_size: j.merge_size ?? d.merge_size,
    image_mean: triple(j.image_mean, d.image_mean),
    image_std: triple(j.image_std, d.image_std),
    rescale_factor: j.rescale_factor ?? d.rescale_factor,
    do_resize: j.do_resize ?? d.do_resize,
    do_rescale: j.do_rescale ?? d.do_rescale,
    do_normalize: j.do_normalize ?? d.do_normalize,
    do_convert_rgb: j.do_convert_rgb ?? d.do_convert_rgb,
    resample: j.resample ?? d.resample,
    image_processor_type: j.image_processor_type ?? d.image_processor_type,
    processor_class: j.processor_class ?? d.processor_class,
  };
  if (cfg.min_pixels > cfg.max_pixels)
    throw new Error(`${source}: min_pixels (${cfg.min_pixels}) > max_pixels (${cfg.max_pixels})`);
  if (cfg.resample !== 3) throw new Error(`${source}: resample ${cfg.resample} unsupported (only 3 = BICUBIC)`);
  return cfg;
}

/**
 * The preprocessor_config.json object. Writes both `min_pixels`/`max_pixels` and `size` {shortest_edge,
 * longest_edge}: some transformers versions read only one of them (spec §1.9 caveat), so both must agree.
 */
export function toPreprocessorJson(c: PreprocessorConfig): Record<string, unknown> {
  return { ...c, size: { shortest_edge: c.min_pixels, longest_edge: c.max_pixels } };
}

export async function readPreprocessorConfig(path: string): Promise<PreprocessorConfig> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  // transformers 5.x's processor_config.json nests the image processor's fields under `image_processor`.
  const nested = (json as { image_processor?: unknown } | null)?.image_processor;
  if (nested !== undefined) {
    if (typeof nested !== "object" || nested === null) throw new Error(`${path}: image_processor: expected an object`);
    const outer = json as Record<string, unknown>;
    return parsePreprocessorConfig(
      { processor_class: outer.processor_class, ...(nested as Record<string, unknown>) },
      `${path} (image_processor)`,
    );
  }
  return parsePreprocessorConfig(json, path);
}

/** File names holding a checkpoint's image-processor settings, in the order they are looked up. */
export const PROCESSOR_CONFIG_FILES = ["preprocessor_config.json", "processor_config.json"] as const;

export interface CheckpointPreprocessor {
  config: PreprocessorConfig;
  /** The file read, or null when the checkpoint has none (defaults used). */
  source: string | null;
  /** Set when the defaults were used: say so to the user. */
  warning?: string;
}

/**
 * A checkpoint directory's processor settings: `preprocessor_config.json` (transformers 4.x, ours), else
 * `processor_config.json` (transformers 5.x: nested `image_processor`), else Qwen2-VL-Instruct's defaults with a
 * warning (a silent fallback would give other image grids than the model was trained with).
 */
export async function readCheckpointPreprocessor(dir: string): Promise<CheckpointPreprocessor> {
  for (const name of PROCESSOR_CONFIG_FILES) {
    const path = join(dir, name);
    if (existsSync(path)) return { config: await readPreprocessorConfig(path), source: path };
  }
  const config = defaultPreprocessorConfig();
  return {
    config,
    source: null,
    warning:
      `${dir} has no ${PROCESSOR_CONFIG_FILES.join(" or ")}: using Qwen2-VL-Instruct's image processor defaults ` +
      `(min_pixels ${config.min_pixels}, max_pixels ${config.max_pixels}); image grids may differ from the ones the model was trained with`,
  };
}

export async function writePreprocessorConfig(path: string, c: PreprocessorConfig): Promise<void> {
  await writeFile(path, JSON.stringify(toPreprocessorJson(c), null, 2) + "\n");
}
