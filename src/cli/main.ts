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
  "data distill": async () => (await import("./commands/data_distill.ts")).command,
};

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

function topHelp(): string {
  return [
    "rft — Reason-RFT for Qwen2-VL on libtorch",
    "",
    "Usage: rft <command> [options]     (rft <command> --help for its options)",
    "",
    "Commands:",
    ...Object.keys(COMMANDS).map((c) => `  ${c}`),
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    console.log(topHelp());
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
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
