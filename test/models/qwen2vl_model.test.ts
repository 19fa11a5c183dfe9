// Behaviour of the Qwen2-VL model code on random tiny models: checkpoints, KV cache, padding invariance,
// images, rope index, log-probs (with and without autograd), seeded generation, memory ownership.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readdirSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as t from "../../src/tensor/index.ts";
import { presetConfig, type Qwen2VLConfig } from "../../src/models/qwen2vl/config.ts";
import { Qwen2VLForConditionalGeneration } from "../../src/models/qwen2vl/model.ts";
import {
  collate,
  generate,
  completionLogProbs,
  selectNext,
  type PromptSample,
} from "../../src/models/qwen2vl/generate.ts";
import { saveCheckpoint, loadCheckpoint } from "../../src/models/qwen2vl/checkpoint.ts";
import { ropeIndex, ropeTokenIds, type GridThw } from "../../src/models/qwen2vl/rope.ts";
import { toModernName, paramSpecs, paramCounts } from "../../src/models/qwen2vl/params.ts";
import { saveCheckpointTensors } from "../../src/io/safetensors.ts";
import { assertClose } from "../helpers.ts";

const cfg: Qwen2VLConfig = presetConfig("qwen2-vl-tiny");
const PAD = cfg.bos_token_id!; // <|endoftext|>
const IMEND = cfg.eos_token_id as number;

function makeModel(seed = 0): Qwen2VLForConditionalGeneration {
  t.manualSeed(seed);
  const m = new Qwen2VLForConditionalGeneration(cfg);
  // HF's 0.02 init gives nearly uniform logits; larger weights make the tests sensitive to every path.
  t.noGrad(() => {
    for (const [n, p] of m.namedParameters())
      if (!n.endsWith("norm.weight") && !/norm\d?\.weight|ln_q\.weight/.test(n)) p.mul_(8);
  });
  return m.eval();
}

let rngState = 1;
function pixels(rows: number, seed: number): Float32Array {
  rngState = seed;
  return Float32Array.from({ length: rows * 1176 }, () => {
    rngState = (rngState * 1103515245 + 12345) % 2147483648;
    return rngState / 2147483648 - 0.5;
  });
}

/** A prompt with one image per grid (pads expanded), a few text tokens around. */
function sample(grids: GridThw[], text: number[], seed: number, id?: string): PromptSample {
  const ids: number[] = [1, 2];
  for (const g of grids)
    ids.push(
      cfg.vision_start_token_id,
      ...Array((g[0] * g[1] * g[2]) / 4).fill(cfg.image_token_id),
      cfg.vision_end_token_id,
    );
  ids.push(...text);
  const rows = grids.reduce((a, g) => a + g[0] * g[1] * g[2], 0);
  return { id, inputIds: ids, pixelValues: rows ? pixels(rows, seed) : null, imageGridThw: grids };
}

function logitsOf(m: Qwen2VLForConditionalGeneration, samples: PromptSample[]): Float32Array[] {
  return t.noGrad(() =>
    t.tidy(() => {
      using b = collate(samples, PAD);
      const out = m.forward({
        inputIds: b.inputIds,
        attentionMask: b.attentionMask,
        pixelValues: b.pixelValues,
        imageGridThw: b.imageGridThw,
      });
      const T = b.inputIds.size(1);
      // Per sample: logits of its real (unpadded) positions.
      return samples.map((s, i) =>
        out.logits
          .select(0, i)
          .narrow(0, T - s.inputIds.length, s.inputIds.length)
          .toFloat32(),
      );
    }),
  );
}

test("2B and 7B models built on the meta device: names, shapes and counts equal paramSpecs (nothing allocated)", () => {
  for (const preset of ["qwen2-vl-2b", "qwen2-vl-7b"]) {
    const c = presetConfig(preset);
    const before = t.memory().cpuBytes;
    using m = new Qwen2VLForConditionalGeneration(c, { dtype: "bfloat16", device: "meta" });
    assert.ok(t.memory().cpuBytes - before < 1e6, "only the rotary tables are real");
    const got = [...m.namedParameters()].map(([n, p]) => `${n}:${p.shape.join("x")}`);
    assert.deepEqual(
      got,
      paramSpecs(c).map((p) => `${p.name}:${p.shape.join("x")}`),
    );
    assert.equal(m.numParameters(), paramCounts(c).total);
  }
});

