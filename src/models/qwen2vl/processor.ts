/**
 * The Qwen2-VL image processor, producing plain Float32Arrays (the model code turns them into tensors).
 *
 * One path for SFT, rollouts and evaluation: load (sharp) → RGB → smart_resize → bicubic resize → rescale 1/255 →
 * normalise with image_mean/image_std → duplicate the still image into temporal_patch_size frames → HF patch order.
 *
 * This module only gathers the pieces (it loads sharp through image_io.ts). Code that needs no image decoding — the
 * model, the trainers — imports the pure modules directly:
 *   processor_config.ts  preprocessor_config.json / processor_config.json
 *   image_math.ts        smart_resize, resize, normalisation, patchify, image_grid_thw
 *   image_pads.ts        <|image_pad|> expansion and the pad-count check
 *   image_io.ts          decoding files and buffers (sharp)
 */
export * from "./processor_config.ts";
export * from "./image_math.ts";
export * from "./image_pads.ts";
export * from "./image_io.ts";
