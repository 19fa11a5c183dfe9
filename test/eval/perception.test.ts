// Held-out perception accuracy (src/eval/perception*.ts, `rft eval perception`): the question selection and the
// scoring arithmetic without a model, the selection on a generated instruct set against the generator's own record
// of each question, and runs on a tiny random checkpoint (real greedy generation; an injected oracle and a constant
// generator that pin the scoring end to end).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runRft } from "./helpers.ts";
import {
  PERCEPTION_KINDS,
  accuracyStats,
  evenlySpaced,
  extractAnswer,
  perceptionKind,
  scorePerception,
  selectPerceptionItems,
} from "../../src/eval/perception_score.ts";
import { INSTRUCT_FILE, synthesize } from "../../src/tasks/synth/generate.ts";

const rec = (id: string, user: string, reply: string, style = "counting") => ({
  id,
  image: `train_images/instruct/${id}.png`,
  style,
  messages: [
    { role: "user", content: `<image>\n${user}` },
    { role: "assistant", content: reply },
  ],
});

test("perceptionKind: the four question forms, nothing else", () => {
  assert.equal(perceptionKind("<image>\nHow many large red cubes are there?"), "count");
  assert.equal(perceptionKind("<image>\n<image>\nHow many objects are in the second image?"), "count");
  assert.equal(perceptionKind("<image>\nDescribe the objects in the image from left to right."), "total");
  assert.equal(
    perceptionKind("<image>\n<image>\nDescribe the objects in the first image from left to right."),
    "total",
  );
  assert.equal(perceptionKind("<image>\nIs there a small gray metal sphere?"), "exists");
  assert.equal(perceptionKind("<image>\nWhat color is the leftmost object?"), "attribute");
  assert.equal(perceptionKind("<image>\nWhat shape is the rightmost object?"), "attribute");
  assert.equal(perceptionKind("<image>\nIs the red cube to the left or to the right of the blue sphere?"), null);
  assert.equal(
    perceptionKind("<image>\nList the objects from left to right as (shape, size, color, material) tuples."),
    null,
  );
  assert.equal(perceptionKind("<image>\nRead the labels in the figure from top to bottom."), null);
  assert.equal(perceptionKind("<image>\nWhat figure is shown?"), "figure");
  // The think-format question ends with the output-format sentence, not "?".
  assert.equal(
    perceptionKind(
      "<image>\nHow many cubes are there? Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.",
    ),
    null,
  );
});

test("extractAnswer: trimmed replies; total reads a complete N of a leading 'There are N objects'", () => {
  assert.equal(extractAnswer("count", " 4\n"), "4");
  assert.equal(extractAnswer("exists", "yes"), "yes");
  assert.equal(extractAnswer("total", "There are 5 objects: a small red rubber cube"), "5");
  assert.equal(extractAnswer("total", "There is 1 object"), "1");
  assert.equal(extractAnswer("total", "There are 05 obj"), "5");
  assert.equal(extractAnswer("total", "There are 1"), null, "a reply cut inside the number is not read");
  assert.equal(extractAnswer("total", "I see 5 objects"), null);
  assert.equal(extractAnswer("total", ""), null);
});

test("accuracyStats: accuracy, majority baseline and SE on a hand-made case; n = 0 gives nulls", () => {
  const s = accuracyStats([true, true, false, false, true], ["3", "3", "4", "5", "3"]);
  assert.equal(s.n, 5);
  assert.equal(s.accuracy, 0.6);
  assert.equal(s.majority, 0.6);
  assert.ok(Math.abs(s.se! - Math.sqrt((0.6 * 0.4) / 5)) < 1e-12);
  const all = accuracyStats([true, true], ["yes", "no"]);
  assert.deepEqual([all.accuracy, all.majority, all.se], [1, 0.5, 0]);
  assert.deepEqual(accuracyStats([], []), { accuracy: null, n: 0, majority: null, se: null });
  assert.throws(() => accuracyStats([true], []), /1 scores for 0 references/);
});

