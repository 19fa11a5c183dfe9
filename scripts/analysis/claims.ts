// The paper's claims (issue 12, docs/results.md) tested on a demo run's item scores, paired by seed and test item.
//
// The report's noise marks (src/eval/seeds.ts) compare two rows as if they were independent, which is conservative:
// every arm of a seed starts from the same base and answers the same test items. This script compares arms through
// contrasts of their item scores instead. A contrast is a weighted sum of (arm, set) accuracies, e.g. Reason-RFT's AVG
// minus CoT-SFT's AVG, or (ID avg − OOD avg) of ANS-SFT minus that of Reason-RFT. Over the S seeds that every term
// has and, per set, the n test items that every term scored in every one of those seeds:
//   T_s      the contrast computed in seed s (each accuracy the mean over the n items)
//   mean     the mean of the T_s
//   se_seeds sample standard deviation of the T_s / √S (0 for one seed): the training-seed part
//   se_items √(Σ_sets var(u) / n), where u_i is the contrast of item i (each arm's score on it averaged over the
//            seeds) and var its sample variance: the test-item part, paired item by item
//   se       √(se_seeds² + se_items²), the same split as seeds.ts uses for a single row
// A claim's comparison holds when every contrast is above z·se (z = 2, the report's NOISE_Z), does not hold when any
// is below −z·se, and is inconclusive otherwise.
//
// Claims, per task of the run (arms: the paradigms' evaluation directories):
//   C1  Reason-RFT's AVG above every other arm's
//   C2  (ID avg − OOD avg) of ANS-SFT and of CoT-SFT above Reason-RFT's: SFT loses more out of domain. Shown beside
//       it, not judged: each arm's own gap and Reason-RFT's OOD avg minus each SFT arm's (a small gap can be a floor)
//   C3  Reason-RFT's AVG above Reason-RFT-Zero's (the paper's claim is about its hardest task, transformation)
//   C4  Reason-RFT (warm start on a small CoT slice) above CoT-SFT (all the CoT data) on AVG; ID and OOD shown
// With --variant NAME, the variant's arms (OUT/variants/NAME) stand in for the run's arms of the same paradigm.
//
// With --attempts, each variant's retrained arms against the run's own (the change, paired), and the verdicts with it.
// With --compare A B, two evaluation directories (`rft eval --out`, or a demo arm's OUT/<task>/eval/<paradigm>): B − A
// per set and on the averages, paired by item (e.g. what GRPO added to its Stage-1 start). A and B may each be a
// comma-separated list of directories, one per seed in the same order: the pairs are then the seeds of one contrast.
//
// Usage: node --import tsx scripts/analysis/claims.ts OUT [--variant NAME] [--attempts] [--z 2] [--json]
//        node --import tsx scripts/analysis/claims.ts --compare A[,A2…] B[,B2…] [--z 2] [--json]
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { VARIANTS_DIR, otherSeedsIn, seedDir } from "../../src/demo/pipeline.ts";

export type Split = "id" | "ood";

/** One arm (a paradigm's evaluations): per test set its split and, per seed, item id → score. */
export interface Arm {
  name: string;
  sets: Map<string, { split: Split; seeds: Map<number, Map<string, number>> }>;
}

/** A term of a contrast: weight × the arm's accuracy on the set. */
export interface Term {
  arm: Arm;
  set: string;
  weight: number;
}

export interface Estimate {
  mean: number;
  se: number;
  se_seeds: number;
  se_items: number;
  /** The seeds used (those every term has). */
  seeds: number[];
  /** Items used per set (those every term scored in every seed used). */
  n: Record<string, number>;
}

const sq = (x: number) => x * x;
const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample variance (divisor length − 1); 0 for fewer than 2 values. */
function variance(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = meanOf(xs);
  return xs.reduce((a, x) => a + sq(x - m), 0) / (xs.length - 1);
}

