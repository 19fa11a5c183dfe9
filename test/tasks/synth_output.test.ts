/** rft data synth's output directory rules (issue 8 item 1). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synthesize } from "../../src/tasks/synth/generate.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "rft-synth-out-"));

test("a directory that merely has synth-like entries (images/) but no synth manifest or marker is not deleted", async () => {
  const root = tmp();
  const out = join(root, "photos");
  mkdirSync(join(out, "images"), { recursive: true });
  writeFileSync(join(out, "images", "holiday.png"), "precious");
  await assert.rejects(
    synthesize({ out, size: "small", seed: 0, tasks: ["geometry"] }),
    /not empty .*refusing to write into it \(use --force/,
  );
  assert.ok(existsSync(join(out, "images", "holiday.png")));
  // --force replaces it; the output carries the marker; a second run replaces its own output.
  await synthesize({ out, size: "small", seed: 0, tasks: ["geometry"], force: true });
  assert.ok(!existsSync(join(out, "images", "holiday.png")));
  assert.ok(existsSync(join(out, ".rft-output")) && existsSync(join(out, "manifest.json")));
  await synthesize({ out, size: "small", seed: 1, tasks: ["geometry"] });
  assert.deepEqual(readdirSync(root), ["photos"], "no temporary directory is left beside the output");
  // An output written before the marker existed is recognised by its manifest.
  rmSync(join(out, ".rft-output"));
  await synthesize({ out, size: "small", seed: 2, tasks: ["geometry"] });
});