test("selectPerceptionItems: plain records only, kinds, unparsed references, limit spread evenly over the file", () => {
  const recs = [
    rec("c0", "How many cubes are there?", "3"),
    rec("c1", "How many cubes are there?", "4", "transformation"),
    rec("c2", "How many cubes are there?", "<think>\nThree.\n</think>\n<answer>\n3\n</answer>"),
    rec("c3", "How many spheres are there?", "three"), // not a number: unparsed
    rec("d0", "Describe the objects in the image from left to right.", "There are 4 objects: a, b, c and d."),
    rec("e0", "Is there a large red cube?", "no"),
    rec("e1", "Is there a large red cube?", "maybe"), // unparsed
    rec("a0", "What size is the leftmost object?", "large"),
    rec("r0", "Is the red cube to the left or to the right of the blue sphere?", "left"),
  ];
  const sel = selectPerceptionItems(recs);
  assert.equal(sel.records, 9);
  assert.equal(sel.plain, 8);
  assert.equal(sel.unparsed, 2);
  assert.deepEqual(sel.available, { count: 2, total: 1, exists: 1, attribute: 1, figure: 0 });
  assert.deepEqual(
    sel.items.map((i) => [i.id, i.kind, i.reference, i.target, i.style]),
    [
      ["c0", "count", "3", "3", "counting"],
      ["c1", "count", "4", "4", "transformation"],
      ["d0", "total", "4", "There are 4 objects", "counting"],
      ["e0", "exists", "no", "no", "counting"],
      ["a0", "attribute", "large", "large", "counting"],
    ],
  );
  // 10 count records, 5 of each style in file order: a limit of 4 takes both styles.
  const many = Array.from({ length: 10 }, (_, i) =>
    rec(`k${i}`, "How many objects are there?", String(i % 3), i < 5 ? "counting" : "transformation"),
  );
  const four = selectPerceptionItems(many, { limit: 4 });
  assert.deepEqual(
    four.items.map((i) => i.id),
    ["k0", "k2", "k5", "k7"],
  );
  assert.equal(four.available.count, 10);
  assert.deepEqual(evenlySpaced(3, 5), [0, 1, 2]);
  assert.throws(() => selectPerceptionItems(many, { limit: 0 }), /limit must be a positive integer/);
  assert.throws(
    () => selectPerceptionItems([{ id: "x", problem: "p" }], { file: "f.json" }),
    /f\.json: record 0 \(x\) is not an instruct\/SFT record/,
  );
});

test("scorePerception: per-kind accuracy, per-style breakdown and the histogram of what was read", () => {
  const recs = [
    rec("c0", "How many cubes are there?", "3"),
    rec("c1", "How many cubes are there?", "3", "transformation"),
    rec("c2", "How many cubes are there?", "5", "transformation"),
    rec("d0", "Describe the objects in the image from left to right.", "There are 4 objects: a, b, c and d."),
    rec("e0", "Is there a large red cube?", "no"),
  ];
  const sel = selectPerceptionItems(recs);
  const kinds = scorePerception(sel, ["3", " 3 ", "3", "There are 4 objects: x", "yes"]);
  assert.deepEqual(Object.keys(kinds), [...PERCEPTION_KINDS]);
  assert.equal(kinds.count.accuracy, 2 / 3);
  assert.equal(kinds.count.majority, 2 / 3);
  assert.deepEqual(kinds.count.by_style, {
    counting: { accuracy: 1, n: 1 },
    transformation: { accuracy: 0.5, n: 2 },
  });
  assert.deepEqual(kinds.count.predicted, { "3": 3 });
  assert.equal(kinds.total.accuracy, 1);
  assert.equal(kinds.exists.accuracy, 0);
  assert.deepEqual(kinds.exists.predicted, { yes: 1 });
  assert.deepEqual(
    { n: kinds.attribute.n, accuracy: kinds.attribute.accuracy, by_style: kinds.attribute.by_style },
    { n: 0, accuracy: null, by_style: {} },
  );
  assert.throws(() => scorePerception(sel, ["3"]), /1 replies for 5 items/);
});

// ---- on a generated instruct set and a tiny random checkpoint ----

