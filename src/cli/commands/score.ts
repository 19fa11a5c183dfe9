import { readFileSync } from "node:fs";
import { prepareOutputFile, writeFileAtomic } from "../../io/output.ts";
import { textTooLong } from "../../rewards/text.ts";
import { basename, dirname, join } from "node:path";
import { SCORE_TASKS, formatScoreTable, isScoreTask, scorePredictions } from "../../tasks/score.ts";
import { type CommandSpec, UsageError } from "../args.ts";

/** Whether a file is an earlier `rft score` output: a JSON array of objects that each carry a numeric "score". */
export function isScoreOutput(path: string): boolean {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as unknown;
    return (
      Array.isArray(v) &&
      v.every((it) => it !== null && typeof it === "object" && typeof (it as { score?: unknown }).score === "number")
    );
  } catch {
    return false;
  }
}

/** `<dir>/<name>.json` → `<dir>/<name>_with_score.json`. */
export function scoredPath(predPath: string): string {
  const base = basename(predPath).replace(/\.json$/i, "");
  return join(dirname(predPath), `${base}_with_score.json`);
}

export const command: CommandSpec = {
  name: "score",
  summary: "score a prediction file with the rule-based scorer of a benchmark",
  options: {
    task: { type: "string", help: "benchmark", choices: SCORE_TASKS, required: true },
    pred: { type: "string", help: "predictions: JSON array of items with string 'answer' and 'pred'", required: true },
    json: { type: "boolean", help: "print the averages as one JSON object instead of a table" },
    "reference-quirks": { type: "boolean", help: "TRANCE: reproduce the reference's <answer> regex without DOTALL" },
    enhance: { type: "boolean", help: "closed-source leniency: tag-less prediction containing the answer scores 1" },
    force: {
      type: "boolean",
      help: "overwrite <name>_with_score.json even when it is not an earlier rft score output",
    },
  },
  details: [
    "Writes <name>_with_score.json beside the prediction file (each item gains 'score') and prints one row per type",
    "(choice/non_choice for geomath and geometry3k, default otherwise) plus an overall row; averages are ×100.",
    "The output is written atomically; an existing file of that name that is not an earlier rft score output is",
    "refused unless --force is given. An empty prediction list prints a warning (n=0): its averages mean nothing.",
    "",
    "Example:",
    "  rft score --task geomath --pred runs/eval/geomath.json",
  ].join("\n"),
  run(opts) {
    const task = opts.task as string;
    if (!isScoreTask(task)) throw new UsageError(`unknown --task '${task}'`);
    const path = opts.pred as string;
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new Error(`${path}: ${err.code ? `cannot read: ${err.code}` : `not valid JSON: ${err.message}`}`);
    }
    if (Array.isArray(data)) {
      data.forEach((it: unknown, i) => {
        const pred = (it as { pred?: unknown } | null)?.pred;
        const long = typeof pred === "string" ? textTooLong(pred, `${path}: item ${i}: field "pred"`) : undefined;
        if (long) throw new Error(long);
      });
    }
    const out = scoredPath(path);
    prepareOutputFile(out, {
      flag: "output",
      command: "rft score",
      inputs: [path],
      force: Boolean(opts.force),
      recognize: isScoreOutput,
    });
    const report = scorePredictions(task, data, path, {
      referenceQuirks: Boolean(opts["reference-quirks"]),
      enhance: Boolean(opts.enhance),
    });
    const warnings: string[] = [];
    if (report.overall.count === 0)
      warnings.push(`${path} holds no predictions (n=0): every average is 0 by convention`);
    writeFileAtomic(out, JSON.stringify(report.items, null, 4) + "\n");
    for (const w of warnings) console.error(`warning: ${w}`);
    if (opts.json) {
      console.log(
        JSON.stringify({
          task,
          pred: path,
          output: out,
          n: report.overall.count,
          types: report.types,
          overall: report.overall,
          warnings,
        }),
      );
    } else {
      console.log(formatScoreTable(report));
      console.log(`wrote ${out} (n=${report.overall.count})`);
    }
    return 0;
  },
};
