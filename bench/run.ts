/**
 * Benchmark dispatcher: `npm run bench -- NAME [--json] [options]` runs bench/NAME.ts's `run(argv)`.
 * Each benchmark prints one JSON object per measurement with --json, and a final line {"summary": true, ...};
 * `distributed` prints a single object holding every measurement.
 */
import { readdirSync } from "node:fs";

const [name, ...rest] = process.argv.slice(2);
const available = readdirSync(new URL(".", import.meta.url))
  .filter((f) => f.endsWith(".ts") && f !== "run.ts")
  .map((f) => f.slice(0, -3));
if (!name || name === "--help" || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join("|")}> [--json] [options]`);
  process.exit(name && name !== "--help" ? 2 : 0);
}
const mod = (await import(`./${name}.ts`)) as { run(argv: string[]): Promise<void> };
await mod.run(rest);
