// Generation for GRPO and serving (prefix fan-out, shared images, per-row settings, stop strings, streaming, the
// non-blocking form) and the bounded-memory log-probs (chunked LM head, recomputing backward, shared images).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as t from "../../src/tensor/index.ts";
import { presetConfig, type Qwen2VLConfig } from "../../src/models/qwen2vl/config.ts";
import { Qwen2VLForConditionalGeneration } from "../../src/models/qwen2vl/model.ts";
import { generate, generateAsync, completionLogProbs, type Tokenizer } from "../../src/models/qwen2vl/generate.ts";
import { logProbBatch, type PromptSample } from "../../src/models/qwen2vl/batch.ts";
import { tokenLogProbs } from "../../src/models/qwen2vl/logprobs.ts";
import type { GridThw } from "../../src/models/qwen2vl/rope.ts";
import { assertClose } from "../helpers.ts";

const cfg: Qwen2VLConfig = presetConfig("qwen2-vl-tiny");
const PAD = cfg.bos_token_id!;
const IMEND = cfg.eos_token_id as number;

function makeModel(seed: number, c: Qwen2VLConfig = cfg): Qwen2VLForConditionalGeneration {
  t.manualSeed(seed);
  const m = new Qwen2VLForConditionalGeneration(c);
  t.noGrad(() => {
    for (const [n, p] of m.namedParameters()) if (!/norm\d?\.weight|ln_q\.weight/.test(n)) p.mul_(8);
  });
  return m.eval();
}

function pixels(rows: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: rows * 1176 }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}

function sample(grids: GridThw[], text: number[], seed: number): PromptSample {
  const ids: number[] = [1, 2];
  for (const g of grids)
    ids.push(
      cfg.vision_start_token_id,
      ...Array((g[0] * g[1] * g[2]) / 4).fill(cfg.image_token_id),
      cfg.vision_end_token_id,
    );
  ids.push(...text);
  const rows = grids.reduce((a, g) => a + g[0] * g[1] * g[2], 0);
  return { id: `s${seed}`, inputIds: ids, pixelValues: rows ? pixels(rows, seed) : null, imageGridThw: grids };
}

/** Counts vision-tower forwards and the images they saw. */
function countVision(m: Qwen2VLForConditionalGeneration): { calls: number; images: number } {
  const c = { calls: 0, images: 0 };
  const orig = m.visual.forward.bind(m.visual);
  m.visual.forward = (pv: t.Tensor, grids: readonly GridThw[]) => {
    c.calls++;
    c.images += grids.length;
    return orig(pv, grids);
  };
  return c;
}

const fakeTok: Tokenizer = { decode: (ids) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join("") };

test("numReturnSequences: one prefill per prompt, the same tokens as repeating the prompts, same seed", () => {
  using m = makeModel(1);
  const ps = [sample([[1, 4, 4]], [5, 6], 3), sample([], [9, 8], 0)];
  const o = { maxNewTokens: 8, stopTokenIds: [IMEND], padTokenId: PAD, temperature: 1, topK: 40, seed: 5 };
  // Today's form: each prompt repeated G times (distinct objects, so nothing is shared).
  const repeated = ps.flatMap((p) => [0, 1, 2].map(() => ({ ...p })));
  const base = generate(m, repeated, o);
  const seen = countVision(m);
  const fanned = generate(m, ps, { ...o, numReturnSequences: 3 });
  assert.equal(seen.images, 1, "the one image went through the vision tower once");
  assert.deepEqual(
    fanned.map((g) => g.ids),
    base.map((g) => g.ids),
  );
  fanned.forEach((g, i) => assertClose(g.logprobs, base[i]!.logprobs, 1e-4, `row ${i}`));
  assert.ok(new Set(fanned.slice(0, 3).map((g) => g.ids.join())).size > 1, "the G samples differ");
});

test("rows holding the same prompt object share its image in the prefill", () => {
  using m = makeModel(2);
  const p = sample([[1, 4, 4]], [5], 4);
  const seen = countVision(m);
  const g = generate(m, [p, p, p], { maxNewTokens: 3, stopTokenIds: [], padTokenId: PAD, temperature: 0 });
  assert.equal(seen.images, 1);
  assert.deepEqual(g[0]!.ids, g[2]!.ids);
});

