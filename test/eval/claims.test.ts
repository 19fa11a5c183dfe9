/**
 * scripts/analysis/claims.ts: contrasts of arms paired by seed and item, the verdict rule, the claims, and the
 * reading of a demo work directory (seeds and variants).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  attemptResults,
  average,
  claims,
  compareEvals,
  contrast,
  formatClaims,
  gap,
  formatAttempts,
  formatComparison,
  judge,
  listVariants,
  readAttempts,
  readDemo,
  readEval,
  type Arm,
  type Estimate,
  type Split,
} from "../../scripts/analysis/claims.ts";

/** An arm from set → [split, per-seed score lists]; item ids are the list positions. */
function arm(name: string, sets: Record<string, [Split, Record<number, number[]>]>): Arm {
  const m: Arm["sets"] = new Map();
  for (const [set, [split, seeds]] of Object.entries(sets))
    m.set(set, {
      split,
      seeds: new Map(Object.entries(seeds).map(([s, xs]) => [Number(s), new Map(xs.map((x, i) => [`q${i}`, x]))])),
    });
  return { name, sets: m };
}

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-12, `${a} ≠ ${b} ${msg ?? ""}`);

test("contrast: one arm, one seed: the mean and the items' sample standard error", () => {
  const a = arm("a", { x: ["id", { 0: [1, 1, 0, 0] }] });
  const e = contrast(average(a))!;
  close(e.mean, 0.5);
  close(e.se_seeds, 0);
  close(e.se_items, Math.sqrt(1 / 3 / 4)); // sample variance 1/3 over 4 items
  close(e.se, e.se_items);
  assert.deepEqual(e.seeds, [0]);
  assert.deepEqual(e.n, { x: 4 });
});

test("contrast: a difference is paired item by item, tighter than the unpaired standard error", () => {
  const a = arm("a", { x: ["id", { 0: [1, 1, 0, 0] }] });
  const b = arm("b", { x: ["id", { 0: [1, 1, 0, 1] }] });
  const e = contrast([...average(a), ...average(b, undefined, -1)])!;
  close(e.mean, -0.25);
  close(e.se_items, 0.25); // u = [0, 0, 0, -1]: sample variance 1/4, over 4 items
  const unpaired = Math.hypot(contrast(average(a))!.se, contrast(average(b))!.se);
  assert.ok(e.se < unpaired, `${e.se} < ${unpaired}`);
});

test("contrast: over seeds, the per-seed contrasts give the seed part and the seed-averaged items the item part", () => {
  const a = arm("a", { x: ["id", { 0: [1, 0], 1: [1, 1] }] });
  const b = arm("b", { x: ["id", { 0: [0, 0], 1: [0, 0] }] });
  const e = contrast([...average(a), ...average(b, undefined, -1)])!;
  // T_0 = 0.5, T_1 = 1: mean 0.75, sample variance 0.125, se_seeds √(0.125 / 2). Items: u = [1, 0.5], same.
  close(e.mean, 0.75);
  close(e.se_seeds, 0.25);
  close(e.se_items, 0.25);
  close(e.se, Math.SQRT2 / 4);
  assert.deepEqual(e.seeds, [0, 1]);
});

test("contrast: only the seeds every term has and the items every term scored; null when nothing is shared", () => {
  const a = arm("a", { x: ["id", { 0: [1, 0, 1], 1: [0, 0, 0] }] });
  const b = arm("b", { x: ["id", { 0: [0, 0] }] });
  const e = contrast([...average(a), ...average(b, undefined, -1)])!;
  assert.deepEqual(e.seeds, [0]);
  assert.deepEqual(e.n, { x: 2 });
  close(e.mean, 0.5); // a's items q0, q1 in seed 0: 0.5; b's: 0
  const c = arm("c", { x: ["id", { 2: [1] }] });
  assert.equal(contrast([...average(a), ...average(c, undefined, -1)]), null);
  const d = arm("d", { y: ["ood", { 0: [1] }] });
  assert.equal(contrast([{ arm: a, set: "y", weight: 1 }, ...average(d)]), null); // a has no set y
  assert.equal(contrast([]), null);
});

test("average and gap: unweighted means over the split's sets; gap is ID avg − OOD avg", () => {
  const a = arm("a", {
    x: ["id", { 0: [1, 1] }],
    y: ["ood", { 0: [1, 0] }],
    z: ["ood", { 0: [0, 0] }],
  });
  close(contrast(average(a))!.mean, 0.5); // (1 + 0.5 + 0) / 3
  close(contrast(average(a, "ood"))!.mean, 0.25);
  close(contrast(gap(a))!.mean, 0.75); // 1 − 0.25
  close(contrast(gap(a, -1))!.mean, -0.75);
});

