// `rft model init` and `rft generate` end to end on a tiny random checkpoint.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { main } from "../../src/cli/main.ts";
import { loadCheckpoint } from "../../src/models/qwen2vl/checkpoint.ts";
import { QwenTokenizer } from "../../src/models/qwen2vl/tokenizer.ts";
import { handleBalance } from "../../src/tensor/index.ts";

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  const write = process.stderr.write.bind(process.stderr);
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
    process.stderr.write = write;
  }
}

const dir = mkdtempSync(join(tmpdir(), "rft-gen-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

interface GenJson {
  prompt_ids: number[];
  ids: number[];
  text: string;
  logprobs: number[];
  finish_reason: string;
}

test("rft model init writes a loadable tiny checkpoint with its tokenizer; same seed, same weights", async () => {
  const a = join(dir, "tiny");
  const r = await run(["model", "init", "--preset", "qwen2-vl-tiny", "--out", a, "--seed", "3", "--json"]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { vocab_size: number; files: string[] };
  assert.equal(j.vocab_size, 1024);
  for (const f of [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "preprocessor_config.json",
  ]) {
    assert.ok(existsSync(join(a, f)), f);
  }
  const tok = await QwenTokenizer.fromDir(a);
  const cfg = JSON.parse(readFileSync(join(a, "config.json"), "utf8")) as Record<string, number>;
  assert.equal(tok.requireId("<|image_pad|>"), cfg.image_token_id);
  assert.equal(tok.requireId("<|im_end|>"), cfg.eos_token_id);
  const b = join(dir, "tiny-again");
  assert.equal((await run(["model", "init", "--preset", "qwen2-vl-tiny", "--out", b, "--seed", "3"])).code, 0);
  assert.deepEqual(readFileSync(join(a, "model.safetensors")), readFileSync(join(b, "model.safetensors")));
  const before = handleBalance();
  const ck = await loadCheckpoint(a);
  assert.equal(ck.model.dtype, "float32");
  ck.model.dispose();
  assert.equal(handleBalance(), before);

  const c = join(dir, "tiny-bf16");
  assert.equal((await run(["model", "init", "--preset", "qwen2-vl-tiny", "--out", c, "--dtype", "bfloat16"])).code, 0);
  assert.equal(JSON.parse(readFileSync(join(c, "config.json"), "utf8")).torch_dtype, "bfloat16");
});

test("rft generate --json: prompt ids with expanded image pads, deterministic with a seed, greedy at temperature 0", async () => {
  const m = join(dir, "tiny");
  const img1 = join(dir, "a.png");
  const img2 = join(dir, "b.png");
  await sharp({ create: { width: 112, height: 84, channels: 3, background: { r: 200, g: 40, b: 30 } } })
    .png()
    .toFile(img1);
  await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 20, g: 40, b: 230 } } })
    .png()
    .toFile(img2);
  const args = [
    "generate",
    "--model",
    m,
    "--image",
    img1,
    "--image",
    img2,
    "--prompt",
    "How many objects are left?",
    "--max-new-tokens",
    "6",
    "--json",
  ];
  const s1 = await run([...args, "--temperature", "1", "--top-p", "0.9", "--top-k", "50", "--seed", "5"]);
  assert.equal(s1.code, 0, s1.err);
  const g1 = JSON.parse(s1.out) as GenJson;
  const s2 = JSON.parse(
    (await run([...args, "--temperature", "1", "--top-p", "0.9", "--top-k", "50", "--seed", "5"])).out,
  ) as GenJson;
  assert.deepEqual(s2, { ...g1, seconds: (s2 as unknown as { seconds: number }).seconds });
  const tok = await QwenTokenizer.fromDir(m);
  const pad = tok.requireId("<|image_pad|>");
  // 112x84 → 112x84 (multiple of 28): grid 8x6 → 12 tokens; 56x56 → grid 4x4 → 4 tokens.
  assert.equal(g1.prompt_ids.filter((x) => x === pad).length, 12 + 4);
  assert.equal(g1.ids.length, g1.logprobs.length);
  assert.ok(g1.ids.length >= 1 && g1.ids.length <= 6);
  assert.ok(["stop", "length"].includes(g1.finish_reason));
  const greedy1 = JSON.parse((await run([...args, "--temperature", "0", "--seed", "1"])).out) as GenJson;
  const greedy2 = JSON.parse((await run([...args, "--temperature", "0", "--seed", "2"])).out) as GenJson;
  assert.deepEqual(greedy1.ids, greedy2.ids, "greedy does not depend on the seed");
  assert.equal(
    greedy1.text,
    tok.decode(greedy1.finish_reason === "stop" ? greedy1.ids.slice(0, -1) : greedy1.ids, { skipSpecialTokens: true }),
  );
});

test("rft generate and rft model init: --help and usage errors", async () => {
  for (const cmd of [["generate"], ["model", "init"]]) {
    const h = await run([...cmd, "--help"]);
    assert.equal(h.code, 0);
    assert.match(h.out, /Options:/);
  }
  const e = await run(["generate", "--model", join(dir, "nope"), "--prompt", "x"]);
  assert.equal(e.code, 2);
  assert.match(e.err, /has no config\.json/);
  const bad = await run(["model", "init", "--preset", "qwen2-vl-huge", "--out", join(dir, "x")]);
  assert.equal(bad.code, 2);
});