let dir = "";
let data = "";
let images = "";
let ck = "";
let records: {
  id: string;
  format: string;
  style: string;
  messages: { content: string }[];
  scene: { question: { kind: string } };
}[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "rft-perception-"));
  await synthesize({ out: join(dir, "bench"), size: "small", seed: 1, tasks: ["instruct"] });
  data = join(dir, "bench", INSTRUCT_FILE);
  images = join(dir, "bench", "images");
  records = JSON.parse(readFileSync(data, "utf8"));
  ck = join(dir, "ck");
  const r = await runRft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", ck, "--seed", "0"]);
  assert.equal(r.status, 0, r.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The generator's own kind of each question (scene.question.kind), mapped to ours. */
const GEN_KIND: Record<string, string> = {
  count: "count",
  "pair-count": "count",
  describe: "total",
  "pair-describe": "total",
  exists: "exists",
  attribute: "attribute",
  figure: "figure",
};

test("on a generated instruct set the selection agrees with the generator's record of each question", () => {
  const sel = selectPerceptionItems(records);
  const want = records.filter((r) => r.format === "plain" && GEN_KIND[r.scene.question.kind]);
  assert.ok(want.length >= 10, `the small set has plain perception questions (${want.length})`);
  assert.equal(sel.unparsed, 0);
  assert.equal(sel.plain, records.filter((r) => r.format === "plain").length);
  assert.deepEqual(
    sel.items.map((i) => [i.id, i.kind, i.style]).sort(),
    want.map((r) => [r.id, GEN_KIND[r.scene.question.kind], r.style]).sort(),
  );
  for (const it of sel.items) {
    const r = records.find((x) => x.id === it.id)!;
    assert.equal(extractAnswer(it.kind, r.messages[1]!.content), it.reference, it.id);
  }
});

test("evaluatePerception on a tiny random model: summary shape, n per kind, accuracy in [0, 1]; the SFT prompt", async () => {
  const { evaluatePerception, perceptionPrompt } = await import("../../src/eval/perception.ts");
  const s = await evaluatePerception({ model: ck, data, imageRoot: images, limit: 2, batchSize: 3 });
  const sel = selectPerceptionItems(records, { limit: 2 });
  assert.equal(s.model, ck);
  assert.equal(s.data, data);
  assert.equal(s.records.asked, sel.items.length);
  assert.deepEqual(Object.keys(s.kinds), [...PERCEPTION_KINDS]);
  for (const k of PERCEPTION_KINDS) {
    const v = s.kinds[k];
    assert.equal(v.n, Math.min(2, sel.available[k]), k);
    assert.equal(v.available, sel.available[k]);
    if (v.n === 0) continue;
    assert.ok(v.accuracy! >= 0 && v.accuracy! <= 1, `${k} accuracy ${v.accuracy}`);
    assert.ok(v.majority! > 0 && v.majority! <= 1);
    assert.ok(Math.abs(v.se! - Math.sqrt((v.accuracy! * (1 - v.accuracy!)) / v.n)) < 1e-12);
    assert.equal(
      Object.values(v.predicted).reduce((a, b) => a + b, 0),
      v.n,
    );
  }
  assert.equal(s.counting, s.kinds.count.accuracy);
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s, "JSON-able");

  // The prompt is the prompt part of the SFT example of the same record.
  const { loadCheckpoint } = await import("../../src/models/qwen2vl/checkpoint.ts");
  const { prepareSftExample } = await import("../../src/train/samples.ts");
  const loaded = await loadCheckpoint(ck);
  try {
    const it = sel.items[0]!;
    const r = records.find((x) => x.id === it.id)!;
    const ctx = { tokenizer: loaded.tokenizer!, preprocessor: loaded.preprocessor, imageRoot: images };
    const p = await perceptionPrompt(it, ctx);
    const ex = await prepareSftExample(r as never, ctx, 100_000);
    assert.deepEqual([...p.inputIds], [...ex.prompt.inputIds]);
    assert.deepEqual(p.imageGridThw, ex.prompt.imageGridThw);
  } finally {
    loaded.model.dispose();
  }
});

