/** Helpers of the `rft serve` tests: a tiny random checkpoint and a server child process with its live output. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runRft } from "./helpers.ts";

const BIN = fileURLToPath(new URL("../../bin/rft.js", import.meta.url));

/** A fresh `rft model init --preset qwen2-vl-tiny` checkpoint in a temp dir. */
export async function tinyCheckpoint(): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), "rft-serve-")), "tiny");
  const r = await runRft(["model", "init", "--preset", "qwen2-vl-tiny", "--out", dir]);
  if (r.status !== 0) throw new Error(`rft model init failed: ${r.stderr}`);
  return dir;
}

export interface ServerProcess {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  child: ChildProcess;
  /** stderr so far (the server's log). */
  log(): string;
  /** Resolves when the log matches (or rejects after `ms`). */
  waitForLog(re: RegExp, ms?: number): Promise<void>;
  /** Exit status and signal. */
  exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `rft serve --port 0 ...` and resolves once it prints its URL. */
export function startServer(args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stderr!.on("data", (d) => {
    stderr += d;
    for (const w of waiters.splice(0)) {
      if (w.re.test(stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (status, signal) => resolve({ status, signal })),
  );
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      stdout += d;
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m)
        resolve({
          url: m[1]!,
          child,
          log: () => stderr,
          waitForLog: (re, ms = 30_000) =>
            new Promise<void>((res, rej) => {
              if (re.test(stderr)) return res();
              const t = setTimeout(() => rej(new Error(`no ${re} in the server log:\n${stderr}`)), ms);
              waiters.push({
                re,
                resolve: () => {
                  clearTimeout(t);
                  res();
                },
              });
            }),
          exited,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            return exited;
          },
        });
    });
    void exited.then((e) =>
      reject(new Error(`rft serve exited (${e.status ?? e.signal}) before listening:\n${stderr}`)),
    );
  });
}
