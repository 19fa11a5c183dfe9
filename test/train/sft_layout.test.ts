// The SFT loop's batch layout (prompts left-padded, targets after them: logProbBatch + the chunked head) gives the
// loss of the reference's layout (LLaMA-Factory: prompt and target right-padded together to a multiple of 8, labels
// −100 on the prompt, the usual shifted cross-entropy over full logits).
import { test } from "node:test";
import * as t from "../../src/tensor/index.ts";
import { presetConfig } from "../../src/models/qwen2vl/config.ts";
import { Qwen2VLForConditionalGeneration } from "../../src/models/qwen2vl/model.ts";
import { logProbBatch } from "../../src/models/qwen2vl/batch.ts";
import { tokenLogProbs } from "../../src/models/qwen2vl/logprobs.ts";
import { collateSft, sftSequence, IGNORE_INDEX } from "../../src/train/sft_data.ts";
import { assertClose } from "../helpers.ts";

const cfg = presetConfig("qwen2-vl-tiny");

test("SFT loss: our layout equals the reference's right-padded layout, images included", () => {
  t.manualSeed(4);
  using m = new Qwen2VLForConditionalGeneration(cfg);
  m.eval();
  const grid: [number, number, number] = [1, 4, 4];
  const pads = Array(4).fill(cfg.image_token_id);
  const examples = [
    { source: [1, 2, cfg.vision_start_token_id, ...pads, cfg.vision_end_token_id, 7, 8], target: [20, 21, 22, 23, 24] },
    { source: [1, 3, 9], target: [30, 31] },
  ];
  const pixels = Float32Array.from({ length: 16 * 1176 }, (_, i) => Math.sin(i * 0.37) * 0.5);
  const prompts = examples.map((e, i) => ({
    id: `r${i}`,
    inputIds: e.source,
    pixelValues: i === 0 ? pixels : null,
    imageGridThw: i === 0 ? [grid] : [],
  }));

  const ours = t.noGrad(() => {
    using b = logProbBatch(
      examples.map((e, i) => ({ prompt: prompts[i]!, completion: e.target })),
      0,
    );
    using lp = tokenLogProbs(m, b, { chunkBytes: 1 });
    return -lp.logprobs.sum().item() / b.tokens;
  });

  const reference = t.noGrad(() =>
    t.tidy(() => {
      const seqs = examples.map((e) => sftSequence(e.source, e.target, 4096));
      const mb = collateSft(seqs, { padTokenId: 0, padToMultipleOf: 8 });
      const B = mb.inputIds.length;
      const T = mb.length;
      const out = m.forward({
        inputIds: t.tensor(mb.inputIds.flat(), { dtype: "int64", shape: [B, T] }),
        attentionMask: t.tensor(mb.attentionMask.flat(), { dtype: "int64", shape: [B, T] }),
        pixelValues: t.tensor(pixels, { shape: [16, 1176] }),
        imageGridThw: [grid],
      });
      const logp = out.logits.logSoftmax(-1).toFloat32();
      const V = cfg.vocab_size;
      let sum = 0;
      let n = 0;
      mb.labels.forEach((row, b) =>
        row.forEach((label, pos) => {
          if (pos === 0 || label === IGNORE_INDEX) return;
          sum -= logp[(b * T + pos - 1) * V + label]!; // logits at t predict the label at t + 1
          n++;
        }),
      );
      return sum / n;
    }),
  );
  assertClose([ours], [reference], 1e-5);
});
