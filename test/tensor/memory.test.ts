import { test } from "node:test";
import assert from "node:assert/strict";
import * as t from "../../src/tensor/index.ts";
import { Module, Linear, Embedding, RMSNorm, AdamW, clipGradNorm } from "../../src/nn/index.ts";

test("tidy disposes temporaries, keeps returned and kept tensors, moves results to the parent scope", () => {
  const base = t.handleBalance();
  let kept: t.Tensor | undefined;
  const out = t.tidy(() => {
    const a = t.ones([3]);
    const b = a.add(1); // temporary
    kept = t.keep(b.mul(3));
    const inner = t.tidy(() => ({ sum: b.sum(), list: [b.mul(2)], map: new Map([["x", b.add(5)]]) }));
    assert.equal(t.scopeDepth(), 1);
    return { s: inner.sum, l: inner.list[0]!, m: inner.map.get("x")! };
  });
  assert.equal(t.scopeDepth(), 0);
  assert.equal(out.s.item(), 6);
  assert.deepEqual(out.l.toNumbers(), [4, 4, 4]);
  assert.deepEqual(out.m.toNumbers(), [7, 7, 7]);
  assert.deepEqual(kept!.toNumbers(), [6, 6, 6]);
  assert.equal(t.handleBalance() - base, 4);
  for (const x of [out.s, out.l, out.m, kept!]) x.dispose();
  assert.equal(t.handleBalance(), base);
});

test("tidy cleans up when the function throws, and refuses Promises", () => {
  const base = t.handleBalance();
  assert.throws(() =>
    t.tidy(() => {
      t.ones([2]).add(1);
      throw new Error("boom");
    }),
  );
  assert.equal(t.handleBalance(), base);
  assert.throws(() => t.tidy(() => Promise.resolve(t.ones([1]))), /returned a Promise/);
  assert.equal(t.scopeDepth(), 0);
});

test("using and dispose free immediately; counters track unique storages once", () => {
  const m0 = t.memory();
  const b0 = t.handleBalance();
  {
    using a = t.zeros([1024]);
    using v = a.view(32, 32); // a view shares a's storage: counted once
    assert.equal(t.handleBalance() - b0, 2);
    assert.equal(t.memory().cpuBytes - m0.cpuBytes, 4096);
    assert.equal(v.numel, 1024);
  }
  assert.deepEqual([t.handleBalance(), t.memory().cpuBytes], [b0, m0.cpuBytes]);
  const x = t.ones([2]);
  x.dispose();
  x.dispose(); // idempotent
  assert.equal(x.isDisposed, true);
  assert.throws(() => t.expectNoLeaks(() => void t.ones([1])), /leak: 1 tensor handles/);
});

test("views returned by dataView keep the storage alive and are zero-copy", () => {
  const a = t.tensor([1, 2, 3]);
  const buf = a.dataView();
  new Float32Array(buf)[0] = 10;
  assert.deepEqual(a.toNumbers(), [10, 2, 3]);
  a.dispose();
  assert.equal(new Float32Array(buf)[1], 2, "still readable after the handle is disposed");
});

class Small extends Module {
  readonly emb = this.module("emb", new Embedding(64, 32));
  readonly norm = this.module("norm", new RMSNorm(32));
  readonly fc1 = this.module("fc1", new Linear(32, 64));
  readonly fc2 = this.module("fc2", new Linear(64, 64));
  forward(ids: t.Tensor): t.Tensor {
    return t.tidy(() => this.fc2.forward(this.fc1.forward(this.norm.forward(this.emb.forward(ids))).silu()));
  }
}

test("1000 training steps keep live tensors exactly flat and RSS flat (tolerance 32 MiB)", () => {
  t.manualSeed(0);
  const model = new Small();
  const opt = new AdamW(model.namedParameters(), { lr: 1e-3 });
  const ids = t.randint(0, 64, [8, 16]);
  const target = ids.flatten();
  let firstLoss = 0;
  let lastLoss = 0;
  let handlesAtWarmup = 0;
  let rssAtWarmup = 0;
  for (let step = 0; step < 1000; step++) {
    const loss = t.tidy(() => {
      const logits = model.forward(ids).view(-1, 64);
      const l = t.crossEntropy(logits, target);
      l.backward();
      return l.item();
    });
    clipGradNorm(model.parameters(), 1.0);
    opt.stepUpdate();
    opt.zeroGrad();
    if (step === 0) firstLoss = loss;
    lastLoss = loss;
    if (step === 100) {
      handlesAtWarmup = t.handleBalance();
      rssAtWarmup = process.memoryUsage().rss;
    }
    if (step > 100) assert.equal(t.handleBalance(), handlesAtWarmup, `live handles changed at step ${step}`);
  }
  const rssGrowth = process.memoryUsage().rss - rssAtWarmup;
  assert.ok(rssGrowth < 32 * 1024 * 1024, `RSS grew by ${(rssGrowth / 2 ** 20).toFixed(1)} MiB over 900 steps`);
  assert.ok(lastLoss < firstLoss * 0.5, `the model learned (loss ${firstLoss} -> ${lastLoss})`);
  const before = t.handleBalance();
  opt.dispose();
  model.dispose();
  assert.ok(t.handleBalance() < before - 10, "owners free their tensors");
});

test("the GC safety net frees forgotten tensors synchronously, even in a loop that never yields, including those that escaped a scope or were kept", async () => {
  const { spawnSync } = await import("node:child_process");
  const script = new URL("../fixtures/scripts/gc_safety_net.mts", import.meta.url).pathname;
  const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.equal(m.created, 100000 + 40000 + 10000);
  assert.equal(
    m.finalized,
    100000 + 20000 + 10000,
    "every forgotten handle was finalized (the scopes disposed the rest)",
  );
  assert.equal(m.live, 0);
  assert.equal(m.bytes, 0);
});
