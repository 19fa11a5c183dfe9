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

/** True when Debian's python3 with torch and the anchor script are both there. */
export function hasPyTorch(): boolean {
  if (!existsSync(PY) || !existsSync(ANCHOR)) return false;
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