/** The contrast Σ weight × accuracy, paired by seed and item (see the file's comment); null when nothing is shared. */
export function contrast(terms: readonly Term[]): Estimate | null {
  if (!terms.length) return null;
  const cell = (t: Term) => t.arm.sets.get(t.set);
  if (terms.some((t) => !cell(t))) return null;
  let seeds = [...cell(terms[0]!)!.seeds.keys()];
  for (const t of terms) seeds = seeds.filter((s) => cell(t)!.seeds.has(s));
  seeds.sort((a, b) => a - b);
  if (!seeds.length) return null;

  const sets = [...new Set(terms.map((t) => t.set))];
  const ids = new Map<string, string[]>();
  for (const set of sets) {
    let common: string[] | null = null;
    for (const t of terms.filter((x) => x.set === set))
      for (const s of seeds) {
        const scores = cell(t)!.seeds.get(s)!;
        common = common === null ? [...scores.keys()] : common.filter((id) => scores.has(id));
      }
    if (!common || !common.length) return null;
    ids.set(set, common);
  }

  const perSeed = seeds.map((s) =>
    terms.reduce((a, t) => {
      const scores = cell(t)!.seeds.get(s)!;
      return a + t.weight * meanOf(ids.get(t.set)!.map((id) => scores.get(id)!));
    }, 0),
  );
  let itemVar = 0;
  for (const set of sets) {
    const setIds = ids.get(set)!;
    const u = setIds.map((id) =>
      terms
        .filter((t) => t.set === set)
        .reduce((a, t) => a + t.weight * meanOf(seeds.map((s) => cell(t)!.seeds.get(s)!.get(id)!)), 0),
    );
    itemVar += variance(u) / setIds.length;
  }
  const seSeeds = Math.sqrt(variance(perSeed) / seeds.length);
  const seItems = Math.sqrt(itemVar);
  return {
    mean: meanOf(perSeed),
    se: Math.hypot(seSeeds, seItems),
    se_seeds: seSeeds,
    se_items: seItems,
    seeds,
    n: Object.fromEntries(sets.map((s) => [s, ids.get(s)!.length])),
  };
}

/** The unweighted mean of the arm's accuracies over its sets of `split` (all sets when absent), as terms. */
export function average(arm: Arm, split?: Split, sign = 1): Term[] {
  const sets = [...arm.sets.entries()].filter(([, v]) => !split || v.split === split).map(([k]) => k);
  return sets.map((set) => ({ arm, set, weight: sign / sets.length }));
}

/** ID avg − OOD avg of the arm, as terms. */
export function gap(arm: Arm, sign = 1): Term[] {
  return [...average(arm, "id", sign), ...average(arm, "ood", -sign)];
}

export type Verdict = "holds" | "does not hold" | "inconclusive" | "not measured";

/** Where an estimate lies against ±z·se. */
function side(e: Estimate, z: number): "above" | "below" | "within" {
  return e.mean > z * e.se ? "above" : e.mean < -z * e.se ? "below" : "within";
}

/** holds: every estimate above z·se; does not hold: one below −z·se; inconclusive: otherwise; not measured: none. */
export function judge(estimates: readonly (Estimate | null)[], z = 2): Verdict {
  if (!estimates.length || estimates.some((e) => e === null)) return "not measured";
  const es = estimates as Estimate[];
  if (es.some((e) => side(e, z) === "below")) return "does not hold";
  if (es.every((e) => side(e, z) === "above")) return "holds";
  return "inconclusive";
}

export interface Comparison {
  what: string;
  estimate: Estimate | null;
  /** Shown for context, not part of the verdict. */
  context?: boolean;
}

export interface ClaimResult {
  claim: "C1" | "C2" | "C3" | "C4";
  task: string;
  statement: string;
  verdict: Verdict;
  comparisons: Comparison[];
}

const RFT = "reason-rft";
const ZERO = "reason-rft-zero";

