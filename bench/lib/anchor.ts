/**
 * The PyTorch anchor (shared/anchors/pytorch_qwen2_reference.py), run as a child process with the same threads
 * and environment (BLAS core type, OpenMP spin) as our process, so ratios compare bindings, not settings.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ANCHOR = fileURLToPath(new URL("../../../shared/anchors/pytorch_qwen2_reference.py", import.meta.url));
export const PY = "/usr/bin/python3";

/** Our environment (inherited BLAS and OpenMP settings) with the thread count pinned. */
export function anchorEnv(threads: number): NodeJS.ProcessEnv {
  return { ...process.env, OMP_NUM_THREADS: String(threads) };
}

/** The training-step anchor of `bench train` (SFT and GRPO steps in plain PyTorch, TRL-style). */
export const TRAIN_ANCHOR = fileURLToPath(new URL("../anchors/train_step.py", import.meta.url));

/** True when Debian's python3 with torch and the anchor script (default: the shared one) are both there. */
export function hasPyTorch(script: string = ANCHOR): boolean {
  if (!existsSync(PY) || !existsSync(script)) return false;
  return spawnSync(PY, ["-c", "import torch"], { stdio: "ignore" }).status === 0;
}

/** Runs the anchor with `args` (after the script path; "--json" is added) and parses its last output line. */
export function runAnchorScript(args: string[], threads: number, label: string): Record<string, number> | null {
  const r = spawnSync(PY, [ANCHOR, ...args, "--json"], { env: anchorEnv(threads), encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`${label} failed: ${r.stderr.slice(-500)}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
}

/**
 * Runs a Python anchor `script` with `args` (nothing added) and parses every stdout line that is a JSON object.
 * Null (and the end of stderr printed) when it fails.
 */
export function runPythonJsonLines(
  script: string,
  args: string[],
  threads: number,
  label: string,
): Record<string, unknown>[] | null {
  const r = spawnSync(PY, [script, ...args], {
    env: anchorEnv(threads),
    encoding: "utf8",
    maxBuffer: 64 * 2 ** 20,
  });
  if (r.status !== 0) {
    console.error(`${label} failed (exit ${r.status ?? r.signal}): ${(r.stderr ?? "").slice(-1500)}`);
    return null;
  }
  return r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
