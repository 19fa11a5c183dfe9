/**
 * `rft demo`: the whole paper at mini scale, in one process, every stage cached in the work directory.
 *
 *   bench/                 the mini benchmark (`rft data synth`)
 *   init/                  a random qwen2-vl-tiny whose tokenizer is trained on the benchmark's text (`rft model init`)
 *   vision/                its vision tower pretrained on scene labels (src/train/vision_pretrain.ts); vision/final/
 *   base/                  the base model: SFT on the instruct set (perception and the answer format); base/final/
 *   <task>/data/           the task's training files (`rft data build`, Stage-1 split from the manifest's size)
 *   <task>/<recipe>/       training runs: ans-sft, cot-sft, reason-rft-stage1, reason-rft-zero, reason-rft
 *   <task>/eval/<paradigm>/ evaluations on the task's ID and OOD test sets (`rft eval` output)
 *   demo.json              the settings the directory was made with (a run with others is refused without --force)
 *   .rft-lock              held while a run works here (src/io/output.ts lockDir): a second run at once is refused
 *   report.md/.html/.json  the report (rewritten at the end of every run)
 *
 * A finished stage is skipped (a checkpoint directory is written atomically; an evaluation's summary.json exists only
 * when it finished); an interrupted training resumes from its latest checkpoint; an interrupted evaluation resumes by
 * item id. So a repeated run only rewrites the report and prints the table.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  OutputError,
  lockDir,
  prepareOutputDir,
  readOutputMarker,
  writeJsonAtomic,
  writeOutputMarker,
} from "../io/output.ts";
import {
  SPLITS,
  INSTRUCT_FILE,
  TASKS as SYNTH_TASKS,
  backgroundMidpoint,
  instructCounts,
  type Manifest,
} from "../tasks/synth/generate.ts";
import type { InstructStyle } from "../tasks/synth/instruct.ts";
import { type TaskFamily } from "../tasks/tasks.ts";
import { DEFAULT_TEMPLATES, type EvalStrategy, trainingPrompt } from "../tasks/prompts.ts";
import type { RecipeName } from "../train/recipes.ts";
import type { ResultRow, RunInput } from "../eval/report.ts";
import type { EvalSummary } from "../eval/runner.ts";
import type { PerceptionSummary } from "../eval/perception.ts";
import { PERCEPTION_KINDS } from "../eval/perception_score.ts";
import { PARADIGM_LABELS } from "../eval/paper_results.ts";
import {
  COST,
  DEMO_PARADIGMS,
  DEMO_TASKS,
  TASK_COST,
  TRAINED_PARADIGMS,
  VARIANT_NAME,
  splitBatch,
  type DemoBudget,
  type DemoParadigm,
  type DemoTask,
  type PresetName,
} from "./presets.ts";

export const DEMO_KIND = "demo";
const SETTINGS_FILE = "demo.json";
/** The base model's held-out perception summary (base/perception.json). */
export const PERCEPTION_FILE = "perception.json";
/** The held-out perception set's seed: the demo's seed plus this (so it never shares the benchmark's streams). */
export const HELDOUT_SEED_OFFSET = 1000;
const FILES_FILE = "demo_files.json";

/** Per task: its family, the reward task of GRPO, and its train file in the benchmark. */
export const TASK_INFO: Record<DemoTask, { family: TaskFamily; rlTask: string; train: string }> = {
  counting: { family: "visual-counting", rlTask: "clevr-math", train: trainFile("counting") },
  geometry: { family: "structure-perception", rlTask: "geomath", train: trainFile("geometry") },
  transformation: { family: "spatial-transformation", rlTask: "trance", train: trainFile("transformation") },
};

function trainFile(task: DemoTask): string {
  return SPLITS.find((s) => s.task === task && !s.test)!.file;
}

/** How each paradigm's model is evaluated (spec §6.1): the prompt strategy its training used. */
export const PARADIGM_STRATEGY: Record<DemoParadigm, EvalStrategy> = {
  "zero-shot": "zero-shot",
  "ans-sft": "sft",
  "cot-sft": "cot-sft",
  "reason-rft-zero": "cot-sft",
  "reason-rft": "cot-sft",
};

export interface DemoOptions {
  out: string;
  preset: PresetName;
  budget: DemoBudget;
  tasks: readonly DemoTask[];
  /** Seed of the benchmark, the random model and the base model, and the first fine-tuning seed. */
  seed: number;
  /**
   * Fine-tuning seeds per task (default 1): seed, seed + 1, … Every seed shares the benchmark and the base model
   * (as the paper's runs share one pretrained Qwen2-VL) and has its own training data order, Stage-1 subset,
   * sampling and evaluation sampling. The first seed's stages are in OUT/<task>, the others' in
   * OUT/seed-<s>/<task>, so more seeds can be added to a finished run.
   */
  seeds?: number;
  /** Start over in an OUT made with other settings (removes the demo's stage directories there). */
  force?: boolean;
  /** Progress and stage lines (default stderr). */
  log?: (line: string) => void;
  /** Where the trainers draw their progress line (default stderr). */
  stream?: NodeJS.WriteStream;
  /**
   * Training processes per stage (default 1). With more, each stage runs under `rft launch --nproc N` with the same
   * global batch (splitBatch), so the results do not depend on it beyond floating-point noise.
   */
  workers?: number;
  /**
   * An attempt (issue 12): some paradigms trained and evaluated again with other settings, in OUT/variants/<name>,
   * reusing the run's benchmark, base model (and training files and Stage-1 model unless it changes them). Its
   * report, with the run's own rows beside its own, goes to that directory.
   */
  variant?: DemoVariant;
}

/** `--set` lines of a variant's trainings, by kind: ANS-/CoT-SFT, Reason-RFT's Stage 1, GRPO (Zero and Stage 2). */
export interface VariantSets {
  sft?: readonly string[];
  stage1?: readonly string[];
  grpo?: readonly string[];
}

export interface DemoVariant {
  /** Its directory under OUT/variants/ and the tag of its rows ("Reason-RFT [name]"). */
  name: string;
  /** The paradigms it trains and evaluates again (not zero-shot: nothing is trained for it). */
  paradigms: readonly DemoParadigm[];
  sets: VariantSets;
  /** Records of the Stage-1 CoT split (more or fewer CoT labels); default the benchmark's (5% of the train set). */
  stage1Size?: number;
}

export const VARIANTS_DIR = "variants";
const VARIANT_FILE = "variant.json";
const VARIANT_KIND = "demo-variant";

/** A set of a seed's and task's arms: the run's own, or a variant's (`main`: the run's own, whose stages it reuses). */
interface ArmSet {
  tdir: string;
  /** Prefix of its stage ids and names. */
  sid: string;
  paradigms: readonly DemoParadigm[];
  sets: VariantSets;
  stage1Size?: number;
  main?: ArmSet;
}

