import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import {
  CLIP_MEAN,
  CLIP_STD,
  checkImagePadCounts,
  concatProcessed,
  defaultPreprocessorConfig,
  expandImagePads,
  expandImagePadsInText,
  imageGeometry,
  loadImage,
  parsePreprocessorConfig,
  patchify,
  processImage,
  processImageFiles,
  pyRound,
  readPreprocessorConfig,
  resizeBicubic,
  smartResize,
  toPreprocessorJson,
  writePreprocessorConfig,
} from "../../src/models/qwen2vl/processor.ts";

test("pyRound rounds half to even like Python's round()", () => {
  const cases: [number, number][] = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [3.5, 4],
    [-0.5, 0],
    [-1.5, -2],
    [2.4999, 2],
    [2.5001, 3],
    [7, 7],
  ];
  for (const [x, want] of cases) assert.equal(pyRound(x) + 0, want, `round(${x})`);
});

test("smart_resize table (height, width, min_pixels, max_pixels → height, width)", () => {
  // Expected values follow transformers' smart_resize arithmetic (and were cross-checked with Python's round):
  const table: [number, number, number, number, number, number, string][] = [
    // 480x320 CLEVR render: round(320/28 = 11.43) = 11 → 308, round(480/28 = 17.14) = 17 → 476; 146,608 px is
    // inside [3136, max], so no clamp: grid (1, 22, 34), 22·34/4 = 187 tokens (spec §1.9).
    [320, 480, 3136, 12845056, 308, 476, "CLEVR"],
    [320, 480, 3136, 480000, 308, 476, "CLEVR with the RL cap"],
    // Ties: 70/28 = 2.5 → 2 (half to even; Math.round would give 3 → 84), 42/28 = 1.5 → 2, 98/28 = 3.5 → 4.
    [70, 280, 3136, 12845056, 56, 280, "2.5 rounds down"],
    [42, 280, 3136, 12845056, 56, 280, "1.5 rounds up"],
    [98, 280, 3136, 12845056, 112, 280, "3.5 rounds up"],
    // Max clamp: 1008² > 480000 → β = sqrt(1e6/480000) = 1.443; floor(1000/β/28) = floor(24.74) = 24 → 672.
    [1000, 1000, 3136, 480000, 672, 672, "max clamp"],
    [4000, 3000, 3136, 480000, 784, 588, "max clamp 4:3"],
    [1080, 1920, 3136, 480000, 504, 896, "max clamp 16:9"],
    [4000, 3000, 3136, 12845056, 4004, 2996, "big, no clamp"],
    // Min clamp: 28·28 < 3136 → β = sqrt(3136/1200) = 1.617; ceil(30β/28) = 2 → 56, ceil(40β/28) = 3 → 84.
    [30, 40, 3136, 480000, 56, 84, "min clamp"],
    [15, 15, 3136, 480000, 56, 56, "tiny square"],
    [333, 777, 3136, 480000, 336, 784, "odd sizes"],
    // Extreme aspect ratios at and near the 200 limit.
    [28, 5600, 3136, 12845056, 28, 5600, "ratio exactly 200"],
    [100, 19999, 3136, 480000, 28, 9772, "ratio 199.99 with max clamp"],
    [19999, 100, 3136, 480000, 9772, 28, "ratio 199.99 transposed"],
    // A side below 28 rounds up to 28 (transformers 4.50 raises here; qwen-vl-utils and LLaMA-Factory give 28).
    [10, 1000, 3136, 480000, 28, 1008, "short side below factor"],
  ];
  for (const [h, w, min, max, eh, ew, why] of table) {
    assert.deepEqual(
      smartResize(h, w, { minPixels: min, maxPixels: max }),
      { height: eh, width: ew },
      `${h}x${w} (${why})`,
    );
    const r = smartResize(h, w, { minPixels: min, maxPixels: max });
    assert.equal(r.height % 28, 0);
    assert.equal(r.width % 28, 0);
  }
  assert.throws(() => smartResize(28, 5601), /aspect ratio must be smaller than 200/);
  assert.throws(() => smartResize(2001, 10), /aspect ratio/);
  assert.throws(() => smartResize(0, 10), /positive/);
});

