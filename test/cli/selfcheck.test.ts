import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

test("rft selfcheck: engine numerics, a tiny Qwen2-VL learns, memory flat, generation stops", () => {
  const r = spawnSync(process.execPath, ["bin/rft.js", "selfcheck", "--steps", "30", "--batch", "2", "--json"], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.ok, true);
  const names = out.checks.map((c: { name: string }) => c.name);
  assert.deepEqual(names, [
    "fp32 matmul matches a JS reference",
    "bf16 autocast matmul close to the reference",
    "the tiny model learns (loss falls)",
    "live tensors flat across training steps",
    "greedy generation runs and stops",
  ]);
  assert.ok(out.checks.every((c: { ok: boolean }) => c.ok));
  assert.match(r.stderr, /train: step 30\/30 loss/);
  // Its parameter count is for its own 512-token vocabulary and says how it relates to the preset's (issue 8.6).
  assert.match(
    r.stderr,
    /512-token vocabulary, 4\.42M parameters \(the preset's default 1024-token vocabulary gives 4\.55M\)/,
  );
});

test("rft selfcheck rejects bad options", () => {
  const r = spawnSync(process.execPath, ["bin/rft.js", "selfcheck", "--steps", "1"], { encoding: "utf8" });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--steps must be an integer >= 2/);
});
