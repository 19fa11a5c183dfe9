import { openSync, readFileSync, readSync, closeSync } from "node:fs";
import { DEFAULT_REWARDS, REWARD_NAMES, REWARD_TASKS, rewardSet, scoreBatch } from "../../rewards/registry.ts";
import { textTooLong } from "../../rewards/text.ts";
import { prepareOutputFile, writeFileAtomic } from "../../io/output.ts";
import { type CommandSpec, UsageError } from "../args.ts";

/** One input line: a completion and its solution, or a blank line (kept, so output line k answers input line k). */
export type RewardInputLine = { line: number; completion: string; solution: string } | { line: number; blank: true };

/**
 * Parses JSONL lines `{"completion": string, "solution": string}`; `completion` may also be a message list
 * `[{"role": "assistant", "content": string}]`. A blank line inside the file stays an entry (`blank: true`), so the
 * numbering of the output matches the input; blank lines at the end of the file are the file's end and are dropped.
 * Texts longer than MAX_COMPLETION_CHARS are refused with an error naming the line.
 */
export function parseRewardInput(text: string, source: string): RewardInputLine[] {
  const out: RewardInputLine[] = [];
  const rows = text.split("\n");
  let last = rows.length;
  while (last > 0 && rows[last - 1]!.trim() === "") last--;
  for (let i = 0; i < last; i++) {
    const raw = rows[i]!;
    if (raw.trim() === "") {
      out.push({ line: i + 1, blank: true });
      continue;
    }
    const where = `${source}: line ${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw new Error(`${where}: not valid JSON: ${(e as Error).message}`);
    }
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(`${where}: expected an object`);
    const o = { ...(v as Record<string, unknown>) };
    // TRL's conversational form: [{"role": "assistant", "content": "..."}]; the reference reads completion[0].content.
    if (Array.isArray(o.completion)) {
      const first = o.completion[0] as { content?: unknown } | undefined;
      if (!first || typeof first !== "object" || typeof first.content !== "string") {
        throw new Error(`${where}: field "completion": a message list needs a first message with string "content"`);
      }
      o.completion = first.content;
    }
    for (const f of ["completion", "solution"]) {
      if (o[f] === undefined) throw new Error(`${where}: field "${f}" is missing`);
      if (typeof o[f] !== "string")
        throw new Error(`${where}: field "${f}": expected a string, got ${o[f] === null ? "null" : typeof o[f]}`);
      const long = textTooLong(o[f] as string, `${where}: field "${f}"`);
      if (long) throw new Error(long);
    }
    out.push({ line: i + 1, completion: o.completion as string, solution: o.solution as string });
  }
  return out;
}

/** Whether a file looks like an earlier `rft reward` output: its first line is an object with "rewards" and "total". */
export function isRewardOutput(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n === 0) return true; // an empty output (of an empty input)
    const first = buf.subarray(0, n).toString("utf8").split("\n")[0]!;
    const v = JSON.parse(first) as Record<string, unknown>;
    return v !== null && typeof v === "object" && "rewards" in v && "total" in v;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** "3, 7, 9" or "3, 7, 9, ... (12 in all)". */
function lineList(lines: readonly number[]): string {
  return lines.slice(0, 10).join(", ") + (lines.length > 10 ? `, ... (${lines.length} in all)` : "");
}

function parseList(s: string | undefined, flag: string): string[] | undefined {
  if (s === undefined) return undefined;
  const items = s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
  if (items.length === 0) throw new UsageError(`--${flag} is empty`);
  return items;
}

function parseWeights(s: string | undefined): Record<string, number> | undefined {
  const items = parseList(s, "weights");
  if (!items) return undefined;
  const out: Record<string, number> = {};
  for (const it of items) {
    const m = /^([a-z-]+)=(.+)$/.exec(it);
    const w = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(w))
      throw new UsageError(`--weights expects name=number pairs separated by commas, got '${it}'`);
    out[m[1]!] = w;
  }
  return out;
}

export const command: CommandSpec = {
  name: "reward",
  summary: "score completions with the GRPO reward functions of a task",
  options: {
    task: { type: "string", help: "reward task", choices: REWARD_TASKS, required: true },
    in: {
      type: "string",
      help: 'JSONL file, one {"completion": ..., "solution": ...} per line (completion: a string or [{"content": ...}])',
      required: true,
    },
    step: {
      type: "number",
      help: "trainer global step (the length reward is 0 before step 800)",
      default: 0,
      integer: true,
      min: 0,
    },
    funcs: {
      type: "string",
      help: `comma-separated rewards among ${REWARD_NAMES.join(", ")}`,
      default: DEFAULT_REWARDS.join(","),
    },
    weights: { type: "string", help: "comma-separated name=weight pairs (default weight 1)" },
    "group-size": {
      type: "number",
      help: "completions per prompt: the length reward's min/max are taken within each group of this many lines (0: the whole file is one group)",
      default: 0,
      integer: true,
      min: 0,
    },
    "on-null": {
      type: "string",
      help: "an item a reward cannot judge counts 0 in the total (zero) or gets total null (skip)",
      choices: ["zero", "skip"],
      default: "zero",
    },
    out: { type: "string", help: "output file (default: standard output); never the input file" },
    force: { type: "boolean", help: "overwrite --out even when it is not an earlier rft reward output" },
  },
  details: [
    'Writes one line per input line, in order: {"rewards": {"accuracy": 1, "format": 1}, "total": 2}.',
    "The total is the weighted sum. Every reference script trains with accuracy + format at weight 1.",
    "A reward that cannot judge a line (e.g. an empty solution, or a TRANCE solution without any call) gives null;",
    "--on-null decides the total, and standard error lists such lines. A blank input line gives",
    '{"rewards": null, "total": null, "skipped": "blank line"}, so output line k always answers input line k.',
    "--out is written atomically; it may not be the input, and an existing file that is not an earlier rft reward",
    "output is refused unless --force is given.",
    "",
    "Example:",
    "  rft reward --task clevr-math --in completions.jsonl",
  ].join("\n"),
  run(opts) {
    const task = opts.task as string;
    const step = opts.step as number;
    const groupSize = opts["group-size"] as number;
    const onNull = opts["on-null"] as "zero" | "skip";
    const weights = parseWeights(opts.weights as string | undefined) ?? {};
    let set;
    try {
      set = rewardSet(task, { funcs: parseList(opts.funcs as string, "funcs"), weights });
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError((e as Error).message);
    }
    for (const k of Object.keys(weights)) {
      if (!set.some((r) => r.name === k)) throw new UsageError(`--weights names '${k}', which is not among --funcs`);
    }
    const path = opts.in as string;
    const outPath = opts.out as string | undefined;
    if (outPath !== undefined) {
      prepareOutputFile(outPath, {
        flag: "--out",
        command: "rft reward",
        inputs: [path],
        force: Boolean(opts.force),
        recognize: isRewardOutput,
      });
    }
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new Error(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const entries = parseRewardInput(text, path);
    const lines = entries.filter((e) => !("blank" in e)) as { line: number; completion: string; solution: string }[];
    const size = groupSize === 0 ? Math.max(1, lines.length) : groupSize;
    if (set.some((r) => r.groupRelative) && lines.length % size !== 0) {
      throw new UsageError(
        `--group-size ${groupSize}: ${lines.length} scored lines do not split into groups of ${size}`,
      );
    }
    const byLine = new Map<number, string>();
    const nullLines: Record<string, number[]> = {};
    for (let start = 0; start < lines.length; start += size) {
      const chunk = lines.slice(start, start + size);
      const scored = scoreBatch(
        set,
        chunk.map((l) => l.completion),
        chunk.map((l) => l.solution),
        { step, groupSize: chunk.length, onNull },
      );
      for (const [name, idx] of Object.entries(scored.nulls)) {
        (nullLines[name] ??= []).push(...idx.map((i) => chunk[i]!.line));
      }
      chunk.forEach((l, i) => {
        const rewards = Object.fromEntries(set.map((r) => [r.name, scored.rewards[r.name]![i]]));
        byLine.set(l.line, JSON.stringify({ rewards, total: scored.total[i] }));
      });
    }
    const blank = JSON.stringify({ rewards: null, total: null, skipped: "blank line" });
    const out = entries.map((e) => ("blank" in e ? blank : byLine.get(e.line)!));
    const body = out.length ? out.join("\n") + "\n" : "";
    const blanks = entries.filter((e) => "blank" in e).map((e) => e.line);
    if (blanks.length) {
      console.error(
        `rft reward: ${path}: blank line(s) ${lineList(blanks)} not scored; their output lines say "skipped"`,
      );
    }
    for (const [name, ls] of Object.entries(nullLines)) {
      console.error(
        `rft reward: reward "${name}" could not judge ${ls.length} line(s): ${lineList(ls)} (--on-null ${onNull}: ${onNull === "zero" ? "counted 0 in the total" : "total null"})`,
      );
    }
    if (outPath !== undefined) writeFileAtomic(outPath, body);
    else process.stdout.write(body);
    return 0;
  },
};
