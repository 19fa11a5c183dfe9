/**
 * Small, typed command-line layer shared by every `rft` sub-command.
 *
 * A command declares its options once (name, type, default, help); the same table drives parsing,
 * validation and the `--help` text, so the help can never drift from what the parser accepts.
 */
import { parseArgs } from "node:util";

export type OptionType = "string" | "number" | "boolean" | "strings";

export interface OptionSpec {
  type: OptionType;
  help: string;
  default?: string | number | boolean | string[];
  required?: boolean;
  /** Allowed values for a string option. */
  choices?: readonly string[];
  /** A number option that must be a (safe) integer; parseCommand refuses 1.5, 1e99, ... naming the flag. */
  integer?: boolean;
  /** Inclusive bounds of a number option. */
  min?: number;
  max?: number;
  short?: string;
}

export interface CommandSpec {
  /** Words after `rft`, e.g. "data synth". */
  name: string;
  summary: string;
  /** Free text printed after the options (examples). */
  details?: string;
  options: Record<string, OptionSpec>;
  /** Allow positional arguments (their meaning is described in `details`). */
  positionals?: boolean;
  /**
   * The words after the first `--` are not parsed: they reach run() unchanged as the positionals (empty when there
   * is no `--`), e.g. the worker command of `rft launch`. Other positionals are refused.
   */
  passThrough?: boolean;
  run(opts: ParsedOptions, positionals: string[]): Promise<number | void> | number | void;
}

export type ParsedOptions = Record<string, string | number | boolean | string[] | undefined>;

/** Raised for bad command-line input; the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

export function helpText(cmd: CommandSpec): string {
  const lines = [`rft ${cmd.name} — ${cmd.summary}`, "", "Options:"];
  const entries = Object.entries(cmd.options);
  entries.push(["help", { type: "boolean", help: "show this help" }]);
  for (const [name, o] of entries) {
    const arg =
      o.type === "boolean" ? "" : o.type === "number" ? " N" : o.type === "strings" ? " VALUE (repeatable)" : " VALUE";
    let desc = o.help;
    if (o.choices) desc += ` (one of: ${o.choices.join(", ")})`;
    if (o.required) desc += " [required]";
    else if (o.default !== undefined && o.type !== "boolean") desc += ` [default: ${String(o.default)}]`;
    lines.push(`  --${name}${arg}`.padEnd(34) + " " + desc);
  }
  if (cmd.details) lines.push("", cmd.details.trimEnd());
  return lines.join("\n");
}

/**
 * Checks an integer flag value: a safe integer (so `1e99`, whose float is "integral", is refused too) within
 * [min, max]. Throws a UsageError naming the flag.
 *
 * @example
 * checkInteger("seed", 1.5, { min: 0 }); // throws "--seed must be a non-negative integer, got 1.5"
 */
export function checkInteger(name: string, value: number, range: { min?: number; max?: number } = {}): number {
  const min = range.min ?? -Number.MAX_SAFE_INTEGER;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const lo = range.min !== undefined;
    const hi = range.max !== undefined;
    const want =
      lo && hi
        ? `an integer from ${min} to ${max}`
        : min === 0
          ? "a non-negative integer"
          : min === 1
            ? "a positive integer"
            : lo
              ? `an integer ≥ ${min}`
              : hi
                ? `an integer ≤ ${max}`
                : "an integer";
    const extra = Number.isFinite(value) && Math.abs(value) > Number.MAX_SAFE_INTEGER ? " (too large)" : "";
    throw new UsageError(`--${name} must be ${want}, got ${String(value)}${extra}`);
  }
  return value;
}

/** Reads an integer option of parsed options (see checkInteger); undefined stays undefined. */
export function integerOption(opts: ParsedOptions, name: string, range: { min?: number; max?: number } = {}): number {
  const v = opts[name];
  if (typeof v !== "number") throw new UsageError(`--${name} expects an integer, got '${String(v)}'`);
  return checkInteger(name, v, range);
}

/** Parses argv for one command; throws UsageError naming the offending flag. */
export function parseCommand(
  cmd: CommandSpec,
  argv: string[],
): { opts: ParsedOptions; positionals: string[]; help: boolean } {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, o] of Object.entries(cmd.options)) {
    options[name] = { type: o.type === "boolean" ? "boolean" : "string" };
    if (o.type === "strings") options[name].multiple = true;
    if (o.short) options[name].short = o.short;
  }
  let tail: string[] | undefined;
  if (cmd.passThrough) {
    const cut = argv.indexOf("--");
    tail = cut < 0 ? [] : argv.slice(cut + 1);
    if (cut >= 0) argv = argv.slice(0, cut);
  }
  // "--seed -3": node's parser takes "-3" for a flag; a number option's value may be negative, so join them.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const spec = a.startsWith("--") ? cmd.options[a.slice(2)] : undefined;
    if (spec?.type === "number" && next !== undefined && /^-[\d.]/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
  if (parsed.values.help) return { opts: {}, positionals: [], help: true };
  if (parsed.positionals.length && cmd.passThrough) {
    throw new UsageError(
      `unexpected argument '${parsed.positionals[0]}': the command goes after '--' (see rft ${cmd.name} --help)`,
    );
  }
  if (parsed.positionals.length && !cmd.positionals) {
    throw new UsageError(`unexpected argument '${parsed.positionals[0]}' (see rft ${cmd.name} --help)`);
  }
  const opts: ParsedOptions = {};
  for (const [name, o] of Object.entries(cmd.options)) {
    const raw = (parsed.values as Record<string, unknown>)[name];
    if (raw === undefined) {
      if (o.required) throw new UsageError(`missing required option --${name} (see rft ${cmd.name} --help)`);
      opts[name] = o.default;
      continue;
    }
    if (o.type === "number") {
      const n = Number(raw);
      if (raw === "" || !Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${String(raw)}'`);
      if (o.integer) checkInteger(name, n, { min: o.min, max: o.max });
      else if ((o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
        throw new UsageError(`--${name} must be within [${o.min ?? "-∞"}, ${o.max ?? "∞"}], got ${String(raw)}`);
      }
      opts[name] = n;
    } else if (o.type === "string" && o.choices && !o.choices.includes(raw as string)) {
      throw new UsageError(`--${name} must be one of ${o.choices.join(", ")}, got '${String(raw)}'`);
    } else {
      opts[name] = raw as string | boolean | string[];
    }
  }
  return { opts, positionals: tail ?? parsed.positionals, help: false };
}
