import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rft } from "./run_rft.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "rft-cli-"));

test("rft reward: one output line per input line, in order, with per-reward values and the total", () => {
  const dir = tmp();
  const input = join(dir, "in.jsonl");
  const lines = [
    { completion: "<think>5-2</think><answer>3</answer>", solution: "3" },
    { completion: "3.0", solution: "3" },
    { completion: "<think>x</think><answer>3.0</answer>", solution: "3" },
    { completion: "<think>x</think><answer>4</answer> trailing", solution: "3" },
    { completion: [{ role: "assistant", content: "<think>x</think><answer>3</answer>" }], solution: "3" },
  ];
  writeFileSync(input, lines.map((l) => JSON.stringify(l)).join("\n") + "\n\n");
  const r = rft(["reward", "--task", "clevr-math", "--in", input]);
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(out, [
    { rewards: { accuracy: 1, format: 1 }, total: 2 },
    { rewards: { accuracy: 1, format: 0 }, total: 1 },
    { rewards: { accuracy: 0, format: 1 }, total: 1 },
    { rewards: { accuracy: 0, format: 0 }, total: 0 },
    { rewards: { accuracy: 1, format: 1 }, total: 2 },
  ]);
  const weighted = rft([
    "reward",
    "--task",
    "trance-only-full",
    "--in",
    input,
    "--funcs",
    "format,reasoning",
    "--weights",
    "format=0.5",
    "--out",
    join(dir, "o.jsonl"),
  ]);
  assert.equal(weighted.status, 0, weighted.stderr);
  const w = readFileSync(join(dir, "o.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(w[0], { rewards: { format: 1, reasoning: 0 }, total: 0.5 });
});

test("rft reward: length reward uses --step and --group-size", () => {
  const dir = tmp();
  const input = join(dir, "in.jsonl");
  const rows = [
    "<answer>3</answer>",
    "<think>longer</think><answer>3</answer>",
    "<answer>3</answer>",
    "<think>longer</think><answer>3</answer>",
  ];
  writeFileSync(input, rows.map((c) => JSON.stringify({ completion: c, solution: "3" })).join("\n"));
  const early = rft(["reward", "--task", "geomath", "--in", input, "--funcs", "length", "--step", "10"]);
  assert.deepEqual(
    early.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).total),
    [0, 0, 0, 0],
  );
  const late = rft([
    "reward",
    "--task",
    "geomath",
    "--in",
    input,
    "--funcs",
    "length",
    "--step",
    "900",
    "--group-size",
    "2",
  ]);
  assert.equal(late.status, 0, late.stderr);
  assert.deepEqual(
    late.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).total),
    [0.025, -0.025, 0.025, -0.025],
  );
});

test("rft reward: bad input names the line and field; bad flags exit 2", () => {
  const dir = tmp();
  const input = join(dir, "in.jsonl");
  writeFileSync(input, '{"completion": "a", "solution": "b"}\n{"completion": "a"}\n');
  const r = rft(["reward", "--task", "trance", "--in", input]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /in\.jsonl: line 2: field "solution" is missing/);
  writeFileSync(input, '{"completion": 3, "solution": "b"}\n');
  assert.match(
    rft(["reward", "--task", "trance", "--in", input]).stderr,
    /line 1: field "completion": expected a string, got number/,
  );
  writeFileSync(input, '{"completion": [], "solution": "b"}\n');
  assert.match(
    rft(["reward", "--task", "trance", "--in", input]).stderr,
    /line 1: field "completion": a message list needs a first message/,
  );
  writeFileSync(input, "not json\n");
  assert.match(rft(["reward", "--task", "trance", "--in", input]).stderr, /line 1: not valid JSON/);
  const badTask = rft(["reward", "--task", "vqa", "--in", input]);
  assert.equal(badTask.status, 2);
  assert.match(badTask.stderr, /--task must be one of clevr-math, geomath, trance/);
  const badFunc = rft(["reward", "--task", "trance", "--in", input, "--funcs", "length"]);
  assert.equal(badFunc.status, 2);
  assert.match(badFunc.stderr, /"length" is not available for task trance/);
  const badWeight = rft(["reward", "--task", "trance", "--in", input, "--weights", "accuracy"]);
  assert.equal(badWeight.status, 2);
  assert.match(badWeight.stderr, /--weights expects name=number/);
});

test("rft score: writes <name>_with_score.json beside the file and prints the table; --json", () => {
  const dir = tmp();
  const pred = join(dir, "geomath.json");
  copyFileSync(fileURLToPath(new URL("../fixtures/score/geomath.json", import.meta.url)), pred);
  const r = rft(["score", "--task", "geomath", "--pred", pred]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /choice\s+4\s+2\.00\s+50\.00/);
  assert.match(r.stdout, /non_choice\s+5\s+3\.00\s+60\.00/);
  assert.match(r.stdout, /overall\s+9\s+5\.00\s+55\.56/);
  const scored = JSON.parse(readFileSync(join(dir, "geomath_with_score.json"), "utf8")) as {
    expected: number;
    score: number;
  }[];
  assert.deepEqual(
    scored.map((s) => s.score),
    scored.map((s) => s.expected),
  );
  const j = rft(["score", "--task", "geomath", "--pred", pred, "--json", "--enhance"]);
  const report = JSON.parse(j.stdout);
  assert.equal(report.overall.count, 9);
  assert.equal(report.overall.sum, 6, "enhance rescues 'The answer is D'");
  assert.ok(existsSync(report.output));
});

test("rft score: trance quirk flag, and errors for bad files", () => {
  const dir = tmp();
  const pred = join(dir, "trance.json");
  copyFileSync(fileURLToPath(new URL("../fixtures/score/trance.json", import.meta.url)), pred);
  const fixed = JSON.parse(rft(["score", "--task", "trance", "--pred", pred, "--json"]).stdout);
  const quirk = JSON.parse(rft(["score", "--task", "trance", "--pred", pred, "--json", "--reference-quirks"]).stdout);
  assert.ok(Math.abs(fixed.overall.sum - quirk.overall.sum - 1 / 3) < 1e-9);
  writeFileSync(pred, '[{"answer": "a"}]');
  const bad = rft(["score", "--task", "trance", "--pred", pred]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /trance\.json: item 0: field "pred" is missing/);
  const missing = rft(["score", "--task", "trance", "--pred", join(dir, "nope.json")]);
  assert.match(missing.stderr, /nope\.json: cannot read: ENOENT/);
  assert.equal(rft(["score", "--task", "mmmu", "--pred", pred]).status, 2);
});
