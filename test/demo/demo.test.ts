/**
 * `rft demo` in a reduced mode (one task, the small benchmark, one step per training, 2 items per test set): the whole
 * pipeline end to end, report.json's shape, the 5 paradigms × ID/OOD rows, a second run from the cache, a stage
 * redone after its output is removed (and the evaluation of a retrained model not resumed from stale predictions),
 * settings mismatch refused; plus the flag errors and the pure helpers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { LOCK_FILE, lockDir } from "../../src/io/output.ts";
import { fileURLToPath } from "node:url";
import { formatDemoTable, parseDemoTasks, parseVariant } from "../../src/cli/commands/demo.ts";
import { DEMO_PARADIGMS, PRESETS, scaledBudget, splitBatch } from "../../src/demo/presets.ts";
import { configDrift, demoNotes, keptStages, removedPaths, reportScope } from "../../src/demo/pipeline.ts";
import type { ResultRow } from "../../src/eval/report.ts";

const BIN = fileURLToPath(new URL("../../bin/rft.js", import.meta.url));

function rft(args: string[], timeout = 600_000) {
  const r = spawnSync(process.execPath, ["--single-threaded-gc", "--v8-pool-size=1", BIN, ...args], {
    encoding: "utf8",
    timeout,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SMOKE = ["--tasks", "counting", "--size", "small", "--steps-scale", "0.001", "--limit", "2"];

test("rft demo (reduced): end to end, report shape, cache, stage redo, settings check", () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-demo-"));
  const out = join(dir, "demo");
  try {
    const first = rft(["demo", ...SMOKE, "--out", out]);
    assert.equal(first.status, 0, first.stderr.slice(-3000));
    for (const f of ["report.md", "report.html", "report.json"]) assert.ok(existsSync(join(out, f)), f);
    assert.equal(existsSync(join(out, LOCK_FILE)), false, "a finished run releases its lock");
    const rep = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as {
      results: Record<string, unknown>[];
      seconds: number;
      preset: string;
      notes: string[];
    };
    assert.equal(rep.preset, "quick");
    assert.ok(typeof rep.seconds === "number" && rep.seconds > 0);
    // counting has 1 ID and 2 OOD sets: 5 paradigms × 3 rows, each with the documented fields.
    assert.equal(rep.results.length, DEMO_PARADIGMS.length * 3);
    for (const p of DEMO_PARADIGMS) {
      const rows = rep.results.filter((r) => r.paradigm === p);
      assert.deepEqual(rows.map((r) => r.split).sort(), ["id", "ood", "ood"], p);
      for (const r of rows) {
        assert.equal(r.task, "visual-counting");
        assert.equal(r.n, 2);
        assert.ok(typeof r.set === "string");
        assert.ok(r.accuracy === null || ((r.accuracy as number) >= 0 && (r.accuracy as number) <= 1));
      }
    }
    assert.ok(
      rep.notes.some((n) => /cannot show/.test(n)),
      "the report says what the quick run cannot show",
    );
    // The base model's held-out perception (a benchmark of seed + 1000): every kind scored, in the report too.
    const perception = JSON.parse(readFileSync(join(out, "base", "perception.json"), "utf8")) as {
      kinds: Record<string, { n: number; accuracy: number | null }>;
    };
    assert.ok(perception.kinds.count!.n > 0 && perception.kinds.total!.n > 0, JSON.stringify(perception.kinds));
    assert.equal(JSON.parse(readFileSync(join(out, "heldout", "manifest.json"), "utf8")).seed, 1000);
    assert.ok(rep.notes.some((n) => /Base model perception on held-out instruct questions .*: count \d/.test(n)));
    // The vision tower is pretrained on scene labels first (scored on held-out images), and the base starts from it.
    assert.ok(existsSync(join(out, "vision", "final", "config.json")));
    const scene = JSON.parse(readFileSync(join(out, "vision", "scene_eval.json"), "utf8")) as {
      images: number;
      labels: Record<string, { accuracy: number }>;
    };
    assert.ok(scene.images > 0 && scene.labels.total!.accuracy >= 0);
    assert.match(readFileSync(join(out, "base", "config.yaml"), "utf8"), /model_name_or_path: \S*vision\/final\b/);
    assert.ok(rep.notes.some((n) => /vision tower \d+ pretraining steps on scene labels, then base model/.test(n)));
    // The random model's image normalisation is the instruct images' own statistics, not CLIP's.
    const pp = JSON.parse(readFileSync(join(out, "init", "preprocessor_config.json"), "utf8")) as {
      image_mean: number[];
    };
    assert.notDeepEqual(pp.image_mean, [0.48145466, 0.4578275, 0.40821073]);
    assert.ok(
      pp.image_mean.every((m) => m > 0.5 && m < 1),
      JSON.stringify(pp.image_mean),
    );
    assert.match(first.stdout, /reason-rft-zero/);
    assert.match(first.stdout, /ID avg/);
    assert.match(first.stderr, /ETA/);
    // GRPO samples under the evaluation's cap (the quick preset's 128 new tokens), so CoT chains keep their answer.
    for (const arm of ["reason-rft-zero", "reason-rft"]) {
      const cfg = JSON.parse(readFileSync(join(out, "counting", arm, "config.json"), "utf8"));
      assert.equal(cfg.max_completion_length, PRESETS.quick.maxNewTokens, arm);
    }
    assert.match(first.stderr, /stages to run, estimated \S+ \(stage costs measured/);

    // A second run: every stage from the cache, the same results, at once.
    const t0 = Date.now();
    const second = rft(["demo", ...SMOKE, "--out", out]);
    const secs = (Date.now() - t0) / 1000;
    assert.equal(second.status, 0, second.stderr.slice(-2000));
    assert.match(second.stdout, /every stage from the cache/);
    assert.ok(secs < 60, `cached run took ${secs} s`);
    const rep2 = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as { results: unknown[] };
    assert.deepEqual(rep2.results, rep.results);

    // Remove one training: only it and its evaluation run again, and the evaluation starts over (the old
    // predictions belong to the old model). Same seed, same machine: the weights trained again from the base, the
    // predictions and the table come out the same, byte for byte.
    const ansFiles = [
      join(out, "counting", "ans-sft", "final", "model.safetensors"),
      join(out, "counting", "eval", "ans-sft", "clevr-math_with_score.json"),
      join(out, "counting", "eval", "ans-sft", "super-clevr_with_score.json"),
    ];
    const before = ansFiles.map((f) => readFileSync(f));
    rmSync(join(out, "counting", "ans-sft"), { recursive: true }); // checkpoints too: no resume, a fresh training
    // A training whose saved config differs from what this version would use (as after an edited profile) is
    // trained again too, with its evaluation: here Zero's, as if it had sampled at most 96 new tokens.
    const zeroCfg = join(out, "counting", "reason-rft-zero", "config.json");
    const zeroWeights = join(out, "counting", "reason-rft-zero", "final", "model.safetensors");
    const zeroBefore = readFileSync(zeroWeights);
    writeFileSync(zeroCfg, JSON.stringify({ ...JSON.parse(readFileSync(zeroCfg, "utf8")), max_completion_length: 96 }));
    const third = rft(["demo", ...SMOKE, "--out", out]);
    assert.equal(third.status, 0, third.stderr.slice(-2000));
    // The ETA is calibrated by the times of the stages that the earlier invocations ran.
    const done = Object.keys(JSON.parse(readFileSync(join(out, "stage_seconds.json"), "utf8"))).length - 4;
    assert.match(
      third.stderr,
      new RegExp(`4 stages to run, estimated \\S+ \\(scaled by the ${done} stages done before\\)`),
    );
    assert.match(third.stderr, /counting: ans-sft/);
    assert.match(third.stderr, /counting: evaluate ans-sft/);
    assert.match(
      third.stderr,
      /reason-rft-zero: its checkpoints were trained with another config \(max_completion_length 96 → 128\): starting it over/,
    );
    assert.match(third.stderr, /counting: evaluate reason-rft-zero/);
    assert.doesNotMatch(third.stderr, /already finished/);
    ansFiles.forEach((f, i) => assert.ok(readFileSync(f).equals(before[i]!), `${f} differs after the retraining`));
    assert.ok(readFileSync(zeroWeights).equals(zeroBefore), "Zero's weights differ after the retraining");
    assert.equal(JSON.parse(readFileSync(zeroCfg, "utf8")).max_completion_length, 128);
    assert.deepEqual(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).results, rep.results);

    // --workers 2: the stage redone under rft launch with the same global batch; its checkpoints from one worker
    // are not resumed by two.
    rmSync(join(out, "counting", "ans-sft", "final"), { recursive: true });
    const fourth = rft(["demo", ...SMOKE, "--out", out, "--workers", "2"]);
    assert.equal(fourth.status, 0, fourth.stderr.slice(-3000));
    assert.match(fourth.stderr, /ans-sft: its checkpoints were written by 1 worker\(s\), not 2: starting it over/);
    assert.match(fourth.stderr, /rft launch: world size 2/);
    assert.match(fourth.stderr, /× 2 ranks/);
    assert.ok(existsSync(join(out, "counting", "ans-sft", "final", "model.safetensors")));

    // --seeds 2: only the second seed's stages run (in seed-1/), and the report gives mean ± SE over both.
    const seeds = rft(["demo", ...SMOKE, "--out", out, "--seeds", "2"]);
    assert.equal(seeds.status, 0, seeds.stderr.slice(-3000));
    assert.match(seeds.stderr, /11 stages to run/);
    assert.doesNotMatch(seeds.stderr, /base model \(SFT/);
    assert.ok(existsSync(join(out, "seed-1", "counting", "eval", "reason-rft", "summary.json")));
    const rep3 = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as {
      results: { seeds?: number[]; se?: number; seed_accuracies?: unknown[] }[];
      per_seed: unknown[];
    };
    assert.equal(rep3.results.length, DEMO_PARADIGMS.length * 3);
    for (const r of rep3.results) {
      assert.deepEqual(r.seeds, [0, 1]);
      assert.equal(r.seed_accuracies!.length, 2);
      assert.ok(typeof r.se === "number" && r.se >= 0);
    }
    assert.equal(rep3.per_seed.length, 2);
    assert.match(seeds.stdout, /mean ± SE over 2 seeds/);
    assert.match(readFileSync(join(out, "report.md"), "utf8"), /±/);
    // A later invocation with fewer seeds (all cached here) keeps the second seed in the report: the report covers
    // what OUT holds, not only what this invocation asked for.
    const fewer = rft(["demo", ...SMOKE, "--out", out]);
    assert.equal(fewer.status, 0, fewer.stderr.slice(-2000));
    assert.match(fewer.stdout, /every stage from the cache/);
    assert.deepEqual(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).results, rep3.results);

    // --variant: only its arms run (Reason-RFT's GRPO again for both seeds, from the run's own Stage-1 models) in
    // variants/<name>, with the override; its report puts its rows beside the run's own; the run's report is untouched.
    const mainReport = readFileSync(join(out, "report.json"), "utf8");
    const v = rft(["demo", ...SMOKE, "--out", out, "--seeds", "2", "--variant", "lr", "--set-grpo", "beta=0.5"]);
    assert.equal(v.status, 0, v.stderr.slice(-3000));
    assert.match(v.stderr, /4 stages to run/);
    assert.match(v.stderr, /variants\/lr\/seed-1\/counting: reason-rft \(/);
    const vConfig = readFileSync(
      join(out, "variants", "lr", "seed-1", "counting", "reason-rft", "config.yaml"),
      "utf8",
    );
    assert.match(vConfig, /^beta: 0\.5 /m);
    assert.ok(
      vConfig.includes(`model_name_or_path: ${join(out, "seed-1", "counting", "reason-rft-stage1", "final")} `),
    );
    assert.equal(readFileSync(join(out, "report.json"), "utf8"), mainReport);
    const vrep = JSON.parse(readFileSync(join(out, "variants", "lr", "report.json"), "utf8")) as {
      results: { label?: string; paradigm?: string; seeds?: number[] }[];
      notes: string[];
    };
    assert.equal(vrep.results.length, (DEMO_PARADIGMS.length + 1) * 3);
    const tagged = vrep.results.filter((r) => r.label === "Reason-RFT [lr]");
    assert.equal(tagged.length, 3);
    assert.ok(tagged.every((r) => r.paradigm === "reason-rft" && r.seeds!.length === 2));
    assert.ok(vrep.notes.some((n) => /Variant lr: reason-rft trained again .*GRPO beta=0\.5/.test(n)));
    assert.match(v.stdout, /^reason-rft \[lr\]\s/m);
    // Fewer CoT labels: the variant's own training files (a Stage-1 split of 3 records) and its own Stage 1.
    const s1 = rft(["demo", ...SMOKE, "--out", out, "--variant", "s1", "--stage1-size", "3"]);
    assert.equal(s1.status, 0, s1.stderr.slice(-3000));
    assert.match(s1.stderr, /4 stages to run/);
    const s1Files = JSON.parse(
      readFileSync(join(out, "variants", "s1", "counting", "data", "demo_files.json"), "utf8"),
    ) as Record<string, string>;
    assert.equal((JSON.parse(readFileSync(s1Files["stage1-cot-sft"]!, "utf8")) as unknown[]).length, 3);
    assert.ok(existsSync(join(out, "variants", "s1", "counting", "reason-rft-stage1", "final", "config.json")));
    // The same variant name with other settings: refused unless --force.
    const clash = rft(["demo", ...SMOKE, "--out", out, "--variant", "s1", "--stage1-size", "4"]);
    assert.equal(clash.status, 1);
    assert.match(clash.stderr, /variant s1 in .* was made with other settings/);

    // Other settings in the same directory: refused, naming the setting.
    const other = rft(["demo", ...SMOKE.slice(0, -1), "3", "--out", out]);
    assert.equal(other.status, 1);
    assert.match(
      other.stderr,
      /other settings \(limit: 2 → 3\); .*--force to redo the stages they change \(bench, init, base, held-out perception, fine-tuning runs kept\)/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rft demo: flag errors", () => {
  const bad: [string[], RegExp][] = [
    [["--tasks", "countin"], /--tasks: unknown task 'countin'/],
    [["--tasks", "instruct"], /--tasks: unknown task 'instruct'/],
    [["--quick", "--full"], /--quick and --full exclude each other/],
    [["--limit", "0"], /--limit must be a positive integer/],
    [["--steps-scale", "0"], /--steps-scale must be within/],
    [["--size", "huge"], /--size/],
    [["--bogus"], /bogus/],
  ];
  for (const [args, re] of bad) {
    const r = rft(["demo", ...args, "--out", join(tmpdir(), "rft-demo-never")], 60_000);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const help = rft(["demo", "--help"], 60_000);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Examples:/);
  assert.match(help.stdout, /npm start/);
});

test("rft demo: a foreign --out is refused", () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-demo-"));
  try {
    writeFileSync(join(dir, "notes.txt"), "mine\n");
    const r = rft(["demo", ...SMOKE, "--out", dir], 60_000);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /is not empty/);
    assert.equal(readFileSync(join(dir, "notes.txt"), "utf8"), "mine\n");
    // A variant's --force redoes the variant; it does not make a foreign OUT ours, nor write a lock into it.
    const v = rft(["demo", ...SMOKE, "--out", dir, "--variant", "x", "--force"], 60_000);
    assert.equal(v.status, 1);
    assert.match(v.stderr, /is not empty/);
    assert.deepEqual(readdirSync(dir), ["notes.txt"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rft demo: a second run into a working --out is refused; a killed run's lock is taken over", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-demo-"));
  const out = join(dir, "demo");
  const lockPath = join(out, LOCK_FILE);
  const first = spawn(process.execPath, [BIN, "demo", ...SMOKE, "--out", out], { stdio: "ignore" });
  try {
    for (let i = 0; i < 600 && !existsSync(lockPath); i++) await new Promise((res) => setTimeout(res, 100));
    assert.ok(existsSync(lockPath), "the first run takes the lock");
    const second = rft(["demo", ...SMOKE, "--out", out], 60_000);
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`in use by rft demo \\(pid ${first.pid} on `));
    first.kill("SIGKILL");
    await new Promise((res) => first.once("exit", res));
    // Killed, it could not remove its lock; the next run finds the process gone and takes over.
    const stale: number[] = [];
    lockDir(out, "rft demo", (h) => stale.push(h.pid)).release();
    assert.deepEqual(stale, [first.pid]);
  } finally {
    first.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("configDrift: the fields whose saved value differs, paths, the batch split and one-sided fields aside", () => {
  const dir = mkdtempSync(join(tmpdir(), "drift-"));
  try {
    const now = {
      output_dir: "/a/run",
      dataset_name: "/a/data.json",
      per_device_train_batch_size: 8,
      gradient_accumulation_steps: 2,
      learning_rate: 1e-5,
      max_completion_length: 256,
      reward_funcs: ["accuracy", "format"],
      new_field: 1,
    };
    assert.deepEqual(configDrift(dir, now), []); // no saved config: nothing to compare
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({
        output_dir: "/moved/run",
        dataset_name: "/moved/data.json",
        per_device_train_batch_size: 16,
        gradient_accumulation_steps: 1,
        learning_rate: 1e-5,
        max_completion_length: 96,
        reward_funcs: ["accuracy"],
        old_field: 2,
      }),
    );
    assert.deepEqual(configDrift(dir, now), [
      "max_completion_length 96 → 256",
      'reward_funcs ["accuracy"] → ["accuracy","format"]',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("reportScope: this invocation's seeds and tasks, plus the finished ones OUT holds from others", () => {
  const out = mkdtempSync(join(tmpdir(), "scope-"));
  try {
    for (const d of ["seed-1", "seed-2", "seed-x", "counting"]) mkdirSync(join(out, d));
    const finished = new Set(["0/counting", "1/counting", "2/counting", "2/geometry"]);
    const f = (seed: number, task: string) => finished.has(`${seed}/${task}`);
    // A later `--tasks transformation --seeds 1`: counting's three seeds and seed 2's geometry stay.
    assert.deepEqual(reportScope(out, 0, [0], ["transformation"], f), [
      { seed: 0, tasks: ["counting", "transformation"] },
      { seed: 1, tasks: ["counting"] },
      { seed: 2, tasks: ["counting", "geometry"] },
    ]);
    // A seed directory with nothing finished in it is left out; the invocation's own are in even before they finish.
    assert.deepEqual(
      reportScope(out, 0, [0, 1], ["geometry"], () => false),
      [
        { seed: 0, tasks: ["geometry"] },
        { seed: 1, tasks: ["geometry"] },
      ],
    );
    assert.deepEqual(
      reportScope(join(out, "none"), 5, [5], ["counting"], () => false),
      [{ seed: 5, tasks: ["counting"] }],
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("demo helpers: tasks, budgets, table, notes", () => {
  assert.deepEqual(parseDemoTasks(["transformation,clevr-math"]), ["counting", "transformation"]);
  assert.deepEqual(parseDemoTasks(["geometry", "counting"]), ["counting", "geometry"]);
  const b = scaledBudget(PRESETS.quick, { stepsScale: 0.001, limit: 3, size: "small" });
  assert.deepEqual([b.baseSteps, b.sftSteps, b.stage1Steps, b.grpoSteps, b.limit, b.size], [1, 1, 1, 1, 3, "small"]);
  assert.equal(scaledBudget(PRESETS.full).grpoSteps, PRESETS.full.grpoSteps);
  assert.ok(PRESETS.full.limit! >= 500, "issue 12: at least 500 items per set");
  const rows: ResultRow[] = [
    { task: "visual-counting", paradigm: "zero-shot", set: "clevr-math", split: "id", n: 4, accuracy: 0.25 },
    { task: "visual-counting", paradigm: "zero-shot", set: "super-clevr", split: "ood", n: 4, accuracy: 0.5 },
    { task: "visual-counting", paradigm: "reason-rft", set: "super-clevr", split: "ood", n: 4, accuracy: 1 },
    { task: "visual-counting", paradigm: "reason-rft", set: "clevr-math", split: "id", n: 4, accuracy: 0 },
  ];
  const table = formatDemoTable(rows).split("\n");
  assert.match(table[1]!, /clevr-math \(ID\)\s+super-clevr \(OOD\)\s+ID avg\s+OOD avg/);
  assert.match(table[2]!, /^zero-shot\s+25\.0\s+50\.0\s+25\.0\s+50\.0$/);
  assert.match(table[3]!, /^reason-rft\s+0\.0\s+100\.0\s+0\.0\s+100\.0$/);
  assert.ok(demoNotes("quick", PRESETS.quick).some((n) => /not separated/.test(n)));
  // A variant's rows (same paradigm, their own label) come right after the run's own.
  const withVariant = formatDemoTable([
    ...rows,
    { ...rows[3]!, label: "Reason-RFT [lr5e-6]", variant: "lr5e-6", accuracy: 0.5 },
    { ...rows[2]!, label: "Reason-RFT [lr5e-6]", variant: "lr5e-6", accuracy: 0.75 },
  ]).split("\n");
  assert.match(withVariant[3]!, /^reason-rft\s+0\.0\s+100\.0/);
  assert.match(withVariant[4]!, /^reason-rft \[lr5e-6\]\s+50\.0\s+75\.0\s+50\.0\s+75\.0$/);
  // --variant's flags.
  assert.equal(parseVariant({}), undefined);
  assert.deepEqual(
    parseVariant({ variant: "a", paradigms: ["reason-rft,ans-sft"], "set-grpo": ["beta=0"], "stage1-size": 9 }),
    { name: "a", paradigms: ["ans-sft", "reason-rft"], sets: { grpo: ["beta=0"] }, stage1Size: 9 },
  );
  assert.throws(() => parseVariant({ "set-grpo": ["beta=0"] }), /--set-grpo needs --variant/);
  assert.throws(() => parseVariant({ variant: "a b" }), /--variant "a b"/);
  assert.throws(() => parseVariant({ variant: "a", paradigms: ["zero-shot"] }), /--paradigms: 'zero-shot'/);
  assert.throws(() => parseVariant({ variant: "a", "set-sft": ["lr"] }), /--set-sft "lr": expected KEY=VALUE/);
  // --force after a settings change redoes only what the change decides.
  assert.deepEqual(keptStages(["grpoSteps", "limit"]), ["bench", "init", "base", "held-out perception"]);
  assert.deepEqual(keptStages(["perceptionLimit"]), ["bench", "init", "base", "fine-tuning runs", "evaluations"]);
  assert.deepEqual(keptStages(["limit"]), ["bench", "init", "base", "held-out perception", "fine-tuning runs"]);
  assert.deepEqual(keptStages(["sftSteps", "baseSteps"]), ["bench", "init"]);
  assert.deepEqual(keptStages(["visionSteps"]), ["bench", "init"]);
  assert.deepEqual(keptStages(["baseSteps", "instructImages"]), []);
  assert.ok(demoNotes("full", PRESETS.full).every((n) => !/cannot show/.test(n)));
  const mixed = demoNotes("full", PRESETS.full, 3, { counting: 3, transformation: 1 });
  assert.match(mixed[0]!, /up to 3 fine-tuning seeds per task/);
  assert.ok(mixed.some((n) => /different numbers of seeds \(counting 3, transformation 1\)/.test(n)));
  assert.ok(demoNotes("full", PRESETS.full, 3, { counting: 3 }).every((n) => !/up to|different numbers/.test(n)));
});

test("--force removes what the changed settings decide, over every seed and variant", () => {
  const out = mkdtempSync(join(tmpdir(), "rft-demo-rm-"));
  try {
    for (const d of ["counting/eval", "seed-1/counting/eval", "variants/lr/counting/eval", "variants/lr/seed-1/x"])
      mkdirSync(join(out, d), { recursive: true });
    const evals = removedPaths(out, keptStages(["limit"]));
    for (const d of [
      "counting/eval",
      "seed-1/counting/eval",
      "variants/lr/counting/eval",
      "variants/lr/seed-1/counting/eval",
    ])
      assert.ok(evals.includes(d), d);
    assert.ok(!evals.includes("counting") && !evals.includes("base") && !evals.includes("heldout"));
    assert.deepEqual(removedPaths(out, keptStages(["perceptionLimit"])), ["heldout", join("base", "perception.json")]);
    const runs = removedPaths(out, keptStages(["grpoSteps"]));
    for (const d of ["counting", "geometry", "seed-1", "variants"]) assert.ok(runs.includes(d), d);
    assert.ok(!runs.includes("base") && !runs.includes("heldout"));
    const models = removedPaths(out, keptStages(["visionSteps"]));
    for (const d of ["vision", "base", "heldout", "counting", "seed-1", "variants"]) assert.ok(models.includes(d), d);
    assert.ok(!models.includes("bench") && !models.includes("init") && !models.includes("perception"));
    const all = removedPaths(out, keptStages(["seed"]));
    for (const d of ["bench", "init", "base", "perception", "heldout", "counting", "seed-1", "variants"])
      assert.ok(all.includes(d), d);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("splitBatch keeps the global batch over several workers, whole GRPO groups per worker", () => {
  const sft = { per_device_train_batch_size: 16, gradient_accumulation_steps: 2 };
  assert.deepEqual(splitBatch(sft, 2), { per_device_train_batch_size: 16, gradient_accumulation_steps: 1 });
  assert.deepEqual(splitBatch(sft, 4), { per_device_train_batch_size: 4, gradient_accumulation_steps: 2 });
  const grpo = { per_device_train_batch_size: 16, gradient_accumulation_steps: 4, num_generations: 8 };
  assert.deepEqual(splitBatch(grpo, 2), { per_device_train_batch_size: 16, gradient_accumulation_steps: 2 });
  assert.deepEqual(splitBatch(grpo, 8), { per_device_train_batch_size: 2, gradient_accumulation_steps: 4 });
  assert.throws(
    () => splitBatch(grpo, 3),
    /--workers 3: a batch of 16 per device × 4 accumulation steps \(groups of 8\) cannot be split/,
  );
  assert.throws(
    () => splitBatch({ per_device_train_batch_size: 8, gradient_accumulation_steps: 1, num_generations: 8 }, 2),
    /cannot be split/,
  );
});
