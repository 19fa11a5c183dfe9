/** src/tasks/tasks.ts: the names that resolve to a task family. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BENCHMARK_NAMES, BENCHMARKS, TASK_NAMES, taskFamily } from "../../src/tasks/tasks.ts";
import { DEMO_TASKS } from "../../src/demo/presets.ts";

test("taskFamily: family names, short names, rft demo's task names and benchmark names; nothing else", () => {
  assert.equal(taskFamily("visual-counting"), "visual-counting");
  assert.equal(taskFamily("sp"), "structure-perception");
  assert.equal(taskFamily("st"), "spatial-transformation");
  // rft demo's names: a demo stage repeated by hand (rft eval --task counting) names the same family.
  assert.deepEqual(
    DEMO_TASKS.map((t) => taskFamily(t)),
    ["visual-counting", "structure-perception", "spatial-transformation"],
  );
  for (const b of BENCHMARK_NAMES) assert.equal(taskFamily(b), BENCHMARKS[b]);
  for (const bad of ["count", "Counting", "", "toString", "__proto__"]) assert.equal(taskFamily(bad), undefined, bad);
  assert.ok(TASK_NAMES.every((n) => taskFamily(n) !== undefined));
  assert.ok(TASK_NAMES.includes("counting"));
});
