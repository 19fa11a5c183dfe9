import { readFileSync, writeFileSync } from "node:fs";
import { DEFAULT_REWARDS, REWARD_NAMES, REWARD_TASKS, rewardSet, scoreBatch } from "../../rewards/registry.ts";
import { type CommandSpec, UsageError } from "../args.ts";

interface Line {
  completion: string;
  solution: string;
}

/**
 * Parses JSONL lines `{"completion": string, "solution": string}`; `completion` may also be a message list
 * `[{"role": "assistant", "content": string}]`. Blank lines are ignored.
 */
export function parseRewardInput(text: string, source: string): Line[] {
  const out: Line[] = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
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
    }
    out.push({ completion: o.completion as string, solution: o.solution as string });
  });
  return out;
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
    step: { type: "number", help: "trainer global step (the length reward is 0 before step 800)", default: 0 },
    funcs: {
      type: "string",
      help: `comma-separated rewards among ${REWARD_NAMES.join(", ")}`,
      default: DEFAULT_REWARDS.join(","),
    },
    weights: { type: "string", help: "comma-separated name=weight pairs (default weight 1)" },
    "group-size": {
      type: "number",
      help: "lines per reward call, for the length reward's min/max (0: the whole file)",
      default: 0,
    },
    out: { type: "string", help: "output file (default: standard output)" },
  },
  details: [
    'Writes one line per input line, in order: {"rewards": {"accuracy": 1, "format": 1}, "total": 2}.',
    "The total is the weighted sum. Every reference script trains with accuracy + format at weight 1.",
    "",
    "Example:",
    "  rft reward --task clevr-math --in completions.jsonl",
  ].join("\n"),
  run(opts) {
    const task = opts.task as string;
    const step = opts.step as number;
    const groupSize = opts["group-size"] as number;
    if (!Number.isInteger(groupSize) || groupSize < 0)
      throw new UsageError(`--group-size must be a non-negative integer, got ${groupSize}`);
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
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new Error(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const lines = parseRewardInput(text, path);
    const size = groupSize === 0 ? Math.max(1, lines.length) : groupSize;
    const out: string[] = [];
    for (let start = 0; start < lines.length; start += size) {
      const chunk = lines.slice(start, start + size);
      const scored = scoreBatch(
        set,
        chunk.map((l) => l.completion),
        chunk.map((l) => l.solution),
        step,
      );
      chunk.forEach((_, i) => {
        const rewards = Object.fromEntries(set.map((r) => [r.name, scored.rewards[r.name]![i]]));
        out.push(JSON.stringify({ rewards, total: scored.total[i] }));
      });
    }
    const body = out.length ? out.join("\n") + "\n" : "";
    if (opts.out) writeFileSync(opts.out as string, body);
    else process.stdout.write(body);
    return 0;
  },
};
