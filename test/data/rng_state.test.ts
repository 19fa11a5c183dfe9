import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng, type RngState } from "../../src/data/rng.ts";

const draw = (r: Rng, n = 20) => Array.from({ length: n }, () => r.u32());

test("Rng: both algorithms keep their first outputs (bit-identical to the two classes merged here)", () => {
  // mulberry32 from seed 1 and the sfc32 stream of the labels (7, "x", 1), computed with the pre-merge classes.
  assert.deepEqual(draw(new Rng(1), 3), [2693262067, 11749833, 2265367787]);
  assert.deepEqual(draw(Rng.stream(7, "x", 1), 3), [4213318095, 3652607512, 2989404001]);
});

test("Rng state round trip through JSON, for both algorithms", () => {
  for (const r of [new Rng(42), Rng.stream(3, "counting", "train", 5)]) {
    draw(r, 7);
    const saved = JSON.stringify(r.getState());
    const a = draw(r);
    r.setState(JSON.parse(saved) as RngState);
    assert.deepEqual(draw(r), a);
    assert.deepEqual(draw(Rng.fromState(JSON.parse(saved) as RngState)), a);
  }
});

test("Rng.fork and Rng.derive give independent, reproducible streams and do not advance the parent", () => {
  const parent = new Rng(9);
  const before = parent.getState();
  const f1 = draw(parent.fork("worker", 0));
  const f2 = draw(parent.fork("worker", 1));
  assert.deepEqual(parent.getState(), before);
  assert.deepEqual(draw(parent.fork("worker", 0)), f1);
  assert.notDeepEqual(f1, f2);
  assert.notDeepEqual(f1, draw(new Rng(9)));
  const r0 = draw(Rng.derive(5, 0));
  assert.deepEqual(draw(Rng.derive(5, 0)), r0);
  assert.notDeepEqual(draw(Rng.derive(5, 1)), r0);
});

test("Rng.setState refuses malformed states, naming what is wrong", () => {
  const r = new Rng(1);
  assert.throws(() => r.setState({ algorithm: "xorshift", words: [1] } as unknown as RngState), /unknown algorithm/);
  assert.throws(() => r.setState({ algorithm: "sfc32", words: [1, 2, 3] }), /needs 4 unsigned 32-bit words/);
  assert.throws(() => r.setState({ algorithm: "mulberry32", words: [-1] }), /needs 1 unsigned/);
});

test("Rng.int: one argument is [0, n), two are [lo, hi] inclusive", () => {
  const r = new Rng(3);
  for (let i = 0; i < 200; i++) {
    const a = r.int(6);
    assert.ok(a >= 0 && a < 6 && Number.isInteger(a));
    const b = r.int(2, 4);
    assert.ok(b >= 2 && b <= 4 && Number.isInteger(b));
  }
});