/** C1–C4 for one task's arms (keyed by paradigm). */
export function claims(task: string, arms: ReadonlyMap<string, Arm>, z = 2): ClaimResult[] {
  const rft = arms.get(RFT);
  const arm = (p: string) => arms.get(p);
  const diff = (what: string, a: Term[] | null, b: Term[] | null, context = false): Comparison => ({
    what,
    estimate: a && b && a.length && b.length ? contrast([...a, ...b]) : null,
    context,
  });
  const avgOf = (p: string, split?: Split, sign = 1) => (arm(p) ? average(arm(p)!, split, sign) : null);
  const gapOf = (p: string, sign = 1) => (arm(p) ? gap(arm(p)!, sign) : null);
  const result = (claim: ClaimResult["claim"], statement: string, comparisons: Comparison[]): ClaimResult => ({
    claim,
    task,
    statement,
    verdict: rft
      ? judge(
          comparisons.filter((c) => !c.context).map((c) => c.estimate),
          z,
        )
      : "not measured",
    comparisons,
  });

  const others = [...arms.keys()].filter((p) => p !== RFT);
  return [
    result(
      "C1",
      "Reason-RFT has the best AVG",
      others.map((p) => diff(`AVG: reason-rft − ${p}`, avgOf(RFT), avgOf(p, undefined, -1))),
    ),
    result("C2", "SFT loses more out of domain than RL: (ID − OOD) of each SFT arm above Reason-RFT's", [
      ...["ans-sft", "cot-sft"].map((p) => diff(`(ID − OOD): ${p} − reason-rft`, gapOf(p), gapOf(RFT, -1))),
      ...[...arms.keys()].map((p) => ({ what: `ID − OOD of ${p}`, estimate: contrast(gap(arm(p)!)), context: true })),
      // A small gap can be a floor (an arm weak in and out of domain): the OOD accuracies themselves, beside it.
      ...["ans-sft", "cot-sft"].map((p) =>
        diff(`OOD avg: reason-rft − ${p}`, avgOf(RFT, "ood"), avgOf(p, "ood", -1), true),
      ),
    ]),
    result("C3", "without the CoT warm start RL falls behind: Reason-RFT's AVG above Reason-RFT-Zero's", [
      diff(`AVG: reason-rft − ${ZERO}`, avgOf(RFT), avgOf(ZERO, undefined, -1)),
    ]),
    result("C4", "a small CoT slice suffices: Reason-RFT (Stage-1 slice) above CoT-SFT (all the CoT data) on AVG", [
      diff("AVG: reason-rft − cot-sft", avgOf(RFT), avgOf("cot-sft", undefined, -1)),
      diff("ID avg: reason-rft − cot-sft", avgOf(RFT, "id"), avgOf("cot-sft", "id", -1), true),
      diff("OOD avg: reason-rft − cot-sft", avgOf(RFT, "ood"), avgOf("cot-sft", "ood", -1), true),
    ]),
  ];
}

interface ScoredItem {
  id?: unknown;
  score?: unknown;
}

/** Adds the evaluation directory `dir` (summary.json and <set>_with_score.json) to `arm` as seed `seed`. */
function addEval(arm: Arm, dir: string, seed: number): void {
  const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as {
    sets: { name: string; split: Split }[];
  };
  for (const s of summary.sets) {
    const file = join(dir, `${s.name}_with_score.json`);
    if (!existsSync(file)) continue;
    const items = JSON.parse(readFileSync(file, "utf8")) as ScoredItem[];
    const scores = new Map<string, number>();
    items.forEach((it, i) => {
      if (typeof it.score !== "number") throw new Error(`${file}: item ${i} has no numeric score`);
      scores.set(String(it.id ?? i), it.score);
    });
    const cell = arm.sets.get(s.name) ?? { split: s.split, seeds: new Map() };
    if (cell.split !== s.split) throw new Error(`${dir}: set ${s.name} is ${s.split} here, ${cell.split} elsewhere`);
    cell.seeds.set(seed, scores);
    arm.sets.set(s.name, cell);
  }
}

/** The seeds' roots under `root`: the first seed at root itself, seed k at root/seed-k (the demo's seedDir). */
function seedRoots(root: string, firstSeed: number): { seed: number; dir: string }[] {
  return [firstSeed, ...otherSeedsIn(root)].map((seed) => ({ seed, dir: seedDir(root, firstSeed, seed) }));
}

/** The run's first seed (demo.json's settings.seed; 0 without it). */
function firstSeedOf(out: string): number {
  const demoJson = join(out, "demo.json");
  return existsSync(demoJson)
    ? Number((JSON.parse(readFileSync(demoJson, "utf8")) as { settings?: { seed?: number } }).settings?.seed ?? 0)
    : 0;
}

