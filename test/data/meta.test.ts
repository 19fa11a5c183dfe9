import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MetaRecordError, parseMetaArray, readMetaFile } from "../../src/data/meta.ts";

const good = { id: "a", image: "x.png", problem: "How many?", cot: "2", answer: "2" };

test("reads valid records, normalises {path} images and `solution`, keeps known optional fields", () => {
  const f = readMetaFile(new URL("../fixtures/data/sp_meta.json", import.meta.url).pathname);
  assert.equal(f.records.length, 3);
  assert.deepEqual(f.skipped, []);
  const g3k = f.records[2]!;
  assert.equal(g3k.image, "train_images/geometry3k/5.png", "{path} dict becomes a string");
  assert.equal(g3k.answer, "C", "answer taken from solution");
  assert.equal(g3k.solution, "C");
  const vc = readMetaFile(new URL("../fixtures/data/vc_meta.json", import.meta.url).pathname);
  assert.equal(vc.records[2]!.level, "easy");
  const extra = parseMetaArray([{ ...good, unknown_field: 1 }], "m.json");
  assert.ok(!("unknown_field" in extra.records[0]!), "unknown fields are dropped");
});

// [record, field in the message, reason fragment]
const BAD: [unknown, string | undefined, RegExp][] = [
  [42, undefined, /expected an object, got number/],
  [{ ...good, id: undefined }, "id", /is missing/],
  [{ ...good, id: 7 }, "id", /expected a string, got number/],
  [{ ...good, id: " " }, "id", /is empty/],
  [{ ...good, image: undefined }, "image", /is missing/],
  [{ ...good, image: [] }, "image", /empty list/],
  [{ ...good, image: ["a.png", 3] }, "image", /item 1: expected a non-empty path/],
  [{ ...good, image: { file: "x" } }, "image", /expected a non-empty path/],
  [{ ...good, problem: "" }, "problem", /is empty/],
  [{ ...good, answer: 3 }, "answer", /expected a string, got number/],
  [{ ...good, answer: undefined }, "answer", /no "solution" either/],
  [{ ...good, answer: undefined, solution: "" }, "solution", /is empty/],
  [{ ...good, cot: null }, "cot", /expected a string, got null/],
];

test("invalid records: errors name the file, record index, id and field", () => {
  for (const [rec, field, reason] of BAD) {
    const data = [good, rec];
    assert.throws(
      () => parseMetaArray(data, "train.json"),
      (e: Error) => {
        assert.ok(e instanceof MetaRecordError, String(e));
        assert.ok(e.message.startsWith("train.json: record 1"), e.message);
        if (field) assert.ok(e.message.includes(`field "${field}"`), e.message);
        assert.match(e.message, reason);
        if (rec && typeof rec === "object" && typeof (rec as { id?: unknown }).id === "string") {
          assert.ok(e.message.includes(`(id ${JSON.stringify((rec as { id: string }).id)})`), e.message);
        }
        return true;
      },
    );
  }
});

test("options: requireCot and imagesPerRecord", () => {
  assert.throws(
    () => parseMetaArray([{ ...good, cot: undefined }], "m", { requireCot: true }),
    /field "cot": is missing/,
  );
  assert.throws(() => parseMetaArray([{ ...good, cot: "  " }], "m", { requireCot: true }), /field "cot": is empty/);
  assert.equal(parseMetaArray([{ ...good, cot: undefined }], "m").records.length, 1);
  assert.throws(() => parseMetaArray([good], "m", { imagesPerRecord: 2 }), /expected 2 image\(s\), got 1/);
  assert.equal(parseMetaArray([{ ...good, image: ["a", "b"] }], "m", { imagesPerRecord: 2 }).records.length, 1);
});

test("duplicate ids are invalid", () => {
  assert.throws(() => parseMetaArray([good, good], "m"), /record 1 \(id "a"\): field "id": duplicate of record 0/);
});

test("skipInvalid keeps going and reports every bad record", () => {
  const data = [good, { ...good, id: "b", answer: 1 }, { ...good, id: "c" }, "junk", { ...good, id: "c" }];
  const f = parseMetaArray(data, "m.json", { skipInvalid: true });
  assert.deepEqual(
    f.records.map((r) => r.id),
    ["a", "c"],
  );
  assert.deepEqual(
    f.skipped.map((s) => [s.index, s.id]),
    [
      [1, "b"],
      [3, undefined],
      [4, "c"],
    ],
  );
  assert.match(f.skipped[0]!.reason, /^record 1 \(id "b"\): field "answer"/);
});

test("file-level errors name the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "meta-"));
  const bad = join(dir, "bad.json");
  writeFileSync(bad, "{not json");
  assert.throws(
    () => readMetaFile(bad),
    (e: Error) => e.message.startsWith(`${bad}: not valid JSON`),
  );
  const obj = join(dir, "obj.json");
  writeFileSync(obj, '{"id": "a"}');
  assert.throws(() => readMetaFile(obj), new RegExp(`${obj}: expected a JSON array of records, got object`));
  assert.throws(() => readMetaFile(join(dir, "missing.json")), /missing.json: cannot read: ENOENT/);
});
