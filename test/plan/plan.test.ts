import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configToJsonText, presetConfig } from "../../src/models/qwen2vl/config.ts";
import { paramCounts } from "../../src/models/qwen2vl/params.ts";
import { positionsPerChunk } from "../../src/models/qwen2vl/logprobs.ts";
import {
  type PlanSettings,
  defaultPlanSettings,
  formatBytes,
  largestMicroBatch,
  paramStats,
  parseBytes,
  planMemory,
  planPositionsPerChunk,
} from "../../src/train/plan.ts";

const tiny = presetConfig("qwen2-vl-tiny");
const q2b = presetConfig("qwen2-vl-2b");
const q7b = presetConfig("qwen2-vl-7b");
const line = (t: { lines: { key: string; bytes: number }[] }, key: string) => {
  const l = t.lines.find((x) => x.key === key);
  assert.ok(l, `line ${key}`);
  return l.bytes;
};
const mib = (n: number) => formatBytes(n);

// ---- measured peaks on the tiny preset ----------------------------------------------------------------------------

/**
 * Settings the fixture can realise exactly: a square image of 12 × 12 merged tokens (112,896 px = 144 · 784),
 * 32 prompt-text tokens, 64 completion tokens, 2 SFT records per micro-batch (2 micro-batches per step), GRPO with
 * 2 prompts × G 4 and micro-batches of 4 completions, β > 0 (a reference model), float32.
 */
const measured: PlanSettings = {
  ...defaultPlanSettings("float32", 1),
  sftMicroBatch: 2,
  grpoMicroBatch: 4,
  generations: 4,
  promptsPerStep: 2,
  sftMaxPixels: 112896,
  grpoMaxPixels: 112896,
  promptTextTokens: 32,
  completionLength: 64,
};

