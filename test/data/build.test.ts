import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildTaskData, checkImages, registryEntry, writeBuild, writeJsonArrayAtomic } from "../../src/data/build.ts";
import { parseMetaArray } from "../../src/data/meta.ts";
import { taskBuildSpec } from "../../src/tasks/build_spec.ts";

const rec = (id: string, image: string) => ({ id, image, problem: "How many?", cot: "two", answer: "2" });

test("checkImages: escapes and missing files are errors naming the record; skipInvalid reports them with their index", () => {
  const root = mkdtempSync(join(tmpdir(), "imgs-"));
  writeFileSync(join(root, "a.png"), "x");
  writeFileSync(join(root, "c.png"), "x");
  const meta = parseMetaArray(
    [rec("a", "a.png"), 5, rec("b", "../b.png"), rec("c", "c.png"), rec("d", "d.png")],
    "m.json",
    { skipInvalid: true },
  );
  assert.throws(() => checkImages(meta, { imageRoot: root }), {
    message: 'm.json: record 2 (id "b"): field "image": image path "../b.png" leaves the image root',
  });
  const checked = checkImages(meta, { imageRoot: root, skipInvalid: true });
  assert.deepEqual(
    checked.records.map((r) => r.id),
    ["a", "c"],
  );
  assert.deepEqual(
    checked.skipped.map((s) => s.index),
    [1, 2, 4],
  );
  assert.match(checked.skipped[2]!.reason, /record 4 \(id "d"\): field "image": image "d.png" not found/);
  // Without a root only the lexical check runs: d.png passes, ../b.png does not.
  const lexical = checkImages(meta, { skipInvalid: true });
  assert.deepEqual(
    lexical.records.map((r) => r.id),
    ["a", "c", "d"],
  );
});

test("writeBuild writes every file, merges dataset_info.json and the report", () => {
  const out = mkdtempSync(join(tmpdir(), "build-"));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "dataset_info.json"), JSON.stringify({ other_task: registryEntry("other.json") }));
  const records = Array.from({ length: 5 }, (_, i) => rec(`r${i}`, `${i}.png`));
  const built = buildTaskData(records, taskBuildSpec("visual-counting"), { stage1Size: 2, seed: 1 });
  const { written } = writeBuild(out, "clevr_math", built, { seed: 1 });
  assert.deepEqual(
    written.map((w) => [w.kind, w.count]),
    [
      ["ans-sft", 5],
      ["cot-sft", 5],
      ["stage1-cot-sft", 2],
      ["rl", 5],
      ["rl-stage2", 3],
      ["registry", 5],
      ["report", 2],
    ],
  );
  const registry = JSON.parse(readFileSync(join(out, "dataset_info.json"), "utf8"));
  assert.deepEqual(Object.keys(registry).sort(), [
    "clevr_math_cot_sft",
    "clevr_math_cot_sft-2",
    "clevr_math_cot_sft_2",
    "clevr_math_sft",
    "other_task",
  ]);
  assert.deepEqual(registry.clevr_math_sft, {
    file_name: "clevr_math_sft.json",
    formatting: "sharegpt",
    columns: { messages: "messages", images: "image" },
    tags: { role_tag: "role", content_tag: "content", user_tag: "user", assistant_tag: "assistant" },
  });
  const report = JSON.parse(readFileSync(join(out, "clevr_math_build_report.json"), "utf8"));
  assert.equal(report.seed, 1);
  assert.deepEqual(report.stage1_ids, built.stage1Ids);
  const stage2 = JSON.parse(readFileSync(join(out, "clevr_math_rl_stage2.json"), "utf8")) as { id: string }[];
  assert.ok(stage2.every((r) => !built.stage1Ids.includes(r.id)));
  // A registry that is not an object is not silently replaced.
  writeFileSync(join(out, "dataset_info.json"), "[1]");
  assert.throws(() => writeBuild(out, "clevr_math", built, {}), /dataset_info.json: cannot merge/);
});

test("streamed JSON arrays are byte-identical to JSON.stringify(records, null, 2)", () => {
  const dir = mkdtempSync(join(tmpdir(), "json-"));
  const cases: unknown[][] = [
    [],
    [1],
    [{ a: [1, { b: "x\ny" }], c: null }, "s", [], {}],
    [{ id: "é\u2028", messages: [{ role: "user" }] }],
  ];
  cases.forEach((records, i) => {
    const p = join(dir, `${i}.json`);
    writeJsonArrayAtomic(p, records);
    assert.equal(readFileSync(p, "utf8"), JSON.stringify(records, null, 2) + "\n");
  });
});
