import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rft } from "../cli/run_rft.ts";
import { UsageError, helpText } from "../../src/cli/args.ts";
import { command, parseTasks } from "../../src/cli/commands/data_synth.ts";
import { tempDir } from "./helpers.ts";

test("rft data synth --size small writes the dataset layout and a manifest", () => {
  const out = join(tempDir("cli"), "mini");
  const r = rft(["data", "synth", "--size", "small", "--out", out, "--seed", "4"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^wrote \d+ records and \d+ images to /m);
  assert.match(r.stderr, /synth: counting train: 40 records/);
  const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
  assert.equal(manifest.seed, 4);
  assert.equal(manifest.size, "small");
  for (const f of Object.keys(manifest.files)) assert.ok(existsSync(join(out, f)), f);
  assert.ok(existsSync(join(out, "images/train_images/clevr_math/000000.png")));
  assert.ok(existsSync(join(out, "images/test_images/trance_left/000000_1.png")));
});

test("rft data synth rejects bad input with clear messages", () => {
  const out = tempDir("cli-bad");
  let r = rft(["data", "synth", "--size", "huge", "--out", out]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--size must be one of small, full/);
  r = rft(["data", "synth", "--size", "small", "--out", out, "--tasks", "counting,poetry"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown task 'poetry'/);
  writeFileSync(join(out, "precious.txt"), "x");
  r = rft(["data", "synth", "--size", "small", "--out", out, "--tasks", "geometry"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not empty/);
  assert.ok(existsSync(join(out, "precious.txt")));
});

test("option validation and help, in process", async () => {
  assert.throws(
    () => parseTasks("counting,poetry"),
    (e: Error) => e instanceof UsageError && /unknown task 'poetry'/.test(e.message),
  );
  assert.deepEqual(parseTasks("trance, clevr-math,trance"), ["transformation", "counting"]);
  assert.throws(() => parseTasks(" , "), /at least one task/);
  const base = { out: tempDir("cli-opts"), size: "small", seed: 0, tasks: "counting", workers: 1 };
  await assert.rejects(async () => command.run({ ...base, seed: 1.5 }, []), /--seed must be a non-negative integer/);
  await assert.rejects(async () => command.run({ ...base, workers: 0 }, []), /--workers must be a positive integer/);
  const help = helpText(command);
  for (const o of ["--out", "--size", "--seed", "--tasks", "--workers"]) assert.ok(help.includes(o), o);
});