test("generateAsync equals generate for the same seed and lets the event loop run between steps", async () => {
  using m = makeModel(3);
  const ps = [sample([[1, 4, 4]], [5], 6), sample([], [3, 4, 5], 0)];
  const o = { maxNewTokens: 12, stopTokenIds: [], padTokenId: PAD, temperature: 0.9, topP: 0.95, seed: 11 };
  const sync = generate(m, ps, o);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const before = t.handleBalance();
  // Two generations interleaved: each keeps its own RNG stream.
  const [a, b] = await Promise.all([generateAsync(m, ps, o), generateAsync(m, ps, { ...o, seed: 12 })]);
  clearInterval(timer);
  assert.equal(t.handleBalance(), before, "no tensors leak");
  assert.deepEqual(
    a.map((g) => g.ids),
    sync.map((g) => g.ids),
  );
  assert.deepEqual(
    b.map((g) => g.ids),
    generate(m, ps, { ...o, seed: 12 }).map((g) => g.ids),
  );
  assert.ok(ticks >= 3, `timers ran during generation (${ticks})`);
});

test("per-row settings: greedy rows, sampled rows and per-row lengths in one batch", () => {
  using m = makeModel(4);
  const ps = [sample([], [5, 6], 0), sample([], [7], 0)];
  const greedy = generate(m, ps, { maxNewTokens: 6, stopTokenIds: [], padTokenId: PAD, temperature: 0 });
  const mixed = generate(m, ps, {
    maxNewTokens: 6,
    stopTokenIds: [],
    padTokenId: PAD,
    temperature: 1,
    seed: 3,
    numReturnSequences: 2,
    rows: [{ temperature: 0 }, { temperature: 1.5 }, { temperature: 0, maxNewTokens: 2 }, {}],
  });
  assert.deepEqual(mixed[0]!.ids, greedy[0]!.ids);
  assert.deepEqual(mixed[2]!.ids, greedy[1]!.ids.slice(0, 2));
  assert.equal(mixed[2]!.finishReason, "length");
  assert.equal(mixed[1]!.ids.length, 6);
});

test("stop strings end a row and are cut from the text; streaming events rebuild every row", () => {
  using m = makeModel(5);
  const ps = [sample([], [5, 6], 0), sample([[1, 4, 4]], [8], 9)];
  const o = { maxNewTokens: 8, stopTokenIds: [], padTokenId: PAD, temperature: 0, tokenizer: fakeTok };
  const free = generate(m, ps, o);
  // Stop at the text of tokens 2..3 of row 0.
  const stop = fakeTok.decode(free[0]!.ids.slice(2, 4));
  const events = new Map<number, number[]>();
  let last: Record<number, string | undefined> = {};
  const g = generate(m, ps, {
    ...o,
    rows: [{ stopStrings: [stop] }, {}],
    onTokens: (evs) => {
      for (const e of evs) {
        events.set(e.row, [...(events.get(e.row) ?? []), e.id]);
        if (e.finishReason) last = { ...last, [e.row]: e.finishReason };
      }
    },
  });
  const full = fakeTok.decode(free[0]!.ids);
  const end = full.indexOf(stop) + stop.length; // characters = tokens for this tokenizer
  assert.equal(g[0]!.finishReason, "stop");
  assert.equal(g[0]!.stopString, stop);
  assert.deepEqual(g[0]!.ids, free[0]!.ids.slice(0, end));
  assert.equal(g[0]!.text, full.slice(0, full.indexOf(stop)));
  assert.deepEqual(g[1]!.ids, free[1]!.ids);
  assert.deepEqual(events.get(0), g[0]!.ids);
  assert.deepEqual(events.get(1), g[1]!.ids);
  assert.deepEqual(last, { 0: "stop", 1: "length" });
});

test("an empty completion decodes to an empty text", () => {
  using m = makeModel(6);
  const p = sample([], [5], 0);
  const first = generate(m, [p], { maxNewTokens: 1, stopTokenIds: [], padTokenId: PAD, temperature: 0 })[0]!.ids[0]!;
  const g = generate(m, [p], {
    maxNewTokens: 4,
    stopTokenIds: [first],
    padTokenId: PAD,
    temperature: 0,
    tokenizer: { decode: (ids) => (ids.length ? "x" : assert.fail("decode([]) called")) },
  })[0]!;
  assert.equal(g.text, "");
  assert.equal(g.finishReason, "stop");
});

