/** Shared helpers of the synth tests: a small generated dataset per test process, file hashing, PNG sizes. */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { after } from "node:test";
import { join, relative } from "node:path";
import { synthesize, TASKS, type Manifest } from "../../src/tasks/synth/generate.ts";

const created: string[] = [];
// A root-level hook of the importing test file (the runner may end the process before an 'exit' handler runs).
after(() => {
  for (const d of created) rmSync(d, { recursive: true, force: true });
});

/** A fresh directory under the system temp dir, removed when the test process exits. */
export function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `rft-synth-${tag}-`));
  created.push(d);
  return d;
}

let cached: Promise<{ dir: string; manifest: Manifest }> | undefined;

/** The small benchmark with seed 3, generated once per test process. */
export function smallData(): Promise<{ dir: string; manifest: Manifest }> {
  cached ??= (async () => {
    const dir = tempDir("data");
    const manifest = await synthesize({ out: dir, size: "small", seed: 3, tasks: TASKS });
    return { dir, manifest };
  })();
  return cached;
}

export function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** sha256 of every file under dir, keyed by relative path. */
export function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of walk(dir).sort()) out[relative(dir, f)] = createHash("sha256").update(readFileSync(f)).digest("hex");
  return out;
}

/** Width and height from a PNG's IHDR chunk. */
export function pngSize(path: string): { width: number; height: number } {
  const b = readFileSync(path);
  if (b.readUInt32BE(0) !== 0x89504e47 || b.toString("latin1", 12, 16) !== "IHDR")
    throw new Error(`${path}: not a PNG`);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

export function readJson<T = unknown>(dir: string, file: string): T {
  return JSON.parse(readFileSync(join(dir, file), "utf8")) as T;
}