const est = (mean: number, se: number): Estimate => ({ mean, se, se_seeds: 0, se_items: se, seeds: [0], n: {} });

test("judge: holds when all are above 2 SE, does not hold when one is below −2 SE, else inconclusive", () => {
  assert.equal(judge([est(0.1, 0.04), est(0.09, 0.01)]), "holds");
  assert.equal(judge([est(0.1, 0.04), est(0.05, 0.03)]), "inconclusive");
  assert.equal(judge([est(0.1, 0.04), est(-0.1, 0.03)]), "does not hold");
  assert.equal(judge([est(0.1, 0.06)], 1), "holds"); // another z
  assert.equal(judge([est(0.1, 0.01), null]), "not measured");
  assert.equal(judge([]), "not measured");
});

test("claims: C1–C4 from the arms, with the context rows left out of the verdict", () => {
  const n = 40;
  const ones = (k: number) => Array.from({ length: n }, (_, i) => (i < k ? 1 : 0));
  const mk = (name: string, id: number, ood: number) =>
    arm(name, {
      "clevr-math": ["id", { 0: ones(id), 1: ones(id) }],
      "super-clevr": ["ood", { 0: ones(ood), 1: ones(ood) }],
    });
  const arms = new Map([
    ["ans-sft", mk("ans-sft", 38, 10)], // gap 0.7
    ["cot-sft", mk("cot-sft", 30, 12)], // gap 0.45
    ["reason-rft-zero", mk("reason-rft-zero", 30, 26)],
    ["reason-rft", mk("reason-rft", 36, 34)], // gap 0.05, best AVG
  ]);
  const r = claims("counting", arms);
  const by = Object.fromEntries(r.map((c) => [c.claim, c]));
  assert.equal(by.C1!.verdict, "holds");
  assert.equal(by.C1!.comparisons.length, 3);
  assert.equal(by.C2!.verdict, "holds");
  assert.equal(by.C2!.comparisons.filter((c) => c.context).length, 6); // each arm's own gap, RFT's OOD − SFT's
  close(by.C2!.comparisons.find((c) => c.what === "OOD avg: reason-rft − ans-sft")!.estimate!.mean, (34 - 10) / n);
  assert.equal(by.C3!.verdict, "holds");
  assert.equal(by.C4!.verdict, "holds");
  close(by.C4!.comparisons[0]!.estimate!.mean, (36 + 34 - 30 - 12) / 2 / n);

  // ANS-SFT ahead on AVG by far: C1 does not hold; without reason-rft nothing is measured.
  arms.set("ans-sft", mk("ans-sft", 40, 40));
  assert.equal(claims("counting", arms)[0]!.verdict, "does not hold");
  arms.delete("reason-rft");
  assert.ok(claims("counting", arms).every((c) => c.verdict === "not measured"));
  assert.match(formatClaims(claims("counting", arms), 2), /C1 \(counting\).*NOT MEASURED/);
});

/** A counting evaluation directory under `root` with one ID set (clevr-math) of the given item scores. */
function evalDir(root: string, paradigm: string, scores: number[]): void {
  const dir = join(root, "counting", "eval", paradigm);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "summary.json"), JSON.stringify({ sets: [{ name: "clevr-math", split: "id" }] }));
  writeFileSync(
    join(dir, "clevr-math_with_score.json"),
    JSON.stringify(scores.map((score, i) => ({ id: `c${i}`, pred: "", answer: "", score }))),
  );
}

