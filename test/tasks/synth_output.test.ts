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

test("--instruct-images: the instruct set's images per style are overridden, recorded in the manifest, and extend the size's set", async () => {
  const { readFileSync } = await import("node:fs");
  const { instructCounts, INSTRUCT_FILE } = await import("../../src/tasks/synth/generate.ts");
  const { parseInstructImages } = await import("../../src/cli/commands/data_synth.ts");
  const read = (dir: string) =>
    JSON.parse(readFileSync(join(dir, INSTRUCT_FILE), "utf8")) as {
      id: string;
      image: string | string[];
      style: string;
    }[];
  const root = tmp();
  const small = join(root, "small");
  const big = join(root, "big");
  await synthesize({ out: small, size: "small", seed: 3, tasks: ["instruct"] });
  const m = await synthesize({
    out: big,
    size: "small",
    seed: 3,
    tasks: ["instruct"],
    instruct: { counting: 20, geometry: 0 },
  });
  assert.deepEqual(m.instruct, { counting: 20, transformation: 12, geometry: 0 });
  const a = read(small);
  const b = read(big);
  const styles = (r: { style: string }[]) => [...new Set(r.map((x) => x.style))].sort();
  assert.deepEqual(styles(b), ["counting", "transformation"]);
  assert.equal(new Set(b.filter((r) => r.style === "counting").map((r) => String(r.image))).size, 20);
  // Items are drawn per (seed, style, index): the size's counting items are the first of the bigger set.
  const counting = (r: typeof a) => r.filter((x) => x.style === "counting");
  assert.deepEqual(counting(b).slice(0, counting(a).length), counting(a));
  // Without an override the manifest has no instruct field.
  assert.equal(JSON.parse(readFileSync(join(small, "manifest.json"), "utf8")).instruct, undefined);
  assert.throws(() => instructCounts("small", { counting: -1 }), /whole number/);
  assert.throws(() => instructCounts("small", { pictures: 3 } as never), /unknown style 'pictures'/);
  assert.deepEqual(parseInstructImages("counting=5, geometry=0"), { counting: 5, geometry: 0 });
  assert.throws(() => parseInstructImages("counting=many"), /--instruct-images: expected style=N/);
});
