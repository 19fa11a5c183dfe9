import { test } from "node:test";
import assert from "node:assert/strict";
import { parseCommand, helpText, UsageError, type CommandSpec } from "../../src/cli/args.ts";

const cmd: CommandSpec = {
  name: "demo",
  summary: "a demo",
  options: {
    out: { type: "string", help: "output dir", required: true },
    size: { type: "string", help: "size", choices: ["small", "full"], default: "small" },
    seed: { type: "number", help: "seed", default: 0 },
    json: { type: "boolean", help: "json output" },
    image: { type: "strings", help: "images" },
  },
  run() {},
};

test("parses typed options with defaults", () => {
  const { opts } = parseCommand(cmd, ["--out", "x", "--seed", "7", "--image", "a", "--image", "b"]);
  assert.deepEqual(opts, { out: "x", size: "small", seed: 7, json: undefined, image: ["a", "b"] });
});

test("rejects bad input with messages naming the flag", () => {
  assert.throws(
    () => parseCommand(cmd, []),
    (e: Error) => e instanceof UsageError && /--out/.test(e.message),
  );
  assert.throws(() => parseCommand(cmd, ["--out", "x", "--seed", "abc"]), /--seed expects a number/);
  assert.throws(() => parseCommand(cmd, ["--out", "x", "--size", "huge"]), /--size must be one of small, full/);
  assert.throws(() => parseCommand(cmd, ["--out", "x", "--nope"]), UsageError);
});

test("help lists every option", () => {
  const h = helpText(cmd);
  for (const o of ["--out", "--size", "--seed", "--json", "--image", "--help"]) assert.ok(h.includes(o), o);
  assert.equal(parseCommand(cmd, ["--help"]).help, true);
});
