/**
 * Module seams (issue 7.7): the model, checkpoint, generation and preprocessing modules load without sharp
 * (libvips); only image_io.ts (and the processor.ts barrel) decode images. Checked in a fresh process by looking
 * for libvips in the process's mapped shared libraries, so the test sees what the loader really did.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

function vipsLoadedAfterImporting(modules: string[]): boolean {
  const code =
    modules.map((m) => `await import(${JSON.stringify(root + m)});`).join("\n") +
    `\nconst maps = (await import("node:fs")).readFileSync("/proc/self/maps", "utf8");` +
    `\nconsole.log(JSON.stringify({ vips: /libvips/.test(maps) }));`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!).vips as boolean;
}

test(
  "model, checkpoint, generation and input preparation load without libvips",
  { skip: !existsSync("/proc/self/maps") },
  () => {
    const pure = [
      "src/models/qwen2vl/model.ts",
      "src/models/qwen2vl/checkpoint.ts",
      "src/models/qwen2vl/generate.ts",
      "src/models/qwen2vl/inputs.ts",
      "src/models/qwen2vl/image_math.ts",
      "src/models/qwen2vl/image_pads.ts",
      "src/models/qwen2vl/processor_config.ts",
      "src/models/qwen2vl/layers.ts",
      "src/models/qwen2vl/config.ts",
    ];
    assert.equal(vipsLoadedAfterImporting(pure), false);
    // The control: the decoding module does load it (so the probe is able to see libvips at all).
    assert.equal(vipsLoadedAfterImporting(["src/models/qwen2vl/image_io.ts"]), true);
  },
);

test("the shared layers live in layers.ts and the old import paths still work", async () => {
  const layers = await import("../../src/models/qwen2vl/layers.ts");
  const vision = await import("../../src/models/qwen2vl/vision.ts");
  assert.equal(vision.hfLinear, layers.hfLinear);
  assert.equal(vision.activation, layers.activation);
  const processor = await import("../../src/models/qwen2vl/processor.ts");
  const math = await import("../../src/models/qwen2vl/image_math.ts");
  const io = await import("../../src/models/qwen2vl/image_io.ts");
  const pads = await import("../../src/models/qwen2vl/image_pads.ts");
  assert.equal(processor.smartResize, math.smartResize);
  assert.equal(processor.loadImage, io.loadImage);
  assert.equal(processor.checkImagePadCounts, pads.checkImagePadCounts);
});
