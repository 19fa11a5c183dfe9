import { resolve } from "node:path";
import { PARADIGMS, isParadigm } from "../../eval/paper_results.ts";
import {
  REPORT_FILES,
  type ResultRow,
  type RunInput,
  classifyDir,
  readEvalDir,
  readReportDir,
  readRunDir,
  reportMarkdown,
  writeReport,
} from "../../eval/report.ts";
import { type CommandSpec, UsageError } from "../args.ts";

/** `DIR=VALUE` pairs of a repeatable flag, keyed by the resolved DIR (which must be one of the given directories). */
function dirPairs(flag: string, values: readonly string[], dirs: readonly string[]): Map<string, string> {
  const known = new Set(dirs.map((d) => resolve(d)));
  const out = new Map<string, string>();
  for (const v of values) {
    const at = v.lastIndexOf("=");
    if (at <= 0 || at === v.length - 1) throw new UsageError(`--${flag} ${v}: expected DIR=VALUE`);
    const dir = resolve(v.slice(0, at));
    if (!known.has(dir)) throw new UsageError(`--${flag} ${v}: ${v.slice(0, at)} is not one of the directories given`);
    out.set(dir, v.slice(at + 1));
  }
  return out;
}

export const command: CommandSpec = {
  name: "report",
  summary: "tables (ours beside the paper's) and training curves from eval and run directories",
  positionals: true,
  options: {
    out: { type: "string", help: "output directory: report.md, report.json, report.html", required: true },
    paradigm: {
      type: "strings",
      help: `DIR=PARADIGM: the paradigm of an eval directory (${PARADIGMS.join(", ")})`,
    },
    label: { type: "strings", help: "DIR=NAME: the row name of an eval directory in the tables" },
    title: { type: "string", help: "report title", default: "Reason-RFT report" },
    "no-paper": { type: "boolean", help: "leave out the paper's numbers" },
    force: { type: "boolean", help: "write into --out even when it holds something that is not an earlier report" },
  },
  details: [
    "Arguments: directories, each an rft eval output (summary.json), a training run (metrics.jsonl), or both, or an",
    "earlier report (report.json: its result rows, e.g. the demo's; give the run directories for its curves).",
    "Eval results become one table row per directory in the table of its task, every per-set accuracy plus ID avg,",
    "OOD avg and AVG (docs/evaluation.md), with the paper's Qwen2-VL-2B/7B rows (spec §9) below ours. A row's paradigm",
    "is --paradigm, else the recipe recorded in the config.yaml of the run that wrote the evaluated checkpoint (its",
    "directory or the parent), else zero-shot for --strategy zero-shot evals. Runs become charts in report.html",
    "(rewards, KL, completion length, loss, learning rate, ...), drawn with Chart.js inlined into the page.",
    "--out may be an earlier report directory (rewritten); anything else that is not empty is refused unless --force.",
    "",
    "Example:",
    "  rft report runs/eval-zero runs/eval-rft runs/grpo --paradigm runs/eval-rft=reason-rft --out runs/report",
  ].join("\n"),
  run(opts, dirs) {
    if (dirs.length === 0) throw new UsageError("give at least one eval or run directory");
    const out = opts.out as string;
    const paradigms = dirPairs("paradigm", (opts.paradigm as string[] | undefined) ?? [], dirs);
    for (const [dir, p] of paradigms)
      if (!isParadigm(p)) throw new UsageError(`--paradigm ${dir}=${p}: one of ${PARADIGMS.join(", ")}`);
    const labels = dirPairs("label", (opts.label as string[] | undefined) ?? [], dirs);
    const results: ResultRow[] = [];
    const runs: RunInput[] = [];
    for (const dir of dirs) {
      const kinds = classifyDir(dir);
      if (kinds.eval)
        results.push(...readEvalDir(dir, { paradigm: paradigms.get(resolve(dir)), label: labels.get(resolve(dir)) }));
      if (kinds.run) runs.push(readRunDir(dir));
      if (kinds.report && !kinds.eval) results.push(...readReportDir(dir));
    }
    const rep = writeReport(
      out,
      { title: opts.title as string, results, runs, paper: !opts["no-paper"] },
      { force: Boolean(opts.force), inputs: dirs, command: "rft report" },
    );
    console.log(reportMarkdown(rep).trimEnd());
    console.log(`\nwrote ${REPORT_FILES.map((f) => `${out}/${f}`).join(", ")}`);
    return 0;
  },
};
