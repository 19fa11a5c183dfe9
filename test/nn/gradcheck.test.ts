// Autograd gradients of every layer against central finite differences, in float64.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as t from "../../src/tensor/index.ts";
import { Linear, Embedding, RMSNorm, LayerNorm, Module } from "../../src/nn/index.ts";

/** Checks d(sum(f(x)·w))/d(param) for every param and (optionally) the input, by central differences. */
function gradcheck(name: string, forward: () => t.Tensor, inputs: [string, t.Tensor][], eps = 1e-6, tol = 1e-6): void {
  t.manualSeed(123);
  const probe = t.tidy(() => forward().detach());
  const w = t.randn(probe.shape, { dtype: "float64" });
  const loss = () => t.tidy(() => forward().mul(w).sum().item());
  for (const [, x] of inputs) x.setGrad(null);
  t.tidy(() => forward().mul(w).sum().backward());
  for (const [pname, x] of inputs) {
    const g = x.grad;
    assert.ok(g, `${name}: ${pname} has no grad`);
    const analytic = g.toArray() as Float64Array;
    const flat = x.detach().view(-1); // shares storage with x
    const n = Math.min(flat.numel, 12);
    for (let i = 0; i < n; i++) {
      const orig = flat.select(0, i).item();
      t.noGrad(() => flat.select(0, i).fill_(orig + eps));
      const up = loss();
      t.noGrad(() => flat.select(0, i).fill_(orig - eps));
      const down = loss();
      t.noGrad(() => flat.select(0, i).fill_(orig));
      const numeric = (up - down) / (2 * eps);
      const diff = Math.abs(numeric - analytic[i]!);
      assert.ok(
        diff <= tol * (1 + Math.abs(numeric)),
        `${name}: d/d${pname}[${i}] analytic ${analytic[i]} vs numeric ${numeric}`,
      );
    }
  }
}

const f64 = { dtype: "float64" as const };

function params(m: Module): [string, t.Tensor][] {
  return [...m.namedParameters()];
}

test("Linear gradients (weight, bias, input)", () => {
  t.manualSeed(0);
  const lin = new Linear(5, 3, f64);
  const x = t.randn([4, 5], { ...f64, requiresGrad: true });
  gradcheck("Linear", () => lin.forward(x), [...params(lin), ["x", x]]);
  const noBias = new Linear(5, 3, { ...f64, bias: false });
  assert.equal(noBias.bias, null);
  gradcheck("Linear(no bias)", () => noBias.forward(x), params(noBias));
});

test("Embedding gradients", () => {
  t.manualSeed(0);
  const emb = new Embedding(7, 4, f64);
  const ids = t.tensor(
    [
      [1, 3, 1],
      [6, 0, 2],
    ],
    { dtype: "int64" },
  );
  gradcheck("Embedding", () => emb.forward(ids), params(emb));
});

test("RMSNorm gradients (weight, input), float64 and the float32 path", () => {
  t.manualSeed(0);
  const n = new RMSNorm(6, 1e-6, f64);
  t.noGrad(() => n.weight.uniform_(0.5, 1.5));
  const x = t.randn([3, 6], { ...f64, requiresGrad: true });
  gradcheck("RMSNorm", () => n.forward(x), [...params(n), ["x", x]]);
  // value check against the definition
  const xs = t.tensor([[1, 2, 3]]);
  const m = new RMSNorm(3, 0);
  const rms = Math.sqrt((1 + 4 + 9) / 3);
  assert.deepEqual(
    m
      .forward(xs)
      .toNumbers()
      .map((v) => Math.round(v * 1e5) / 1e5),
    [1 / rms, 2 / rms, 3 / rms].map((v) => Math.round(v * 1e5) / 1e5),
  );
  // bf16 input: computed in float32, returned in the weight's dtype promotion (as HF)
  const bf = xs.to("bfloat16");
  assert.equal(new RMSNorm(3, 1e-6, { dtype: "bfloat16" }).forward(bf).dtype, "bfloat16");
});

test("LayerNorm gradients", () => {
  t.manualSeed(0);
  const ln = new LayerNorm(5, 1e-5, f64);
  t.noGrad(() => {
    ln.weight.uniform_(0.5, 1.5);
    ln.bias.uniform_(-0.5, 0.5);
  });
  const x = t.randn([2, 5], { ...f64, requiresGrad: true });
  gradcheck("LayerNorm", () => ln.forward(x), [...params(ln), ["x", x]]);
});

test("functional ops used by the models have correct gradients", () => {
  t.manualSeed(0);
  const x = t.randn([2, 3, 4], { ...f64, requiresGrad: true });
  const y = t.randn([2, 4, 3], { ...f64, requiresGrad: true });
  gradcheck("bmm+softmax+silu", () => x.bmm(y).softmax(-1).silu(), [
    ["x", x],
    ["y", y],
  ]);
  gradcheck("gelu(tanh)*rsqrt", () => x.gelu("tanh").mul(x.square().add(1).rsqrt()), [["x", x]]);
  const target = t.tensor([1, 0, 3, -100, 2, 2], { dtype: "int64" });
  gradcheck("cross_entropy", () => t.crossEntropy(x.view(6, 4), target), [["x", x]]);
  gradcheck("cat/slice/transpose", () => t.cat([x.slice(2, 0, 2), x.transpose(1, 2).slice(1, 2).transpose(1, 2)], 2), [
    ["x", x],
  ]);
});

test("autograd API: grad(), retain graph, noGrad, enableGrad, inference mode", () => {
  const x = t.tensor([1, 2, 3], { dtype: "float64", requiresGrad: true });
  const y = x.pow(3).sum();
  const [g] = t.grad([y], [x], { retainGraph: true });
  assert.deepEqual(g!.toNumbers(), [3, 12, 27]);
  y.backward();
  assert.deepEqual(x.grad!.toNumbers(), [3, 12, 27]);
  x.setGrad(null);
  assert.equal(x.grad, null);
  const z = t.noGrad(() => x.mul(2));
  assert.equal(z.requiresGrad, false);
  assert.equal(t.isGradEnabled(), true);
  const w = t.noGrad(() => t.enableGrad(() => x.mul(2)));
  assert.equal(w.requiresGrad, true);
  assert.match(w.gradFn!, /^MulBackward/);
  assert.equal(x.isLeaf, true);
  const inf = t.inferenceMode(() => x.mul(2));
  assert.equal(inf.requiresGrad, false);
  assert.throws(() => t.noGrad(() => Promise.resolve(1)), /synchronous/);
  assert.equal(t.isGradEnabled(), true, "grad mode restored after a throw");
  // autocast: matmul runs in bf16 inside, float32 outside
  const a = t.randn([4, 4]);
  assert.equal(t.autocast(() => a.matmul(a)).dtype, "bfloat16");
  assert.equal(a.matmul(a).dtype, "float32");
});
