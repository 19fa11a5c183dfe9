/**
 * File helpers of the evaluation runner: atomic whole-file writes (src/io/output.ts) and an append-only journal of
 * JSON lines. Tensor-free.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../io/output.ts";

/** Atomic whole-file writes: the shared helper (temporary file, fsync, rename). */
export { writeFileAtomic } from "../io/output.ts";

/** Writes a JSON value atomically (indent 4, as the reference writes its prediction files). */
export function writeJsonAtomic(path: string, value: unknown, indent = 4): void {
  writeFileAtomic(path, JSON.stringify(value, null, indent) + "\n");
}

/**
 * Appends one JSON line. A single small write: a killed process leaves the line whole or absent (a torn last line,
 * possible only on a machine crash, is skipped by readJsonLines).
 */
export function appendJsonLine(path: string, value: unknown): void {
  appendFileSync(path, JSON.stringify(value) + "\n");
}

/** The parsed lines of a JSON-lines file ([] when it does not exist); unparsable lines are skipped and counted. */
export function readJsonLines(path: string): { values: unknown[]; bad: number } {
  if (!existsSync(path)) return { values: [], bad: 0 };
  const values: unknown[] = [];
  let bad = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      values.push(JSON.parse(line));
    } catch {
      bad++;
    }
  }
  return { values, bad };
}