/** task → paradigm → arm for the evaluations under `root` (the run's OUT, or a variant's directory). */
function readArms(root: string, firstSeed: number): Map<string, Map<string, Arm>> {
  const tasks = new Map<string, Map<string, Arm>>();
  for (const { seed, dir } of seedRoots(root, firstSeed)) {
    for (const task of existsSync(dir) ? readdirSync(dir).sort() : []) {
      const evalRoot = join(dir, task, "eval");
      if (task.startsWith("seed-") || !existsSync(evalRoot)) continue;
      const arms = tasks.get(task) ?? new Map<string, Arm>();
      for (const paradigm of readdirSync(evalRoot).sort()) {
        if (!existsSync(join(evalRoot, paradigm, "summary.json"))) continue;
        const arm = arms.get(paradigm) ?? { name: paradigm, sets: new Map() };
        addEval(arm, join(evalRoot, paradigm), seed);
        arms.set(paradigm, arm);
      }
      tasks.set(task, arms);
    }
  }
  return tasks;
}

function variantRoot(out: string, variant: string): string {
  const vroot = join(out, VARIANTS_DIR, variant);
  if (!existsSync(vroot)) throw new Error(`no variant ${variant}: ${vroot} does not exist`);
  return vroot;
}

/** The variants of a demo work directory (OUT/variants/NAME), by name. */
export function listVariants(out: string): string[] {
  const dir = join(out, VARIANTS_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** The arms of `variant` with the run's arms they stand in for, tagged `paradigm [variant]`. */
function variantArms(out: string, variant: string, firstSeed: number): Map<string, Map<string, Arm>> {
  const tasks = readArms(variantRoot(out, variant), firstSeed);
  for (const arms of tasks.values()) for (const [p, a] of arms) arms.set(p, { ...a, name: `${p} [${variant}]` });
  return tasks;
}

/** task → paradigm → arm, read from a demo work directory (a variant's arms replacing the run's, when given). */
export function readDemo(out: string, variant?: string): Map<string, Map<string, Arm>> {
  const firstSeed = firstSeedOf(out);
  const tasks = readArms(out, firstSeed);
  if (variant !== undefined)
    for (const [task, arms] of variantArms(out, variant, firstSeed)) {
      const main = tasks.get(task) ?? new Map<string, Arm>();
      for (const [p, a] of arms) main.set(p, a);
      tasks.set(task, main);
    }
  return tasks;
}

/** What one attempt (a variant) did to one arm it trained again, against the run's own arm of that paradigm. */
export interface AttemptResult {
  variant: string;
  task: string;
  paradigm: string;
  /** The variant's arm: AVG, ID avg, OOD avg. */
  arm: Record<"avg" | "id" | "ood", Estimate | null>;
  /** The run's own arm of the paradigm (null where the run has none). */
  run: Record<"avg" | "id" | "ood", Estimate | null>;
  /** Variant − run, paired by seed and item (the seeds and items both scored). */
  delta: Record<"avg" | "id" | "ood", Estimate | null>;
  /** The claims' verdicts for the task with the variant's arms in place of the run's. */
  verdicts: Record<ClaimResult["claim"], Verdict>;
}

/**
 * One task's attempt: for each paradigm the variant trained again (`variant` arms), its averages, the run's, and the
 * paired change; and C1–C4 with the variant's arms standing in.
 */
export function attemptResults(
  variant: string,
  task: string,
  run: ReadonlyMap<string, Arm>,
  variantArms: ReadonlyMap<string, Arm>,
  z = 2,
): AttemptResult[] {
  const merged = new Map(run);
  for (const [p, a] of variantArms) merged.set(p, a);
  const verdicts = Object.fromEntries(
    claims(task, merged, z).map((c) => [c.claim, c.verdict]),
  ) as AttemptResult["verdicts"];
  const three = (f: (split?: Split) => Estimate | null) => ({ avg: f(), id: f("id"), ood: f("ood") });
  return [...variantArms].map(([paradigm, a]) => {
    const own = run.get(paradigm);
    return {
      variant,
      task,
      paradigm,
      arm: three((split) => contrast(average(a, split))),
      run: three((split) => (own ? contrast(average(own, split)) : null)),
      delta: three((split) => (own ? contrast([...average(a, split), ...average(own, split, -1)]) : null)),
      verdicts,
    };
  });
}

/** Evaluation directories (summary.json and <set>_with_score.json) as one arm, the k-th directory its seed k. */
export function readEval(dirs: string | readonly string[], name = String(dirs)): Arm {
  const arm: Arm = { name, sets: new Map() };
  (typeof dirs === "string" ? [dirs] : dirs).forEach((dir, k) => {
    if (!existsSync(join(dir, "summary.json"))) throw new Error(`no evaluation in ${dir}: it has no summary.json`);
    addEval(arm, dir, k);
  });
  return arm;
}

/** B − A, paired by item, per set of B that A also has, and on the ID, OOD and overall averages of those sets. */
export interface EvalComparison {
  a: string;
  b: string;
  sets: Record<string, Estimate | null>;
  id: Estimate | null;
  ood: Estimate | null;
  avg: Estimate | null;
}

export function compareEvals(a: Arm, b: Arm): EvalComparison {
  const shared = [...b.sets.keys()].filter((set) => a.sets.get(set)?.split === b.sets.get(set)!.split);
  if (!shared.length) throw new Error(`${a.name} and ${b.name} share no test set`);
  const only = (arm: Arm): Arm => ({ ...arm, sets: new Map(shared.map((s) => [s, arm.sets.get(s)!])) });
  const [sa, sb] = [only(a), only(b)];
  const diff = (split?: Split) => contrast([...average(sb, split), ...average(sa, split, -1)]); // null: no such set
  return {
    a: a.name,
    b: b.name,
    sets: Object.fromEntries(
      shared.map((set) => [
        set,
        contrast([
          { arm: sb, set, weight: 1 },
          { arm: sa, set, weight: -1 },
        ]),
      ]),
    ),
    id: diff("id"),
    ood: diff("ood"),
    avg: diff(),
  };
}

/** Every attempt of a demo work directory (or the named ones), task by task. */
export function readAttempts(out: string, variants: readonly string[] = listVariants(out), z = 2): AttemptResult[] {
  const firstSeed = firstSeedOf(out);
  const run = readArms(out, firstSeed);
  return variants.flatMap((v) =>
    [...variantArms(out, v, firstSeed)].flatMap(([task, arms]) =>
      attemptResults(v, task, run.get(task) ?? new Map(), arms, z),
    ),
  );
}

const pct = (x: number) => (100 * x).toFixed(2);

export function formatClaims(results: readonly ClaimResult[], z: number): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.claim} (${r.task}): ${r.statement}: ${r.verdict.toUpperCase()}`);
    for (const c of r.comparisons) {
      const e = c.estimate;
      const body = e
        ? `${pct(e.mean)} ± ${pct(e.se)} pts (seeds ${pct(e.se_seeds)}, items ${pct(e.se_items)}; ${e.seeds.length} seed(s), n ${Object.values(e.n).join("/")}; ${side(
            e,
            z,
          )} ±${z} SE)`
        : "not measured";
      lines.push(`  ${c.context ? "(context) " : ""}${c.what}: ${body}`);
    }
  }
  return lines.join("\n");
}

function formatEstimate(e: Estimate | null, z: number, signed = false): string {
  if (!e) return "not measured";
  const sign = signed && e.mean >= 0 ? "+" : "";
  const mark = signed ? ` (${side(e, z)} ±${z} SE)` : "";
  return `${sign}${pct(e.mean)} ± ${pct(e.se)}${mark}`;
}

export function formatAttempts(results: readonly AttemptResult[], z: number): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.variant} (${r.task}, ${r.paradigm}, ${r.arm.avg?.seeds.length ?? 0} seed(s)):`);
    for (const k of ["avg", "id", "ood"] as const)
      lines.push(
        `  ${k === "avg" ? "AVG" : `${k.toUpperCase()} avg`}: ${formatEstimate(r.arm[k], z)} (run ${formatEstimate(r.run[k], z)}); ` +
          `change ${formatEstimate(r.delta[k], z, true)} pts`,
      );
    lines.push(
      `  with it: ${Object.entries(r.verdicts)
        .map(([c, v]) => `${c} ${v}`)
        .join(", ")}`,
    );
  }
  return lines.join("\n");
}

