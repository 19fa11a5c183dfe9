import { resolve } from "node:path";
import { buildTaskData, checkImages, writeBuild } from "../../data/build.ts";
import { readMetaFile } from "../../data/meta.ts";
import { loadPromptTemplates } from "../../tasks/prompts.ts";
import { taskBuildSpec } from "../../tasks/build_spec.ts";
import { TASK_NAMES, imagesPerSample, taskFamily } from "../../tasks/tasks.ts";
import { type CommandSpec, UsageError, integerOption } from "../args.ts";

export const command: CommandSpec = {
  name: "data build",
  summary: "convert a Reason-RFT meta-JSON file into ANS-SFT, CoT-SFT, Stage-1, RL and Stage-2 files",
  options: {
    task: { type: "string", help: `task family or benchmark name (${TASK_NAMES.join(", ")})`, required: true },
    meta: { type: "string", help: "meta-JSON file (records with id, image, problem, cot, answer)", required: true },
    out: { type: "string", help: "output directory (dataset_info.json there is merged, not replaced)", required: true },
    "stage1-size": {
      type: "number",
      help: "number of Stage-1 (CoT-SFT) records",
      default: 1600,
      integer: true,
      min: 0,
    },
    seed: { type: "number", help: "seed of the Stage-1 sample", default: 0, integer: true, min: 0 },
    force: { type: "boolean", help: "overwrite files of these names that no earlier rft data build wrote" },
    "image-root": {
      type: "string",
      help: "image root: every image must exist inside it (without it, paths are only checked not to escape)",
    },
    "skip-invalid": {
      type: "boolean",
      help: "skip invalid records (each is reported) instead of stopping at the first",
    },
    prompts: { type: "string", help: "JSON file mapping prompt keys to templates, replacing the built-in prompts" },
    json: { type: "boolean", help: "print the summary as one JSON object" },
  },
  details: [
    "Writes into --out: <prefix>_sft.json (ANS-SFT), <prefix>_cot_sft.json (CoT-SFT), <prefix>_cot_sft-1k6.json",
    "(Stage 1), <prefix>_rl.json (all records, Reason-RFT-Zero), <prefix>_rl_stage2.json (Stage 2: the records not in",
    "Stage 1; all records for structure perception), dataset_info.json and <prefix>_build_report.json.",
    "Prefixes: clevr_math, geo_math, trance.",
    "",
    "Everything is checked before anything is written (records, images, the existing dataset_info.json), and all",
    "files are renamed into place together at the end. Other files in --out are left alone; files of the names above",
    "are replaced only when they come from an earlier build (the .rft-output marker or the task's build report)",
    "or with --force. No output may be the --meta or --prompts file.",
    "",
    "Example:",
    "  rft data build --task clevr-math --meta train_jsons/A3-Visual-Counting-train-35k-cot.json \\",
    "    --image-root images --out data/visual_counting --stage1-size 1600 --seed 0",
  ].join("\n"),
  run(opts) {
    const family = taskFamily(opts.task as string);
    if (!family) throw new UsageError(`unknown --task '${String(opts.task)}' (one of: ${TASK_NAMES.join(", ")})`);
    const stage1Size = integerOption(opts, "stage1-size", { min: 0 });
    const seed = integerOption(opts, "seed", { min: 0 });
    const skipInvalid = Boolean(opts["skip-invalid"]);
    const imageRoot = opts["image-root"] as string | undefined;
    const templates = opts.prompts ? loadPromptTemplates(opts.prompts as string) : {};

    const metaPath = opts.meta as string;
    let meta = readMetaFile(metaPath, { skipInvalid, requireCot: true, imagesPerRecord: imagesPerSample(family) });
    meta = checkImages(meta, { imageRoot, skipInvalid });
    if (meta.records.length === 0) throw new Error(`${metaPath}: no valid records`);

    const spec = taskBuildSpec(family, templates);
    const result = buildTaskData(meta.records, spec, { stage1Size, seed });
    const report = {
      task: family,
      meta: resolve(metaPath),
      image_root: imageRoot === undefined ? null : resolve(imageRoot),
      seed,
      stage1_size: stage1Size,
      records: meta.records.length,
      skipped: meta.skipped,
      files: Object.fromEntries(result.files.map((f) => [f.name, f.count])),
    };
    const json = Boolean(opts.json);
    if (!json) {
      for (const s of meta.skipped) console.error(`skipped ${metaPath}: ${s.reason}`);
      console.log(`${family}: ${meta.records.length} records read, ${meta.skipped.length} skipped`);
    }
    const line = (w: { path: string; kind: string; count: number }) =>
      console.log(`  ${String(w.count).padStart(7)}  ${w.kind.padEnd(15)} ${w.path}`);
    const { written } = writeBuild(opts.out as string, spec.prefix, result, report, json ? undefined : line, {
      inputs: [metaPath, opts.prompts as string | undefined],
      force: Boolean(opts.force),
    });

    const stage1 = result.files.find((f) => f.kind === "stage1-cot-sft")!.count;
    const warnings: string[] = [];
    if (stage1 < stage1Size)
      warnings.push(`only ${stage1} records for a Stage-1 size of ${stage1Size}; Stage 2 gets what is left`);
    if (json) console.log(JSON.stringify({ ...report, stage1, written, warnings }));
    else for (const w of warnings) console.error(`warning: ${w}`);
    return 0;
  },
};
