import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { commandNames } from "../../src/cli/main.ts";

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
