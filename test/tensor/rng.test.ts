import { test } from "node:test";
import assert from "node:assert/strict";
import * as t from "../../src/tensor/index.ts";

const probs = () =>
  t.tensor([
    [0.1, 0.2, 0.3, 0.4],
    [0.7, 0.1, 0.1, 0.1],
  ]);

test("a Generator with the same seed gives the same multinomial samples; another seed others", () => {
  using p = probs();
  const draw = (g: t.Generator) => {
    using s = p.multinomial(64, true, g);
    return s.toNumbers();
  };
  const a = draw(new t.Generator(1234));
  assert.deepEqual(draw(new t.Generator(1234)), a);
  assert.notDeepEqual(draw(new t.Generator(1235)), a);
  const g = new t.Generator(7);
  const first = draw(g);
  g.manualSeed(7);
  assert.deepEqual(draw(g), first);
  assert.equal(g.initialSeed(), 7);
  assert.equal(g.device, "cpu");
});

test("Generator state: save, draw, restore, draw again gives identical samples (multinomial, normal_, rand, randperm)", () => {
  using p = probs();
  const g = new t.Generator(99);
  using _warm = p.multinomial(5, true, g); // move away from the seed's initial state
  const saved = g.getState();
  assert.ok(Buffer.isBuffer(saved) && saved.length > 0);
  const sample = () => {
    using m = p.multinomial(16, true, g);
    using n = t.zeros([8]).normal_(0, 1, g);
    using r = t.rand([5], { generator: g });
    using q = t.randperm(10, { generator: g });
    using i = t.randint(0, 100, [6], { generator: g });
    using half = t.full([12], 0.5);
    using b = half.bernoulli(g);
    return [
      m.toNumbers(),
      Array.from(n.toFloat32()),
      Array.from(r.toFloat32()),
      q.toNumbers(),
      i.toNumbers(),
      b.toNumbers(),
    ];
  };
  const a = sample();
  g.setState(saved);
  assert.deepEqual(sample(), a);
  assert.throws(() => g.setState(Buffer.alloc(3)), /Generator.setState/);
});

test("explicit generators do not disturb each other nor the default stream", () => {
  using p = probs();
  t.manualSeed(5);
  const globalState = t.getRngState();
  using ref = t.rand([6]);
  const refValues = Array.from(ref.toFloat32());

  const g1 = new t.Generator(1);
  const g2 = new t.Generator(2);
  const alone = (() => {
    using s = p.multinomial(32, true, new t.Generator(1));
    return s.toNumbers();
  })();
  t.setRngState(globalState);
  using x1 = p.multinomial(32, true, g1);
  using _y2 = t.randn([100], { generator: g2 }); // draws from g2 between g1's draws
  using z = t.rand([6]); // the default stream
  assert.deepEqual(x1.toNumbers(), alone, "g2 and the default stream did not change g1's samples");
  assert.deepEqual(Array.from(z.toFloat32()), refValues, "the generators did not advance the default stream");
});

test("the default generator's state round trip, and dropout with a Generator equals the default stream's dropout", () => {
  using x = t.ones([4, 64]);
  t.manualSeed(11);
  const s = t.getRngState();
  const a = (() => {
    using d = t.dropout(x, 0.3, true);
    return Array.from(d.toFloat32());
  })();
  t.setRngState(s);
  const b = (() => {
    using d = t.dropout(x, 0.3, true);
    return Array.from(d.toFloat32());
  })();
  assert.deepEqual(b, a);
  // Same seed, explicit stream: ATen's dropout computed from bernoulli_ gives the same mask and scale.
  using dg = t.dropout(x, 0.3, true, new t.Generator(11));
  assert.deepEqual(Array.from(dg.toFloat32()), a);
  using off = t.dropout(x, 0.3, false, new t.Generator(11));
  assert.deepEqual(Array.from(off.toFloat32()), Array.from(x.toFloat32()));
});

test("a Generator is refused where a tensor is expected and vice versa, with clear errors", () => {
  using x = t.ones([2]);
  assert.throws(() => t.callOp("aten::bernoulli", x, x), /expects a Generator/);
  assert.throws(() => new t.Generator(1.5), /safe integer/);
  assert.throws(() => new t.Generator(1, { device: "meta" }), /no generator for device/);
  // The generated aten namespace takes generators too.
  using a = t.aten.bernoulli_p(x, 0.5, new t.Generator(3));
  using b = t.aten.bernoulli_p(x, 0.5, new t.Generator(3));
  assert.deepEqual(a.toNumbers(), b.toNumbers());
});