function gradsOf(m: Qwen2VLForConditionalGeneration, names: string[]): Float32Array[] {
  return names.map((n) => {
    const p = [...m.namedParameters()].find(([k]) => k === n)![1];
    const g = p.grad;
    assert.ok(g, `${n} has a gradient`);
    const v = g.toFloat32();
    g.dispose();
    return v;
  });
}

test("tokenLogProbs: the recomputing chunked head gives the values and gradients of plain autograd", () => {
  using m = makeModel(7);
  m.train();
  const ps = [sample([[1, 4, 4]], [5, 6], 13), sample([], [3], 0)];
  const rows = [
    { prompt: ps[0]!, completion: [7, 8, 9, IMEND, 4], mask: [1, 1, 1, 1, 0] },
    { prompt: ps[0]!, completion: [10, 11] },
    { prompt: ps[1]!, completion: [12, 13, 14] },
  ];
  const names = [
    "visual.patch_embed.proj.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.embed_tokens.weight",
  ];
  const weights = t.tensor([0.3, -1, 2, 0.5, 1, 1.5, -0.7, 0.2, 0.1, 1.1, 0.9, -0.4, 0.6, 0.8, 1.3], { shape: [3, 5] });
  const run = (chunkBytes: number) => {
    using batch = logProbBatch(rows, PAD, "float32");
    using lp = tokenLogProbs(m, batch, { chunkBytes, entropy: true, temperature: 0.8 });
    const values = lp.logprobs.toFloat32();
    const ent = lp.entropy!.toFloat32();
    t.tidy(() => lp.logprobs.mul(weights).sum().backward());
    lp.backward();
    const grads = gradsOf(m, names);
    m.zeroGrad();
    return { values, ent, grads, recomputes: lp.recomputes, chunk: lp.chunkPositions };
  };
  const before = t.handleBalance();
  const plain = run(Number.MAX_SAFE_INTEGER);
  const chunked = run(1); // one position per chunk
  assert.equal(t.handleBalance(), before, "no tensors leak");
  assert.equal(plain.recomputes, false);
  assert.equal(chunked.recomputes, true);
  assert.equal(chunked.chunk, 1);
  assertClose(chunked.values, plain.values, 1e-5, "log-probs");
  assertClose(chunked.ent, plain.ent, 1e-5, "entropy");
  chunked.grads.forEach((g, i) => assertClose(g, plain.grads[i]!, 1e-4, names[i]));
  // Masked positions are 0; entropy is positive elsewhere and at most log V.
  assert.ok(plain.values[4] === 0, "masked position");
  assert.ok(
    plain.ent.every((e, i) =>
      [4, 7, 8, 9, 13, 14].includes(i) ? e === 0 : e > 0 && e <= Math.log(cfg.vocab_size) + 1e-5,
    ),
  );
  // Against the older whole-batch API (no temperature there: compare at 0.8 through its option).
  const old = t.noGrad(() =>
    completionLogProbs(
      m,
      rows.map((r) => r.prompt),
      rows.map((r) => r.completion),
      { padTokenId: PAD, temperature: 0.8 },
      rows.map((r) => r.mask ?? r.completion.map(() => 1)),
    ),
  );
  assertClose(old.logprobs.toFloat32(), plain.values, 1e-5, "completionLogProbs");
  old.logprobs.dispose();
  old.mask.dispose();
  weights.dispose();
});

test("tokenLogProbs: shared images run the vision tower once and give the same log-probs as copies", () => {
  using m = makeModel(8);
  const p = sample([[1, 4, 4]], [5], 21);
  const completions = [
    [3, 4, 5],
    [6, 7],
    [8, 9, 10],
  ];
  const seen = countVision(m);
  const shared = t.noGrad(() => {
    using b = logProbBatch(
      completions.map((c) => ({ prompt: p, completion: c })),
      PAD,
    );
    assert.deepEqual(b.imageSource, [0, 0, 0]);
    using lp = tokenLogProbs(m, b);
    return lp.logprobs.toFloat32();
  });
  assert.equal(seen.images, 1);
  const copies = t.noGrad(() => {
    using b = logProbBatch(
      completions.map((c) => ({ prompt: { ...p }, completion: c })),
      PAD,
    );
    assert.equal(b.imageSource, null);
    using lp = tokenLogProbs(m, b);
    return lp.logprobs.toFloat32();
  });
  assert.equal(seen.images, 4);
  assertClose(shared, copies, 1e-5);
});

