import { existsSync, readFileSync } from "node:fs";
import { type CommandSpec, UsageError, integerOption } from "../args.ts";
import { prepareOutputFile, writeJsonAtomic } from "../../io/output.ts";
import { DEFAULT_PERCEPTION_LIMIT, formatPerceptionTable } from "../../eval/perception_score.ts";

/** Whether a file is an earlier `rft eval perception` summary (may be overwritten without --force). */
export function isPerceptionSummary(path: string): boolean {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    return v !== null && typeof v === "object" && typeof v.kinds === "object" && "counting" in v && "model" in v;
  } catch {
    return false;
  }
}

export const command: CommandSpec = {
  name: "eval perception",
  summary: "held-out accuracy of a checkpoint on an instruct set's plain perception questions (counts, yes/no, ...)",
  options: {
    model: { type: "string", help: "checkpoint directory (HF layout, with its tokenizer)", required: true },
    data: {
      type: "string",
      help: "instruct JSON file, e.g. BENCH/train_jsons/A0-Instruct-train.json of another seed",
      required: true,
    },
    "image-root": { type: "string", help: "image root of the records (BENCH/images)", required: true },
    limit: { type: "number", help: "records per kind, spread evenly over the file", default: DEFAULT_PERCEPTION_LIMIT },
    "batch-size": { type: "number", help: "prompts per generate call", default: 16 },
    "min-pixels": { type: "number", help: "processor min_pixels (default: the checkpoint's)" },
    "max-pixels": { type: "number", help: "processor max_pixels (default: the checkpoint's)" },
    threads: { type: "number", help: "libtorch threads" },
    out: { type: "string", help: "write the summary JSON to this file (atomically)" },
    force: { type: "boolean", help: "overwrite an --out file that is not an earlier rft eval perception summary" },
    json: { type: "boolean", help: "print the summary as JSON instead of the table" },
  },
  details: [
    "Asks the plain-format records (reply without <think>) of four kinds and answers them greedily with the",
    "SFT prompt (docs/evaluation.md, 'Perception of the base model'):",
    '  count      "How many ... ?"            the reply equals the number',
    '  total      "Describe the objects ..."  N of the reply\'s leading "There are N objects"',
    '  exists     "Is there ...?"             yes/no',
    '  attribute  "What color is the leftmost object?" (size, color, material, shape; leftmost/rightmost)',
    "Prints accuracy, n, the majority baseline (share of the most frequent reference answer) and the standard",
    "error sqrt(p(1-p)/n) per kind; `counting` in the JSON is the accuracy on the count questions.",
    "",
    "Example (a held-out instruct set from another seed):",
    "  rft data synth --out runs/heldout --size full --seed 1 --tasks instruct",
    "  rft eval perception --model runs/demo/base/final --data runs/heldout/train_jsons/A0-Instruct-train.json \\",
    "    --image-root runs/heldout/images --out runs/demo/base_perception.json",
  ].join("\n"),
  async run(opts) {
    const model = String(opts.model);
    const data = String(opts.data);
    const imageRoot = String(opts["image-root"]);
    if (!existsSync(model)) throw new UsageError(`--model: ${model} does not exist`);
    if (!existsSync(data)) throw new UsageError(`--data: ${data} does not exist`);
    if (!existsSync(imageRoot)) throw new UsageError(`--image-root: ${imageRoot} does not exist`);
    const limit = integerOption(opts, "limit", { min: 1 });
    const batchSize = integerOption(opts, "batch-size", { min: 1 });
    const minPixels = opts["min-pixels"] === undefined ? undefined : integerOption(opts, "min-pixels", { min: 1 });
    const maxPixels = opts["max-pixels"] === undefined ? undefined : integerOption(opts, "max-pixels", { min: 1 });
    const out = opts.out as string | undefined;
    if (out !== undefined)
      prepareOutputFile(out, {
        flag: "--out",
        command: "rft eval perception",
        inputs: [data],
        force: Boolean(opts.force),
        recognize: isPerceptionSummary,
      });
    if (opts.threads !== undefined)
      (await import("../../tensor/index.ts")).setNumThreads(integerOption(opts, "threads", { min: 1 }));
    const { evaluatePerception } = await import("../../eval/perception.ts");
    const summary = await evaluatePerception({
      model,
      data,
      imageRoot,
      limit,
      batchSize,
      minPixels,
      maxPixels,
      log: (m) => console.error(m),
    });
    if (out !== undefined) writeJsonAtomic(out, summary);
    if (opts.json) console.log(JSON.stringify(summary));
    else {
      console.log(formatPerceptionTable(summary.kinds));
      console.log(
        `counting: ${summary.counting === null ? "-" : summary.counting.toFixed(3)}  (${summary.records.asked} questions, ${summary.seconds} s)`,
      );
      if (out !== undefined) console.log(`wrote ${out}`);
    }
  },
};