test("parameter names are exactly HF's; tied embeddings have no lm_head", () => {
  using m = new Qwen2VLForConditionalGeneration(cfg, { device: "meta" });
  const names = [...m.namedParameters()].map(([n]) => n);
  assert.ok(names.includes("visual.patch_embed.proj.weight"));
  assert.ok(names.includes("visual.merger.mlp.0.weight") && names.includes("visual.merger.mlp.2.bias"));
  assert.ok(
    names.includes("model.layers.3.self_attn.q_proj.bias") && !names.includes("model.layers.3.self_attn.o_proj.bias"),
  );
  assert.ok(!names.includes("lm_head.weight"), "qwen2-vl-tiny ties lm_head to embed_tokens");
  using untied = new Qwen2VLForConditionalGeneration({ ...cfg, tie_word_embeddings: false }, { device: "meta" });
  assert.ok([...untied.namedParameters()].some(([n]) => n === "lm_head.weight"));
});

test("memory: forward returns only its outputs; dispose frees every parameter and buffer", () => {
  const base = t.handleBalance();
  const m = makeModel(9);
  const withModel = t.handleBalance();
  assert.ok(withModel > base);
  t.noGrad(() => {
    using b = collate([sample([[1, 4, 4]], [5], 1)], PAD);
    const afterBatch = t.handleBalance();
    const out = m.forward({
      inputIds: b.inputIds,
      attentionMask: b.attentionMask,
      pixelValues: b.pixelValues,
      imageGridThw: b.imageGridThw,
    });
    assert.equal(t.handleBalance(), afterBatch + 1, "only the logits survive the forward");
    // forwardHidden + the output weight gives the same logits (for chunked LM-head losses).
    t.tidy(() => {
      const { hidden } = m.forwardHidden(
        {
          inputIds: b.inputIds,
          attentionMask: b.attentionMask,
          pixelValues: b.pixelValues,
          imageGridThw: b.imageGridThw,
        },
        { logitsRange: [2, 5] },
      );
      assert.deepEqual(hidden.shape, [1, 3, cfg.hidden_size]);
      assertClose(
        t.linear(hidden, m.outputWeight).toFloat32(),
        out.logits.narrow(1, 2, 3).toFloat32(),
        1e-5,
        "hidden → logits",
      );
    });
    out.logits.dispose();
  });
  assert.equal(t.handleBalance(), withModel);
  m.dispose();
  assert.equal(t.handleBalance(), base);
});

