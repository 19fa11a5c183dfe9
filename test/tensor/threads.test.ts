import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import * as t from "../../src/tensor/index.ts";
import { native } from "../../src/native/index.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const tsxApi = import.meta.resolve("tsx/esm/api");

test("thread defaults: RFT_NUM_THREADS, OMP_NUM_THREADS, cores / LOCAL_WORLD_SIZE (at least 1), all cores", () => {
  assert.equal(t.defaultThreadCount({ RFT_NUM_THREADS: "2", OMP_NUM_THREADS: "1" }, 8), 2);
  assert.equal(t.defaultThreadCount({ OMP_NUM_THREADS: "1,1" }, 8), 1);
  assert.equal(t.defaultThreadCount({ LOCAL_WORLD_SIZE: "2" }, 8), 4);
  assert.equal(t.defaultThreadCount({ LOCAL_WORLD_SIZE: "3" }, 8), 2);
  assert.equal(t.defaultThreadCount({ LOCAL_WORLD_SIZE: "16" }, 8), 1);
  assert.equal(t.defaultThreadCount({}, 8), 8);
  assert.throws(() => t.defaultThreadCount({ LOCAL_WORLD_SIZE: "0" }, 8), /LOCAL_WORLD_SIZE/);
  assert.throws(() => t.defaultThreadCount({ LOCAL_WORLD_SIZE: "two" }, 8), /LOCAL_WORLD_SIZE/);
});

test("RFT_NUM_THREADS=abc|0|-3|1.5|99999 is refused with an error naming it", () => {
  for (const v of ["abc", "0", "-3", "1.5", "99999"])
    assert.throws(() => t.defaultThreadCount({ RFT_NUM_THREADS: v }), new RegExp(`RFT_NUM_THREADS: .*got "${v}"`));
  // And at startup, through the rft command: a clear message, exit 2, no stack trace.
  const r = spawnSync(process.execPath, ["bin/rft.js", "selfcheck", "--help"], {
    cwd: root,
    env: { ...process.env, RFT_NUM_THREADS: "abc" },
    encoding: "utf8",
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^rft: RFT_NUM_THREADS: the thread count must be an integer from 1 to \d+/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test("setNumThreads bounds the count (1 .. min(1024, 4 x cores)) and names the flag; the native setter does too", () => {
  const before = t.getNumThreads();
  const hi = t.maxThreads();
  assert.equal(hi, Math.min(1024, 4 * availableParallelism()));
  for (const bad of [0, -3, 1.5, NaN, hi + 1, 99999])
    assert.throws(() => t.setNumThreads(bad, "--threads"), /--threads: the thread count must be an integer from 1/);
  assert.throws(() => native.setNumThreads(99999), /setNumThreads: thread count must be an integer from 1 to/);
  assert.throws(() => native.setNumThreads(0), /setNumThreads/);
  assert.equal(t.getNumThreads(), before);
  t.setNumThreads(1);
  assert.equal(t.getNumThreads(), 1);
  t.setNumThreads(before);
  // The CLI flag: refused up front (today `--threads 99999` started over a thousand threads and hung).
  const r = spawnSync(process.execPath, ["bin/rft.js", "selfcheck", "--threads", "99999"], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--threads: the thread count must be an integer from 1 to \d+ .*got 99999/);
});

test("using the engine from a worker_thread while the main thread has it gives a clear error", async () => {
  assert.ok(t.getNumThreads() >= 1); // the main thread has loaded the engine
  const code = `
    const { parentPort } = require("node:worker_threads");
    import(${JSON.stringify(tsxApi)})
      .then((tsx) => tsx.tsImport(${JSON.stringify(new URL("../../src/tensor/index.ts", import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))
      .then(
      (m) => parentPort.postMessage({ ok: true, n: m.getNumThreads() }),
      (e) => parentPort.postMessage({ ok: false, message: String(e && e.message) }),
    );`;
  const w = new Worker(code, { eval: true });
  const msg = await new Promise<{ ok: boolean; message?: string }>((resolve, reject) => {
    w.once("message", resolve);
    w.once("error", reject);
  });
  await w.terminate();
  assert.equal(msg.ok, false);
  assert.match(msg.message!, /already in use by another JS thread; it may be used from one JS thread per process only/);
  // The main thread's engine still works.
  using x = t.ones([3]);
  using s = x.sum();
  assert.equal(s.item(), 3);
});
