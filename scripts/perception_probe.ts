/**
 * The overfitting probe of docs/results.md ("The base model"): can a random qwen2-vl-tiny's vision path learn at
 * all with a given image normalisation and learning rate? 64 plain instruct records whose answer only the image can
 * tell (default: "What figure is shown?", 6 classes), 60 SFT steps of 32 (30 epochs), then greedy accuracy on the
 * same 64 (`rft eval perception`). A model that ignores the image stays at the majority answer (about 0.2).
 *
 *   node --import tsx scripts/perception_probe.ts --out runs/probe --mean midpoint --lr 3e-4 --seed 0
 *
 * --mean: midpoint (halfway between the object scenes' and the geometry figures' backgrounds; what `rft demo` uses),
 * objects (the object scenes' background), clip (CLIP's mean), or three numbers "r,g,b". The std is CLIP's. Work
 * files are cached in --out (benchmark, random model); each probe writes probe-<name>.json with its result.
 * Runs with one thread (RFT_NUM_THREADS=1), so two probes can run side by side on 2 cores.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { backgroundMidpoint, type Manifest } from "../src/tasks/synth/generate.ts";

const { values: o } = parseArgs({
  options: {
    out: { type: "string", default: "runs/probe" },
    mean: { type: "string", default: "midpoint" },
    lr: { type: "string", default: "3e-4" },
    seed: { type: "string", default: "0" },
    steps: { type: "string", default: "60" },
    question: { type: "string", default: "figure" },
    help: { type: "boolean" },
  },
});
if (o.help) {
  console.log(
    readFileSync(fileURLToPath(import.meta.url), "utf8")
      .split("*/")[0]!
      .replace(/^\/\*\*|^ \* ?/gm, ""),
  );
  process.exit(0);
}
const BIN = fileURLToPath(new URL("../bin/rft.js", import.meta.url));
const out = resolve(o.out!);
mkdirSync(out, { recursive: true });

function rft(args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, RFT_NUM_THREADS: "1", OMP_NUM_THREADS: "1" },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`rft ${args.slice(0, 2).join(" ")} failed:\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

const QUESTIONS: Record<string, RegExp> = {
  figure: /What figure is shown\?/,
  describe: /^<image>\s*Describe the objects/,
};
const question = QUESTIONS[o.question!];
if (!question) throw new Error(`--question: one of ${Object.keys(QUESTIONS).join(", ")}`);

// The benchmark's instruct set (seed 0) and the 64 probe records.
const bench = join(out, "bench");
if (!existsSync(join(bench, "manifest.json")))
  rft(["data", "synth", "--out", bench, "--tasks", "instruct", "--seed", "0"]);
const manifest = JSON.parse(readFileSync(join(bench, "manifest.json"), "utf8")) as Manifest;
const data = join(out, `records-${o.question}.json`);
if (!existsSync(data)) {
  const recs = JSON.parse(readFileSync(join(bench, "train_jsons", "A0-Instruct-train.json"), "utf8")) as {
    messages: { content: string }[];
  }[];
  const pick = recs.filter((r) => !r.messages[1]!.content.includes("<think>") && question.test(r.messages[0]!.content));
  writeFileSync(data, JSON.stringify(pick.slice(0, 64)));
}

// The random model (weights seed 0), then a copy with the probe's image_mean.
const init = join(out, "init");
if (!existsSync(join(init, "config.json")))
  rft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", init, "--seed", "0"]);
const MEANS: Record<string, number[]> = {
  midpoint: backgroundMidpoint(manifest.background),
  objects: manifest.background.objects.map((c) => c / 255),
  clip: [0.48145466, 0.4578275, 0.40821073],
};
const mean = MEANS[o.mean!] ?? o.mean!.split(",").map(Number);
if (mean.length !== 3 || mean.some((x) => !Number.isFinite(x)))
  throw new Error(`--mean: midpoint, objects, clip or "r,g,b", got ${o.mean}`);
const name = `${o.question}-${o.mean!.replace(/,/g, "_")}-lr${o.lr}-s${o.seed}-n${o.steps}`;
const model = join(out, `init-${o.mean!.replace(/,/g, "_")}`);
if (!existsSync(join(model, "config.json"))) {
  cpSync(init, model, { recursive: true });
  const ppPath = join(model, "preprocessor_config.json");
  const pp = JSON.parse(readFileSync(ppPath, "utf8")) as { image_mean: number[] };
  pp.image_mean = mean.map((x) => Math.round(x * 1e4) / 1e4);
  writeFileSync(ppPath, JSON.stringify(pp, null, 2) + "\n");
}

// 60 steps of 32 over the 64 records, the vision tower and merger trained, then greedy accuracy on the same records.
const run = join(out, `run-${name}`);
rmSync(run, { recursive: true, force: true }); // a probe is short: an earlier one of the same name is redone
const t0 = Date.now();
rft([
  ...["train", "cot-sft", "--task", "clevr-math", "--data", data, "--image-root", join(bench, "images")],
  ...["--model", model, "--out", run],
  ...[
    `max_steps=${o.steps}`,
    "per_device_train_batch_size=32",
    "gradient_accumulation_steps=1",
    "num_train_epochs=1000",
    "warmup_steps=5",
    "logging_steps=20",
    "save_steps=100000",
    "freeze_vision_tower=false",
    "freeze_multi_modal_projector=false",
    `learning_rate=${o.lr}`,
    `seed=${o.seed}`,
  ].flatMap((s) => ["--set", s]),
]);
const res = join(out, `probe-${name}.json`);
rft(
  ["eval", "perception", "--model", join(run, "final"), "--data", data, "--image-root", join(bench, "images")].concat([
    "--limit",
    "64",
    "--out",
    res,
    "--force",
  ]),
);
const kinds = (
  JSON.parse(readFileSync(res, "utf8")) as {
    kinds: Record<string, { accuracy: number | null; n: number; majority: number | null }>;
  }
).kinds;
const k = o.question === "figure" ? kinds.figure! : kinds.total!;
console.log(
  JSON.stringify({
    probe: name,
    image_mean: mean.map((x) => Math.round(x * 1e4) / 1e4),
    learning_rate: Number(o.lr),
    seed: Number(o.seed),
    steps: Number(o.steps),
    accuracy: k.accuracy,
    n: k.n,
    majority: k.majority,
    seconds: Math.round((Date.now() - t0) / 1000),
  }),
);
