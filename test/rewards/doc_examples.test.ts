// The `@example` lines of the reward modules are runnable: `expression; // expected` is evaluated and compared.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const FILES = [
  ...readdirSync(fileURLToPath(new URL("../../src/rewards/", import.meta.url)))
    .filter((f) => f.endsWith(".ts") && f !== "index.ts")
    .map((f) => `../../src/rewards/${f}`),
  "../../src/tasks/score.ts",
  "../../src/data/convert.ts",
];

interface Example {
  expr: string;
  expected: unknown;
}

/** Example lines whose expected value (before any parenthesised remark) is JSON. */
function examples(source: string): Example[] {
  const out: Example[] = [];
  for (const block of source.matchAll(/@example\n((?: \*.*\n)+?) \*\//g)) {
    for (const line of block[1]!.split("\n")) {
      const m = /^ \* (.+?);\s*\/\/\s*(.+?)\s*(?:\(.*\))?$/.exec(line);
      if (!m) continue;
      try {
        out.push({ expr: m[1]!, expected: JSON.parse(m[2]!) });
      } catch {
        // not a JSON value (e.g. a prose description): documented, not machine-checked
      }
    }
  }
  return out;
}

test("reward doc examples evaluate to what they say", async () => {
  let checked = 0;
  for (const rel of FILES) {
    const url = new URL(rel, import.meta.url);
    const mod = (await import(url.href)) as Record<string, unknown>;
    const names = Object.keys(mod);
    for (const ex of examples(readFileSync(url, "utf8"))) {
      const fn = new Function(...names, `return (${ex.expr});`) as (...a: unknown[]) => unknown;
      const actual = fn(...names.map((n) => mod[n]));
      const norm = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
      if (typeof ex.expected === "number" && typeof actual === "number") {
        assert.ok(Math.abs(actual - ex.expected) < 1e-9, `${rel}: ${ex.expr} = ${actual}, doc says ${ex.expected}`);
      } else {
        assert.deepEqual(norm(actual), ex.expected, `${rel}: ${ex.expr}`);
      }
      checked++;
    }
  }
  assert.ok(checked >= 20, `only ${checked} examples were checked`);
});
