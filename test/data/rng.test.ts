import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/data/rng.ts";

test("mulberry32 reference values for seed 0 and 42", () => {
  // Values of the reference mulberry32 (t += 0x6D2B79F5; ...) computed independently with BigInt arithmetic below.
  const ref = (seed: number, n: number): number[] => {
    let a = BigInt(seed >>> 0);
    const M = 0xffffffffn;
    const imul = (x: bigint, y: bigint) => (x * y) & M;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      a = (a + 0x6d2b79f5n) & M;
      let t = a;
      t = imul(t ^ (t >> 15n), t | 1n);
      t = (t ^ (t + imul(t ^ (t >> 7n), t | 61n))) & M;
      out.push(Number((t ^ (t >> 14n)) & M));
    }
    return out;
  };
  for (const seed of [0, 42, 123456789]) {
    const r = new Rng(seed);
    assert.deepEqual(
      Array.from({ length: 5 }, () => r.nextUint32()),
      ref(seed, 5),
      `seed ${seed}`,
    );
  }
});

test("same seed, same stream; different seeds differ", () => {
  const a = new Rng(7);
  const b = new Rng(7);
  const c = new Rng(8);
  const sa = Array.from({ length: 10 }, () => a.next());
  assert.deepEqual(
    sa,
    Array.from({ length: 10 }, () => b.next()),
  );
  assert.notDeepEqual(
    sa,
    Array.from({ length: 10 }, () => c.next()),
  );
});

test("next() is in [0,1), int/range are in bounds and roughly uniform", () => {
  const r = new Rng(1);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60000; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1);
    counts[r.int(6)]++;
    const y = r.range(-2, 2);
    assert.ok(Number.isInteger(y) && y >= -2 && y <= 2);
  }
  for (const k of counts) assert.ok(k > 9000 && k < 11000, `bucket ${k}`);
  assert.throws(() => r.int(0), /positive integer/);
  assert.throws(() => new Rng(NaN), /finite/);
});

test("shuffle is a permutation and leaves its input alone; sampleIndices is distinct and clamped", () => {
  const r = new Rng(3);
  const input = [1, 2, 3, 4, 5, 6, 7, 8];
  const s = r.shuffle(input);
  assert.deepEqual(input, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(
    [...s].sort((x, y) => x - y),
    input,
  );
  const idx = r.sampleIndices(10, 4);
  assert.equal(new Set(idx).size, 4);
  assert.ok(idx.every((i) => i >= 0 && i < 10));
  assert.equal(r.sampleIndices(3, 10).length, 3);
  assert.equal(r.sampleIndices(3, -1).length, 0);
});
