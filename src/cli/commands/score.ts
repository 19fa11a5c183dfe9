import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { SCORE_TASKS, formatScoreTable, isScoreTask, scorePredictions } from "../../tasks/score.ts";
import { type CommandSpec, UsageError } from "../args.ts";

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
  },
  details: [
    "Writes <name>_with_score.json beside the prediction file (each item gains 'score') and prints one row per type",
    "(choice/non_choice for geomath and geometry3k, default otherwise) plus an overall row; averages are ×100.",
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
    const report = scorePredictions(task, data, path, {
      referenceQuirks: Boolean(opts["reference-quirks"]),
      enhance: Boolean(opts.enhance),
    });
    const out = scoredPath(path);
    const tmp = `${out}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(report.items, null, 4) + "\n");
    renameSync(tmp, out);
    if (opts.json) {
      console.log(JSON.stringify({ task, pred: path, output: out, types: report.types, overall: report.overall }));
    } else {
      console.log(formatScoreTable(report));
      console.log(`wrote ${out}`);
    }
    return 0;
  },
};