test("image token counts", () => {
  const cfg = defaultPreprocessorConfig();
  const g = imageGeometry(320, 480, cfg);
  assert.deepEqual(g.gridThw, [1, 22, 34]);
  assert.equal(g.numImageTokens, 187);
  assert.equal(imageGeometry(1000, 1000, cfg, { maxPixels: 480000 }).numImageTokens, (48 * 48) / 4);
  assert.equal(imageGeometry(15, 15, cfg).numImageTokens, 4);
  // tokens = h'·w'/784 for any size
  for (const [h, w] of [
    [333, 777],
    [28, 5600],
    [1080, 1920],
  ] as const) {
    const r = imageGeometry(h, w, cfg);
    assert.equal(r.numImageTokens, (r.resizedHeight * r.resizedWidth) / 784);
  }
});

/** numpy-style reshape + transpose on a flat array (row-major), used as an independent reference. */
function transpose(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const outShape = perm.map((p) => shape[p]!);
  const out = new Float32Array(data.length);
  const idx = new Array(outShape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < perm.length; d++) src += idx[d] * strides[perm[d]!]!;
    out[o] = data[src]!;
    for (let d = outShape.length - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

test("patch order: a hand-computed small case", () => {
  // 2 channels, 4x4 pixels, patch 1, merge 2, temporal 2; value(c, y, x) = 100c + 10y + x, frame 1 = frame 0 + 1000.
  const f0 = new Float32Array(2 * 4 * 4);
  for (let c = 0; c < 2; c++)
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) f0[(c * 4 + y) * 4 + x] = 100 * c + 10 * y + x;
  const f1 = f0.map((v) => v + 1000);
  const p = patchify([f0, f1], 2, 4, 4, { patchSize: 1, temporalPatchSize: 2, mergeSize: 2 });
  assert.deepEqual([p.rows, p.cols, p.gridThw], [16, 4, [1, 4, 4]]);
  const row = (r: number) => Array.from(p.data.subarray(r * 4, r * 4 + 4));
  // Columns are (channel, frame): [c0 t0, c0 t1, c1 t0, c1 t1].
  assert.deepEqual(row(0), [0, 1000, 100, 1100]); // block (0,0), pixel (0,0)
  assert.deepEqual(row(1), [1, 1001, 101, 1101]); // block (0,0), pixel (0,1)
  assert.deepEqual(row(2), [10, 1010, 110, 1110]); // block (0,0), pixel (1,0): the 2x2 block stays together
  assert.deepEqual(row(3), [11, 1011, 111, 1111]);
  assert.deepEqual(row(4), [2, 1002, 102, 1102]); // block (0,1) starts at x = 2
  assert.deepEqual(row(8), [20, 1020, 120, 1120]); // block (1,0) starts at y = 2
  assert.deepEqual(row(15), [33, 1033, 133, 1133]);
});

test("patch order equals HF's reshape/transpose on a random image", () => {
  const C = 3,
    H = 56,
    W = 84,
    T = 2,
    P = 14,
    m = 2;
  const frame = new Float32Array(C * H * W).map((_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1);
  const p = patchify([frame, frame], C, H, W, { patchSize: P, temporalPatchSize: T, mergeSize: m });
  const stacked = new Float32Array(T * frame.length);
  stacked.set(frame, 0);
  stacked.set(frame, frame.length);
  const gh = H / P,
    gw = W / P;
  const ref = transpose(stacked, [1, T, C, gh / m, m, P, gw / m, m, P], [0, 3, 6, 4, 7, 2, 1, 5, 8]);
  assert.deepEqual([p.rows, p.cols], [gh * gw, C * T * P * P]);
  assert.deepEqual(p.data, ref);
});

test("bicubic resize: hand-computed 4 → 2 downscale, identity, constants", () => {
  // Row [0, 0, 255, 255] → 2 px. Scale 2 widens the Keys kernel (a = -0.5) to support 4; output 0 is centred at
  // 1.0 with taps at distances 0.25, 0.25, 0.75, 1.25 (in kernel units): weights .8671875, .8671875, .2265625,
  // -.0703125 (sum 1.890625) → 255·(.2265625 − .0703125)/1.890625 = 21.07 → 21; output 1 mirrors it → 234.
  const img = { width: 4, height: 1, data: new Uint8Array([0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255]) };
  const r = resizeBicubic(img, 2, 1);
  assert.deepEqual(Array.from(r.data), [21, 21, 21, 234, 234, 234]);
  // Same size → identical copy.
  const same = resizeBicubic(img, 4, 1);
  assert.deepEqual(same.data, img.data);
  // A constant image stays constant through up- and down-scaling in both directions.
  const flat = { width: 37, height: 23, data: new Uint8Array(37 * 23 * 3).map((_, i) => [200, 17, 255][i % 3]!) };
  for (const [w, h] of [
    [28, 56],
    [84, 28],
    [112, 112],
    [20, 10],
  ] as const) {
    const o = resizeBicubic(flat, w, h);
    assert.equal(o.data.length, w * h * 3);
    for (let i = 0; i < o.data.length; i++) assert.equal(o.data[i], [200, 17, 255][i % 3], `${w}x${h} at ${i}`);
  }
});

/** Pillow's resample accuracy case: TL and BR quadrants `color`, the others 255 − color (grey, as RGB). */
function pillowCase(size: number, color: number) {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const v = x < size / 2 === y < size / 2 ? color : 255 - color;
      data.fill(v, (y * size + x) * 3, (y * size + x) * 3 + 3);
    }
  return { width: size, height: size, data };
}

/** Pillow's make_sample: the full expected image from the hex values of its top-left quarter. */
function pillowSample(hex: string, size: number): number[] {
  const vals = hex
    .split(/\s+/)
    .filter(Boolean)
    .map((h) => parseInt(h, 16));
  const out = new Array<number>(size * size);
  const h = size / 2;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < h; x++) {
      const v = vals[y * h + x]!;
      out[y * size + x] = v;
      out[(size - y - 1) * size + size - x - 1] = v;
      out[(size - y - 1) * size + x] = 255 - v;
      out[y * size + size - x - 1] = 255 - v;
    }
  return out;
}