test("evaluatePerception with injected generators: an oracle scores 1 everywhere, a constant '3' the share of 3s", async () => {
  const { evaluatePerception, EXTRA_TOKENS } = await import("../../src/eval/perception.ts");
  const { QwenTokenizer } = await import("../../src/models/qwen2vl/tokenizer.ts");
  const tok = await QwenTokenizer.fromDir(ck);
  const byId = new Map(records.map((r) => [r.id, r.messages[1]!.content]));
  const sel = selectPerceptionItems(records);
  const target = new Map(sel.items.map((i) => [i.id, i.target]));
  const budgets: [number, number][] = [];
  const gen =
    (reply: (id: string) => string) =>
    (
      _m: unknown,
      samples: readonly { id?: string }[],
      o: { rows?: readonly { maxNewTokens?: number }[]; temperature?: number },
    ) => {
      assert.equal(o.temperature, 0);
      return samples.map((s, i) => {
        budgets.push([o.rows![i]!.maxNewTokens!, tok.encode(target.get(s.id!)!).length + EXTRA_TOKENS]);
        return { promptIds: [], ids: [], logprobs: [], finishReason: "stop" as const, text: reply(s.id!) };
      });
    };
  const oracle = await evaluatePerception({
    model: ck,
    data,
    imageRoot: images,
    generateFn: gen((id) => byId.get(id)!),
  });
  for (const k of PERCEPTION_KINDS) if (oracle.kinds[k].n > 0) assert.equal(oracle.kinds[k].accuracy, 1, k);
  assert.equal(oracle.counting, 1);
  assert.ok(budgets.length === sel.items.length && budgets.every(([got, want]) => got === want), "budget per item");

  const three = await evaluatePerception({
    model: ck,
    data,
    imageRoot: images,
    batchSize: 4,
    generateFn: gen(() => "3"),
  });
  const counts = sel.items.filter((i) => i.kind === "count");
  assert.equal(three.kinds.count.accuracy, counts.filter((i) => i.reference === "3").length / counts.length);
  assert.equal(three.kinds.exists.accuracy, 0);
  assert.deepEqual(three.kinds.total.predicted, { "(none)": three.kinds.total.n });
});

test("rft eval perception: table, --out JSON, --json; clear errors for a missing model, a file without questions, a foreign --out", async () => {
  const out = join(dir, "perception.json");
  const args = ["eval", "perception", "--model", ck, "--data", data, "--image-root", images, "--limit", "1"];
  let r = await runRft([...args, "--out", out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^kind\s+accuracy\s+n\s+majority\s+se/m);
  for (const k of PERCEPTION_KINDS) assert.match(r.stdout, new RegExp(`^${k}\\s+(?:\\d\\.\\d{3}|-)\\s+\\d`, "m"));
  assert.match(r.stdout, /counting: \d\.\d{3}/);
  const s = JSON.parse(readFileSync(out, "utf8"));
  assert.equal(s.limit, 1);
  assert.equal(s.kinds.count.n, 1);
  // An earlier summary is overwritten; --json prints the same shape.
  r = await runRft([...args, "--out", out, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(Object.keys(JSON.parse(r.stdout).kinds), [...PERCEPTION_KINDS]);

  r = await runRft(["eval", "perception", "--model", join(dir, "nope"), "--data", data, "--image-root", images]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--model: .*nope does not exist/);
  const none = join(dir, "no-questions.json");
  writeFileSync(none, JSON.stringify([rec("t0", "Read the labels in the figure from top to bottom.", "A, B, C")]));
  r = await runRft(["eval", "perception", "--model", ck, "--data", none, "--image-root", images]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no-questions\.json: no plain-format perception questions/);
  const foreign = join(dir, "notes.json");
  writeFileSync(foreign, "[1, 2]\n");
  r = await runRft(["eval", "perception", "--model", ck, "--data", data, "--image-root", images, "--out", foreign]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--out .*notes\.json exists and is not an earlier rft eval perception output/);
  assert.equal(readFileSync(foreign, "utf8"), "[1, 2]\n");
});