export interface DemoResult {
  /** Where the report is: OUT, or OUT/variants/<name> for a variant. */
  out: string;
  /** One row per (task, paradigm, set): with several seeds their mean, with its standard errors. */
  results: ResultRow[];
  /** Every seed's own rows. */
  perSeed: { seed: number; results: ResultRow[] }[];
  /** The base model's held-out perception (base/perception.json, written by src/eval/perception.ts). */
  perception: PerceptionSummary | null;
  /** Seconds of this invocation. */
  seconds: number;
  /** Seconds of compute summed over every stage, including earlier invocations that were resumed. */
  stageSeconds: number;
  /** Stages run (not taken from the cache) in this invocation. */
  ran: string[];
  report: Record<string, unknown>;
}

interface Stage {
  id: string;
  /** Stages whose output this one reads: when one of them runs, this one runs again. */
  after: string[];
  name: string;
  /** Estimated idle 2-core seconds (ETA). */
  cost: number;
  done(): boolean;
  run(): Promise<void>;
}

/** What decides the content of the stage directories: a run with other values is refused (or, with force, restarts). */
function settingsOf(o: DemoOptions): Record<string, unknown> {
  // version 2: the random model's image normalisation changed (a base made by version 1 is not reused).
  return { version: 2, seed: o.seed, ...o.budget };
}

/** The world size recorded in a training run's latest checkpoint (null when it has none or it cannot be read). */
async function checkpointWorldSize(dir: string): Promise<number | null> {
  const { latestCheckpoint } = await import("../train/run.ts");
  const { loadTrainerState } = await import("../io/trainer_state.ts");
  const last = latestCheckpoint(dir);
  if (!last) return null;
  try {
    return loadTrainerState(last).world_size;
  } catch {
    return null;
  }
}

/** Where a fine-tuning seed's task directories are: OUT for the first seed, OUT/seed-<s> for the others. */
export function seedDir(out: string, firstSeed: number, seed: number): string {
  return seed === firstSeed ? out : join(out, `seed-${seed}`);
}

