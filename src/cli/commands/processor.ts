import { existsSync, statSync } from "node:fs";
import { type CommandSpec, UsageError } from "../args.ts";
import {
  type PreprocessorConfig,
  defaultPreprocessorConfig,
  readCheckpointPreprocessor,
} from "../../models/qwen2vl/processor_config.ts";
import { imageGeometry, processImage } from "../../models/qwen2vl/image_math.ts";
import { loadImage } from "../../models/qwen2vl/image_io.ts";

export const command: CommandSpec = {
  name: "processor",
  summary: "run the Qwen2-VL image processor: resized size, image_grid_thw and image-token count per image",
  options: {
    image: { type: "strings", help: "image file (PNG/JPEG/WebP); repeat for several images", required: true },
    model: {
      type: "string",
      help:
        "checkpoint directory whose preprocessor_config.json (or transformers 5.x processor_config.json) to use " +
        "(default: Qwen2-VL-Instruct's)",
    },
    "min-pixels": { type: "number", help: "min_pixels for smart_resize (default: from the preprocessor config, 3136)" },
    "max-pixels": {
      type: "number",
      help: "max_pixels for smart_resize (default: from the preprocessor config, 12845056)",
    },
    json: { type: "boolean", help: "print JSON" },
  },
  details: [
    "Examples:",
    "  rft processor --image scene.png",
    "  rft processor --image a.png --image b.png --max-pixels 480000 --json",
    "",
    "Tokens per image = grid_t * grid_h * grid_w / merge_size^2 (one <|image_pad|> each).",
  ].join("\n"),
  async run(opts) {
    const images = opts.image as string[];
    let cfg: PreprocessorConfig = defaultPreprocessorConfig();
    if (opts.model !== undefined) {
      const dir = String(opts.model);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--model: ${dir} is not a directory`);
      const r = await readCheckpointPreprocessor(dir);
      cfg = r.config;
      if (r.warning) process.stderr.write(`[processor] warning: ${r.warning}\n`);
    }
    const minPixels = opts["min-pixels"] as number | undefined;
    const maxPixels = opts["max-pixels"] as number | undefined;
    for (const [flag, v] of [
      ["--min-pixels", minPixels],
      ["--max-pixels", maxPixels],
    ] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v <= 0))
        throw new UsageError(`${flag} must be a positive integer, got ${v}`);
    }
    const min = minPixels ?? cfg.min_pixels;
    const max = maxPixels ?? cfg.max_pixels;
    if (min > max) throw new UsageError(`--min-pixels (${min}) is larger than --max-pixels (${max})`);

    const rows = [];
    for (const file of images) {
      const img = await loadImage(file);
      const g = imageGeometry(img.height, img.width, cfg, { minPixels: min, maxPixels: max });
      // Run the full pipeline too, so the printed shape is the one the model gets.
      const p = processImage(img, cfg, { minPixels: min, maxPixels: max });
      rows.push({
        image: file,
        height: img.height,
        width: img.width,
        resized_height: g.resizedHeight,
        resized_width: g.resizedWidth,
        image_grid_thw: p.gridThw,
        pixel_values_shape: p.shape,
        num_image_tokens: p.numImageTokens,
      });
    }
    const total = rows.reduce((a, r) => a + r.num_image_tokens, 0);
    if (opts.json) {
      console.log(
        JSON.stringify({ min_pixels: min, max_pixels: max, images: rows, total_image_tokens: total }, null, 2),
      );
      return 0;
    }
    console.log(`min_pixels ${min}, max_pixels ${max}, patch ${cfg.patch_size}, merge ${cfg.merge_size}`);
    for (const r of rows) {
      console.log(
        `${r.image}: ${r.width}x${r.height} (w x h) -> ${r.resized_width}x${r.resized_height}, ` +
          `image_grid_thw [${r.image_grid_thw.join(", ")}], pixel_values [${r.pixel_values_shape.join(", ")}], ` +
          `${r.num_image_tokens} image tokens`,
      );
    }
    if (rows.length > 1) console.log(`total: ${total} image tokens`);
    return 0;
  },
};
