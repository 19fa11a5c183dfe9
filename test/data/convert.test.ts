import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cotTarget, isCaptionCot, sizeTag, splitStages, toAnsSft, toCotSft, toRl } from "../../src/data/convert.ts";
import { buildTaskData } from "../../src/data/build.ts";
import { type MetaRecord, readMetaFile } from "../../src/data/meta.ts";
import { taskBuildSpec } from "../../src/tasks/build_spec.ts";
import type { TaskFamily } from "../../src/tasks/tasks.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/data/", import.meta.url));
const rec = (i: number, extra: Partial<MetaRecord> = {}): MetaRecord => ({
  id: `r${i}`,
  image: `${i}.png`,
  problem: `q${i}`,
  cot: `c${i}`,
  answer: `${i}`,
  ...extra,
});

test("CoT target: newlines inside both tags; a tagged cot is kept from its <think> on", () => {
  assert.equal(cotTarget({ cot: "5 - 2 = 3", answer: "3" }), "<think>\n5 - 2 = 3\n</think>\n<answer>\n3\n</answer>");
  const tagged = "<think>a</think>\n<answer>3</answer>";
  assert.equal(cotTarget({ cot: `  ${tagged}\n`, answer: "3" }), tagged);
  const caption = "<summary>s</summary>\n<caption>c</caption>\n<think>t</think>\n<answer>a</answer>";
  assert.equal(
    cotTarget({ cot: caption, answer: "a" }),
    "<think>t</think>\n<answer>a</answer>",
    "caption parts dropped",
  );
  assert.equal(
    cotTarget({ cot: "Sure!\n<think>t</think><answer>a</answer>", answer: "a" }),
    "<think>t</think><answer>a</answer>",
  );
  assert.equal(isCaptionCot(caption), true);
  assert.equal(isCaptionCot(tagged), false);
});

test("SFT records: one <image> per image, first, then the prompt; assistant = answer or CoT", () => {
  const one = toAnsSft(rec(1), "PROMPT q1");
  assert.deepEqual(one.messages, [
    { role: "user", content: "<image>PROMPT q1" },
    { role: "assistant", content: "1" },
  ]);
  const two = toCotSft(rec(2, { image: ["a.png", "b.png"] }), "P");
  assert.equal(two.messages[0].content, "<image><image>P");
  assert.deepEqual(two.image, ["a.png", "b.png"]);
  assert.equal(two.messages[1].content, "<think>\nc2\n</think>\n<answer>\n2\n</answer>");
  assert.throws(() => toCotSft(rec(3, { cot: undefined }), "P"), /"r3": field "cot" is missing/);
});

test("RL records carry both solution and answer, and the raw problem", () => {
  assert.deepEqual(toRl(rec(4)), { id: "r4", image: "4.png", problem: "q4", solution: "4", answer: "4" });
});

test("stage split: seeded, disjoint, complete, order-preserving; SP keeps everything for Stage 2", () => {
  const records = Array.from({ length: 50 }, (_, i) => rec(i));
  const a = splitStages(records, { stage1Size: 16, seed: 5 });
  const b = splitStages(records, { stage1Size: 16, seed: 5 });
  const c = splitStages(records, { stage1Size: 16, seed: 6 });
  assert.deepEqual(a, b, "deterministic per seed");
  assert.notDeepEqual(a.stage1, c.stage1, "the seed matters");
  assert.equal(a.stage1.length, 16);
  assert.equal(a.stage2.length, 34);
  const ids1 = new Set(a.stage1.map((r) => r.id));
  assert.ok(
    a.stage2.every((r) => !ids1.has(r.id)),
    "disjoint",
  );
  const order = (xs: MetaRecord[]) => xs.map((r) => Number(r.id.slice(1)));
  assert.deepEqual(
    order(a.stage1),
    [...order(a.stage1)].sort((x, y) => x - y),
    "input order kept",
  );
  assert.ok(!a.stage1.every((r, i) => r.id === `r${i}`), "not simply the first 16");
  const sp = splitStages(records, { stage1Size: 16, seed: 5, stage2UsesAll: true });
  assert.equal(sp.stage2.length, 50);
  assert.deepEqual(sp.stage1, a.stage1);
  assert.equal(splitStages(records, { stage1Size: 100, seed: 0 }).stage2.length, 0, "clamped");
  assert.throws(() => splitStages(records, { stage1Size: 1.5, seed: 0 }), /non-negative integer/);
});

test("size tags of the registry keys", () => {
  assert.equal(sizeTag(1600), "1k6");
  assert.equal(sizeTag(4500), "4k5");
  assert.equal(sizeTag(2000), "2k");
  assert.equal(sizeTag(500), "500");
  assert.equal(sizeTag(1234), "1234");
});

// Golden files: the full output of a build on the fixtures. Regenerate with UPDATE_GOLDEN=1 and review the diff.
const GOLDEN: [string, TaskFamily][] = [
  ["vc_meta.json", "visual-counting"],
  ["sp_meta.json", "structure-perception"],
  ["st_meta.json", "spatial-transformation"],
];

test("converter golden files (ANS-SFT, CoT-SFT, Stage 1, caption-CoT, RL, Stage 2)", () => {
  for (const [file, family] of GOLDEN) {
    const meta = readMetaFile(join(FIXTURES, file), { requireCot: true });
    const built = buildTaskData(meta.records, taskBuildSpec(family), { stage1Size: 1, seed: 0 });
    const dir = join(FIXTURES, "golden", family);
    for (const f of built.files) {
      const path = join(dir, f.name);
      const records = f.build();
      assert.equal(records.length, f.count);
      const actual = JSON.stringify(records, null, 2) + "\n";
      if (process.env.UPDATE_GOLDEN) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(path, actual);
      }
      assert.ok(existsSync(path), `missing golden file ${path} (run with UPDATE_GOLDEN=1)`);
      assert.equal(actual, readFileSync(path, "utf8"), `${family}: ${f.name} differs from its golden file`);
    }
  }
});

test("golden structure: caption-CoT only where the cot has captions; SP Stage 2 is the full set", () => {
  const st = readMetaFile(join(FIXTURES, "st_meta.json"), { requireCot: true });
  const stBuilt = buildTaskData(st.records, taskBuildSpec("spatial-transformation"), { stage1Size: 1, seed: 0 });
  const caption = stBuilt.files.find((f) => f.kind === "caption-cot-sft");
  assert.deepEqual(
    caption?.build().map((r) => r.id),
    ["trance-0002"],
  );
  const sp = readMetaFile(join(FIXTURES, "sp_meta.json"), { requireCot: true });
  const spBuilt = buildTaskData(sp.records, taskBuildSpec("structure-perception"), { stage1Size: 1, seed: 0 });
  assert.equal(spBuilt.files.find((f) => f.kind === "rl-stage2")!.count, 3);
  const vc = readMetaFile(join(FIXTURES, "vc_meta.json"), { requireCot: true });
  const vcBuilt = buildTaskData(vc.records, taskBuildSpec("visual-counting"), { stage1Size: 1, seed: 0 });
  assert.equal(vcBuilt.files.find((f) => f.kind === "rl-stage2")!.count, 2);
  assert.ok(!vcBuilt.files.some((f) => f.kind === "caption-cot-sft"));
});
