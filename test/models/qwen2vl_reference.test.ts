// Numerical parity with an independent PyTorch implementation of HF's Qwen2-VL math
// (fixtures written by scripts/fixtures/qwen2vl_reference.py; see that script for what it re-implements).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as t from "../../src/tensor/index.ts";
import { loadSafetensors } from "../../src/io/safetensors.ts";
import { loadCheckpoint } from "../../src/models/qwen2vl/checkpoint.ts";
import {
  ropeIndex,
  ropeTokenIds,
  mropeCosSin,
  signedSin,
  invFreq,
  mropeComponents,
  visionCosSin,
  type GridThw,
} from "../../src/models/qwen2vl/rope.ts";
import { imageSegments } from "../../src/models/qwen2vl/vision.ts";
import { buildAttentionMask } from "../../src/models/qwen2vl/text.ts";
import { headDim, visionHeadDim } from "../../src/models/qwen2vl/config.ts";
import { assertClose } from "../helpers.ts";

const DIR = new URL("../fixtures/qwen2vl_ref/", import.meta.url).pathname;
const meta = JSON.parse(readFileSync(DIR + "reference.json", "utf8")) as {
  image_grid_thw: GridThw[];
  input_ids: number[][];
  attention_mask: number[][];
  rope_deltas: number[];
};

/** Values of x [B, T, ...] at the positions where mask is 1, flattened. */
function validRows(x: t.Tensor, mask: number[][]): number[] {
  const [B, T] = x.shape as [number, number];
  const per = x.numel / (B * T);
  const all = x.toFloat32();
  const out: number[] = [];
  for (let b = 0; b < B; b++)
    for (let i = 0; i < T; i++)
      if (mask[b]![i] === 1) out.push(...all.subarray((b * T + i) * per, (b * T + i + 1) * per));
  return out;
}

test("reference: checkpoint written by PyTorch loads; vision block, decoder layer, rope index and logits match", async () => {
  const base = t.handleBalance();
  const { model, config } = await loadCheckpoint(DIR);
  const { tensors: ref } = loadSafetensors(DIR + "reference.safetensors");
  const r = (k: string) => ref.get(k)!;
  try {
    t.noGrad(() => {
      const grids = meta.image_grid_thw;
      // get_rope_index: exact integers and deltas
      const ri = ropeIndex(meta.input_ids, grids, meta.attention_mask, ropeTokenIds(config));
      assert.deepEqual(ri.positionIds.flat(2), r("position_ids").toNumbers());
      assert.deepEqual(ri.ropeDeltas, meta.rope_deltas);

      // One vision block on the reference input (2D rotary, per-image attention, QuickGELU MLP).
      t.tidy(() => {
        const [cos, sin] = visionCosSin(grids, 2, visionHeadDim(config));
        const out = model.visual.blocks.at(0).forward(r("vision_block0_in"), cos, sin, imageSegments(grids));
        assertClose(out.toFloat32(), r("vision_block0_out").toFloat32(), 1e-4, "vision block 0");
        // Patch embedding as a matmul equals the reference Conv3d.
        const pe = model.visual.patch_embed.forward(r("pixel_values"));
        assertClose(pe.toFloat32(), r("vision_block0_in").toFloat32(), 1e-4, "patch embed");
        const feats = model.visual.forward(r("pixel_values"), grids);
        assertClose(feats.toFloat32(), r("image_features").toFloat32(), 1e-4, "image features (merger)");
      });

      // One decoder layer (GQA, M-RoPE, RMSNorm, SwiGLU) on the reference input, valid positions only.
      t.tidy(() => {
        const pos = t.tensor(ri.positionIds.flat(2), { dtype: "int64", shape: [3, 2, meta.input_ids[0]!.length] });
        const comps = t.tensor(mropeComponents(config.rope_scaling.mrope_section), { dtype: "int64" });
        const [cos, sin] = mropeCosSin(pos, invFreq(headDim(config), config.rope_theta), comps, "float32");
        const am = t.tensor(meta.attention_mask, { dtype: "int64" });
        const mask = buildAttentionMask(am, am.size(1), "float32").unsqueeze(1);
        const out = model.model.layers
          .at(0)
          .forward(r("layer0_in"), cos.unsqueeze(1), signedSin(sin).unsqueeze(1), mask, null);
        assertClose(
          validRows(out, meta.attention_mask),
          validRows(r("layer0_out"), meta.attention_mask),
          1e-4,
          "decoder layer 0",
        );
      });

      // The whole model: logits at every non-padded position.
      t.tidy(() => {
        const out = model.forward({
          inputIds: t.tensor(meta.input_ids, { dtype: "int64" }),
          attentionMask: t.tensor(meta.attention_mask, { dtype: "int64" }),
          pixelValues: r("pixel_values"),
          imageGridThw: grids,
        });
        assertClose(
          validRows(out.logits, meta.attention_mask),
          validRows(r("logits"), meta.attention_mask),
          2e-4,
          "logits",
        );
        assert.deepEqual(out.ropeDeltas, meta.rope_deltas);
      });
    });
  } finally {
    model.dispose();
    for (const x of ref.values()) x.dispose();
  }
  assert.equal(t.handleBalance(), base, "no tensors left alive");
});
