import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { main } from "../../src/cli/main.ts";
import { configToJsonText, presetConfig } from "../../src/models/qwen2vl/config.ts";
import { paramCounts } from "../../src/models/qwen2vl/params.ts";
import { defaultPreprocessorConfig, writePreprocessorConfig } from "../../src/models/qwen2vl/processor.ts";

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    const code = await main(argv);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const dir = mkdtempSync(join(tmpdir(), "rft-cli-"));
async function image(name: string, width: number, height: number): Promise<string> {
  const p = join(dir, name);
  await sharp({ create: { width, height, channels: 3, background: { r: 10, g: 200, b: 30 } } })
    .png()
    .toFile(p);
  return p;
}

test("rft processor prints resized size, image_grid_thw and token counts per image", async () => {
  const a = await image("clevr.png", 480, 320);
  const b = await image("big.png", 1000, 1000);
  const r = await run(["processor", "--image", a, "--image", b, "--max-pixels", "480000", "--json"]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { images: Record<string, unknown>[]; total_image_tokens: number };
  assert.deepEqual(
    j.images.map((i) => [
      i.resized_width,
      i.resized_height,
      i.image_grid_thw,
      i.num_image_tokens,
      i.pixel_values_shape,
    ]),
    [
      [476, 308, [1, 22, 34], 187, [748, 1176]],
      [672, 672, [1, 48, 48], 576, [2304, 1176]],
    ],
  );
  assert.equal(j.total_image_tokens, 187 + 576);
  const text = await run(["processor", "--image", a]);
  assert.equal(text.code, 0);
  assert.match(text.out, /480x320 \(w x h\) -> 476x308, image_grid_thw \[1, 22, 34\].*187 image tokens/);
});

test("rft processor reads min/max pixels from a checkpoint's preprocessor_config.json", async () => {
  const a = await image("clevr2.png", 480, 320);
  const ckpt = mkdtempSync(join(tmpdir(), "rft-ckpt-"));
  await writePreprocessorConfig(
    join(ckpt, "preprocessor_config.json"),
    defaultPreprocessorConfig({ max_pixels: 100000 }),
  );
  const r = await run(["processor", "--image", a, "--model", ckpt, "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as { images: { num_image_tokens: number }[] }).images[0]!.num_image_tokens, 117);
});

test("rft processor refuses bad input with a message", async () => {
  assert.equal((await run(["processor"])).code, 2);
  const a = await image("c.png", 64, 64);
  const r = await run(["processor", "--image", a, "--min-pixels", "5000", "--max-pixels", "4000"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--min-pixels \(5000\) is larger than --max-pixels \(4000\)/);
  const missing = await run(["processor", "--image", join(dir, "nope.png")]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /nope\.png/);
  const help = await run(["processor", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /--max-pixels/);
});

test("rft model info reports the config and parameter counts of a checkpoint directory", async () => {
  const ckpt = mkdtempSync(join(tmpdir(), "rft-info-"));
  writeFileSync(join(ckpt, "config.json"), configToJsonText(presetConfig("qwen2-vl-2b")));
  const r = await run(["model", "info", "--model", ckpt, "--json"]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as {
    parameters: { total: number; vision: number; text: number };
    text: { head_dim: number };
  };
  assert.deepEqual(j.parameters, paramCounts(presetConfig("qwen2-vl-2b")));
  assert.equal(j.parameters.total, 2_208_985_600);
  assert.equal(j.text.head_dim, 128);
  const text = await run(["model", "info", "--preset", "qwen2-vl-7b"]);
  assert.match(text.out, /total 8\.29B/);
  writeFileSync(
    join(ckpt, "config.json"),
    JSON.stringify({ ...JSON.parse(configToJsonText(presetConfig("qwen2-vl-2b"))), num_key_value_heads: 5 }),
  );
  const bad = await run(["model", "info", "--model", ckpt]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /num_key_value_heads/);
});
