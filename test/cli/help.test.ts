import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { commandNames, commandSummary } from "../../src/cli/main.ts";
import { UsageError, checkInteger } from "../../src/cli/args.ts";

const rft = (...args: string[]) => spawnSync(process.execPath, ["bin/rft.js", ...args], { encoding: "utf8" });

test("rft --help lists every command, and every command answers --help with its options", () => {
  const top = rft("--help");
  assert.equal(top.status, 0);
  const names = commandNames();
  assert.ok(names.length >= 9);
  for (const name of names) {
    assert.ok(top.stdout.includes(`  ${name}`), `top-level help lists ${name}`);
    const r = rft(...name.split(" "), "--help");
    assert.equal(r.status, 0, `${name} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^rft ${name} — `), `${name} --help names the command`);
    assert.match(r.stdout, /--help\s+show this help/, `${name} --help lists its options`);
  }
});

test("unknown commands and flags exit 2 with a message", () => {
  const r = rft("frobnicate");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  const f = rft("processor", "--nope");
  assert.equal(f.status, 2);
  assert.match(f.stderr, /rft processor: .*--nope/);
});

test("rft data --help and rft model --help list their subcommands; bare rft prints usage and exits 2", () => {
  for (const group of ["data", "model"]) {
    const r = rft(group, "--help");
    assert.equal(r.status, 0, r.stderr);
    const subs = commandNames().filter((n) => n.startsWith(group + " "));
    assert.ok(subs.length >= 2);
    for (const s of subs) assert.ok(r.stdout.includes(`  ${s}`), `${group} --help lists ${s}`);
    const bare = rft(group);
    assert.equal(bare.status, 2);
    assert.match(bare.stderr, new RegExp(`rft ${group}: no command given`));
  }
  const none = rft();
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no command given[\s\S]*Usage: rft <command>/);
});

test("the top-level list has a one-line description for every command", () => {
  const top = rft("--help").stdout;
  for (const name of commandNames()) {
    assert.ok(commandSummary(name).length > 10, `${name} has a description`);
    assert.ok(top.includes(commandSummary(name)), `rft --help shows the description of ${name}`);
  }
});

test("rft data synth --help says it refuses non-empty directories; --seed must be a non-negative safe integer", () => {
  assert.match(rft("data", "synth", "--help").stdout, /Refuses a non-empty --out that is not an earlier/);
  for (const [cmd, extra] of [
    [
      ["data", "synth"],
      ["--out", "/nonexistent/x"],
    ],
    [
      ["data", "build"],
      ["--task", "clevr-math", "--meta", "m.json", "--out", "/nonexistent/x"],
    ],
    [
      ["model", "init"],
      ["--preset", "qwen2-vl-tiny", "--out", "/nonexistent/x"],
    ],
  ] as const) {
    for (const seed of ["1e99", "1.5", "-3"]) {
      const r = rft(...cmd, ...extra, "--seed", seed);
      assert.equal(r.status, 2, `${cmd.join(" ")} --seed ${seed}: ${r.stderr}`);
      assert.match(r.stderr, /--seed must be a non-negative integer, got/, `${cmd.join(" ")} --seed ${seed}`);
    }
  }
});

test("checkInteger refuses non-integers, unsafe magnitudes and out-of-range values, naming the flag", () => {
  assert.equal(checkInteger("seed", 7, { min: 0 }), 7);
  for (const [v, re] of [
    [1.5, /--seed must be a non-negative integer, got 1.5/],
    [1e99, /--seed must be a non-negative integer, got 1e\+99 \(too large\)/],
    [-1, /--seed must be a non-negative integer, got -1/],
    [NaN, /got NaN/],
  ] as const) {
    assert.throws(
      () => checkInteger("seed", v, { min: 0 }),
      (e: Error) => e instanceof UsageError && re.test(e.message),
    );
  }
  assert.throws(() => checkInteger("workers", 0, { min: 1 }), /--workers must be a positive integer/);
  assert.throws(
    () => checkInteger("threads", 99, { min: 1, max: 64 }),
    /--threads must be an integer from 1 to 64, got 99/,
  );
});
