/**
 * `rft train RECIPE ...`: the paper's training stages (CoT-SFT / ANS-SFT, GRPO) as recipes with `paper` and `mini`
 * profiles; every config field can come from `--config FILE` and `--set key=value`.
 */
import { type CommandSpec, UsageError } from "../args.ts";
import { RECIPE_NAMES, PROFILE_NAMES, DEFAULT_PROFILE, resolveTrainConfig, isRecipeName } from "../../train/recipes.ts";
import { configHelp, ConfigError } from "../../train/config.ts";

export const command: CommandSpec = {
  name: "train",
  summary: "train with a recipe: ans-sft, cot-sft, reason-rft-stage1 (SFT) or reason-rft-zero, reason-rft (GRPO)",
  positionals: true,
  options: {
    task: { type: "string", help: "task of the data (clevr-math, geomath, trance, ...; GRPO: the reward task)" },
    data: {
      type: "string",
      help: "training file written by `rft data build` (sft/cot_sft/stage1 for SFT, rl/rl_stage2 for GRPO)",
    },
    "image-root": { type: "string", help: "directory the records' image paths are relative to" },
    model: { type: "string", help: "checkpoint to start from (Hugging Face directory)" },
    out: { type: "string", help: "run directory (checkpoints, metrics.jsonl, config, final/)" },
    profile: { type: "string", help: "hyper-parameter profile", choices: PROFILE_NAMES, default: DEFAULT_PROFILE },
    config: { type: "string", help: "YAML or JSON file of config fields (overrides the profile)" },
    set: { type: "strings", help: "override one config field: key=value (after --config)" },
    resume: { type: "boolean", help: "continue the run in --out from its latest checkpoint" },
  },
  details: [
    `RECIPE is one of: ${RECIPE_NAMES.join(", ")}.`,
    "Precedence: config defaults < recipe profile < --config FILE < the flags above < --set key=value.",
    "A non-empty --out is refused unless --resume continues the run in it. Metrics go to OUT/metrics.jsonl, checkpoints",
    "to OUT/checkpoint-<step>/ (save_steps), the final model to OUT/final/ (docs/training.md has the layout).",
    "",
    "Examples (the generated benchmark; see docs/training.md for the whole pipeline):",
    "  rft train reason-rft-stage1 --task clevr-math --data runs/built/counting/clevr_math_cot_sft-10.json \\",
    "    --image-root runs/bench/images --model runs/base --out runs/stage1 --set max_steps=20",
    "  rft train reason-rft --task clevr-math --data runs/built/counting/clevr_math_rl_stage2.json \\",
    "    --image-root runs/bench/images --model runs/stage1/final --out runs/rft --set max_steps=10",
    "",
    "Data parallel: started with torchrun's variables (rft launch --nproc N -- train ..., torchrun, Slurm), every",
    "process trains on its slice of the global batch (per device × accumulation × processes); rank 0 writes",
    "(docs/training.md, 'Data parallel'; fields ddp_backend, ddp_timeout, ddp_bucket_cap_mb).",
    "",
    "SFT config fields (ans-sft, cot-sft, reason-rft-stage1), with defaults:",
    configHelp("sft"),
    "",
    "GRPO config fields (reason-rft-zero, reason-rft), with defaults:",
    configHelp("grpo"),
  ].join("\n"),
  async run(opts, positionals) {
    const recipe = positionals[0];
    if (!recipe) throw new UsageError(`give a RECIPE (${RECIPE_NAMES.join(", ")})`);
    if (positionals.length > 1) throw new UsageError(`unexpected arguments: ${positionals.slice(1).join(" ")}`);
    if (!isRecipeName(recipe)) throw new UsageError(`unknown recipe '${recipe}' (one of: ${RECIPE_NAMES.join(", ")})`);
    const flags: Record<string, unknown> = {};
    if (opts.model !== undefined) flags.model_name_or_path = opts.model;
    if (opts.data !== undefined) flags.dataset_name = opts.data;
    if (opts["image-root"] !== undefined) flags.image_root = opts["image-root"];
    if (opts.out !== undefined) flags.output_dir = opts.out;
    let run;
    try {
      run = resolveTrainConfig({
        recipe,
        profile: opts.profile as string,
        task: opts.task as string | undefined,
        configFile: opts.config as string | undefined,
        flags,
        sets: (opts.set as string[] | undefined) ?? [],
      });
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
    const c = run.config;
    const missing = (
      [
        ["model_name_or_path", "--model"],
        ["dataset_name", "--data"],
        ["output_dir", "--out"],
      ] as const
    ).filter(([k]) => !c[k]);
    if (missing.length)
      throw new UsageError(`missing ${missing.map(([k, f]) => `${f} (or ${k} in --config/--set)`).join(", ")}`);
    if (run.recipe.trainer === "sft") {
      const { trainSft } = await import("../../train/sft.ts");
      await trainSft(run as Parameters<typeof trainSft>[0], { resume: !!opts.resume });
    } else {
      const { trainGrpo } = await import("../../train/grpo.ts");
      await trainGrpo(run as Parameters<typeof trainGrpo>[0], { resume: !!opts.resume });
    }
    return 0;
  },
};