test("readDemo: seeds from OUT and OUT/seed-k, a variant's arms in place of the run's", () => {
  const out = mkdtempSync(join(tmpdir(), "claims-"));
  try {
    writeFileSync(join(out, "demo.json"), JSON.stringify({ tool: "rft demo", settings: { seed: 3 } }));
    evalDir(out, "reason-rft", [1, 0]);
    evalDir(join(out, "seed-4"), "reason-rft", [1, 1]);
    evalDir(out, "cot-sft", [0, 0]);
    evalDir(join(out, "variants", "chain"), "reason-rft", [0, 1]);
    mkdirSync(join(out, "counting", "data"), { recursive: true }); // not an evaluation

    const run = readDemo(out).get("counting")!;
    assert.deepEqual([...run.keys()], ["cot-sft", "reason-rft"]);
    assert.deepEqual([...run.get("reason-rft")!.sets.get("clevr-math")!.seeds.keys()], [3, 4]);
    close(contrast(average(run.get("reason-rft")!))!.mean, 0.75);

    const v = readDemo(out, "chain").get("counting")!;
    assert.equal(v.get("reason-rft")!.name, "reason-rft [chain]");
    assert.deepEqual([...v.get("reason-rft")!.sets.get("clevr-math")!.seeds.keys()], [3]);
    assert.throws(() => readDemo(out, "nope"), /no variant nope/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("attemptResults: the variant's arm, the run's, the paired change per average, and the verdicts with it", () => {
  const sets = (id: number[], ood: number[]): Record<string, [Split, Record<number, number[]>]> => ({
    x: ["id", { 0: id }],
    y: ["ood", { 0: ood }],
  });
  const run = new Map([
    ["cot-sft", arm("cot-sft", sets([1, 1, 1, 0], [1, 0, 1, 0]))],
    ["reason-rft", arm("reason-rft", sets([0, 1, 0, 0], [0, 0, 1, 0]))],
  ]);
  const v = new Map([["reason-rft", arm("reason-rft [s1]", sets([1, 1, 1, 1], [1, 1, 1, 0]))]]);
  const [r, ...rest] = attemptResults("s1", "counting", run, v);
  assert.equal(rest.length, 0);
  assert.equal(r!.paradigm, "reason-rft");
  close(r!.arm.avg!.mean, (1 + 0.75) / 2);
  close(r!.run.avg!.mean, (0.25 + 0.25) / 2);
  close(r!.delta.avg!.mean, 0.875 - 0.25);
  close(r!.delta.id!.mean, 0.75);
  close(r!.delta.ood!.mean, 0.5);
  // Paired: the ID change's items are u = [1, 0, 1, 1], sample variance 1/4 over 4 items.
  close(r!.delta.id!.se, Math.sqrt(0.25 / 4));
  // With the variant in place Reason-RFT is above CoT-SFT's AVG by 0.25, within 2 SE on 8 items: inconclusive.
  assert.equal(r!.verdicts.C4, "inconclusive");
  assert.equal(r!.verdicts.C3, "not measured"); // no Zero arm
  // The run's own Reason-RFT is 0.375 below CoT-SFT, also within 2 SE.
  assert.equal(claims("counting", run).find((c) => c.claim === "C4")!.verdict, "inconclusive");

  const noRun = attemptResults("s1", "counting", new Map(), v)[0]!;
  assert.equal(noRun.run.avg, null);
  assert.equal(noRun.delta.avg, null);
  const text = formatAttempts([r!, noRun], 2);
  assert.match(text, /^s1 \(counting, reason-rft, 1 seed\(s\)\):/);
  assert.match(
    text,
    /AVG: 87\.50 ± [\d.]+ \(run 25\.00 ± [\d.]+\); change \+62\.50 ± [\d.]+ \((above|within) ±2 SE\) pts/,
  );
  assert.match(text, /change not measured pts/);
});

test("readAttempts: every variant's arms against the run's own, or the named ones; listVariants skips files", () => {
  const out = mkdtempSync(join(tmpdir(), "attempts-"));
  try {
    evalDir(out, "reason-rft", [1, 0, 0, 0]);
    evalDir(out, "reason-rft-zero", [0, 0, 0, 0]);
    evalDir(join(out, "variants", "a"), "reason-rft", [1, 1, 0, 0]);
    evalDir(join(out, "variants", "b"), "reason-rft-zero", [1, 1, 1, 0]);
    mkdirSync(join(out, "variants", "c"), { recursive: true }); // started, nothing evaluated yet
    writeFileSync(join(out, "variants", "notes.txt"), "");
    assert.deepEqual(listVariants(out), ["a", "b", "c"]);

    const all = readAttempts(out);
    assert.deepEqual(
      all.map((r) => [r.variant, r.paradigm]),
      [
        ["a", "reason-rft"],
        ["b", "reason-rft-zero"],
      ],
    );
    close(all[0]!.delta.avg!.mean, 0.25);
    close(all[1]!.delta.avg!.mean, 0.75);
    close(all[1]!.run.avg!.mean, 0);
    assert.deepEqual(
      readAttempts(out, ["b"]).map((r) => r.variant),
      ["b"],
    );
    assert.throws(() => readAttempts(out, ["nope"]), /no variant nope/);

    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", "scripts/analysis/claims.ts", ...args], { encoding: "utf8" });
    const ok = cli(out, "--attempts", "--variant", "b", "--json");
    assert.equal(ok.status, 0, ok.stderr);
    const parsed = JSON.parse(ok.stdout) as { variant: string; delta: { avg: { mean: number } } }[];
    assert.deepEqual(
      parsed.map((r) => r.variant),
      ["b"],
    );
    close(parsed[0]!.delta.avg.mean, 0.75);
    const bad = cli(join(out, "missing"), "--attempts");
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^claims\.ts: no such directory: .*missing\n$/);
    rmSync(join(out, "variants"), { recursive: true });
    const none = cli(out, "--attempts");
    assert.equal(none.status, 2);
    assert.match(none.stderr, /no evaluated variants/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("compareEvals: B − A per shared set and on the averages, paired by item; the CLI's --compare", () => {
  const a = arm("a", { x: ["id", { 0: [1, 0, 0, 0] }], y: ["ood", { 0: [0, 0, 1, 1] }], z: ["ood", { 0: [1] }] });
  const b = arm("b", { x: ["id", { 0: [1, 1, 1, 0] }], y: ["ood", { 0: [0, 0, 1, 0] }] });
  const c = compareEvals(a, b);
  assert.deepEqual(Object.keys(c.sets), ["x", "y"]); // z is only in A
  close(c.sets.x!.mean, 0.5);
  close(c.sets.x!.se, Math.sqrt(1 / 3 / 4)); // u = [0, 1, 1, 0]
  close(c.sets.y!.mean, -0.25);
  close(c.id!.mean, 0.5);
  close(c.ood!.mean, -0.25);
  close(c.avg!.mean, (0.5 - 0.25) / 2);
  assert.match(
    formatComparison(c, 2),
    /^b − a \(paired by item, accuracy points\):\n {2}x: \+50\.00 ± [\d.]+ \(within ±2 SE\), n 4/,
  );
  assert.throws(() => compareEvals(a, arm("c", { w: ["id", { 0: [1] }] })), /share no test set/);

  const root = mkdtempSync(join(tmpdir(), "compare-"));
  try {
    evalDir(join(root, "s1"), "cot", [0, 0, 1, 0]);
    evalDir(join(root, "rft"), "cot", [1, 1, 1, 0]);
    const [da, db] = ["s1", "rft"].map((r) => join(root, r, "counting", "eval", "cot"));
    close(readEval(da!).sets.get("clevr-math")!.seeds.get(0)!.get("c2")!, 1);
    assert.throws(() => readEval(root), /has no summary\.json/);
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", "scripts/analysis/claims.ts", ...args], { encoding: "utf8" });
    const ok = cli("--compare", da!, db!, "--json");
    assert.equal(ok.status, 0, ok.stderr);
    const parsed = JSON.parse(ok.stdout) as { avg: { mean: number }; id: { mean: number }; ood: null };
    close(parsed.avg.mean, 0.5);
    close(parsed.id.mean, 0.5);
    assert.equal(parsed.ood, null);
    const bad = cli("--compare", da!);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^claims\.ts: --compare needs two directories, A B\n$/);

    // Seeds: the k-th directories of A and B are seed k's pair. Seed 1's change (+0.25) differs from seed 0's (+0.5).
    evalDir(join(root, "s1b"), "cot", [0, 1, 1, 0]);
    evalDir(join(root, "rftb"), "cot", [1, 1, 1, 0]);
    const [da2, db2] = ["s1b", "rftb"].map((r) => join(root, r, "counting", "eval", "cot"));
    const pooled = compareEvals(readEval([da!, da2!]), readEval([db!, db2!]));
    close(pooled.avg!.mean, (0.5 + 0.25) / 2);
    assert.deepEqual(pooled.avg!.seeds, [0, 1]);
    close(pooled.avg!.se_seeds, Math.sqrt(((0.5 - 0.375) ** 2 * 2) / 1 / 2));
    // per item, the seeds' mean change: [1, 0.5, 0, 0]
    close(pooled.avg!.se_items, Math.sqrt((0.625 ** 2 + 0.125 ** 2 + 0.375 ** 2 * 2) / 3 / 4));
    const seeded = cli("--compare", `${da},${da2}`, `${db},${db2}`, "--json");
    assert.equal(seeded.status, 0, seeded.stderr);
    close((JSON.parse(seeded.stdout) as { avg: { mean: number } }).avg.mean, 0.375);
    const uneven = cli("--compare", `${da},${da2}`, db!);
    assert.equal(uneven.status, 2);
    assert.match(uneven.stderr, /A has 2 directories, B 1/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
