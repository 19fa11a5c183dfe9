// Attempt 8 of docs/results.md, step 1: the counting-style images of a perception set as raw RGB bytes for
// vision_count_probe.py (Debian's python3-torch has no image decoder). Writes OUT/imgs.u8 (N × 112 × 168 × 3) and
// OUT/counts.u8 (objects per image).
// Usage: node scripts/diagnostics/vision_count_dump.mjs PERCEPTION_DIR OUT [N=12000]
//   e.g. node scripts/diagnostics/vision_count_dump.mjs runs/demo-full/perception runs/vitprobe
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir, out, nArg] = process.argv.slice(2);
if (!dir || !out) throw new Error("usage: vision_count_dump.mjs PERCEPTION_DIR OUT [N]");
const sharp = createRequire(import.meta.url)("sharp");
const records = JSON.parse(readFileSync(join(dir, "train_jsons", "A0-Instruct-train.json"), "utf8"));
const counts = new Map();
for (const r of records)
  if (r.style === "counting" && !counts.has(r.image)) counts.set(r.image, r.scene.objects.length);
const items = [...counts.entries()].slice(0, Number(nArg ?? 12000));
const W = 168,
  H = 112;
const pixels = Buffer.alloc(items.length * W * H * 3);
const labels = new Uint8Array(items.length);
for (const [i, [image, n]] of items.entries()) {
  const px = await sharp(join(dir, "images", image))
    .removeAlpha()
    .raw()
    .toBuffer();
  if (px.length !== W * H * 3) throw new Error(`${image}: ${px.length} bytes, not ${W}×${H}×3`);
  px.copy(pixels, i * W * H * 3);
  labels[i] = n;
}
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "imgs.u8"), pixels);
writeFileSync(join(out, "counts.u8"), labels);
console.log(`${items.length} images → ${out}`);