test("bicubic resize reproduces Pillow's own resample accuracy tests", () => {
  // Expected values from Pillow's Tests/test_image_resample.py (TestImagingCoreResampleAccuracy), BICUBIC cases.
  const cases: [number, number, string][] = [
    [12, 6, "e1 e3 d4  e3 e5 d6  d4 d6 c9"], // test_reduce_bicubic
    [4, 8, "e1 e5 ee b9  e5 e9 f3 bc  ee f3 fd c1  b9 bc c1 a2"], // test_enlarge_bicubic
  ];
  for (const [from, to, hex] of cases) {
    const out = resizeBicubic(pillowCase(from, 0xe1), to, to);
    const want = pillowSample(hex, to);
    for (let c = 0; c < 3; c++) {
      assert.deepEqual(
        Array.from({ length: to * to }, (_, i) => out.data[i * 3 + c]),
        want,
        `${from} -> ${to}, channel ${c}`,
      );
    }
  }
  // TestCoreResampleCoefficients.test_reduce: a very wide step edge keeps exactly half its value in the middle.
  for (let size = 400000; size < 400010; size += 2) {
    const data = new Uint8Array(size * 3);
    data.fill(254, 0, (size / 2) * 3);
    assert.equal(resizeBicubic({ width: size, height: 1, data }, 5, 1).data[2 * 3], 127, `width ${size}`);
  }
  // test_nonzero_coefficients: 1280 → 256 keeps a flat colour exactly.
  const flat = {
    width: 1280,
    height: 1280,
    data: new Uint8Array(1280 * 1280 * 3).map((_, i) => [0x20, 0x40, 0x60][i % 3]!),
  };
  const small = resizeBicubic(flat, 256, 256);
  for (let i = 0; i < small.data.length; i++) assert.equal(small.data[i], [0x20, 0x40, 0x60][i % 3]);
});

async function png(
  width: number,
  height: number,
  pixel: (x: number, y: number) => number[],
  channels: 1 | 3 | 4 = 3,
): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.set(pixel(x, y), (y * width + x) * channels);
  return sharp(raw, { raw: { width, height, channels } }).png().toBuffer();
}

const norm = (v: number, c: number) =>
  Math.fround(Math.fround(Math.fround(v * (1 / 255)) - Math.fround(CLIP_MEAN[c]!)) / Math.fround(CLIP_STD[c]!));