test("memory: log-probs at the 2B vocabulary (151,936) and 320 completion tokens stay far below [b, C, V] logits", (ctx) => {
  if (process.platform !== "linux") return ctx.skip("peak RSS is read from /proc");
  // A child process with a fixed glibc mmap threshold: large blocks go back to the OS at free, so the peak RSS
  // measures live memory (test/models/fixtures/logprob_memory.ts explains).
  const r = spawnSync(process.execPath, ["--import", "tsx", "test/models/fixtures/logprob_memory.ts"], {
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: "131072" },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, number>;
  const mib = (x: number) => `${(x / 2 ** 20).toFixed(0)} MiB`;
  console.log(
    `# log-probs peak: ${mib(m.noGrad!)} without grad, ${mib(m.grad!)} with grad (chunked, recomputing), ${mib(m.gradOnePass!)} with grad in one pass; one [b, C, V] float32 logits tensor is ${mib(m.fullLogitsBytes!)}`,
  );
  assert.ok(m.noGrad! < m.fullLogitsBytes! / 4, `no-grad peak ${mib(m.noGrad!)}`);
  assert.ok(m.grad! < m.gradOnePass! / 3, `grad peak ${mib(m.grad!)} vs one pass ${mib(m.gradOnePass!)}`);
  assert.ok(m.grad! < m.fullLogitsBytes! * 1.25, `grad peak ${mib(m.grad!)}`);
});

test("a seeded generate samples what the global stream seeded with manualSeed samples, and leaves that stream alone", () => {
  using m = makeModel(10);
  const ps = [sample([[1, 4, 4]], [5], 31), sample([], [6, 7], 0)];
  const o = { maxNewTokens: 10, stopTokenIds: [], padTokenId: PAD, temperature: 1, topK: 30 };
  t.manualSeed(21);
  const global = generate(m, ps, o);
  t.manualSeed(99);
  using before = t.rand([3]);
  t.manualSeed(99);
  const seeded = generate(m, ps, { ...o, seed: 21 });
  using after = t.rand([3]);
  assert.deepEqual(
    seeded.map((g) => g.ids),
    global.map((g) => g.ids),
  );
  assert.deepEqual(after.toNumbers(), before.toNumbers(), "the global stream did not move");
});

test("promptSeeds: a prompt's samples do not depend on the other prompts of the batch (data-parallel GRPO)", () => {
  using m = makeModel(1);
  const ps = [sample([[1, 4, 4]], [5, 6], 3), sample([], [9, 8, 7, 6], 0), sample([[1, 4, 4]], [4], 5)];
  const o = {
    maxNewTokens: 10,
    stopTokenIds: [IMEND],
    padTokenId: PAD,
    temperature: 1,
    topK: 40,
    numReturnSequences: 3,
  };
  const seeds = [11, 22, 33];
  const all = generate(m, ps, { ...o, promptSeeds: seeds });
  // The same prompts split as two ranks would hold them: [0] and [1, 2].
  const a = generate(m, ps.slice(0, 1), { ...o, promptSeeds: seeds.slice(0, 1) });
  const b = generate(m, ps.slice(1), { ...o, promptSeeds: seeds.slice(1) });
  assert.deepEqual(
    all.map((g) => g.ids),
    [...a, ...b].map((g) => g.ids),
  );
  [...a, ...b].forEach((g, i) => assertClose(g.logprobs, all[i]!.logprobs, 1e-4, `row ${i}`));
  assert.ok(new Set(all.map((g) => g.ids.join())).size > 3, "the samples differ");
  const other = generate(m, ps, { ...o, promptSeeds: [11, 22, 34] });
  assert.deepEqual(
    other.slice(0, 6).map((g) => g.ids),
    all.slice(0, 6).map((g) => g.ids),
  );
  assert.notDeepEqual(
    other.slice(6).map((g) => g.ids),
    all.slice(6).map((g) => g.ids),
    "a prompt's seed drives its samples",
  );
  assert.throws(() => generate(m, ps, { ...o, promptSeeds: [1] }), /1 prompt seeds for 3 prompts/);
});
