// `rft eval --model` on a tiny random checkpoint over the generated small benchmark: output files and summary
// shape (accuracy is ~0 for random weights), and an in-process resume that generates only the new items.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runRft } from "./helpers.ts";
import { createLocalBackend, type GenerateFn } from "../../src/eval/local.ts";
import { runEval } from "../../src/eval/runner.ts";
import { benchSets } from "../../src/eval/sets.ts";
import { generate } from "../../src/models/qwen2vl/generate.ts";

const readJson = (p: string) => JSON.parse(readFileSync(p, "utf8"));

test("rft eval --model: files, summary shape, and resume by id with an injected generation function", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-eval-local-"));
  const bench = join(dir, "bench");
  const ck = join(dir, "ck");
  const out = join(dir, "out");
  let r = await runRft(["data", "synth", "--out", bench, "--size", "small", "--seed", "0", "--tasks", "counting"]);
  assert.equal(r.status, 0, r.stderr);
  r = await runRft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", ck]);
  assert.equal(r.status, 0, r.stderr);
  r = await runRft(
    ["eval", "--task", "clevr-math", "--model", ck, "--bench", bench, "--out", out, "--limit", "2"].concat([
      "--max-new-tokens",
      "6",
      "--batch-size",
      "2",
    ]),
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /clevr-math-ood-steps\s+ood\s+2\s+/);

  const s = readJson(join(out, "summary.json"));
  assert.equal(s.task, "visual-counting");
  assert.equal(s.model, ck);
  assert.equal(s.strategy, "cot-sft");
  assert.equal(s.backend, "local");
  assert.deepEqual(s.settings.sampling, { temperature: 0.1, top_p: 0.9, top_k: 50, max_new_tokens: 6 });
  assert.deepEqual(
    s.sets.map((x: { name: string; split: string; benchmark: string }) => [x.name, x.split, x.benchmark]),
    [
      ["clevr-math", "id", "clevr-math"],
      ["clevr-math-ood-steps", "ood", "clevr-math"],
      ["super-clevr", "ood", "super-clevr"],
    ],
  );
  for (const set of s.sets) {
    assert.equal(set.n, 2);
    assert.equal(set.scored + set.failed, set.n);
    assert.ok(set.accuracy >= 0 && set.accuracy <= 1);
    const preds = readJson(join(out, `${set.name}.json`));
    const scored = readJson(join(out, `${set.name}_with_score.json`));
    assert.equal(preds.length, set.scored);
    for (const p of preds) assert.equal(typeof p.pred, "string");
    for (const p of scored) assert.ok(p.score === 0 || p.score === 1);
    assert.equal(set.accuracy, scored.reduce((a: number, x: { score: number }) => a + x.score, 0) / scored.length);
  }
  const accs = s.sets.map((x: { accuracy: number }) => x.accuracy);
  assert.equal(s.id_avg, accs[0]);
  assert.equal(s.ood_avg, (accs[1] + accs[2]) / 2);
  assert.equal(s.avg, (accs[0] + accs[1] + accs[2]) / 3);

  // The same evaluation with --limit 3, in-process: only the third item of each set is generated.
  const prompts: string[] = [];
  const counting: GenerateFn = (model, samples, o) => {
    prompts.push(...samples.map((x) => x.id ?? "?"));
    return generate(model, samples, o);
  };
  const backend = await createLocalBackend({
    modelDir: ck,
    batchSize: 2,
    sampling: { temperature: 0.1, topP: 0.9, topK: 50, maxNewTokens: 6 },
    generateFn: counting,
  });
  try {
    const family = "visual-counting";
    const s2 = await runEval(
      {
        task: family,
        sets: benchSets(bench, family),
        imageRoot: join(bench, "images"),
        out,
        strategy: "cot-sft",
        limit: 3,
      },
      backend,
    );
    const third = benchSets(bench, family).map((x) => `${x.name}/${readJson(x.file)[2].id}`);
    assert.deepEqual(prompts.sort(), third.sort(), "only the new items are generated");
    for (const set of s2.sets) assert.deepEqual([set.n, set.scored + set.failed], [3, 3]);
    for (const set of s2.sets) assert.equal(readJson(join(out, `${set.name}.json`)).length, set.scored);
  } finally {
    await backend.close?.();
  }
});