function measure(
  kind: "sft" | "grpo",
  settings: PlanSettings = measured,
): { peak: number; peaks: Record<string, number> } {
  // A child process with a fixed glibc mmap threshold (large blocks go back to the OS at free) and --expose-gc (the
  // fixture collects the warm-up's garbage before reading its baseline): see test/plan/fixtures/measure.ts.
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", "test/plan/fixtures/measure.ts", kind, JSON.stringify(settings)],
    { env: { ...process.env, MALLOC_MMAP_THRESHOLD_: "131072" }, encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as { peak: number; peaks: Record<string, number> };
}

/**
 * Tolerance of planned against measured peaks: ±15 %. The plan counts tensor bytes; the measurement is the peak
 * RSS above a baseline taken after a warm-up, so it also sees allocator effects the plan leaves out: heap chunks
 * below glibc's mmap threshold that the warm-up freed and the measured step reuses (a few MiB at this scale), JS
 * garbage of the step (host id arrays), page granularity, and kernel scratch buffers that differ with the CPU's
 * instruction set and the thread count. On this machine the deviations were within ±4 %.
 */
const TOLERANCE = 0.15;
const within = (measuredBytes: number, planned: number, what: string) => {
  const ratio = measuredBytes / planned;
  assert.ok(
    Math.abs(ratio - 1) <= TOLERANCE,
    `${what}: measured ${mib(measuredBytes)}, planned ${mib(planned)} (ratio ${ratio.toFixed(3)})`,
  );
  return ratio;
};

test("the planned SFT and GRPO peaks match measured peaks of real steps on the tiny preset (±15 %)", (ctx) => {
  if (process.platform !== "linux") return ctx.skip("peak RSS is read from /proc");
  const plan = planMemory(tiny, measured);
  const sft = measure("sft");
  const rs = within(sft.peak, plan.sft.total, "SFT step");
  const grpo = measure("grpo");
  const ru = within(
    grpo.peaks.update!,
    plan.grpo.persistentBytes + plan.grpo.phases["forward/backward"]!,
    "GRPO update",
  );
  const rg = within(
    grpo.peaks.generation!,
    plan.grpo.persistentBytes + plan.grpo.phases.generation!,
    "GRPO generation",
  );
  const rt = within(grpo.peak, plan.grpo.total, "GRPO total");
  ctx.diagnostic(
    `SFT ${mib(sft.peak)} measured / ${mib(plan.sft.total)} planned (${rs.toFixed(3)}); GRPO update ${mib(grpo.peaks.update!)} ` +
      `(${ru.toFixed(3)}), generation ${mib(grpo.peaks.generation!)} (${rg.toFixed(3)}), total ${rt.toFixed(3)}`,
  );
  // The measurement must exercise the activation terms, not only the exactly-known weights and optimizer state.
  assert.ok(plan.sft.total > 2 * plan.sft.persistentBytes, "SFT activations are a large share of the peak");
  assert.ok(line(plan.grpo, "activations_vision") > 0.1 * plan.grpo.total, "the trainable vision tower is measured");
});

// ---- arithmetic -----------------------------------------------------------------------------------------------------

test("parameter counts agree with the model's parameter list; the trainers' freezing is applied", () => {
  for (const c of [tiny, q2b, q7b]) {
    const all = paramStats(c, { freezeVisionTower: false, freezeProjector: false });
    assert.equal(all.total, paramCounts(c).total);
    assert.equal(all.trainable, all.total);
    const sft = paramStats(c, { freezeVisionTower: true, freezeProjector: true });
    assert.equal(sft.trainable, paramCounts(c).text, "SFT trains the language model only (spec §5.5)");
  }
  // Published sizes: Qwen2-VL-2B ≈ 2.21B, 7B ≈ 8.29B parameters.
  assert.ok(Math.abs(paramCounts(q2b).total / 1e9 - 2.21) < 0.01);
  assert.ok(Math.abs(paramCounts(q7b).total / 1e9 - 8.29) < 0.01);
  const p = planMemory(q2b, defaultPlanSettings("bfloat16", 8));
  assert.equal(line(p.sft, "parameters"), paramCounts(q2b).total * 2);
  assert.equal(line(p.sft, "gradients"), paramCounts(q2b).text * 2);
  assert.equal(line(p.grpo, "gradients"), paramCounts(q2b).total * 2, "GRPO trains everything (spec §4.3)");
  assert.equal(line(p.grpo, "optimizer"), 2 * paramCounts(q2b).total * 2, "AdamW m and v in the weight dtype");
});

test("--zero 3 divides weights, gradients and optimizer state by W and adds the gathered-unit buffer", () => {
  const s0 = defaultPlanSettings("bfloat16", 8);
  const p0 = planMemory(q7b, s0);
  const p3 = planMemory(q7b, { ...s0, zero: 3 });
  for (const t of ["sft", "grpo"] as const)
    for (const k of ["parameters", "gradients", "optimizer"])
      assert.equal(line(p3[t], k), line(p0[t], k) / 8, `${t} ${k}`);
  assert.equal(line(p3.grpo, "reference"), line(p0.grpo, "reference") / 8);
  const unit = paramStats(q7b, { freezeVisionTower: false, freezeProjector: false }).largestUnit;
  assert.equal(unit, q7b.vocab_size * q7b.hidden_size, "the largest gathered unit of the 7B is its embedding");
  assert.equal(line(p3.sft, "zero3_buffer"), 2 * unit * 2);
  assert.equal(
    line(p3.sft, "activations_text"),
    line(p0.sft, "activations_text"),
    "activations do not depend on sharding",
  );
  assert.ok(!p0.sft.lines.some((l) => l.key === "zero3_buffer"));
});

test("the KV cache is linear in prompt + completion length, in G and in the prompts per rank", () => {
  const s = { ...defaultPlanSettings("bfloat16", 1), promptsPerStep: 2 };
  const kv = (o: Partial<PlanSettings>) => line(planMemory(q2b, { ...s, ...o }).grpo, "kv_cache");
  const base = kv({});
  const Tp = planMemory(q2b, s).grpo.sequence.imageTokens + s.promptTextTokens;
  // Doubling the whole sequence (prompt text grown so that T_p + L doubles) doubles the cache.
  assert.equal(kv({ completionLength: 2 * s.completionLength, promptTextTokens: s.promptTextTokens + Tp }), 2 * base);
  assert.equal(kv({ completionLength: 2 * s.completionLength }), (base * (Tp + 2 * 512)) / (Tp + 512));
  assert.equal(kv({ generations: 16 }), 2 * base);
  assert.equal(kv({ promptsPerStep: 4 }), 2 * base);
  assert.equal(kv({ worldSize: 2 }), base / 2, "prompts are sharded over the ranks");
  // The formula itself: layers × 2 × kv heads × head dim × (T_p + L) × G × P_r × bytes.
  assert.equal(base, 28 * 2 * 2 * 128 * (Tp + 512) * 8 * 2 * 2);
  assert.equal(line(planMemory(q2b, { ...s, beta: 0 }).grpo, "kv_cache"), base);
  assert.ok(!planMemory(q2b, { ...s, beta: 0 }).grpo.lines.some((l) => l.key === "reference"), "β 0: no reference");
});

test("activations grow with the micro-batch; bf16 autocast and bf16 weights shrink them", () => {
  const s = defaultPlanSettings("float32", 1);
  const a = (o: Partial<PlanSettings>) => line(planMemory(q2b, { ...s, ...o }).sft, "activations_text");
  assert.equal(a({ sftMicroBatch: 2 }), 2 * a({}), "decoder activations are linear in B");
  assert.ok(a({ bf16: true }) < a({}), "autocast activations are smaller");
  assert.ok(a({ dtype: "bfloat16" }) < a({}), "bf16-weight activations are smaller");
  // The chunked LM head: its logits stay within the log-prob budget (the chunk is sized for 6 float32 copies, the
  // plan counts 4); only the hidden states and their gradient, 2 × B × C × H × 4 B, grow with the micro-batch.
  for (const b of [1, 4, 8]) {
    const head = line(planMemory(q2b, { ...s, sftMicroBatch: b }).sft, "activations_head");
    const hidden = 2 * b * s.completionLength * q2b.hidden_size * 4;
    assert.ok(head - hidden <= (4 / 6) * 64 * 2 ** 20, `B ${b}: logits part ${head - hidden}`);
  }
});

test("the LM-head chunking is the log-prob code's", () => {
  for (const [rows, vocab] of [
    [1, 151936],
    [8, 151936],
    [3, 1024],
    [64, 152064],
  ] as const)
    assert.equal(planPositionsPerChunk(rows, vocab), positionsPerChunk(rows, vocab, 64 * 2 ** 20));
});

test("the largest micro-batch fits and the next one does not; none fits names what dominates", () => {
  const s = defaultPlanSettings("bfloat16", 8);
  for (const trainer of ["sft", "grpo"] as const) {
    const mem = 80e9;
    const f = largestMicroBatch(q2b, s, trainer, mem);
    assert.ok(f.largest >= 1, `${trainer} fits something in 80 GB`);
    const at = (b: number) =>
      planMemory(q2b, trainer === "sft" ? { ...s, sftMicroBatch: b } : { ...s, grpoMicroBatch: b })[trainer].total;
    assert.ok(at(f.largest) <= mem, "the reported micro-batch fits");
    assert.equal(f.total, at(f.largest));
    if (f.largest < f.cap) {
      assert.ok(at(f.largest + 1) > mem, "the next one does not");
      assert.equal(f.next, at(f.largest + 1));
    }
  }
  const none = largestMicroBatch(q7b, { ...s, zero: 0 }, "grpo", 24 * 2 ** 30);
  assert.equal(none.largest, 0);
  assert.ok(none.dominant && none.dominant.bytes > 0);
  // GRPO's micro-batch cannot exceed a rank's round: with ample memory the search stops there.
  const all = largestMicroBatch(
    tiny,
    { ...defaultPlanSettings("float32", 1), promptsPerStep: 2, generations: 4 },
    "grpo",
    1e15,
  );
  assert.equal(all.largest, 8);
  assert.equal(all.next, null);
});

test("sizes parse with binary and decimal suffixes; bad sizes are refused", () => {
  assert.equal(parseBytes("24GiB"), 24 * 2 ** 30);
  assert.equal(parseBytes("80GB"), 80e9);
  assert.equal(parseBytes("80gb"), 80e9);
  assert.equal(parseBytes("512MiB"), 512 * 2 ** 20);
  assert.equal(parseBytes("16G"), 16 * 2 ** 30);
  assert.equal(parseBytes("1.5GiB"), 1.5 * 2 ** 30);
  assert.equal(parseBytes("1073741824"), 2 ** 30);
  for (const bad of ["", "GB", "12 parsecs", "-1GB", "0"])
    assert.throws(() => parseBytes(bad), /not a (positive )?size/);
  assert.equal(formatBytes(1536), "1.50 KiB");
  assert.equal(formatBytes(17), "17 B");
});

// ---- CLI -------------------------------------------------------------------------------------------------------------

const rft = (...args: string[]) => spawnSync(process.execPath, ["bin/rft.js", ...args], { encoding: "utf8" });

test("rft plan: the --help examples run; JSON output; --memory; a checkpoint directory's config.json", () => {
  const help = rft("plan", "--help");
  assert.equal(help.status, 0, help.stderr);
  const examples = help.stdout
    .split("\n")
    .filter((l) => l.startsWith("  rft plan "))
    .map((l) => l.trim().split(/\s+/).slice(1));
  assert.ok(examples.length >= 2);
  for (const ex of examples.filter((e) => !e.includes("runs/tiny/final"))) {
    const r = rft(...ex);
    assert.equal(r.status, 0, `${ex.join(" ")}: ${r.stderr}`);
    assert.match(r.stdout, /total per rank/);
  }
  const j = rft("plan", "--model", "2b", "--world-size", "8", "--zero", "3", "--memory", "80GB", "--json");
  assert.equal(j.status, 0, j.stderr);
  const out = JSON.parse(j.stdout);
  const direct = planMemory(q2b, { ...defaultPlanSettings("bfloat16", 8), zero: 3 });
  assert.equal(out.sft.total, direct.sft.total);
  assert.equal(out.grpo.total, direct.grpo.total);
  assert.equal(out.fit.memory, 80e9);
  assert.equal(out.fit.sft.largest, largestMicroBatch(q2b, { ...direct.settings }, "sft", 80e9).largest);
  const m = rft("plan", "--model", "7b", "--world-size", "1", "--memory", "24GiB");
  assert.equal(m.status, 0, m.stderr);
  assert.match(m.stdout, /GRPO: no micro-batch fits 24\.00 GiB/);
  // When generation sets the peak, the micro-batch cannot help and the message says what can.
  const g = rft("plan", "--model", "tiny", "--world-size", "2", "--memory", "512MiB");
  assert.equal(g.status, 0, g.stderr);
  assert.match(
    g.stdout,
    /GRPO: no micro-batch fits .*generation phase \(generation does not depend on the micro-batch/,
  );
  // A checkpoint directory: only config.json is read (no weights there).
  const dir = mkdtempSync(join(tmpdir(), "rft-plan-"));
  writeFileSync(join(dir, "config.json"), configToJsonText(tiny));
  const d = rft("plan", "--model", dir, "--world-size", "2", "--micro-batch", "3", "--json");
  assert.equal(d.status, 0, d.stderr);
  const dj = JSON.parse(d.stdout);
  assert.equal(dj.sft.microBatch, 3);
  assert.equal(dj.settings.dtype, "float32", "the dtype comes from the config's torch_dtype");
  assert.equal(
    dj.sft.total,
    planMemory(tiny, { ...defaultPlanSettings("float32", 2), sftMicroBatch: 3, grpoMicroBatch: 3 }).sft.total,
  );
});

test("rft plan: bad flags, unknown presets and a directory without config.json exit 2 with a message", () => {
  const empty = mkdtempSync(join(tmpdir(), "rft-plan-"));
  mkdirSync(join(empty, "sub"));
  const cases: [string[], RegExp][] = [
    [["--model", "13b", "--world-size", "1"], /'13b' is neither a preset .* nor an existing checkpoint directory/],
    [["--model", join(empty, "sub"), "--world-size", "1"], /has no config\.json/],
    [["--model", "tiny"], /missing required option --world-size/],
    [["--model", "tiny", "--world-size", "0"], /--world-size must be a positive integer/],
    [["--model", "tiny", "--world-size", "1", "--zero", "2"], /--zero/],
    [["--model", "tiny", "--world-size", "1", "--dtype", "int8"], /--dtype/],
    [["--model", "tiny", "--world-size", "1", "--memory", "lots"], /--memory: 'lots' is not a size/],
    [["--model", "tiny", "--world-size", "1", "--max-pixels", "100"], /--max-pixels/],
    [["--model", "tiny", "--world-size", "1", "--nope"], /--nope/],
  ];
  for (const [args, re] of cases) {
    const r = rft("plan", ...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
  }
  writeFileSync(join(empty, "config.json"), "{ not json");
  const bad = rft("plan", "--model", empty, "--world-size", "1");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /config\.json[\s\S]*not valid JSON/);
});

test("docs/scaling.md's table of Qwen2-VL-2B/7B at the reference's settings is the planner's output", () => {
  const doc = readFileSync("docs/scaling.md", "utf8");
  assert.match(doc, /^## Memory planner \(rft plan\)$/m);
  const row = (label: string) => {
    const r = doc.split("\n").find((l) => l.startsWith(`| ${label}`));
    assert.ok(r, `row ${label}`);
    return r
      .split("|")
      .slice(2, 6)
      .map((x) => x.replace(/\*/g, "").trim());
  };
  // Columns: 2B SFT (W 8), 2B GRPO (W 7), 7B SFT (W 8), 7B GRPO (W 7); weights bfloat16.
  const cols = [
    [q2b, "sft", 8],
    [q2b, "grpo", 7],
    [q7b, "sft", 8],
    [q7b, "grpo", 7],
  ] as const;
  const gb = (b: number) => (b / 1e9).toFixed(1);
  for (const zero of [0, 3] as const) {
    const want = cols.map(([c, t, w]) => gb(planMemory(c, { ...defaultPlanSettings("bfloat16", w), zero })[t].total));
    assert.deepEqual(row(`**total per rank, ZeRO-${zero}**`), want);
  }
  for (const mem of [80, 40]) {
    const want = cols.map(([c, t, w]) =>
      ([0, 3] as const)
        .map((zero) => largestMicroBatch(c, { ...defaultPlanSettings("bfloat16", w), zero }, t, mem * 1e9).largest)
        .map((n) => (n === 0 ? "none" : String(n)))
        .join(" / "),
    );
    assert.deepEqual(row(`largest micro-batch in ${mem} GB`), want);
  }
});

test("every line the planner prints has its formula in docs/scaling.md", () => {
  const doc = readFileSync("docs/scaling.md", "utf8");
  const formulaRows = doc
    .split("\n")
    .filter((l) => l.startsWith("| "))
    .map((l) => l.split("|")[1]!.trim());
  const s = { ...defaultPlanSettings("float32", 4), zero: 3 as const, bf16: true };
  const p = planMemory(q2b, s);
  for (const t of [p.sft, p.grpo])
    for (const l of t.lines) {
      const name = l.label.split(" (")[0]!;
      assert.ok(
        formulaRows.some((r) => r.startsWith(name)),
        `docs/scaling.md has a formula row for "${name}"`,
      );
    }
});
