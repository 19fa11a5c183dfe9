// The c10d binding on loopback: a TCPStore, a Gloo process group and the collectives, run by real worker processes
// that join from torchrun's variables; a dead peer and a stuck peer must become errors within the timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { distributedBackends } from "../../src/tensor/index.ts";
import { parseWorldEnv } from "../../src/dist/world.ts";

const WORKER = fileURLToPath(new URL("./fixtures/collectives_worker.ts", import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => res(typeof a === "object" && a ? a.port : 0));
    });
  });
}

interface Out {
  code: number | null;
  json: Record<string, unknown> | null;
  stderr: string;
  ms: number;
}

function runWorker(
  rank: number,
  size: number,
  port: number,
  extra: Record<string, string> = {},
  onSpawn?: (p: ReturnType<typeof spawn>) => void,
): Promise<Out> {
  const t0 = Date.now();
  return new Promise((res) => {
    const p = spawn(process.execPath, ["--import", "tsx", WORKER], {
      env: {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(size),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(size),
        MASTER_ADDR: "127.0.0.1",
        MASTER_PORT: String(port),
        OMP_NUM_THREADS: "1",
        RFT_NUM_THREADS: "1",
        ...extra,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    onSpawn?.(p);
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("exit", (code) => {
      const line = out.trim().split("\n").at(-1) ?? "";
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(line) as Record<string, unknown>;
      } catch {
        json = null;
      }
      res({ code, json, stderr: err, ms: Date.now() - t0 });
    });
  });
}

const skip = distributedBackends().gloo ? false : "this addon was built without c10d (libgloo-dev missing)";

test("torchrun's variables are parsed and checked", () => {
  assert.deepEqual(parseWorldEnv({}), {
    rank: 0,
    size: 1,
    localRank: 0,
    localSize: 1,
    masterAddr: "127.0.0.1",
    masterPort: 29500,
    agentStore: false,
  });
  const w = parseWorldEnv({ RANK: "3", WORLD_SIZE: "4", LOCAL_WORLD_SIZE: "2", MASTER_ADDR: "h", MASTER_PORT: "1" });
  assert.equal(w.localRank, 1);
  assert.throws(() => parseWorldEnv({ WORLD_SIZE: "2", MASTER_ADDR: "h", MASTER_PORT: "1" }), /RANK is not set/);
  assert.throws(() => parseWorldEnv({ WORLD_SIZE: "2", RANK: "2", MASTER_ADDR: "h", MASTER_PORT: "1" }), /not below/);
  assert.throws(() => parseWorldEnv({ WORLD_SIZE: "2", RANK: "1", MASTER_PORT: "1" }), /MASTER_ADDR/);
  assert.throws(() => parseWorldEnv({ WORLD_SIZE: "x" }), /WORLD_SIZE: expected/);
});

test("all-reduce, broadcast, all-gather and barrier across 3 processes", { skip }, async () => {
  const port = await freePort();
  const outs = await Promise.all([0, 1, 2].map((r) => runWorker(r, 3, port)));
  for (const [r, o] of outs.entries()) {
    assert.equal(o.code, 0, `rank ${r}: ${o.stderr} ${JSON.stringify(o.json)}`);
    assert.deepEqual(o.json, {
      rank: r,
      size: 3,
      sum: [6, 60],
      max: [2, 0],
      bcast: [205], // from the last rank
      gather: [[0], [10, 11], [20, 21, 22]],
      ok: true,
    });
  }
});

test("a dead peer is an error on the others at once, naming the collective", { skip }, async () => {
  const port = await freePort();
  const [a, b] = await Promise.all([
    runWorker(0, 2, port, { TIMEOUT_MS: "20000" }),
    runWorker(1, 2, port, { TIMEOUT_MS: "20000", DIE_AT: "broadcast" }),
  ]);
  assert.equal(b.code, 7);
  assert.equal(a.code, 1);
  assert.match(String(a.json?.error), /rank 0\/2: broadcast: a peer died/);
  assert.ok(a.ms < 15000, `took ${a.ms} ms: should not wait for the 20 s timeout`);
});

test("a stuck peer is an error after the timeout, not a hang", { skip }, async () => {
  const port = await freePort();
  let child: ReturnType<typeof spawn> | undefined;
  const stuck = runWorker(1, 2, port, { TIMEOUT_MS: "3000", STALL_AT: "allgather" }, (p) => (child = p));
  const a = await runWorker(0, 2, port, { TIMEOUT_MS: "3000" }).finally(() => child!.kill("SIGKILL"));
  await stuck; // it sleeps for a minute otherwise
  assert.equal(a.code, 1);
  assert.match(String(a.json?.error), /rank 0\/2: all-reduce: a peer did not join it within the timeout \(3 s/);
  assert.ok(a.ms < 20000, `took ${a.ms} ms`);
});

test("a peer that never comes is an error after the timeout", { skip }, async () => {
  const port = await freePort();
  const a = await runWorker(0, 2, port, { TIMEOUT_MS: "2000" });
  assert.notEqual(a.code, 0);
  assert.match(a.stderr + String(a.json?.error), /rank 0\/2: cannot join the process group at 127\.0\.0\.1/);
  assert.ok(a.ms < 20000, `took ${a.ms} ms`);
});