export function formatComparison(c: EvalComparison, z: number): string {
  const rows = [
    ...Object.entries(c.sets).map(([set, e]) => [set, e] as const),
    ["ID avg", c.id] as const,
    ["OOD avg", c.ood] as const,
    ["AVG", c.avg] as const,
  ];
  return [
    `${c.b} − ${c.a} (paired by item, accuracy points):`,
    ...rows.map(([k, e]) => `  ${k}: ${formatEstimate(e, z, true)}${e ? `, n ${Object.values(e.n).join("/")}` : ""}`),
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`claims.ts: ${(e as Error).message}\n`);
    process.exit(2);
  }
}

function main(args: string[]): void {
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`${flag} needs a value`);
    return v;
  };
  if (args.includes("--help") || args.length === 0) {
    process.stdout.write(
      "usage: node --import tsx scripts/analysis/claims.ts OUT [--variant NAME] [--attempts] [--z 2] [--json]\n" +
        "       node --import tsx scripts/analysis/claims.ts --compare A[,A2...] B[,B2...] [--z 2] [--json]\n" +
        "  tests the paper's claims C1-C4 on the item scores of a demo work directory OUT, paired by seed and test\n" +
        "  item (see the file's comment); --variant NAME puts the variant's arms in place of the run's.\n" +
        "  --attempts: per variant (every one in OUT/variants, or --variant NAME) and arm it trained again, its AVG,\n" +
        "  ID and OOD averages beside the run's own arm, the paired change, and C1-C4's verdicts with it\n" +
        "  --compare A B: B - A for two evaluation directories (rft eval --out, or OUT/<task>/eval/<paradigm>),\n" +
        "  per set and on the ID, OOD and overall averages, paired by item; comma-separated lists pair the k-th\n" +
        "  directories of A and B as seed k, and the estimate pools the seeds as the claims do\n",
    );
    process.exit(args.length === 0 ? 2 : 0);
  }
  const z = Number(value("--z") ?? 2);
  if (!(z > 0)) throw new Error(`--z must be a positive number`);
  const json = args.includes("--json");
  const compare = args.indexOf("--compare");
  if (compare >= 0) {
    const [a, b] = args.slice(compare + 1, compare + 3);
    if (!a || !b || a.startsWith("--") || b.startsWith("--")) throw new Error("--compare needs two directories, A B");
    const [as, bs] = [a.split(","), b.split(",")];
    if (as.length !== bs.length) throw new Error(`--compare: A has ${as.length} directories, B ${bs.length}`);
    for (const d of [...as, ...bs]) if (!existsSync(d)) throw new Error(`no such directory: ${d}`);
    const c = compareEvals(readEval(as, a), readEval(bs, b));
    process.stdout.write(json ? JSON.stringify(c, null, 2) + "\n" : formatComparison(c, z) + "\n");
    return;
  }
  const variant = value("--variant");
  const out = args.find((a, i) => !a.startsWith("--") && !["--variant", "--z"].includes(args[i - 1] ?? ""));
  if (!out || !existsSync(out)) throw new Error(`no such directory: ${out}`);
  if (args.includes("--attempts")) {
    const results = readAttempts(out, variant !== undefined ? [variant] : listVariants(out), z);
    if (!results.length) throw new Error(`no evaluated variants (…/variants/<name>/<task>/eval/…) under ${out}`);
    process.stdout.write(json ? JSON.stringify(results, null, 2) + "\n" : formatAttempts(results, z) + "\n");
    return;
  }
  const tasks = readDemo(out, variant);
  if (!tasks.size) throw new Error(`no evaluations (…/<task>/eval/<paradigm>/summary.json) under ${out}`);
  const results = [...tasks].flatMap(([task, arms]) => claims(task, arms, z));
  process.stdout.write(json ? JSON.stringify(results, null, 2) + "\n" : formatClaims(results, z) + "\n");
}