test("processes a 480x320 image into 748 patches of 1176 values with CLIP normalisation", async () => {
  const buf = await png(480, 320, () => [200, 100, 50]);
  const out = await processImageFiles([buf], defaultPreprocessorConfig());
  assert.deepEqual(out.shape, [748, 1176]);
  assert.deepEqual(out.imageGridThw, [[1, 22, 34]]);
  assert.equal(out.images[0]!.numImageTokens, 187);
  assert.deepEqual([out.images[0]!.resizedHeight, out.images[0]!.resizedWidth], [308, 476]);
  // Columns 0..391 are red (2 frames x 14 x 14), then green, then blue.
  for (const r of [0, 377, 747]) {
    for (let col = 0; col < 1176; col++)
      assert.equal(
        out.pixelValues[r * 1176 + col],
        norm([200, 100, 50][Math.floor(col / 392)]!, Math.floor(col / 392)),
      );
  }
});

test("pixel values come from the right pixels (no resize needed at 56x56)", async () => {
  const pix = (x: number, y: number) => [(x * 4) % 256, (y * 4) % 256, (x + y) % 256];
  const p = processImage(await loadImage(await png(56, 56, pix)), defaultPreprocessorConfig());
  assert.deepEqual(p.gridThw, [1, 4, 4]);
  // Row r: block (r>>2 → bh, bw), within-block (mh, mw); column (c, t, py, px).
  for (let r = 0; r < 16; r++) {
    const blk = r >> 2,
      within = r & 3;
    const y0 = ((blk >> 1) * 2 + (within >> 1)) * 14;
    const x0 = ((blk & 1) * 2 + (within & 1)) * 14;
    for (const [c, t, py, px] of [
      [0, 0, 0, 0],
      [1, 1, 3, 5],
      [2, 0, 13, 13],
      [2, 1, 7, 0],
    ] as const) {
      const col = ((c * 2 + t) * 14 + py) * 14 + px;
      assert.equal(p.pixelValues[r * 1176 + col], norm(pix(x0 + px, y0 + py)[c]!, c), `row ${r} col ${col}`);
    }
  }
});

test("several images per prompt are concatenated in order", async () => {
  const a = processImage(await loadImage(await png(56, 56, () => [0, 0, 0])), defaultPreprocessorConfig());
  const b = processImage(await loadImage(await png(480, 320, () => [255, 255, 255])), defaultPreprocessorConfig());
  const all = concatProcessed([a, b]);
  assert.deepEqual(all.shape, [16 + 748, 1176]);
  assert.deepEqual(all.imageGridThw, [
    [1, 4, 4],
    [1, 22, 34],
  ]);
  assert.equal(all.pixelValues[0], norm(0, 0));
  assert.equal(all.pixelValues[16 * 1176], norm(255, 0));
});

test("loading converts to RGB: alpha over white, grey to three channels, JPEG and WebP", async () => {
  const rgba = await loadImage(await png(30, 20, () => [0, 0, 0, 128], 4));
  assert.deepEqual([rgba.width, rgba.height, rgba.data.length], [30, 20, 30 * 20 * 3]);
  assert.ok(
    rgba.data.every((v) => v >= 126 && v <= 128),
    "half-transparent black over white is mid grey",
  );
  const grey = await loadImage(await png(10, 12, (x) => [x * 20], 1));
  assert.equal(grey.data.length, 10 * 12 * 3);
  assert.deepEqual(Array.from(grey.data.subarray(3 * 3, 3 * 3 + 3)), [60, 60, 60]);
  const raw = Buffer.alloc(64 * 48 * 3, 90);
  for (const fmt of ["jpeg", "webp"] as const) {
    const img0 = sharp(raw, { raw: { width: 64, height: 48, channels: 3 } });
    const buf = await img0[fmt]({ quality: 95 }).toBuffer();
    const img = await loadImage(buf);
    assert.deepEqual([img.width, img.height], [64, 48], fmt);
    assert.ok(Math.abs(img.data[100]! - 90) <= 2, fmt);
  }
  await assert.rejects(loadImage(Buffer.from("not an image")), /cannot decode image buffer/);
  await assert.rejects(loadImage("/nonexistent/x.png"), /cannot read image \/nonexistent\/x\.png/);
});

