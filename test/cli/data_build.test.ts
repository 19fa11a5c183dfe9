import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rft } from "./run_rft.ts";

function workspace(records: unknown[]): { dir: string; meta: string } {
  const dir = mkdtempSync(join(tmpdir(), "rft-build-"));
  mkdirSync(join(dir, "images"));
  for (const r of records) {
    const img = (r as { image?: unknown }).image;
    for (const p of Array.isArray(img) ? img : [img]) {
      if (typeof p === "string" && !p.includes("..") && !p.startsWith("missing"))
        writeFileSync(join(dir, "images", p), "png");
    }
  }
  const meta = join(dir, "meta.json");
  writeFileSync(meta, JSON.stringify(records));
  return { dir, meta };
}

const rec = (i: number) => ({
  id: `vc-${i}`,
  image: `${i}.png`,
  problem: `How many? (${i})`,
  cot: `${i} objects`,
  answer: String(i % 5),
});

test("rft data build writes every format and prints counts", () => {
  const { dir, meta } = workspace(Array.from({ length: 10 }, (_, i) => rec(i)));
  const out = join(dir, "out");
  const r = rft([
    "data",
    "build",
    "--task",
    "clevr-math",
    "--meta",
    meta,
    "--out",
    out,
    "--image-root",
    join(dir, "images"),
    "--stage1-size",
    "4",
    "--seed",
    "3",
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /visual-counting: 10 records read, 0 skipped/);
  assert.match(r.stdout, /\s4\s+stage1-cot-sft\s+\S*clevr_math_cot_sft-4\.json/);
  assert.match(r.stdout, /\s6\s+rl-stage2/);
  for (const f of [
    "clevr_math_sft.json",
    "clevr_math_cot_sft.json",
    "clevr_math_cot_sft-4.json",
    "clevr_math_rl.json",
    "clevr_math_rl_stage2.json",
    "dataset_info.json",
    "clevr_math_build_report.json",
  ]) {
    assert.ok(existsSync(join(out, f)), f);
  }
  const sft = JSON.parse(readFileSync(join(out, "clevr_math_sft.json"), "utf8"));
  assert.equal(sft.length, 10);
  assert.equal(sft[3].messages[0].content, "<image>How many? (3)");
  // Same seed, same split; --json prints one object.
  const again = rft([
    "data",
    "build",
    "--task",
    "vc",
    "--meta",
    meta,
    "--out",
    join(dir, "out2"),
    "--stage1-size",
    "4",
    "--seed",
    "3",
    "--json",
  ]);
  assert.equal(again.status, 0, again.stderr);
  const summary = JSON.parse(again.stdout);
  const report = JSON.parse(readFileSync(join(out, "clevr_math_build_report.json"), "utf8"));
  assert.deepEqual(
    JSON.parse(readFileSync(join(dir, "out2", "clevr_math_build_report.json"), "utf8")).stage1_ids,
    report.stage1_ids,
  );
  assert.equal(summary.records, 10);
  assert.equal(summary.stage1, 4);
});

test("rft data build: bad records stop the build with file/record/field, or are skipped and reported", () => {
  const records = [
    rec(0),
    { ...rec(1), answer: 1 },
    { ...rec(2), image: "../escape.png" },
    { ...rec(3), image: "missing.png" },
    rec(4),
  ];
  const { dir, meta } = workspace(records);
  const args = [
    "data",
    "build",
    "--task",
    "clevr-math",
    "--meta",
    meta,
    "--out",
    join(dir, "out"),
    "--image-root",
    join(dir, "images"),
  ];
  const fail = rft(args);
  assert.equal(fail.status, 1);
  assert.match(fail.stderr, /meta\.json: record 1 \(id "vc-1"\): field "answer": expected a string, got number/);
  const skip = rft([...args, "--skip-invalid"]);
  assert.equal(skip.status, 0, skip.stderr);
  assert.match(skip.stdout, /2 records read, 3 skipped/);
  assert.match(skip.stderr, /record 1 \(id "vc-1"\): field "answer"/);
  assert.match(
    skip.stderr,
    /record 2 \(id "vc-2"\): field "image": image path "\.\.\/escape\.png" leaves the image root/,
  );
  assert.match(skip.stderr, /record 3 \(id "vc-3"\): field "image": image "missing\.png" not found/);
  assert.match(skip.stderr, /warning: only 2 records for a Stage-1 size of 1600/);
});

test("rft data build: usage errors exit 2 with the flag named; --help lists options", () => {
  const { dir, meta } = workspace([rec(0)]);
  const bad = rft(["data", "build", "--task", "vqa", "--meta", meta, "--out", join(dir, "o")]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown --task 'vqa'/);
  const missing = rft(["data", "build", "--task", "trance", "--out", join(dir, "o")]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--meta/);
  const size = rft(["data", "build", "--task", "geomath", "--meta", meta, "--out", join(dir, "o"), "--stage1-size=-3"]);
  assert.equal(size.status, 2);
  assert.match(size.stderr, /--stage1-size must be a non-negative integer/);
  const trance = rft(["data", "build", "--task", "trance", "--meta", meta, "--out", join(dir, "o")]);
  assert.equal(trance.status, 1);
  assert.match(trance.stderr, /field "image": expected 2 image\(s\), got 1/);
  const help = rft(["data", "build", "--help"]);
  assert.equal(help.status, 0);
  for (const o of [
    "--task",
    "--meta",
    "--out",
    "--stage1-size",
    "--seed",
    "--image-root",
    "--skip-invalid",
    "--prompts",
  ])
    assert.ok(help.stdout.includes(o), o);
});
