/** Helpers of the eval tests: a small benchmark in the Reason-RFT layout and an async `rft` runner. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";

const BIN = fileURLToPath(new URL("../../bin/rft.js", import.meta.url));

export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `rft ...` without blocking the event loop (an in-process server must keep answering). */
export function startRft(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<Run>((resolve) =>
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr })),
  );
  return { child, done };
}

export function runRft(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return startRft(args, env).done;
}

export async function tinyPng(seed: number): Promise<Buffer> {
  return sharp({
    create: { width: 56, height: 56, channels: 3, background: { r: (seed * 37) % 256, g: 120, b: 200 } },
  })
    .png()
    .toBuffer();
}

export interface MiniBench {
  dir: string;
  /** id → ground truth, over all sets. */
  answers: Map<string, string>;
  ids: { id: string[]; ood: string[] };
}

/**
 * A counting benchmark in the Reason-RFT layout: `nId` items in Visual-Counting-id-test-1k.json and `nOod` in
 * Visual-Counting-ood-test-1k.json, each problem carrying its id as "[id=...]" so a fake server can tell items apart.
 */
export async function miniCountingBench(nId: number, nOod: number): Promise<MiniBench> {
  const dir = mkdtempSync(join(tmpdir(), "rft-evalbench-"));
  mkdirSync(join(dir, "test_jsons"));
  mkdirSync(join(dir, "images", "test"), { recursive: true });
  const answers = new Map<string, string>();
  const ids = { id: [] as string[], ood: [] as string[] };
  for (const [split, n, file] of [
    ["id", nId, "Visual-Counting-id-test-1k.json"],
    ["ood", nOod, "Visual-Counting-ood-test-1k.json"],
  ] as const) {
    const recs = [];
    for (let i = 0; i < n; i++) {
      const id = `${split}-${String(i).padStart(2, "0")}`;
      const image = `test/${id}.png`;
      writeFileSync(join(dir, "images", image), await tinyPng(i));
      const answer = String(i % 7);
      answers.set(id, answer);
      ids[split].push(id);
      recs.push({ id, image, problem: `[id=${id}] How many objects are left?`, answer, extra: `kept-${id}` });
    }
    writeFileSync(join(dir, "test_jsons", file), JSON.stringify(recs, null, 2));
  }
  return { dir, answers, ids };
}

export function idFromText(text: string): string {
  const m = /\[id=([^\]]+)\]/.exec(text);
  return m ? m[1]! : "?";
}
