/**
 * Commands that write never delete or half-overwrite what a user made (issue 8 items 1 and 4): each case here
 * reproduces a defect found by trying the commands on hostile input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rft } from "./run_rft.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "rft-safety-"));

test("rft model init refuses a foreign non-empty directory or a file, replaces its own checkpoint, --force overrides", () => {
  const root = tmp();
  const foreign = join(root, "mine");
  mkdirSync(foreign);
  writeFileSync(join(foreign, "notes.txt"), "keep me");
  let r = rft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", foreign]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /--out .*mine is not empty .*refusing to write into it \(use --force/);
  assert.deepEqual(readdirSync(foreign), ["notes.txt"]);

  const file = join(root, "file.bin");
  writeFileSync(file, "data");
  r = rft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /exists and is not a directory; refusing to replace it/);
  assert.equal(readFileSync(file, "utf8"), "data");

  const ckpt = join(root, "ckpt");
  r = rft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", ckpt, "--vocab-size", "300"]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(ckpt, ".rft-output")) && existsSync(join(ckpt, "config.json")));
  r = rft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", ckpt, "--vocab-size", "300", "--seed", "2"]);
  assert.equal(r.status, 0, `an earlier checkpoint of ours is replaced: ${r.stderr}`);

  r = rft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", foreign, "--vocab-size", "300", "--force"]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!existsSync(join(foreign, "notes.txt")) && existsSync(join(foreign, "model.safetensors")));
});

function buildWorkspace(n = 6): { dir: string; meta: string; images: string } {
  const dir = tmp();
  const images = join(dir, "images");
  mkdirSync(images);
  const records = Array.from({ length: n }, (_, i) => ({
    id: `vc-${i}`,
    image: `${i}.png`,
    problem: `How many? (${i})`,
    cot: `${i} objects`,
    answer: String(i % 5),
  }));
  for (const r of records) writeFileSync(join(images, r.image), "png");
  const meta = join(dir, "meta.json");
  writeFileSync(meta, JSON.stringify(records));
  return { dir, meta, images };
}

const build = (meta: string, out: string, images: string, ...extra: string[]) =>
  rft(["data", "build", "--task", "clevr-math", "--meta", meta, "--out", out, "--image-root", images, ...extra]);

test("rft data build validates everything before writing anything", () => {
  const { dir, meta, images } = buildWorkspace();
  const out = join(dir, "out");
  mkdirSync(out);
  writeFileSync(join(out, "dataset_info.json"), "{ broken");
  let r = build(meta, out, images, "--stage1-size", "2");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /dataset_info.json: cannot merge into the existing registry/);
  assert.deepEqual(readdirSync(out), ["dataset_info.json"], "no data file was written before the failure");

  // A file of one of our names that no earlier build wrote is not overwritten without --force.
  writeFileSync(join(out, "dataset_info.json"), "{}");
  writeFileSync(join(out, "clevr_math_sft.json"), "my own file");
  r = build(meta, out, images, "--stage1-size", "2");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already holds .*clevr_math_sft.json, which no earlier rft data build wrote; refusing/);
  assert.equal(readFileSync(join(out, "clevr_math_sft.json"), "utf8"), "my own file");
  r = build(meta, out, images, "--stage1-size", "2", "--force");
  assert.equal(r.status, 0, r.stderr);
  r = build(meta, out, images, "--stage1-size", "3");
  assert.equal(r.status, 0, `an earlier build is replaced: ${r.stderr}`);
  assert.ok(!readdirSync(out).some((f) => f.includes(".tmp-")), "no temporary file is left");

  // No output may be the meta file.
  const inside = join(out, "clevr_math_rl.json");
  writeFileSync(inside, readFileSync(meta));
  r = build(inside, out, images, "--stage1-size", "2");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /clevr_math_rl.json is also an input/);
});

test("rft data build refuses a directory given as an image path", () => {
  const { dir, meta, images } = buildWorkspace(3);
  mkdirSync(join(images, "adir.png"));
  const records = JSON.parse(readFileSync(meta, "utf8")) as { image: string }[];
  records[1]!.image = "adir.png";
  writeFileSync(meta, JSON.stringify(records));
  const r = build(meta, join(dir, "out"), images, "--stage1-size", "1");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /record 1 .*image path "adir.png" is not a file/);
  assert.ok(!existsSync(join(dir, "out")));
});

test("rft reward never writes onto its input, refuses a foreign --out, keeps line numbers across blank lines", () => {
  const dir = tmp();
  const input = join(dir, "in.jsonl");
  const body =
    [
      JSON.stringify({ completion: "<think>a</think><answer>3</answer>", solution: "3" }),
      "",
      JSON.stringify({ completion: "<think>a</think><answer>3</answer>", solution: " " }),
      JSON.stringify({ completion: "4", solution: "3" }),
    ].join("\n") + "\n\n";
  writeFileSync(input, body);
  let r = rft(["reward", "--task", "clevr-math", "--in", input, "--out", input]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--out .*in.jsonl is also an input .*refusing to overwrite it/);
  assert.equal(readFileSync(input, "utf8"), body, "the input is untouched");
  r = rft(["reward", "--task", "clevr-math", "--in", input, "--out", input, "--force"]);
  assert.equal(r.status, 1, "--force never allows writing onto an input");

  const foreign = join(dir, "notes.txt");
  writeFileSync(foreign, "my notes\n");
  r = rft(["reward", "--task", "clevr-math", "--in", input, "--out", foreign]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /exists and is not an earlier rft reward output; refusing/);

  const out = join(dir, "out.jsonl");
  r = rft(["reward", "--task", "clevr-math", "--in", input, "--out", out]);
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(out, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 4, "output line k answers input line k (trailing blank lines end the file)");
  assert.deepEqual(lines[0], { rewards: { accuracy: 1, format: 1 }, total: 2 });
  assert.deepEqual(lines[1], { rewards: null, total: null, skipped: "blank line" });
  assert.deepEqual(lines[2], { rewards: { accuracy: null, format: 1 }, total: 1 });
  assert.deepEqual(lines[3], { rewards: { accuracy: 0, format: 0 }, total: 0 });
  assert.match(r.stderr, /blank line\(s\) 2 not scored/);
  assert.match(r.stderr, /reward "accuracy" could not judge 1 line\(s\): 3 \(--on-null zero: counted 0 in the total\)/);

  r = rft(["reward", "--task", "clevr-math", "--in", input, "--out", out, "--on-null", "skip"]);
  assert.equal(r.status, 0, `an earlier reward output is replaced: ${r.stderr}`);
  assert.equal(JSON.parse(readFileSync(out, "utf8").split("\n")[2]!).total, null);
});

test("rft score refuses to overwrite a foreign <name>_with_score.json and warns on an empty file (n=0)", () => {
  const dir = tmp();
  const pred = join(dir, "p.json");
  writeFileSync(pred, JSON.stringify([{ answer: "3", pred: "<answer>3</answer>" }]));
  const scored = join(dir, "p_with_score.json");
  writeFileSync(scored, "my own analysis");
  let r = rft(["score", "--task", "clevr-math", "--pred", pred]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /p_with_score.json exists and is not an earlier rft score output; refusing/);
  assert.equal(readFileSync(scored, "utf8"), "my own analysis");
  r = rft(["score", "--task", "clevr-math", "--pred", pred, "--force"]);
  assert.equal(r.status, 0, r.stderr);
  r = rft(["score", "--task", "clevr-math", "--pred", pred]);
  assert.equal(r.status, 0, `an earlier score output is replaced: ${r.stderr}`);

  const empty = join(dir, "e.json");
  writeFileSync(empty, "[]");
  r = rft(["score", "--task", "clevr-math", "--pred", empty]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: .*e.json holds no predictions \(n=0\)/);
  assert.match(r.stdout, /\(n=0\)/);
});