test("preprocessor_config.json is read and written with HF field names", async () => {
  // Qwen2-VL-2B-Instruct's file as published.
  const published = {
    min_pixels: 3136,
    max_pixels: 12845056,
    patch_size: 14,
    temporal_patch_size: 2,
    merge_size: 2,
    image_mean: [0.48145466, 0.4578275, 0.40821073],
    image_std: [0.26862954, 0.26130258, 0.27577711],
    image_processor_type: "Qwen2VLImageProcessor",
    processor_class: "Qwen2VLProcessor",
  };
  assert.deepEqual(parsePreprocessorConfig(published), defaultPreprocessorConfig());
  // Newer files keep the limits in size {shortest_edge, longest_edge}; min_pixels/max_pixels win when both exist.
  assert.equal(parsePreprocessorConfig({ size: { shortest_edge: 1000, longest_edge: 480000 } }).max_pixels, 480000);
  // Missing limits take the image processor's class defaults, as transformers does.
  assert.deepEqual([parsePreprocessorConfig({}).min_pixels, parsePreprocessorConfig({}).max_pixels], [3136, 1003520]);
  assert.equal(
    parsePreprocessorConfig({ max_pixels: 5000, size: { shortest_edge: 1000, longest_edge: 480000 } }).max_pixels,
    5000,
  );
  assert.throws(
    () => parsePreprocessorConfig({ min_pixels: 10, max_pixels: 5 }),
    /min_pixels \(10\) > max_pixels \(5\)/,
  );
  assert.throws(() => parsePreprocessorConfig({ image_mean: [1, 2] }), /image_mean/);

  const dir = mkdtempSync(join(tmpdir(), "rft-pp-"));
  const cfg = defaultPreprocessorConfig({
    max_pixels: 480000,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
  });
  await writePreprocessorConfig(join(dir, "preprocessor_config.json"), cfg);
  assert.deepEqual(await readPreprocessorConfig(join(dir, "preprocessor_config.json")), cfg);
  assert.deepEqual(toPreprocessorJson(cfg).size, { shortest_edge: 3136, longest_edge: 480000 });
  // The configured normalisation is the one applied: mean/std 0.5 maps [0, 255] to [-1, 1].
  const p = processImage(await loadImage(await png(56, 56, (x) => [x < 28 ? 0 : 255, 0, 255])), cfg);
  assert.equal(Math.min(...p.pixelValues), -1);
  assert.equal(Math.max(...p.pixelValues), 1);
});

test("image pad expansion and the per-sample count check", () => {
  const PAD = 9;
  const grids: [number, number, number][] = [
    [1, 22, 34],
    [1, 4, 4],
  ];
  const ids = [1, 2, PAD, 3, PAD, 4];
  const expanded = expandImagePads(ids, grids, PAD, 2);
  assert.equal(expanded.length, 4 + 187 + 4);
  assert.deepEqual(expanded.slice(0, 3), [1, 2, PAD]);
  assert.equal(expanded[2 + 187], 3);
  assert.equal(expanded.filter((x) => x === PAD).length, 191);
  assert.throws(() => expandImagePads([PAD], grids, PAD, 2), /1 image pad tokens for 2 images/);

  const text = expandImagePadsInText("a<|vision_start|><|image_pad|><|vision_end|>b<|image_pad|>", grids, 2);
  assert.equal(text, "a<|vision_start|>" + "<|image_pad|>".repeat(187) + "<|vision_end|>b" + "<|image_pad|>".repeat(4));
  assert.throws(() => expandImagePadsInText("<|image_pad|>", grids, 2), /1 <\|image_pad\|> in the text for 2 images/);

  checkImagePadCounts([{ id: "clevr-0001", inputIds: expanded, imageGridThw: grids }], PAD, 2);
  assert.throws(
    () =>
      checkImagePadCounts(
        [
          { id: "ok", inputIds: expanded, imageGridThw: grids },
          { id: "trance-42", inputIds: expanded.slice(1), imageGridThw: grids }, // still 191 pads: fine
          { id: "trance-43", inputIds: expanded.slice(3), imageGridThw: grids }, // lost one pad
        ],
        PAD,
        2,
      ),
    /sample trance-43: 190 <\|image_pad\|> tokens .* need 191/,
  );
});
