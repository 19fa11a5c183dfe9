/**
 * Trainer configs and recipes: defaults, YAML/JSON files, --set parsing, precedence, unknown keys, cross-field rules,
 * the sequence budget, every recipe × profile, and the run-directory round trip.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConfigError,
  GRPO_FIELDS,
  SFT_FIELDS,
  TRAIN_FLAG_FIELDS,
  buildConfig,
  checkSequenceBudget,
  configHelp,
  configReferenceMarkdown,
  defaultConfig,
  grpoBatchPlan,
  imageTokenBound,
  parseSetArg,
  readConfigFile,
  rewardWeights,
  setLayer,
  validateConfig,
  writeRunConfig,
  type GRPOConfig,
  type SFTConfig,
} from "../../src/train/config.ts";
import { PROFILE_NAMES, RECIPES, RECIPE_NAMES, getRecipe, resolveTrainConfig } from "../../src/train/recipes.ts";
import { REWARD_TASKS } from "../../src/rewards/registry.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "rft-config-"));

/** The ConfigError thrown by fn (fails the test if none). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail("expected a ConfigError");
}

test("defaults are valid and are the reference's settings on one process", () => {
  const sft = buildConfig("sft").config;
  const grpo = buildConfig("grpo").config;
  assert.deepEqual(validateConfig("sft", defaultConfig("sft")), sft);
  assert.equal(sft.learning_rate, 1e-5);
  assert.equal(sft.per_device_train_batch_size * sft.gradient_accumulation_steps, 16); // spec §5.6 global batch
  assert.equal(sft.freeze_vision_tower, true);
  assert.equal(grpo.learning_rate, 1e-6);
  assert.equal(grpo.beta, 0.04);
  assert.equal(grpo.loss_type, "grpo");
  assert.deepEqual(grpoBatchPlan(grpo), {
    promptsPerStep: 14, // spec §4.11: 7 ranks × 1 prompt × 2 accumulation
    completionsPerStep: 112,
    microBatches: 14,
    completionsPerMicroBatch: 8,
    stepsPerGeneration: 1,
  });
  assert.deepEqual(rewardWeights(grpo), [1, 1]);
  // Every field is in the help, with its default.
  for (const k of Object.keys(GRPO_FIELDS)) assert.match(configHelp("grpo"), new RegExp(`^  ${k} = `, "m"));
  for (const k of Object.keys(SFT_FIELDS)) assert.match(configHelp("sft"), new RegExp(`^  ${k} = `, "m"));
});

test("--set values are read by the field's type", () => {
  assert.deepEqual(parseSetArg("sft", "learning_rate=1e-5"), ["learning_rate", 1e-5]);
  assert.deepEqual(parseSetArg("sft", "max_steps=-1"), ["max_steps", -1]);
  assert.deepEqual(parseSetArg("sft", "bf16=true"), ["bf16", true]);
  assert.deepEqual(parseSetArg("sft", "freeze_vision_tower=0"), ["freeze_vision_tower", false]);
  assert.deepEqual(parseSetArg("sft", "save_total_limit=null"), ["save_total_limit", null]);
  assert.deepEqual(parseSetArg("sft", "output_dir=runs/a=b"), ["output_dir", "runs/a=b"]);
  assert.deepEqual(parseSetArg("grpo", "reward_funcs=accuracy,format,reasoning"), [
    "reward_funcs",
    ["accuracy", "format", "reasoning"],
  ]);
  assert.deepEqual(parseSetArg("grpo", "reward_funcs=[accuracy, format]"), ["reward_funcs", ["accuracy", "format"]]);
  assert.deepEqual(parseSetArg("grpo", "reward_weights=1,0.5"), ["reward_weights", [1, 0.5]]);
  assert.deepEqual(parseSetArg("grpo", "reward_weights=[2, 0.25]"), ["reward_weights", [2, 0.25]]);
  assert.throws(() => parseSetArg("sft", "learning_rate=fast"), /--set learning_rate=fast: expected a number/);
  assert.throws(() => parseSetArg("sft", "bf16=maybe"), /expected true or false/);
  assert.throws(() => parseSetArg("sft", "learning_rate"), /--set expects key=value/);
  assert.throws(() => parseSetArg("grpo", "reward_weights=1,x"), /expected a number/);
  // A later repeat wins; TRL aliases of loss_type are normalised.
  const l = setLayer("grpo", ["beta=0.1", "beta=0", "loss_type=token-mean"]);
  assert.deepEqual(l.values, { beta: 0, loss_type: "token-mean" });
  assert.equal(buildConfig("grpo", [l]).config.loss_type, "dapo");
  assert.equal(buildConfig("grpo", [setLayer("grpo", ["loss_type=constant-norm"])]).config.loss_type, "dr_grpo");
  assert.equal(buildConfig("grpo", [setLayer("grpo", ["loss_type=sequence-mean"])]).config.loss_type, "grpo");
});

test("unknown keys are refused, naming the key, where it came from, the valid fields and the closest one", () => {
  const e = configError(() => parseSetArg("sft", "learnig_rate=1e-4"));
  assert.match(e.message, /unknown SFT config field "learnig_rate" \(--set learnig_rate=1e-4\)/);
  assert.match(e.message, /Did you mean "learning_rate"\?/);
  assert.match(e.message, /Valid fields: model_name_or_path, .*learning_rate/);
  const dir = tmp();
  const file = join(dir, "c.yaml");
  writeFileSync(file, "learning_rate: 2.0e-5\nnum_generation: 4\n");
  const e2 = configError(() => resolveTrainConfig({ recipe: "reason-rft", configFile: file }));
  assert.match(e2.message, new RegExp(`"num_generation" \\(config file ${file}\\)\\. Did you mean "num_generations"`));
  // An SFT field is unknown to GRPO.
  assert.match(
    configError(() => parseSetArg("grpo", "cutoff_len=10")).message,
    /unknown GRPO config field "cutoff_len"/,
  );
});

test("YAML and JSON files load; bad files are named", () => {
  const dir = tmp();
  const y = join(dir, "a.yaml");
  writeFileSync(y, "# a comment\nlearning_rate: 3e-4\nbf16: true\nreward_funcs: [accuracy]\nepsilon_high: 0.28\n");
  assert.deepEqual(readConfigFile(y), {
    learning_rate: 3e-4,
    bf16: true,
    reward_funcs: ["accuracy"],
    epsilon_high: 0.28,
  });
  const j = join(dir, "a.json");
  writeFileSync(j, JSON.stringify({ learning_rate: 3e-4, reward_weights: [1, 2] }));
  assert.deepEqual(readConfigFile(j), { learning_rate: 3e-4, reward_weights: [1, 2] });
  const r = resolveTrainConfig({ recipe: "reason-rft-zero", profile: "mini", configFile: y });
  assert.equal(r.config.learning_rate, 3e-4);
  assert.equal(r.sources.learning_rate, `config file ${y}`);
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "learning_rate: [1,\n");
  assert.throws(() => readConfigFile(bad), new RegExp(`config file ${bad}: not valid YAML`));
  const list = join(dir, "list.json");
  writeFileSync(list, "[1, 2]");
  assert.throws(() => readConfigFile(list), /expected a mapping of field names to values, got a list/);
  assert.throws(() => readConfigFile(join(dir, "missing.yaml")), /cannot read config file .*missing\.yaml/);
  // A type error names the field and the file it came from.
  const typo = join(dir, "typo.yaml");
  writeFileSync(typo, "learning_rate: fast\n");
  assert.match(
    configError(() => resolveTrainConfig({ recipe: "cot-sft", configFile: typo })).message,
    new RegExp(`learning_rate \\(from config file ${typo}\\): Expected number, received string; got "fast"`),
  );
});

test("precedence: defaults < recipe profile < file < command-line flags < --set", () => {
  const dir = tmp();
  const file = join(dir, "c.yaml");
  writeFileSync(file, "learning_rate: 2.0e-3\nseed: 7\noutput_dir: from-file\n");
  const base = { recipe: "cot-sft", profile: "mini" };
  const profileOnly = resolveTrainConfig(base);
  assert.equal(profileOnly.config.learning_rate, 1e-3);
  assert.equal(profileOnly.sources.learning_rate, "recipe cot-sft/mini");
  assert.equal(profileOnly.sources.adam_beta1, "default");
  const withFile = resolveTrainConfig({ ...base, configFile: file });
  assert.equal(withFile.config.learning_rate, 2e-3);
  const all = resolveTrainConfig({
    ...base,
    configFile: file,
    flags: { output_dir: "from-flag", model_name_or_path: "ckpt" },
    sets: ["learning_rate=3e-3", "output_dir=from-set"],
  });
  assert.equal(all.config.learning_rate, 3e-3);
  assert.equal(all.sources.learning_rate, "--set");
  assert.equal(all.config.seed, 7);
  assert.equal(all.config.output_dir, "from-set");
  assert.equal(all.config.model_name_or_path, "ckpt");
  assert.equal(all.sources.model_name_or_path, "command line");
  // Every field a flag sets says so in its doc.
  for (const [flag, field] of Object.entries(TRAIN_FLAG_FIELDS)) {
    assert.ok(SFT_FIELDS[field].doc.endsWith(`[--${flag}]`), field);
    assert.ok(GRPO_FIELDS[field].doc.endsWith(`[--${flag}]`), field);
  }
});

test("cross-field rules name every field involved", () => {
  const grpo = (values: Partial<GRPOConfig>) => configError(() => buildConfig("grpo", [{ source: "test", values }]));
  const e = grpo({ per_device_train_batch_size: 6, gradient_accumulation_steps: 1, num_generations: 4 });
  assert.equal(e.issues.length, 1);
  assert.deepEqual(e.issues[0]!.fields, [
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_generations",
  ]);
  assert.match(e.message, /6 × 1 = 6 completions must hold whole groups of num_generations = 4/);
  assert.match(e.message, /per_device_train_batch_size \(from test\)/);
  // Groups may span micro-batches: 4 × 3 = 12 holds three groups of 4.
  assert.equal(
    buildConfig("grpo", [
      { source: "t", values: { per_device_train_batch_size: 4, gradient_accumulation_steps: 3, num_generations: 4 } },
    ]).config.num_generations,
    4,
  );
  assert.deepEqual(
    grpo({ num_generations: 1, per_device_train_batch_size: 1, gradient_accumulation_steps: 1 }).issues[0]!.fields,
    ["num_generations"],
  );
  assert.deepEqual(grpo({ epsilon_high: 0.1 }).issues[0]!.fields, ["epsilon", "epsilon_high"]);
  assert.match(grpo({ epsilon: -0.1 }).message, /epsilon \(from test\): Number must be greater than or equal to 0/);
  assert.match(grpo({ num_iterations: 0 }).message, /num_iterations \(from test\): Number must be greater than 0/);
  assert.deepEqual(grpo({ reward_weights: [1] }).issues[0]!.fields, ["reward_weights", "reward_funcs"]);
  assert.deepEqual(grpo({ reward_funcs: ["accuracy", "mine"] }).issues[0]!.fields, ["reward_funcs", "reward_module"]);
  assert.equal(
    buildConfig("grpo", [{ source: "t", values: { reward_funcs: ["accuracy", "mine"], reward_module: "r.ts" } }]).config
      .reward_module,
    "r.ts",
  );
  assert.match(grpo({ reward_funcs: ["format", "format"] }).message, /lists format more than once/);
  assert.match(
    grpo({ task_name: "vc" as GRPOConfig["task_name"] }).message,
    /task_name \(from test\): Invalid enum value/,
  );
  assert.match(
    grpo({ loss_type: "mean" as GRPOConfig["loss_type"] }).message,
    /or sequence-mean, token-mean, constant-norm/,
  );
  const sft = (values: Partial<SFTConfig>) => configError(() => buildConfig("sft", [{ source: "test", values }]));
  assert.deepEqual(sft({ min_pixels: 600000 }).issues[0]!.fields, ["min_pixels", "max_pixels"]);
  assert.deepEqual(sft({ max_steps: 0 }).issues[0]!.fields, ["max_steps"]);
  assert.deepEqual(sft({ task_name: "countng" }).issues[0]!.fields, ["task_name"]);
  // Several problems are reported together.
  assert.equal(sft({ max_steps: 0, task_name: "countng" }).issues.length, 2);
});

test("sequence budget: prompt + completion must fit the model's positions at max_pixels", () => {
  // 480,000 px → at most 612 merged tokens + 2 markers per image.
  assert.equal(imageTokenBound(480000), 614);
  assert.equal(imageTokenBound(262144), 336);
  const paper = resolveTrainConfig({ recipe: "reason-rft", profile: "paper" }).config as GRPOConfig;
  const tiny = { maxPositionEmbeddings: 4096, imageTokens: 2 * imageTokenBound(paper.max_pixels) };
  const e = configError(() => checkSequenceBudget("grpo", paper, tiny));
  assert.deepEqual(e.issues[0]!.fields, ["max_prompt_length", "max_completion_length"]);
  assert.match(e.message, /4096 \+ 512 exceeds the model's max_position_embeddings \(4096\)/);
  checkSequenceBudget("grpo", paper, { ...tiny, maxPositionEmbeddings: 32768 });
  const mini = resolveTrainConfig({ recipe: "reason-rft", profile: "mini" }).config as GRPOConfig;
  checkSequenceBudget("grpo", mini, {
    maxPositionEmbeddings: 4096,
    imageTokens: 2 * imageTokenBound(mini.max_pixels),
    promptTextTokens: 900,
  });
  const big = configError(() =>
    checkSequenceBudget(
      "grpo",
      { ...mini, max_pixels: 12845056 },
      { maxPositionEmbeddings: 4096, imageTokens: imageTokenBound(12845056) },
    ),
  );
  assert.deepEqual(big.issues[0]!.fields, ["max_prompt_length", "max_pixels"]);
  const sft = resolveTrainConfig({ recipe: "cot-sft", profile: "paper" }).config as SFTConfig;
  assert.deepEqual(
    configError(() => checkSequenceBudget("sft", sft, { maxPositionEmbeddings: 2048, imageTokens: 336 })).issues[0]!
      .fields,
    ["cutoff_len"],
  );
  assert.deepEqual(
    configError(() =>
      checkSequenceBudget("sft", { ...sft, cutoff_len: 300 }, { maxPositionEmbeddings: 4096, imageTokens: 336 }),
    ).issues[0]!.fields,
    ["cutoff_len", "max_pixels"],
  );
});

test("every recipe × profile validates, with its why; task values apply; the trainer matches the data", () => {
  for (const name of RECIPE_NAMES) {
    const recipe = getRecipe(name);
    for (const profile of PROFILE_NAMES) {
      const r = resolveTrainConfig({ recipe: name, profile });
      assert.equal(r.trainer, recipe.trainer);
      assert.ok(r.why.length > 20, `${name}/${profile} has a why`);
      assert.equal(r.headline, `recipe ${name}, profile ${profile}: ${r.why}`);
      if (recipe.trainer === "grpo")
        for (const task of REWARD_TASKS) resolveTrainConfig({ recipe: name, profile, task, sets: ["max_steps=3"] });
    }
    assert.equal(recipe.trainer === "grpo", recipe.data === "rl" || recipe.data === "rl-stage2");
  }
  assert.equal(RECIPES["reason-rft-stage1"].data, "stage1-cot-sft");
  assert.equal(RECIPES["reason-rft"].startsFrom, "Stage-1 checkpoint");
  // spec §4.12: structure perception (geomath) runs 5 epochs in the paper profile.
  const geo = resolveTrainConfig({ recipe: "reason-rft", profile: "paper", task: "geomath" });
  assert.equal(geo.config.num_train_epochs, 5);
  assert.equal(geo.config.task_name, "geomath");
  assert.equal(
    resolveTrainConfig({ recipe: "reason-rft", profile: "paper", task: "clevr-math" }).config.num_train_epochs,
    1,
  );
  // --set max_steps and save_steps work for every recipe.
  for (const name of RECIPE_NAMES) {
    const r = resolveTrainConfig({ recipe: name, sets: ["max_steps=7", "save_steps=3"] });
    assert.equal(r.config.max_steps, 7);
    assert.equal(r.config.save_steps, 3);
  }
  assert.throws(
    () => getRecipe("reason-rft-stage-1"),
    /unknown recipe "reason-rft-stage-1" \(did you mean "reason-rft-stage1"\?\)/,
  );
  assert.throws(() => resolveTrainConfig({ recipe: "cot-sft", profile: "huge" }), /unknown profile "huge"/);
});

test("the resolved config written into the run directory loads back unchanged", () => {
  const dir = tmp();
  const r = resolveTrainConfig({
    recipe: "reason-rft",
    profile: "mini",
    task: "trance-only-full",
    sets: ["reward_weights=1,0.5", "epsilon_high=0.28"],
  });
  writeRunConfig(dir, r.trainer, r.config, { recipe: r.recipe.name, profile: r.profile, why: r.why });
  const again = resolveTrainConfig({ recipe: "reason-rft", profile: "paper", configFile: join(dir, "config.json") });
  assert.deepEqual(again.config, r.config);
  const yaml = readFileSync(join(dir, "config.yaml"), "utf8");
  assert.match(yaml, /^# trainer: grpo\n# recipe: reason-rft \(profile mini\)\n# why: /);
  assert.deepEqual(
    readConfigFile(join(dir, "config.yaml")),
    JSON.parse(readFileSync(join(dir, "config.json"), "utf8")),
  );
});

/** A markdown table with cell padding and separator widths normalised (prettier aligns tables). */
function normaliseTables(md: string): string {
  return md
    .split("\n")
    .map((line) => {
      if (!line.startsWith("|")) return line;
      const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
      return cells.map((c) => (/^:?-+:?$/.test(c) ? "---" : c)).join("|");
    })
    .join("\n");
}

test("docs/training.md carries the generated field reference of both trainers", () => {
  const doc = normaliseTables(readFileSync(new URL("../../docs/training.md", import.meta.url), "utf8"));
  for (const kind of ["sft", "grpo"] as const)
    assert.ok(
      doc.includes(normaliseTables(configReferenceMarkdown(kind))),
      `docs/training.md: the ${kind} field table is stale; paste configReferenceMarkdown("${kind}")`,
    );
});

test("config.yaml round-trips awkward strings", () => {
  const dir = tmp();
  const r = resolveTrainConfig({
    recipe: "cot-sft",
    flags: { output_dir: "runs/a: b # c", dataset_name: "true", image_root: "multi\nline", model_name_or_path: "1e-5" },
  });
  writeRunConfig(dir, r.trainer, r.config);
  const back = readConfigFile(join(dir, "config.yaml"));
  assert.equal(back.output_dir, "runs/a: b # c");
  assert.equal(back.dataset_name, "true");
  assert.equal(back.image_root, "multi\nline");
  assert.equal(back.model_name_or_path, "1e-5");
  assert.deepEqual(back, JSON.parse(readFileSync(join(dir, "config.json"), "utf8")));
});
