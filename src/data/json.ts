/** JSON files with errors that name the file. */
import { readFileSync } from "node:fs";

/** Reads and parses a JSON file; errors say `<path>: cannot read: ...` or `<path>: not valid JSON: ...`. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON: ${(e as Error).message}`);
  }
}
