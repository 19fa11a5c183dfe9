import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("the shell examples of docs/data-and-rewards.md run", () => {
  const doc = readFileSync(`${ROOT}docs/data-and-rewards.md`, "utf8");
  const blocks = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 1, "the doc has shell examples");
  const r = spawnSync("bash", ["-euo", "pipefail", "-c", blocks.join("\n") + '\nrm -rf "$OUT"\n'], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `examples failed:\n${r.stderr}`);
  // The reward example prints one line per input with the documented values.
  assert.ok(r.stdout.includes('{"rewards":{"accuracy":1,"format":1},"total":2}'), r.stdout);
  assert.ok(r.stdout.includes('{"rewards":{"accuracy":1,"format":0},"total":1}'), r.stdout);
  assert.match(r.stdout, /overall\s+9\s+5\.00\s+55\.56/);
  assert.match(r.stdout, /trance_rl_stage2\.json/);
});