/** The seeds other than the first that have a directory under `root` (root/seed-<s>), ascending. */
export function otherSeedsIn(root: string): number[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((n) => /^seed-(-?\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/**
 * The seeds and tasks the run's own report covers: this invocation's, plus every (seed, task) whose evaluations
 * `finished(seed, task)` says OUT already holds from other invocations (seed s > first in OUT/seed-<s>). So a later
 * `--tasks transformation --seeds 1` keeps counting's three seeds in the report, and `--seeds 1` keeps seeds 1 and 2.
 * Returns, per seed (ascending), its tasks in DEMO_TASKS order.
 */
export function reportScope(
  out: string,
  firstSeed: number,
  seeds: readonly number[],
  tasks: readonly DemoTask[],
  finished: (seed: number, task: DemoTask) => boolean,
): { seed: number; tasks: DemoTask[] }[] {
  const all = [...new Set([...seeds, firstSeed, ...otherSeedsIn(out)])].sort((a, b) => a - b);
  return all
    .map((seed) => ({
      seed,
      tasks: DEMO_TASKS.filter((t) => (seeds.includes(seed) && tasks.includes(t)) || finished(seed, t)),
    }))
    .filter((x) => x.tasks.length > 0);
}

/** Runs `rft ARGS` under `rft launch --nproc N`; its lines go to `log`; a failure throws with its last lines. */
async function launchWorkers(n: number, args: readonly string[], log: (m: string) => void): Promise<void> {
  const bin = fileURLToPath(new URL("../../bin/rft.js", import.meta.url));
  const child = spawn(process.execPath, [bin, "launch", "--nproc", String(n), "--", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tail: string[] = [];
  const onLine = (line: string) => {
    const l = line.replace(/\r/g, "").trimEnd();
    if (!l) return;
    tail.push(l);
    if (tail.length > 20) tail.shift();
    log(l);
  };
  for (const s of [child.stdout, child.stderr]) createInterface({ input: s }).on("line", onLine);
  const code = await new Promise<number | null>((res, rej) => {
    child.on("error", rej);
    child.on("close", (c, sig) => res(sig ? 128 : c));
  });
  if (code !== 0)
    throw new Error(
      `rft launch --nproc ${n} -- ${args.slice(0, 2).join(" ")} failed (exit ${code}):\n${tail.join("\n")}`,
    );
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** With --variant, --force is the variant's (redo it): the run's own OUT and settings must match. */
function runForce(o: DemoOptions): boolean | undefined {
  return o.variant ? false : o.force;
}

/**
 * Compares OUT's settings (runDemo has checked OUT itself, empty, missing or an earlier demo, before taking its
 * lock); with force clears the demo's stages.
 */
function prepareWorkDir(o: DemoOptions): void {
  const out = o.out;
  const path = join(out, SETTINGS_FILE);
  const want = settingsOf(o);
  if (existsSync(path) && readOutputMarker(out)?.kind === DEMO_KIND) {
    const prev = readJson<{ settings?: Record<string, unknown> }>(path).settings ?? {};
    const diffs = Object.keys({ ...prev, ...want }).filter((k) => JSON.stringify(prev[k]) !== JSON.stringify(want[k]));
    if (diffs.length) {
      const what = diffs.map((k) => `${k}: ${JSON.stringify(prev[k])} → ${JSON.stringify(want[k])}`).join("; ");
      const keep = keptStages(diffs);
      if (!o.force)
        throw new OutputError(
          `--out ${out} holds a demo made with other settings (${what}); use another --out, or --force to redo ` +
            (keep.length ? `the stages they change (${keep.join(", ")} kept)` : "every stage there"),
        );
      for (const d of [...removedPaths(out, keep), "report.md", "report.json", "report.html"])
        rmSync(join(out, d), { recursive: true, force: true });
    }
  }
  mkdirSync(out, { recursive: true });
  writeOutputMarker(out, DEMO_KIND, "rft demo");
  writeJsonAtomic(path, { tool: "rft demo", preset: o.preset, settings: want });
}

/** Checks a variant's name and settings, refuses a variant directory made with other settings unless force (redo it). */
function prepareVariantDir(out: string, v: DemoVariant, force: boolean): void {
  if (!VARIANT_NAME.test(v.name))
    throw new OutputError(`--variant ${JSON.stringify(v.name)}: use letters, digits, '.', '_' and '-' only`);
  if (!v.paradigms.length || !v.paradigms.every((p) => TRAINED_PARADIGMS.includes(p)))
    throw new OutputError("--paradigms: a variant trains again one or more of " + TRAINED_PARADIGMS.join(", "));
  const dir = join(out, VARIANTS_DIR, v.name);
  const path = join(dir, VARIANT_FILE);
  const want = { name: v.name, paradigms: v.paradigms, sets: v.sets, stage1Size: v.stage1Size ?? null };
  if (existsSync(path)) {
    const prev = readJson<{ settings?: unknown }>(path).settings;
    if (JSON.stringify(prev) !== JSON.stringify(want)) {
      if (!force)
        throw new OutputError(
          `variant ${v.name} in ${dir} was made with other settings (${JSON.stringify(prev)}); ` +
            "use another --variant name, or --force to redo it",
        );
      rmSync(dir, { recursive: true, force: true });
    }
  }
  prepareOutputDir(dir, { kind: VARIANT_KIND, flag: "--variant", command: "rft demo --variant", force });
  mkdirSync(dir, { recursive: true });
  writeOutputMarker(dir, VARIANT_KIND, "rft demo --variant");
  writeJsonAtomic(path, { tool: "rft demo --variant", settings: want });
}

/** Resolves each training config a variant's overrides go into, so a bad key or value fails before any stage runs. */
async function checkVariantSets(v: DemoVariant): Promise<void> {
  const { resolveTrainConfig } = await import("../train/recipes.ts");
  const checks: [RecipeName, readonly string[] | undefined, string][] = [
    ["ans-sft", v.sets.sft, "--set-sft"],
    ["reason-rft-stage1", v.sets.stage1, "--set-stage1"],
    ["reason-rft", v.sets.grpo, "--set-grpo"],
  ];
  for (const [recipe, sets, flag] of checks) {
    if (!sets?.length) continue;
    try {
      resolveTrainConfig({
        recipe,
        profile: "mini",
        task: "clevr-math",
        flags: { model_name_or_path: "model", dataset_name: "data.json", output_dir: "out" },
        sets,
      });
    } catch (e) {
      throw new OutputError(`${flag}: ${(e as Error).message}`);
    }
  }
}

/** A variant in one line for its report: what it changes. */
export function variantNote(v: DemoVariant): string {
  const parts = [
    ...(v.sets.sft?.length ? [`ANS-/CoT-SFT ${v.sets.sft.join(", ")}`] : []),
    ...(v.sets.stage1?.length ? [`Stage 1 ${v.sets.stage1.join(", ")}`] : []),
    ...(v.sets.grpo?.length ? [`GRPO ${v.sets.grpo.join(", ")}`] : []),
    ...(v.stage1Size !== undefined ? [`a Stage-1 CoT split of ${v.stage1Size} records`] : []),
  ];
  return (
    `Variant ${v.name}: ${v.paradigms.join(", ")} trained again (rows tagged [${v.name}]) with ` +
    `${parts.length ? parts.join("; ") : "the run's own settings (a repeat)"}; the other rows are the run's own.`
  );
}

/**
 * Settings that decide the benchmark, the perception set and the random model; those that decide only the trained
 * base model (its vision pretraining and its SFT); those that decide only its held-out perception.
 */
const BENCH_SETTINGS = ["version", "seed", "size", "instructImages"];
const BASE_SETTINGS = ["visionSteps", "baseSteps", "baseLearningRate"];
const PERCEPTION_SETTINGS = ["heldoutImages", "perceptionLimit"];
/** Settings that decide only the evaluations of the paradigms. */
const EVAL_SETTINGS = ["limit", "maxNewTokens", "evalBatch"];

/**
 * What --force keeps when these settings changed: the benchmark, perception set and random model unless their own
 * settings changed; the base model when only later budgets changed (an hours-long base is not retrained for another
 * GRPO budget); the held-out perception when it is not among them; the
 * fine-tuning runs when only evaluation or perception settings changed; their evaluations when no evaluation setting
 * changed.
 */
export function keptStages(changed: readonly string[]): string[] {
  const some = (ks: readonly string[]) => changed.some((k) => ks.includes(k));
  if (some(BENCH_SETTINGS)) return [];
  if (some(BASE_SETTINGS)) return ["bench", "init"];
  const kept = ["bench", "init", "base"];
  if (!some(PERCEPTION_SETTINGS)) kept.push("held-out perception");
  if (changed.every((k) => PERCEPTION_SETTINGS.includes(k) || EVAL_SETTINGS.includes(k))) {
    kept.push("fine-tuning runs");
    if (!some(EVAL_SETTINGS)) kept.push("evaluations");
  }
  return kept;
}

/**
 * What --force removes from OUT (paths relative to it) to redo what `keptStages` does not keep. Fine-tuning lives in
 * OUT/<task>, OUT/seed-<s>/<task> and the same under each OUT/variants/<name>.
 */
export function removedPaths(out: string, kept: readonly string[]): string[] {
  const seedsIn = (rel: string) =>
    existsSync(join(out, rel))
      ? readdirSync(join(out, rel))
          .filter((d) => /^seed-\d+$/.test(d))
          .map((d) => join(rel, d))
      : [];
  const variants = existsSync(join(out, VARIANTS_DIR))
    ? readdirSync(join(out, VARIANTS_DIR)).map((d) => join(VARIANTS_DIR, d))
    : [];
  const perception = kept.includes("held-out perception") ? [] : ["heldout", join("base", PERCEPTION_FILE)];
  const models = ["vision", "base", ...SYNTH_TASKS, ...seedsIn(""), VARIANTS_DIR];
  if (!kept.includes("bench")) return ["bench", "init", "perception", "heldout", ...models];
  if (!kept.includes("base")) return ["heldout", ...models];
  if (!kept.includes("fine-tuning runs")) return [...SYNTH_TASKS, ...seedsIn(""), VARIANTS_DIR, ...perception];
  if (!kept.includes("evaluations")) {
    const roots = ["", ...seedsIn(""), ...variants.flatMap((v) => [v, ...seedsIn(v)])];
    return [...roots.flatMap((r) => SYNTH_TASKS.map((t) => join(r, t, "eval"))), ...perception];
  }
  return perception;
}

/** Text for the tiny tokenizer: prompt templates, training prompts and targets, instruct turns of the benchmark. */
function benchCorpus(bench: string, perFile = 600): string[] {
  const texts: string[] = Object.values(DEFAULT_TEMPLATES).map(String);
  for (const [task, info] of Object.entries(TASK_INFO)) {
    void task;
    const recs = readJson<{ problem: string; answer: string; cot?: string }[]>(join(bench, info.train));
    for (const r of recs.slice(0, perFile)) {
      texts.push(trainingPrompt(info.family, "cot-sft", r), trainingPrompt(info.family, "ans-sft", r));
      texts.push(`${r.cot ?? ""}<answer>${r.answer}</answer>`);
    }
  }
  const instruct = readJson<{ messages: { content: string }[] }[]>(join(bench, INSTRUCT_FILE));
  for (const r of instruct.slice(0, perFile * 2)) for (const m of r.messages) texts.push(m.content);
  return texts;
}

/**
 * A random qwen2-vl-tiny with the tokenizer trained on the benchmark's text, written atomically to `dir`. Its
 * image_mean lies halfway between the benchmark's two flat backgrounds (object scenes, over 90% of a counting or
 * TRANCE image's pixels, and the white of the geometry figures), with CLIP's std, so both backgrounds sit within
 * ±0.45 of zero; CLIP's mean puts them at +1 to +1.9. DESIGN.md found that centring decided whether a tiny vision
 * tower learned at all; docs/results.md has the probe behind this choice (centring on the object background alone
 * left the figure classes unlearned).
 */
async function initModel(bench: string, dir: string, seed: number, log: (m: string) => void): Promise<void> {
  const { trainByteLevelBpe, toTokenizerJson, toTokenizerConfig } = await import("../models/qwen2vl/tiny_tokenizer.ts");
  const { QwenTokenizer } = await import("../models/qwen2vl/tokenizer.ts");
  const { presetConfig } = await import("../models/qwen2vl/config.ts");
  const { Qwen2VLForConditionalGeneration } = await import("../models/qwen2vl/model.ts");
  const { saveCheckpoint } = await import("../models/qwen2vl/checkpoint.ts");
  const { manualSeed } = await import("../tensor/index.ts");
  const { outputMarkerFile } = await import("../io/output.ts");
  const bpe = trainByteLevelBpe(benchCorpus(bench), { minFrequency: 1, allowSmaller: true });
  const tj = toTokenizerJson(bpe);
  const tok = new QwenTokenizer(tj, {}, undefined, "tiny tokenizer");
  const cfg = presetConfig("qwen2-vl-tiny", tok.configIds());
  log(`tokenizer: ${tok.size} tokens trained on the benchmark's text`);
  const { defaultPreprocessorConfig } = await import("../models/qwen2vl/processor_config.ts");
  const manifest = readJson<Manifest>(join(bench, "manifest.json"));
  const mean = backgroundMidpoint(manifest.background).map((x) => Math.round(x * 1e4) / 1e4);
  const preprocessor = defaultPreprocessorConfig({ image_mean: mean });
  log(`image normalisation: mean ${mean.join(", ")} (between the two flat backgrounds), CLIP's std`);
  manualSeed(seed);
  const model = new Qwen2VLForConditionalGeneration(cfg, { dtype: "float32" });
  try {
    await saveCheckpoint(model, dir, {
      dtype: "float32",
      preprocessor,
      extraFiles: {
        "tokenizer.json": tj,
        "tokenizer_config.json": toTokenizerConfig(bpe),
        ...outputMarkerFile("checkpoint", "rft demo"),
      },
    });
  } finally {
    model.dispose();
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

type InstructCounts = Partial<Record<InstructStyle, number>>;

const sumCounts = (c: InstructCounts) => Object.values(c).reduce((a: number, x) => a + (x ?? 0), 0);
const fmtCounts = (c: InstructCounts) =>
  Object.entries(c)
    .filter(([, n]) => n)
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");

/** Held-out perception images: counting-style scenes, and 30% as many of each other style. */
export function heldoutCounts(counting: number): Record<InstructStyle, number> {
  const other = Math.round(counting * 0.3);
  return { counting, transformation: other, geometry: other };
}

/** An instruct-only synth output in `dir` with this seed and these images per style. */
function synthDone(dir: string, seed: number, counts: InstructCounts): boolean {
  const path = join(dir, "manifest.json");
  if (!existsSync(path)) return false;
  const m = readJson<Manifest>(path);
  const want = instructCounts("full", counts);
  const have = m.instruct ?? instructCounts(m.size);
  return (
    m.seed === seed &&
    m.size === "full" &&
    m.tasks.includes("instruct") &&
    JSON.stringify(have) === JSON.stringify(want)
  );
}

/** Generates only the instruct set (`rft data synth --tasks instruct --instruct-images …`) into `dir`. */
async function synthInstruct(dir: string, seed: number, counts: InstructCounts, log: (m: string) => void) {
  const { synthesize } = await import("../tasks/synth/generate.ts");
  await synthesize({ out: dir, size: "full", seed, tasks: ["instruct"], instruct: counts, force: true, log });
}

/** One line of a perception summary: accuracy per kind with its majority baseline. */
export function perceptionLine(s: PerceptionSummary): string {
  return Object.entries(s.kinds)
    .filter(([, v]) => v.n > 0)
    .map(([k, v]) => `${k} ${v.accuracy?.toFixed(3) ?? "-"} (n ${v.n}, majority ${v.majority?.toFixed(3) ?? "-"})`)
    .join("; ");
}

/** The report's paragraph on the base model's perception. */
function perceptionNote(s: PerceptionSummary): string {
  return (
    "Base model perception on held-out instruct questions (greedy, exact match; a benchmark of another seed): " +
    perceptionLine(s) +
    ". RL sharpens what the base can already do: a base near the majority baseline leaves every paradigm little to build on."
  );
}

/** Modification time of a file in ms (0 when missing). */
function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Whether the training run in `dir` continues: it is one of ours and was started from the current version of its
 * start model (a run started before that model was made again starts over).
 */
function resumable(dir: string, startModel: string): boolean {
  return (
    existsSync(dir) &&
    readOutputMarker(dir)?.kind === "training-run" &&
    upToDate(join(dir, "config.yaml"), join(startModel, "config.json"))
  );
}

/**
 * Fields not compared: the workers' batch split (splitBatch: the same global batch) and the paths, which follow the
 * work directory (a moved --out keeps its stages; upToDate compares the inputs' ages).
 */
const UNCOMPARED_FIELDS = new Set([
  "per_device_train_batch_size",
  "gradient_accumulation_steps",
  "model_name_or_path",
  "dataset_name",
  "image_root",
  "output_dir",
]);

/**
 * How the training config saved in run directory `dir` (config.json) differs from `now`, as "field old → new" (empty
 * when it matches or there is none). Fields that only one of them has (added or removed by another version of this
 * program) and UNCOMPARED_FIELDS are not compared. A demo training whose config changed (a recipe's profile
 * edited, say) is trained again rather than reused or resumed.
 */
export function configDrift(dir: string, now: Record<string, unknown>): string[] {
  const file = join(dir, "config.json");
  if (!existsSync(file)) return [];
  const saved = readJson<Record<string, unknown>>(file);
  const out: string[] = [];
  for (const [k, v] of Object.entries(now)) {
    if (UNCOMPARED_FIELDS.has(k) || !(k in saved)) continue;
    if (JSON.stringify(saved[k]) !== JSON.stringify(v))
      out.push(`${k} ${JSON.stringify(saved[k])} → ${JSON.stringify(v)}`);
  }
  return out;
}

/** `out` exists and is not older than `input` (a stage made from an older input is redone). */
function upToDate(out: string, input: string): boolean {
  const o = mtime(out);
  return o > 0 && o >= mtime(input);
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  return m > 0 ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

/** Runs the demo (see the module comment). */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + "\n"));
  const out = resolve(o.out);
  // One run per work directory: a second `rft demo` into it (say, the resume command typed twice) is refused.
  // OUT is checked before the lock is written into it, so a foreign directory is left as it was.
  prepareOutputDir(out, { kind: DEMO_KIND, flag: "--out", command: "rft demo", force: runForce(o) });
  const lock = lockDir(out, "rft demo", (held) =>
    log(`rft demo: ${held.command} (pid ${held.pid}, since ${held.started}) no longer runs; taking over ${out}`),
  );
  try {
    return await demoIn(out, o, log);
  } finally {
    lock.release();
  }
}

async function demoIn(out: string, o: DemoOptions, log: (m: string) => void): Promise<DemoResult> {
  const t0 = Date.now();
  const b = o.budget;
  const seeds = Array.from({ length: o.seeds ?? 1 }, (_, i) => o.seed + i);
  if (o.variant) await checkVariantSets(o.variant);
  prepareWorkDir({ ...o, out, force: runForce(o) });
  if (o.variant) prepareVariantDir(out, o.variant, Boolean(o.force));
  const bench = join(out, "bench");
  const imageRoot = join(bench, "images");
  const initDir = join(out, "init");
  const visionRun = join(out, "vision");
  const baseRun = join(out, "base");
  const baseModel = join(baseRun, "final");
  const perceptionData = join(out, "perception");
  const baseData = b.instructImages ? join(perceptionData, INSTRUCT_FILE) : join(bench, INSTRUCT_FILE);
  const baseImages = b.instructImages ? join(perceptionData, "images") : imageRoot;
  /** The base model's start: the random model, or it with its vision tower pretrained. */
  const baseStart = b.visionSteps > 0 ? join(visionRun, "final") : initDir;
  const heldoutDir = join(out, "heldout");
  const heldoutSeed = o.seed + HELDOUT_SEED_OFFSET;
  const perceptionFile = join(baseRun, PERCEPTION_FILE);
  const timesPath = join(out, "stage_seconds.json");
  /** Wall and CPU (user + system, all threads) seconds per finished stage, kept across invocations. */
  const times: Record<string, { seconds: number; cpu_seconds: number }> = existsSync(timesPath)
    ? readJson(timesPath)
    : {};
  const quiet = (prefix: string) => (m: string) => log(`  ${prefix}: ${m}`);

  const { resolveTrainConfig } = await import("../train/recipes.ts");
  const { configToJson } = await import("../train/config.ts");
  /** One demo training: its recipe, reward task, data file, start model, run directory, steps, seed and extra --sets. */
  interface TrainSpec {
    recipe: RecipeName;
    task: string;
    data: string;
    model: string;
    dir: string;
    steps: number;
    seed: number;
    extraSets?: readonly string[];
    images?: string;
  }
  /** The `--set`s and the resolved training config of a demo training (what `rft train` writes as config.json). */
  const trainConfig = ({
    recipe,
    task,
    data,
    model,
    dir,
    steps,
    seed,
    extraSets = [],
    images = imageRoot,
  }: TrainSpec) => {
    const sets = [
      `max_steps=${steps}`,
      `seed=${seed}`,
      // Often enough that a stopped run loses little (the full preset's base takes hours), at most 10 per run.
      `save_steps=${Math.max(5, Math.min(100, Math.ceil(steps / 10)))}`,
      `logging_steps=${Math.max(1, Math.min(5, Math.ceil(steps / 10)))}`,
      ...(recipe === "ans-sft" || recipe === "cot-sft" || recipe === "reason-rft-stage1"
        ? [`warmup_steps=${Math.min(20, Math.floor(steps / 10))}`]
        : []),
      // GRPO samples under the evaluation's cap: a CoT chain cut short loses its answer and both rewards.
      ...(recipe === "reason-rft-zero" || recipe === "reason-rft" ? [`max_completion_length=${b.maxNewTokens}`] : []),
      ...extraSets,
    ];
    const run = resolveTrainConfig({
      recipe,
      profile: "mini",
      task,
      flags: { model_name_or_path: model, dataset_name: data, image_root: images, output_dir: dir },
      sets,
    });
    return { sets, run, json: JSON.parse(configToJson(run.recipe.trainer, run.config)) as Record<string, unknown> };
  };

  const train = async (name: string, spec: TrainSpec): Promise<void> => {
    const { recipe, task, data, model, dir, images = imageRoot } = spec;
    const { sets, run, json } = trainConfig(spec);
    let resume = resumable(dir, model);
    const trainedBy = resume ? await checkpointWorldSize(dir) : null;
    if (trainedBy !== null && trainedBy !== (o.workers ?? 1)) {
      log(`  ${name}: its checkpoints were written by ${trainedBy} worker(s), not ${o.workers ?? 1}: starting it over`);
      resume = false;
    }
    const drift = resume ? configDrift(dir, json) : [];
    if (drift.length) {
      log(`  ${name}: its checkpoints were trained with another config (${drift.join("; ")}): starting it over`);
      resume = false;
    }
    if (!resume) rmSync(dir, { recursive: true, force: true });
    const workers = o.workers ?? 1;
    if (workers > 1) {
      const split = splitBatch(run.config as Parameters<typeof splitBatch>[0], workers);
      const args = [
        ...["train", recipe, "--task", task, "--data", data, "--image-root", images, "--model", model],
        ...["--out", dir, "--profile", "mini"],
        ...[...sets, ...Object.entries(split).map(([k, v]) => `${k}=${v}`)].flatMap((x) => ["--set", x]),
        ...(resume ? ["--resume"] : []),
      ];
      await launchWorkers(workers, args, quiet(name));
      return;
    }
    const opts = { resume, log: quiet(name), stream: o.stream, progressPrefix: `  ${name}: ` };
    if (run.recipe.trainer === "sft") {
      const { trainSft } = await import("../train/sft.ts");
      await trainSft(run as Parameters<typeof trainSft>[0], opts);
    } else {
      const { trainGrpo } = await import("../train/grpo.ts");
      await trainGrpo(run as Parameters<typeof trainGrpo>[0], opts);
    }
  };

  const evaluate = async (
    task: DemoTask,
    paradigm: DemoParadigm,
    model: string,
    dir: string,
    seed: number,
    label: string,
  ): Promise<void> => {
    const { runEval } = await import("../eval/runner.ts");
    const { benchSets } = await import("../eval/sets.ts");
    const { createLocalBackend } = await import("../eval/local.ts");
    const family = TASK_INFO[task].family;
    const backend = await createLocalBackend({
      modelDir: model,
      batchSize: b.evalBatch,
      sampling: { temperature: 0.1, topP: 0.9, topK: 50, maxNewTokens: b.maxNewTokens },
    });
    let last = 0;
    try {
      await runEval(
        {
          task: family,
          sets: benchSets(bench, family),
          imageRoot,
          out: dir,
          strategy: PARADIGM_STRATEGY[paradigm],
          limit: b.limit ?? undefined,
          seed,
        },
        backend,
        {
          onLog: quiet(`eval ${label}`),
          onProgress: (p) => {
            if (Date.now() - last < 5000 && p.done + p.failed < p.total) return;
            last = Date.now();
            log(`  eval ${label}: ${p.done + p.failed}/${p.total} items (${p.set})`);
          },
        },
      );
    } finally {
      await backend.close?.();
    }
  };

  // ---- the stages ---------------------------------------------------------------------------------------------------
  const stages: Stage[] = [
    {
      id: "bench",
      after: [],
      name: "benchmark",
      cost: COST.synth[b.size],
      done: () => {
        if (!existsSync(join(bench, "manifest.json"))) return false;
        const m = readJson<Manifest>(join(bench, "manifest.json"));
        return m.size === b.size && m.seed === o.seed && SYNTH_TASKS.every((t) => m.tasks.includes(t));
      },
      run: async () => {
        const { synthesize } = await import("../tasks/synth/generate.ts");
        await synthesize({
          out: bench,
          size: b.size,
          seed: o.seed,
          tasks: SYNTH_TASKS,
          workers: 2,
          force: true,
          log: quiet("synth"),
        });
      },
    },
    {
      id: "init",
      after: ["bench"],
      name: "random qwen2-vl-tiny",
      cost: COST.init,
      done: () => existsSync(join(initDir, "config.json")),
      run: () => initModel(bench, initDir, o.seed, quiet("init")),
    },
  ];
  if (b.instructImages)
    stages.push({
      id: "perception-data",
      after: [],
      name: `perception set (${fmtCounts(b.instructImages)} instruct images)`,
      cost: COST.synth.full * (sumCounts(b.instructImages) / 4000),
      done: () => synthDone(perceptionData, o.seed, b.instructImages!),
      run: () => synthInstruct(perceptionData, o.seed, b.instructImages!, quiet("synth")),
    });
  const baseInputs = ["bench", "init", ...(b.instructImages ? ["perception-data"] : [])];
  if (b.visionSteps > 0)
    stages.push({
      id: "vision",
      after: baseInputs,
      name: `vision tower pretraining on scene labels (${b.visionSteps} steps)`,
      cost: COST.load + b.visionSteps * COST.visionStep,
      done: () => upToDate(join(baseStart, "config.json"), join(initDir, "config.json")),
      run: async () => {
        const { pretrainVision, VISION_PRETRAIN_DEFAULTS } = await import("../train/vision_pretrain.ts");
        const resume = resumable(visionRun, initDir);
        if (!resume) rmSync(visionRun, { recursive: true, force: true });
        await pretrainVision(
          {
            ...VISION_PRETRAIN_DEFAULTS,
            model_name_or_path: initDir,
            dataset_name: baseData,
            image_root: baseImages,
            output_dir: visionRun,
            max_steps: b.visionSteps,
            seed: o.seed,
            save_steps: Math.max(5, Math.min(100, Math.ceil(b.visionSteps / 10))),
            // The quick preset's instruct set is small: a tenth of it scores the head.
            eval_images: b.instructImages ? VISION_PRETRAIN_DEFAULTS.eval_images : 200,
          },
          { resume, log: quiet("vision"), stream: o.stream, progressPrefix: "  vision: " },
        );
      },
    });
  const heldout = heldoutCounts(b.heldoutImages);
  stages.push(
    {
      id: "base",
      after: [...baseInputs, ...(b.visionSteps > 0 ? ["vision"] : [])],
      name: `base model (SFT on the instruct set, ${b.baseSteps} steps)`,
      cost: COST.load + b.baseSteps * COST.baseStep,
      done: () => upToDate(join(baseModel, "config.json"), join(baseStart, "config.json")),
      // The tiny model starts random: its vision tower and merger have to learn to see here (the recipes' freezing
      // is for a pretrained Qwen2-VL, whose tower already sees).
      run: () =>
        train("base", {
          recipe: "cot-sft",
          task: "clevr-math",
          data: baseData,
          model: baseStart,
          dir: baseRun,
          steps: b.baseSteps,
          seed: o.seed,
          extraSets: [
            "freeze_vision_tower=false",
            "freeze_multi_modal_projector=false",
            ...(b.baseLearningRate ? [`learning_rate=${b.baseLearningRate}`] : []),
          ],
          images: baseImages,
        }),
    },
    {
      id: "heldout",
      after: [],
      name: `held-out perception set (${fmtCounts(heldout)} instruct images, seed ${heldoutSeed})`,
      cost: COST.synth.full * (sumCounts(heldout) / 4000),
      done: () => synthDone(heldoutDir, heldoutSeed, heldout),
      run: () => synthInstruct(heldoutDir, heldoutSeed, heldout, quiet("synth")),
    },
    {
      id: "base/perception",
      after: ["base", "heldout"],
      name: `base model: held-out perception (${b.perceptionLimit} questions per kind)`,
      cost: COST.load + PERCEPTION_KINDS.length * b.perceptionLimit * COST.evalItem * 0.2,
      done: () => upToDate(perceptionFile, join(baseModel, "config.json")),
      run: async () => {
        const { evaluatePerception } = await import("../eval/perception.ts");
        const summary = await evaluatePerception({
          model: baseModel,
          data: join(heldoutDir, INSTRUCT_FILE),
          imageRoot: join(heldoutDir, "images"),
          limit: b.perceptionLimit,
          batchSize: b.evalBatch,
        });
        writeJsonAtomic(perceptionFile, summary);
        log(`  base perception: ${perceptionLine(summary)}`);
      },
    },
  );

  const evalCost = (task: DemoTask) => {
    const sets = SPLITS.filter((s) => s.task === task && s.test).length;
    const per = b.limit ?? (b.size === "small" ? 20 : 1000);
    return COST.load + sets * per * COST.evalItem * TASK_COST[task] * (b.maxNewTokens / 128);
  };

  /**
   * One seed's stages of one task in `a.tdir` (stage ids prefixed `a.sid`): the training files, the trainings of
   * `a.paradigms` and their evaluations. A variant (`a.main`: the run's own stages of this seed and task) reuses the
   * run's training files and Stage-1 model unless it changes them.
   */
  const taskStages = (seed: number, task: DemoTask, a: ArmSet): void => {
    const info = TASK_INFO[task];
    const ownData = !a.main || a.stage1Size !== undefined;
    const ownStage1 = ownData || (a.sets.stage1?.length ?? 0) > 0;
    const dataHome = ownData ? a : a.main!;
    const stage1Home = ownStage1 ? a : a.main!;
    const dataDir = join(dataHome.tdir, "data");
    const dataId = `${dataHome.sid}${task}/data`;
    const filesPath = join(dataDir, FILES_FILE);
    const files = () => readJson<Record<string, string>>(filesPath);
    const final = (r: string) => join(a.tdir, r, "final");
    if (ownData)
      stages.push({
        id: dataId,
        after: ["bench"],
        name: `${a.sid}${task}: training files`,
        cost: 2,
        done: () => existsSync(filesPath),
        run: async () => {
          const { buildTaskData, writeBuild } = await import("../data/build.ts");
          const { readMetaFile } = await import("../data/meta.ts");
          const { taskBuildSpec } = await import("../tasks/build_spec.ts");
          const { imagesPerSample } = await import("../tasks/tasks.ts");
          const manifest = readJson<Manifest>(join(bench, "manifest.json"));
          const stage1Size = a.stage1Size ?? manifest.stage1Size[task] ?? 1;
          const meta = readMetaFile(join(bench, info.train), {
            requireCot: true,
            imagesPerRecord: imagesPerSample(info.family),
          });
          const spec = taskBuildSpec(info.family);
          const result = buildTaskData(meta.records, spec, { stage1Size, seed });
          rmSync(dataDir, { recursive: true, force: true });
          writeBuild(dataDir, spec.prefix, result, { task: info.family, stage1_size: stage1Size, seed });
          writeJsonAtomic(filesPath, Object.fromEntries(result.files.map((f) => [f.kind, join(dataDir, f.name)])));
        },
      });
    const training = (
      recipe: RecipeName,
      kind: string,
      steps: number,
      cost: number,
      sets: readonly string[] | undefined,
      from: { model: string; id: string },
    ): Stage => {
      // The data file is known once the training files are built: the spec is made when it is needed.
      const spec = (): TrainSpec => ({
        recipe,
        task: info.rlTask,
        data: files()[kind]!,
        model: from.model,
        dir: join(a.tdir, recipe),
        steps,
        seed,
        extraSets: sets,
      });
      return {
        id: `${a.sid}${task}/${recipe}`,
        after: [dataId, from.id],
        name: `${a.sid}${task}: ${recipe} (${steps} steps)`,
        cost: COST.load + steps * cost * TASK_COST[task],
        done: () =>
          upToDate(join(final(recipe), "config.json"), join(from.model, "config.json")) &&
          !configDrift(join(a.tdir, recipe), trainConfig(spec()).json).length,
        run: () => train(`${a.sid}${task}/${recipe}`, spec()),
      };
    };
    const base = { model: baseModel, id: "base" };
    const has = (p: DemoParadigm) => a.paradigms.includes(p);
    if (has("ans-sft")) stages.push(training("ans-sft", "ans-sft", b.sftSteps, COST.sftStep, a.sets.sft, base));
    if (has("cot-sft")) stages.push(training("cot-sft", "cot-sft", b.sftSteps, COST.sftStep, a.sets.sft, base));
    if (has("reason-rft-zero"))
      stages.push(training("reason-rft-zero", "rl", b.grpoSteps, COST.grpoStep, a.sets.grpo, base));
    if (has("reason-rft")) {
      if (ownStage1)
        stages.push(
          training("reason-rft-stage1", "stage1-cot-sft", b.stage1Steps, COST.stage1Step, a.sets.stage1, base),
        );
      const stage1 = {
        model: join(stage1Home.tdir, "reason-rft-stage1", "final"),
        id: `${stage1Home.sid}${task}/reason-rft-stage1`,
      };
      stages.push(training("reason-rft", "rl-stage2", b.grpoSteps, COST.grpoStep, a.sets.grpo, stage1));
    }
    for (const paradigm of a.paradigms) {
      const model = paradigm === "zero-shot" ? baseModel : final(paradigm);
      const dir = join(a.tdir, "eval", paradigm);
      stages.push({
        id: `${a.sid}${task}/eval/${paradigm}`,
        after: [paradigm === "zero-shot" ? "base" : `${a.sid}${task}/${paradigm}`],
        name: `${a.sid}${task}: evaluate ${paradigm}`,
        cost: evalCost(task),
        done: () =>
          existsSync(join(dir, "summary.json")) && upToDate(join(dir, "eval_run.json"), join(model, "config.json")),
        run: () => {
          // Predictions of an older version of the model (retrained since) are not resumed; a finished evaluation
          // that runs again (its model was retrained) starts over too.
          if (
            !upToDate(join(dir, "eval_run.json"), join(model, "config.json")) ||
            existsSync(join(dir, "summary.json"))
          )
            rmSync(dir, { recursive: true, force: true });
          return evaluate(task, paradigm, model, dir, seed, `${a.sid}${task}/${paradigm}`);
        },
      });
    }
  };

  /** The run's own arms of a seed and task: in OUT/<task> for the first seed, OUT/seed-<s>/<task> for the others. */
  const mainArms = (seed: number, task: DemoTask): ArmSet => ({
    tdir: join(seedDir(out, o.seed, seed), task),
    sid: seed === o.seed ? "" : `seed-${seed}/`,
    paradigms: DEMO_PARADIGMS,
    sets: {},
  });
  const variantOut = o.variant ? join(out, VARIANTS_DIR, o.variant.name) : null;
  /** A variant's arms of a seed and task, laid out like the run's own under OUT/variants/<name>. */
  const variantArms = (seed: number, task: DemoTask): ArmSet => {
    const v = o.variant!;
    const main = mainArms(seed, task);
    return {
      tdir: join(seedDir(variantOut!, o.seed, seed), task),
      sid: `${VARIANTS_DIR}/${v.name}/${main.sid}`,
      paradigms: v.paradigms,
      sets: v.sets,
      ...(v.stage1Size !== undefined ? { stage1Size: v.stage1Size } : {}),
      main,
    };
  };
  for (const seed of seeds)
    for (const task of o.tasks) {
      taskStages(seed, task, mainArms(seed, task));
      if (o.variant) taskStages(seed, task, variantArms(seed, task));
    }

  // ---- run what is not cached ---------------------------------------------------------------------------------------
  const todoIds = new Set<string>();
  for (const s of stages) if (!s.done() || s.after.some((a) => todoIds.has(a))) todoIds.add(s.id);
  const todo = stages.filter((s) => todoIds.has(s.id));
  const cached = stages.length - todo.length;
  if (cached) log(`rft demo: ${cached} of ${stages.length} stages already done in ${out} (cached)`);
  // The ETA scales the estimate of what is left by how this machine compared with the estimate so far. That counts
  // the stages earlier invocations finished (their times are kept), so a resumed run's first ETA is calibrated too;
  // a stage that was itself resumed kept only its last invocation's time, which makes the machine look faster.
  const earlier = stages.filter((s) => !todoIds.has(s.id) && times[s.name]);
  let estDone = earlier.reduce((a, s) => a + s.cost, 0);
  let spent = earlier.reduce((a, s) => a + times[s.name]!.seconds, 0);
  const speed = () => (estDone > 0 ? spent / estDone : 1);
  const left = (from: number) => todo.slice(from).reduce((a, s) => a + s.cost, 0) * speed();
  if (todo.length)
    log(
      `rft demo: ${todo.length} stages to run, estimated ${fmtTime(left(0))} (${
        earlier.length
          ? `scaled by the ${earlier.length} stages done before`
          : "stage costs measured with one core of 2; less when both are free"
      })`,
    );
  const ran: string[] = [];
  for (const [i, s] of todo.entries()) {
    log(`[${i + 1}/${todo.length}] ${s.name} | elapsed ${fmtTime((Date.now() - t0) / 1000)}, ETA ${fmtTime(left(i))}`);
    const ts = Date.now();
    const cpu0 = process.cpuUsage();
    await s.run();
    const sec = (Date.now() - ts) / 1000;
    const cpu = process.cpuUsage(cpu0);
    times[s.name] = { seconds: round1(sec), cpu_seconds: round1((cpu.user + cpu.system) / 1e6) };
    writeJsonAtomic(timesPath, times);
    spent += sec;
    estDone += s.cost;
    ran.push(s.name);
    log(`  done in ${fmtTime(sec)} (${fmtTime(times[s.name]!.cpu_seconds)} CPU)`);
  }

  // ---- the report ---------------------------------------------------------------------------------------------------
  const runs: RunInput[] = [];
  const { readRunDir, writeReport } = await import("../eval/report.ts");
  if (b.visionSteps > 0 && existsSync(join(visionRun, "metrics.jsonl")))
    runs.push(readRunDir(visionRun, "vision tower (scene labels)"));
  if (existsSync(join(baseRun, "metrics.jsonl"))) runs.push(readRunDir(baseRun, "base (instruct SFT)"));
  // The run's own report covers what OUT holds from other invocations too; a variant's report, its own seeds and tasks.
  const scope = o.variant
    ? seeds.map((seed) => ({ seed, tasks: [...o.tasks] }))
    : reportScope(out, o.seed, seeds, o.tasks, (seed, task) =>
        DEMO_PARADIGMS.every((p) => existsSync(join(mainArms(seed, task).tdir, "eval", p, "summary.json"))),
      );
  const reportSeeds = scope.map((x) => x.seed);
  const seedsPerTask: Record<string, number> = {};
  for (const x of scope) for (const t of x.tasks) seedsPerTask[t] = (seedsPerTask[t] ?? 0) + 1;
  const perSeed: { seed: number; results: ResultRow[] }[] = [];
  for (const { seed, tasks } of scope) {
    const rows: ResultRow[] = [];
    const tag = reportSeeds.length > 1 ? ` (seed ${seed})` : "";
    for (const task of tasks) {
      const armSets = [mainArms(seed, task), ...(o.variant && seeds.includes(seed) ? [variantArms(seed, task)] : [])];
      for (const a of armSets) {
        const suffix = a.main ? ` [${o.variant!.name}]` : "";
        for (const paradigm of a.paradigms) {
          const s = readJson<EvalSummary>(join(a.tdir, "eval", paradigm, "summary.json"));
          for (const set of s.sets)
            rows.push({
              task: TASK_INFO[task].family,
              paradigm,
              ...(suffix ? { label: PARADIGM_LABELS[paradigm] + suffix, variant: o.variant!.name } : {}),
              set: set.name,
              split: set.split,
              n: set.n,
              accuracy: set.accuracy,
            });
        }
        for (const r of ["ans-sft", "cot-sft", "reason-rft-stage1", "reason-rft-zero", "reason-rft"])
          if (existsSync(join(a.tdir, r, "metrics.jsonl")))
            runs.push(readRunDir(join(a.tdir, r), `${task}/${r}${suffix}${tag}`));
      }
    }
    perSeed.push({ seed, results: rows });
  }
  const { aggregateSeeds } = await import("../eval/seeds.ts");
  const results: ResultRow[] = reportSeeds.length > 1 ? aggregateSeeds(perSeed) : perSeed[0]!.results;
  const perception = existsSync(perceptionFile) ? readJson<PerceptionSummary>(perceptionFile) : null;
  const seconds = (Date.now() - t0) / 1000;
  const stageSeconds = Object.values(times).reduce((a, x) => a + x.seconds, 0);
  const extra = {
    seconds: Math.round(seconds * 10) / 10,
    stage_seconds: Math.round(stageSeconds * 10) / 10,
    stages: times,
    preset: o.preset,
    seed: o.seed,
    seeds: reportSeeds,
    seeds_per_task: seedsPerTask,
    budget: b,
    tasks: DEMO_TASKS.filter((t) => t in seedsPerTask),
    base_perception: perception,
    ...(reportSeeds.length > 1 ? { per_seed: perSeed } : {}),
    ...(o.variant ? { variant: o.variant } : {}),
  };
  // A variant's report (its rows beside the run's own) goes to its directory; the run's report stays as it was.
  const reportDir = variantOut ?? out;
  writeReport(
    reportDir,
    {
      title: `rft demo (${o.preset})${o.variant ? ` with variant ${o.variant.name}` : ""}`,
      results,
      runs,
      notes: [
        ...(o.variant ? [variantNote(o.variant)] : []),
        ...demoNotes(o.preset, b, reportSeeds.length, seedsPerTask),
        ...(perception ? [perceptionNote(perception)] : []),
      ],
      extra,
    },
    { owned: true },
  );
  const report = readJson<Record<string, unknown>>(join(reportDir, "report.json"));
  return { out: reportDir, results, perSeed, perception, seconds, stageSeconds, ran, report };
}

/** What the run can and cannot show, in plain words (report.md/html and the terminal). */
export function demoNotes(
  preset: PresetName,
  b: DemoBudget,
  seeds = 1,
  seedsPerTask: Record<string, number> = {},
): string[] {
  const per = b.limit === null ? "every item of each test set" : `the first ${b.limit} items of each test set`;
  const common = [
    `Budget: ${b.visionSteps > 0 ? `vision tower ${b.visionSteps} pretraining steps on scene labels, then ` : ""}` +
      `base model ${b.baseSteps} SFT steps on the instruct set; ANS-SFT and CoT-SFT ${b.sftSteps} steps; ` +
      `Reason-RFT Stage 1 ${b.stage1Steps} steps on the Stage-1 split, then ${b.grpoSteps} GRPO steps; ` +
      `Reason-RFT-Zero ${b.grpoSteps} GRPO steps; evaluation on ${per} (greedy-like sampling, temperature 0.1, ` +
      `at most ${b.maxNewTokens} new tokens). The model is a 4.5M-parameter qwen2-vl-tiny trained from random weights.`,
  ];
  if (preset === "quick")
    return [
      "What this quick run shows: the whole pipeline of the paper — benchmark, base model, the five paradigms, " +
        "evaluation on ID and OOD sets, this report — running end to end on 2 CPU cores, every stage cached and resumable.",
      "What it cannot show: which paradigm is better. At minutes of 2-core compute the paradigms are not separated: " +
        "the base model has barely begun to perceive, each paradigm trains for seconds, and with " +
        `${b.limit ?? "all"} items per set one standard error of an accuracy is up to ` +
        `${b.limit ? (0.5 / Math.sqrt(b.limit)).toFixed(2) : "0.02"}, larger than any difference to expect. ` +
        "Read the table as a smoke test, not as evidence for or against the paper.",
      "What is known at this scale (PyTorch prototypes of a model this size with 5–12 minutes per paradigm and " +
        "1,000 items per set, summarised in docs/evaluation.md): answer-only SFT led (.53 ID / .54 OOD), CoT-SFT then GRPO came next (.40 / .41) just above CoT-SFT " +
        "(.40 / .38), GRPO alone last (.35 / .37). `rft demo --full` trains long enough to compare the paradigms.",
      ...common,
    ];
  const mixed = new Set(Object.values(seedsPerTask)).size > 1;
  return [
    seeds > 1
      ? `This full run has ${mixed ? "up to " : ""}${seeds} fine-tuning seeds per task sharing one benchmark and one base model; each cell is ` +
        "the mean over seeds ± its standard error (seeds and test items, see docs/results.md), and paradigms within " +
        "two standard errors of the best are marked as not separated."
      : "This full run trains long enough to compare the paradigms on one seed. Differences within about two standard " +
        "errors (0.5/√n per set) are noise; run several seeds (--seeds 3) before drawing conclusions.",
    ...(mixed
      ? [
          `The tasks have different numbers of seeds (${Object.entries(seedsPerTask)
            .map(([t, n]) => `${t} ${n}`)
            .join(", ")}); a task with one seed has no seed part in its standard errors.`,
        ]
      : []),
    ...common,
  ];
}