test("save -> load gives identical logits (float32), bf16 checkpoints load, newer key layout loads", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qwen2vl-ckpt-"));
  try {
    using m = makeModel(1);
    const s = [sample([[1, 4, 4]], [5, 6, 7], 3)];
    const ref = logitsOf(m, s)[0]!;
    const files = await saveCheckpoint(m, join(dir, "a"));
    for (const f of ["config.json", "model.safetensors", "generation_config.json", "preprocessor_config.json"])
      assert.ok(files.includes(f) && existsSync(join(dir, "a", f)), f);
    assert.deepEqual(readdirSync(dir), ["a"], "no temporary directories left behind");
    const before = t.handleBalance();
    const loaded = await loadCheckpoint(join(dir, "a"));
    assert.deepEqual(logitsOf(loaded.model, s)[0], ref, "bit-identical after a float32 round trip");
    loaded.model.dispose();
    assert.equal(t.handleBalance(), before, "loading leaves only the model, and dispose frees it");

    // bfloat16 on disk: loads as bf16 (or cast to fp32 on request) and stays close.
    await saveCheckpoint(m, join(dir, "b"), { dtype: "bfloat16", maxShardBytes: 200_000 });
    assert.ok(existsSync(join(dir, "b", "model.safetensors.index.json")), "sharded when above maxShardBytes");
    assert.equal(JSON.parse(readFileSync(join(dir, "b", "config.json"), "utf8")).torch_dtype, "bfloat16");
    const bf = await loadCheckpoint(join(dir, "b"));
    assert.equal(bf.model.dtype, "bfloat16");
    const bfl = logitsOf(bf.model, s)[0]!;
    bf.model.dispose();
    const f32 = await loadCheckpoint(join(dir, "b"), { dtype: "float32" });
    const f32l = logitsOf(f32.model, s)[0]!;
    f32.model.dispose();
    const maxDiff = (a: Float32Array) => a.reduce((mx, v, i) => Math.max(mx, Math.abs(v - ref[i]!)), 0);
    const scale = ref.reduce((mx, v) => Math.max(mx, Math.abs(v)), 0);
    assert.ok(maxDiff(f32l) < 0.05 * scale, `bf16 weights in fp32: ${maxDiff(f32l)} vs scale ${scale}`);
    // bf16 compute error depends on the CPU's kernels: 0.12 of the scale with AVX-512 BF16, 0.17 on an AVX2-only
    // AMD EPYC (bf16 emulated), on these ×8-scaled random weights.
    assert.ok(maxDiff(bfl) < 0.25 * scale, `bf16 compute: ${maxDiff(bfl)} vs scale ${scale}`);

    // transformers >= 4.52 key layout (model.language_model.*, model.visual.*) reads the same.
    const modern = new Map([...m.namedParameters()].map(([n, p]) => [toModernName(n), p]));
    await saveCheckpoint(m, join(dir, "c"));
    saveCheckpointTensors(join(dir, "c"), modern);
    const mod = await loadCheckpoint(join(dir, "c"));
    assert.deepEqual(logitsOf(mod.model, s)[0], ref);
    mod.model.dispose();

    // A wrong shape is reported by name before any weight is read.
    await saveCheckpoint(m, join(dir, "d"));
    const bad = JSON.parse(readFileSync(join(dir, "d", "config.json"), "utf8"));
    bad.intermediate_size = 512;
    (await import("node:fs")).writeFileSync(join(dir, "d", "config.json"), JSON.stringify(bad));
    await assert.rejects(
      loadCheckpoint(join(dir, "d")),
      /wrong shape: .*model\.layers\.0\.mlp\.gate_proj\.weight \[704,256\] \(config needs \[512,256\]\)/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("KV-cache decoding equals a full forward", () => {
  using m = makeModel(2);
  const s = sample([[1, 4, 4]], [5, 6], 4);
  const extra = [9, 10, 11, 12];
  t.noGrad(() => {
    using b = collate([s], PAD);
    using cache = m.newCache(64);
    const pre = m.forward(
      {
        inputIds: b.inputIds,
        attentionMask: b.attentionMask,
        pixelValues: b.pixelValues,
        imageGridThw: b.imageGridThw,
      },
      { cache },
    );
    const stepLogits: Float32Array[] = [];
    let mask = b.attentionMask.alias();
    for (const id of extra) {
      const grown = t.cat([mask, t.ones([1, 1], { dtype: "int64" })], 1);
      mask.dispose();
      mask = grown;
      using ids = t.tensor([[id]], { dtype: "int64" });
      const o = m.forward({ inputIds: ids, attentionMask: mask }, { cache, ropeDeltas: pre.ropeDeltas });
      stepLogits.push(o.logits.toFloat32());
      o.logits.dispose();
    }
    mask.dispose();
    pre.logits.dispose();
    const full = logitsOf(m, [{ ...s, inputIds: [...s.inputIds, ...extra] }])[0]!;
    const V = cfg.vocab_size;
    const L = s.inputIds.length;
    extra.forEach((_, k) =>
      assertClose(stepLogits[k]!, full.subarray((L + k) * V, (L + k + 1) * V), 1e-4, `decode step ${k}`),
    );
  });
});

test("a sample alone and inside a left-padded batch: same logits and the same greedy generation", () => {
  using m = makeModel(3);
  const a = sample([[1, 4, 4]], [5, 6, 7, 8, 9, 10, 11], 5, "long");
  const b = sample([[1, 2, 4]], [5], 6, "short");
  const c = sample([], [20, 21, 22], 0, "text-only");
  const alone = logitsOf(m, [b])[0]!;
  const batched = logitsOf(m, [a, b, c]);
  assertClose(batched[1]!, alone, 1e-4, "padded sample logits");
  assertClose(batched[2]!, logitsOf(m, [c])[0]!, 1e-4, "text-only sample logits");
  const opts = { maxNewTokens: 12, stopTokenIds: [IMEND, PAD], padTokenId: PAD, temperature: 0 };
  const g1 = generate(m, [b], opts)[0]!;
  const g3 = generate(m, [a, b, c], opts);
  assert.deepEqual(g3[1]!.ids, g1.ids);
  assertClose(g3[1]!.logprobs, g1.logprobs, 1e-4, "greedy log-probs");
  assert.equal(g3[1]!.finishReason, g1.finishReason);
});

test("two-image prompts; per-image attention isolation; pad-count check names the sample", () => {
  using m = makeModel(4);
  const grids: GridThw[] = [
    [1, 4, 4],
    [1, 2, 4],
  ];
  const s = sample(grids, [5, 6], 7);
  // Changing image 2 leaves image 1's vision features untouched (block-diagonal attention), but changes the logits.
  t.noGrad(() =>
    t.tidy(() => {
      const pv1 = t.tensor(s.pixelValues!, { shape: [24, 1176] });
      const alt = Float32Array.from(s.pixelValues!);
      for (let i = 16 * 1176; i < alt.length; i++) alt[i] = -alt[i]! + 0.3;
      const pv2 = t.tensor(alt, { shape: [24, 1176] });
      const f1 = m.visual.forward(pv1, grids);
      const f2 = m.visual.forward(pv2, grids);
      assert.deepEqual(f1.narrow(0, 0, 4).toFloat32(), f2.narrow(0, 0, 4).toFloat32(), "image 1 features unchanged");
      assert.notDeepEqual(f1.narrow(0, 4, 2).toFloat32(), f2.narrow(0, 4, 2).toFloat32());
      // The same image alone gives the same features as inside the pair.
      const solo = m.visual.forward(pv1.narrow(0, 0, 16), [grids[0]!]);
      // Alone and in the pair the GEMMs have other sizes, so BLAS may block them differently (2e-5 seen on AVX2).
      assertClose(solo.toFloat32(), f1.narrow(0, 0, 4).toFloat32(), 1e-4, "image 1 alone");
    }),
  );
  const g = generate(m, [s, sample([[1, 4, 4]], [8], 8)], {
    maxNewTokens: 3,
    stopTokenIds: [IMEND],
    padTokenId: PAD,
    temperature: 0,
  });
  assert.equal(g.length, 2);
  // One pad too few in the second sample: the error names it before any compute.
  const broken = sample([[1, 4, 4]], [8], 8, "item-42");
  broken.inputIds = broken.inputIds.filter((_, i) => i !== 3);
  assert.throws(
    () => generate(m, [s, broken], { maxNewTokens: 2, stopTokenIds: [IMEND], padTokenId: PAD, temperature: 0 }),
    /sample item-42: 3 <\|image_pad\|> tokens .* need 4/,
  );
  const video = {
    ...sample([], [8], 0, "clip-7"),
    inputIds: [1, cfg.vision_start_token_id, cfg.video_token_id, cfg.vision_end_token_id],
  };
  assert.throws(
    () => generate(m, [video], { maxNewTokens: 1, stopTokenIds: [], padTokenId: PAD }),
    /sample clip-7: <\|video_pad\|> tokens: videos are not supported/,
  );
});

test("get_rope_index on a hand-computed case (left padding, one 2x4-merged image)", () => {
  const ids = ropeTokenIds(cfg);
  const V = cfg.vision_start_token_id;
  const I = cfg.image_token_id;
  const E = cfg.vision_end_token_id;
  // Sample 0: 2 pads, then [a, VS, I×4, VE, b]; image grid (1, 4, 4) → merged 2×2 = 4 tokens.
  const input = [
    [PAD, PAD, 7, V, I, I, I, I, E, 8],
    [7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
  ];
  const mask = [
    [0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  ];
  const r = ropeIndex(input, [[1, 4, 4]], mask, ids);
  // Text 7 → 0, VS → 1; image block starts at 2: t = 2,2,2,2; h = 2,2,3,3; w = 2,3,2,3; VE → 4, 8 → 5.
  assert.deepEqual(r.positionIds[0]![0], [1, 1, 0, 1, 2, 2, 2, 2, 4, 5]);
  assert.deepEqual(r.positionIds[1]![0], [1, 1, 0, 1, 2, 2, 3, 3, 4, 5]);
  assert.deepEqual(r.positionIds[2]![0], [1, 1, 0, 1, 2, 3, 2, 3, 4, 5]);
  assert.deepEqual(r.positionIds[0]![1], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // delta = max + 1 − padded length: 6 − 10 and 10 − 10.
  assert.deepEqual(r.ropeDeltas, [-4, 0]);
  // Text-only branch (no grids): cumsum(mask) − 1, padding filled with 1.
  const txt = ropeIndex([[PAD, 5, 6]], null, [[0, 1, 1]], ids);
  assert.deepEqual(txt.positionIds[2]![0], [1, 0, 1]);
  assert.deepEqual(txt.ropeDeltas, [-1]);
});

test("log-probs of given completions equal log_softmax of a full forward, with and without autograd", () => {
  using m = makeModel(5);
  const prompts = [
    sample([[1, 4, 4]], [5, 6], 9, "p0"),
    sample([], [30, 31, 32, 33, 34], 0, "p1"),
    sample([[1, 2, 4]], [7], 10, "p2"),
  ];
  const completions = [
    [40, 41, 42, IMEND],
    [50, 51],
    [60, 61, 62, 63, 64, 65],
  ];
  const mask = [
    [1, 1, 1, 1],
    [1, 1],
    [1, 1, 1, 0, 0, 0],
  ];
  const expected = prompts.map((p, i) => {
    const full = logitsOf(m, [{ ...p, inputIds: [...p.inputIds, ...completions[i]!] }])[0]!;
    const V = cfg.vocab_size;
    const L = p.inputIds.length;
    return completions[i]!.map((tok, k) => {
      const row = full.subarray((L - 1 + k) * V, (L + k) * V);
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
      return mask[i]![k]! ? row[tok]! - lse : 0;
    });
  });
  const base = t.handleBalance();
  const ref = t.noGrad(() => completionLogProbs(m, prompts, completions, { padTokenId: PAD, chunkSize: 2 }, mask));
  assert.deepEqual(ref.logprobs.shape, [3, 6]);
  assert.equal(ref.logprobs.requiresGrad, false);
  const got = ref.logprobs.toFloat32();
  expected.forEach((e, i) => assertClose(got.subarray(i * 6, i * 6 + e.length), e, 1e-4, `row ${i}`));
  assert.deepEqual(ref.mask.toNumbers(), [1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0]);
  ref.logprobs.dispose();
  ref.mask.dispose();
  assert.equal(t.handleBalance(), base, "no leak (noGrad)");

  // The policy forward: gradients reach the vision tower and the decoder.
  const pol = completionLogProbs(m, prompts, completions, { padTokenId: PAD, chunkSize: 1 }, mask);
  assertClose(pol.logprobs.toFloat32(), got, 1e-5, "same values with grad");
  t.tidy(() => pol.logprobs.sum().neg().backward());
  const gv = m.visual.patch_embed.proj.weight.grad;
  const gq = m.model.layers.at(0).self_attn.q_proj.weight.grad;
  assert.ok(gv && gq, "gradients exist");
  assert.ok(t.tidy(() => gv.abs().sum().item() > 0 && gq.abs().sum().item() > 0));
  gv.dispose();
  gq.dispose();
  m.zeroGrad();
  pol.logprobs.dispose();
  pol.mask.dispose();
  assert.equal(t.handleBalance(), base, "no leak (grad)");
});

test("seeded sampling is deterministic and leaves the global RNG alone; top-k 1 equals greedy", () => {
  using m = makeModel(6);
  const ps = [sample([[1, 4, 4]], [5], 11), sample([], [9, 8, 7], 0)];
  const o = { maxNewTokens: 10, stopTokenIds: [IMEND], padTokenId: PAD, temperature: 1.0, topP: 0.9, topK: 50 };
  t.manualSeed(99);
  const g1 = generate(m, ps, { ...o, seed: 7 });
  using after1 = t.rand([4]);
  t.manualSeed(99);
  const g2 = generate(m, ps, { ...o, seed: 7 });
  using after2 = t.rand([4]);
  assert.deepEqual(g1, g2);
  assert.deepEqual(after1.toNumbers(), after2.toNumbers(), "global RNG stream is restored after a seeded generate");
  const g3 = generate(m, ps, { ...o, seed: 8 });
  assert.notDeepEqual(
    g3.map((g) => g.ids),
    g1.map((g) => g.ids),
    "another seed samples differently",
  );
  const greedy = generate(m, ps, { ...o, temperature: 0 });
  const top1 = generate(m, ps, { ...o, topK: 1, topP: 1, seed: 3 });
  assert.deepEqual(
    top1.map((g) => g.ids),
    greedy.map((g) => g.ids),
  );
  for (const g of g1) {
    assert.equal(g.ids.length, g.logprobs.length);
    assert.ok(g.finishReason === "length" ? g.ids.length === 10 : g.ids.at(-1) === IMEND);
    assert.ok(g.logprobs.every((x) => x <= 0 && Number.isFinite(x)));
  }
});

test("selectNext: top-p keeps the smallest set with mass >= p", () => {
  t.tidy(() => {
    // probs 0.5, 0.3, 0.15, 0.05: top-p 0.7 keeps {0, 1}; sampling many times never yields 2 or 3.
    const logits = t
      .tensor([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)])
      .view(1, 4)
      .expand(2000, 4)
      .contiguous();
    t.manualSeed(0);
    const [tok] = selectNext(logits, { temperature: 1, topP: 0.7 });
    const counts = [0, 0, 0, 0];
    for (const v of tok.toNumbers()) counts[v]!++;
    assert.equal(counts[2]! + counts[3]!, 0);
    assert.ok(counts[0]! > 1000 && counts[1]! > 600, `counts ${counts}`);
  });
});

test("stop on any of several ids; finish reasons; no tensors leak from generate", () => {
  using m = makeModel(7);
  const ps = [sample([[1, 4, 4]], [5], 12), sample([], [3, 4], 0)];
  const greedy = generate(m, ps, { maxNewTokens: 6, stopTokenIds: [IMEND], padTokenId: PAD, temperature: 0 });
  // Make the first greedy token of each row a stop token: rows end at once with reason "stop".
  const stops = greedy.map((g) => g.ids[0]!);
  const base = t.handleBalance();
  const g = generate(m, ps, { maxNewTokens: 6, stopTokenIds: stops, padTokenId: PAD, temperature: 0 });
  assert.equal(t.handleBalance(), base);
  g.forEach((x, i) => {
    assert.equal(x.finishReason, "stop");
    assert.deepEqual(x.ids, [stops[i]]);
  });
  const long = generate(m, ps, { maxNewTokens: 6, stopTokenIds: [], padTokenId: PAD, temperature: 0 });
  assert.ok(long.every((x) => x.finishReason === "length" && x.ids.length === 6));
  long.forEach((x, i) => assert.deepEqual(x.ids.slice(0, greedy[i]!.ids.length), greedy[i]!.ids, "same greedy prefix"));
  assert.equal(t.handleBalance(), base);
});

test("log-probs reported by batched KV-cache generation equal completionLogProbs of the same tokens", () => {
  using m = makeModel(11);
  const ps = [
    sample([[1, 4, 4]], [5, 6, 7], 16),
    sample([], [3], 0),
    sample(
      [
        [1, 2, 4],
        [1, 4, 4],
      ],
      [8],
      17,
    ),
  ];
  const gens = generate(m, ps, {
    maxNewTokens: 8,
    stopTokenIds: [],
    padTokenId: PAD,
    temperature: 0.7,
    topK: 20,
    seed: 4,
  });
  const r = t.noGrad(() =>
    completionLogProbs(
      m,
      ps,
      gens.map((g) => g.ids),
      { padTokenId: PAD, temperature: 0.7 },
    ),
  );
  const lp = r.logprobs.toFloat32();
  gens.forEach((g, i) => assertClose(lp.subarray(i * 8, i * 8 + g.ids.length), g.logprobs, 1e-4, `row ${i}`));
  r.logprobs.dispose();
  r.mask.dispose();
});

test("completion tokens that look like image pads are text, as in KV-cache decoding", () => {
  using m = makeModel(12);
  const p = sample([[1, 4, 4]], [5], 18);
  const completion = [cfg.vision_start_token_id, cfg.image_token_id, cfg.image_token_id, 6, IMEND];
  // Reference: feed the completion one token at a time through the KV cache (what generate does).
  const stepLp = t.noGrad(() => {
    using b = collate([p], PAD);
    using cache = m.newCache(64);
    let mask = b.attentionMask.alias();
    const pre = m.forward(
      { inputIds: b.inputIds, attentionMask: mask, pixelValues: b.pixelValues, imageGridThw: b.imageGridThw },
      { cache },
    );
    let logits = pre.logits.narrow(1, pre.logits.size(1) - 1, 1);
    pre.logits.dispose();
    const lps: number[] = [];
    for (const tok of completion) {
      lps.push(t.tidy(() => logits.select(1, 0).logSoftmax(-1).select(0, 0).select(0, tok).item()));
      const grown = t.cat([mask, t.ones([1, 1], { dtype: "int64" })], 1);
      mask.dispose();
      mask = grown;
      using ids = t.tensor([[tok]], { dtype: "int64" });
      const o = m.forward({ inputIds: ids, attentionMask: mask }, { cache, ropeDeltas: pre.ropeDeltas });
      logits.dispose();
      logits = o.logits;
    }
    logits.dispose();
    mask.dispose();
    return lps;
  });
  const r = t.noGrad(() => completionLogProbs(m, [p], [completion], { padTokenId: PAD }));
  assertClose(r.logprobs.toFloat32(), stepLp, 1e-4, "completion log-probs");
  r.logprobs.dispose();
  r.mask.dispose();
});

test("rows that stop early leave the batch (compaction) without changing the others", () => {
  using m = makeModel(10);
  const ps = [
    sample([[1, 4, 4]], [5], 14),
    sample([], [3, 4, 5, 6], 0),
    sample([[1, 2, 4]], [7, 8], 15),
    sample([], [9], 0),
  ];
  const o = { maxNewTokens: 10, padTokenId: PAD, temperature: 0 };
  const free = generate(m, ps, { ...o, stopTokenIds: [] });
  // Stop on row 0's second token: row 0 (and any row producing that token) ends early, the rest continue.
  const stopId = free[0]!.ids[1]!;
  const cut = (ids: number[]) => (ids.includes(stopId) ? ids.slice(0, ids.indexOf(stopId) + 1) : ids);
  const base = t.handleBalance();
  const stopped = generate(m, ps, { ...o, stopTokenIds: [stopId] });
  assert.equal(t.handleBalance(), base);
  assert.equal(stopped[0]!.finishReason, "stop");
  assert.ok(
    stopped.some((g) => g.finishReason === "length"),
    "some rows run to the end after the batch shrank",
  );
  stopped.forEach((g, i) => {
    assert.deepEqual(g.ids, cut(free[i]!.ids), `row ${i}`);
    assertClose(g.logprobs, free[i]!.logprobs.slice(0, g.ids.length), 1e-4, `row ${i} log-probs`);
  });
});

test("bfloat16 weights and autocast run and agree with float32 roughly", () => {
  using m = makeModel(8);
  const s = [sample([[1, 4, 4]], [5, 6], 13)];
  const ref = logitsOf(m, s)[0]!;
  const ac = t.autocast(() => logitsOf(m, s)[0]!);
  const scale = ref.reduce((mx, v) => Math.max(mx, Math.abs(v)), 0);
  const diff = ac.reduce((mx, v, i) => Math.max(mx, Math.abs(v - ref[i]!)), 0);
  assert.ok(diff < 0.15 * scale && diff > 0, `autocast diff ${diff} (scale ${scale})`);
  m.to("bfloat16");
  assert.equal(m.dtype, "bfloat16");
  const g = generate(m, s, { maxNewTokens: 4, stopTokenIds: [], padTokenId: PAD, temperature: 0 });
  assert.equal(g[0]!.ids.length, 4);
});
