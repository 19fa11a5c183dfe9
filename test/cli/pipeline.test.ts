// End to end on generated data: rft data synth → rft data build → rft reward / rft score (issue 3, "done when").
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rft } from "./run_rft.ts";

const TASKS = [
  {
    build: "clevr-math",
    prefix: "clevr_math",
    meta: "A3-Visual-Counting-train-35k-cot.json",
    reward: "clevr-math",
    test: "Visual-Counting-id-test-1k.json",
    bench: "clevr-math",
  },
  {
    build: "geomath",
    prefix: "geo_math",
    meta: "A2-Structure-Perception-train-4k5-cot.json",
    reward: "geomath",
    test: "Structure-Perception-ood-test-800.json",
    bench: "geometry3k",
  },
  {
    build: "trance",
    prefix: "trance",
    meta: "A1-Spatial-Transformation-train-60k-cot.json",
    reward: "trance-only-full",
    test: "Spatial-Transformation-ood-left-test-1k.json",
    bench: "trance-left",
  },
];

test("generated data builds, and gold answers get full rewards and full scores", () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-pipeline-"));
  const data = join(dir, "mini");
  const synth = rft([
    "data",
    "synth",
    "--out",
    data,
    "--size",
    "small",
    "--seed",
    "1",
    "--tasks",
    "counting,geometry,transformation",
  ]);
  assert.equal(synth.status, 0, synth.stderr);
  for (const t of TASKS) {
    const out = join(dir, "built");
    const metaPath = join(data, "train_jsons", t.meta);
    const build = rft([
      "data",
      "build",
      "--task",
      t.build,
      "--meta",
      metaPath,
      "--out",
      out,
      "--image-root",
      join(data, "images"),
      "--stage1-size",
      "5",
      "--json",
    ]);
    assert.equal(build.status, 0, `${t.build}: ${build.stderr}`);
    const summary = JSON.parse(build.stdout);
    const nMeta = (JSON.parse(readFileSync(metaPath, "utf8")) as unknown[]).length;
    assert.equal(summary.records, nMeta, `${t.build}: every generated record is valid`);
    assert.deepEqual(summary.skipped, []);

    // Rewards: the CoT-SFT targets of the build are completions in the exact contract of the rewards.
    const cot = JSON.parse(readFileSync(join(out, `${t.prefix}_cot_sft.json`), "utf8")) as {
      messages: { content: string }[];
    }[];
    const rl = JSON.parse(readFileSync(join(out, `${t.prefix}_rl.json`), "utf8")) as { solution: string }[];
    const lines = cot.map((r, i) => JSON.stringify({ completion: r.messages[1]!.content, solution: rl[i]!.solution }));
    const input = join(dir, `${t.prefix}.jsonl`);
    writeFileSync(input, lines.join("\n") + "\n");
    const reward = rft(["reward", "--task", t.reward, "--in", input]);
    assert.equal(reward.status, 0, reward.stderr);
    const rewards = reward.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { total: number; rewards: Record<string, number> });
    assert.equal(rewards.length, cot.length);
    rewards.forEach((r, i) =>
      assert.deepEqual(r.rewards, { accuracy: 1, format: 1 }, `${t.reward} item ${i}: ${lines[i]}`),
    );

    // Scores: gold predictions on an OOD/ID test file score 100.
    const testItems = JSON.parse(readFileSync(join(data, "test_jsons", t.test), "utf8")) as { answer: string }[];
    const predPath = join(dir, `${t.bench}.json`);
    writeFileSync(
      predPath,
      JSON.stringify(testItems.map((it) => ({ ...it, pred: `<think>…</think>\n<answer>\n${it.answer}\n</answer>` }))),
    );
    const score = rft(["score", "--task", t.bench, "--pred", predPath, "--json"]);
    assert.equal(score.status, 0, score.stderr);
    const report = JSON.parse(score.stdout);
    assert.equal(report.overall.count, testItems.length);
    assert.equal(report.overall.average, 100, `${t.bench}`);
  }
});
