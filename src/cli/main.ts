/**
 * `rft` command dispatcher. Each sub-command lives in src/cli/commands/ and exports a CommandSpec;
 * register it in COMMANDS below. `rft --help` lists them all.
 */
import { type CommandSpec, UsageError, helpText, parseCommand } from "./args.ts";

type Loader = () => Promise<CommandSpec>;

/** Sub-commands by their words after `rft`; loaded lazily so `rft data ...` never loads libtorch. */
const COMMANDS: Record<string, Loader> = {
  selfcheck: async () => (await import("./commands/selfcheck.ts")).command,
  // tensor-free commands (issue 3)
  "data synth": async () => (await import("./commands/data_synth.ts")).command,
  "data build": async () => (await import("./commands/data_build.ts")).command,
  reward: async () => (await import("./commands/reward.ts")).command,
  score: async () => (await import("./commands/score.ts")).command,
  // model commands (issue 4)
  "model init": async () => (await import("./commands/model_init.ts")).command,
  "model info": async () => (await import("./commands/model_info.ts")).command,
  generate: async () => (await import("./commands/generate.ts")).command,
  processor: async () => (await import("./commands/processor.ts")).command,
  eval: async () => (await import("./commands/eval.ts")).command,
  "eval perception": async () => (await import("./commands/eval_perception.ts")).command,
  "data distill": async () => (await import("./commands/data_distill.ts")).command,
  serve: async () => (await import("./commands/serve.ts")).command,
  report: async () => (await import("./commands/report.ts")).command,
  train: async () => (await import("./commands/train.ts")).command,
  demo: async () => (await import("./commands/demo.ts")).command,
  // distributed (issue 11)
  launch: async () => (await import("./commands/launch.ts")).command,
  plan: async () => (await import("./commands/plan.ts")).command,
};

/**
 * One line per command for `rft --help`, kept here so the list needs no command module (and no libtorch) loaded.
 * Every command needs an entry (test/cli/help.test.ts checks it).
 */
const SUMMARIES: Record<string, string> = {
  selfcheck: "check the engine and train a tiny random Qwen2-VL for a few steps (no download)",
  "data synth": "generate the mini benchmark (counting, geometry, transformation, instruct) as a dataset",
  "data build": "convert a Reason-RFT meta-JSON file into the SFT, Stage-1, RL and Stage-2 training files",
  "data distill": "distill chain-of-thought labels through an OpenAI-compatible vision endpoint",
  reward: "score JSONL completions with the GRPO reward functions of a task",
  score: "score a prediction file with the rule-based scorer of a benchmark",
  "model init": "write a randomly initialised Qwen2-VL checkpoint (HF layout) for a preset",
  "model info": "config summary and parameter counts of a checkpoint or preset",
  generate: "generate a reply of a checkpoint to a prompt with images",
  processor: "run the Qwen2-VL image processor on images (sizes, grids, token counts)",
  eval: "evaluate a checkpoint or an OpenAI-compatible endpoint on ID and OOD test sets",
  "eval perception": "held-out accuracy of a checkpoint on an instruct set's plain perception questions",
  serve: "serve a checkpoint over an OpenAI-compatible API (streaming, images) with a chat page",
  report: "tables (ours beside the paper's) and training curves from eval and run directories",
  train: "train with a recipe: ans-sft, cot-sft, reason-rft-stage1 (SFT), reason-rft-zero, reason-rft (GRPO)",
  demo: "the paper at mini scale: benchmark, tiny base model, five paradigms per task, ID/OOD report (npm start)",
  launch: "start N data-parallel workers with torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, ...)",
  plan: "memory per rank of SFT and GRPO (weights, gradients, optimizer, activations, KV cache) and the micro-batch that fits",
};

/** The one-line description of a command in `rft --help` ("" when it has none). */
export function commandSummary(name: string): string {
  return SUMMARIES[name] ?? "";
}

export function commandNames(): string[] {
  return Object.keys(COMMANDS);
}

function findCommand(argv: string[]): { name: string; rest: string[] } | undefined {
  // Longest match first: "data synth" before "data".
  for (let n = Math.min(3, argv.length); n >= 1; n--) {
    const name = argv.slice(0, n).join(" ");
    if (COMMANDS[name]) return { name, rest: argv.slice(n) };
  }
  return undefined;
}

/** Command groups: first words shared by several commands ("data", "model"). */
function groups(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of Object.keys(COMMANDS)) {
    const words = name.split(" ");
    if (words.length > 1) out.set(words[0]!, [...(out.get(words[0]!) ?? []), name]);
  }
  return out;
}

function commandLines(names: readonly string[]): string[] {
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return names.map((c) => `  ${c.padEnd(width)}${commandSummary(c)}`.trimEnd());
}

function topHelp(): string {
  return [
    "rft — Reason-RFT for Qwen2-VL on libtorch",
    "",
    "Usage: rft <command> [options]     (rft <command> --help for its options)",
    "",
    "Commands:",
    ...commandLines(Object.keys(COMMANDS)),
  ].join("\n");
}

function groupHelp(group: string, names: readonly string[]): string {
  return [
    `rft ${group} — ${group} commands`,
    "",
    `Usage: rft ${group} <command> [options]     (rft ${group} <command> --help for its options)`,
    "",
    "Commands:",
    ...commandLines(names),
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    console.log(topHelp());
    return 0;
  }
  if (argv.length === 0) {
    console.error(`rft: no command given\n\n${topHelp()}`);
    return 2;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = groups().get(argv[0]!);
    if (group) {
      const rest = argv.slice(1);
      if (rest.length > 0 && rest.every((a) => a === "--help" || a === "-h")) {
        console.log(groupHelp(argv[0]!, group));
        return 0;
      }
      const what =
        rest.length === 0
          ? "no command given"
          : `unknown command '${argv.filter((a) => !a.startsWith("-")).join(" ")}'`;
      console.error(`rft ${argv[0]}: ${what}\n\n${groupHelp(argv[0]!, group)}`);
      return 2;
    }
    console.error(`rft: unknown command '${argv.filter((a) => !a.startsWith("-")).join(" ")}'\n\n${topHelp()}`);
    return 2;
  }
  const cmd = await COMMANDS[found.name]!();
  try {
    const { opts, positionals, help } = parseCommand(cmd, found.rest);
    if (help) {
      console.log(helpText(cmd));
      return 0;
    }
    const code = await cmd.run(opts, positionals);
    return typeof code === "number" ? code : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`rft ${cmd.name}: ${e.message}`);
      return 2;
    }
    console.error(`rft ${cmd.name}: ${(e as Error).message}`);
    if (process.env.RFT_DEBUG) console.error((e as Error).stack);
    return 1;
  }
}
