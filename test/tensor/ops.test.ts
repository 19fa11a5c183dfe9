import { test } from "node:test";
import assert from "node:assert/strict";
import * as t from "../../src/tensor/index.ts";
import { assertClose } from "../helpers.ts";

test("arithmetic, broadcasting and scalars", () => {
  const a = t.tensor([
    [1, 2],
    [3, 4],
  ]);
  const b = t.tensor([10, 20]);
  assert.deepEqual(a.add(b).toNumbers(), [11, 22, 13, 24]);
  assert.deepEqual(a.sub(1).toNumbers(), [0, 1, 2, 3]);
  assert.deepEqual(a.mul(b).toNumbers(), [10, 40, 30, 80]);
  assert.deepEqual(a.div(2).toNumbers(), [0.5, 1, 1.5, 2]);
  assert.deepEqual(a.add(b, 2).toNumbers(), [21, 42, 23, 44]);
  assert.deepEqual(a.rsub(10).toNumbers(), [9, 8, 7, 6]);
  assert.deepEqual(a.pow(2).toNumbers(), [1, 4, 9, 16]);
  assert.deepEqual(a.neg().abs().toNumbers(), [1, 2, 3, 4]);
  assert.deepEqual(t.tensor([7, -7], { dtype: "int64" }).div(2, "floor").toNumbers(), [3, -4]);
  assert.deepEqual(a.clamp(2, 3).toNumbers(), [2, 2, 3, 3]);
  assert.deepEqual(
    a
      .maximum(
        t.tensor([
          [2, 2],
          [2, 2],
        ]),
      )
      .toNumbers(),
    [2, 2, 3, 4],
  );
  assertClose(t.tensor([0, 1]).exp().toFloat32(), [1, Math.E]);
  assertClose(t.tensor([4]).rsqrt().toFloat32(), [0.5]);
  assertClose(
    t
      .tensor([0, Math.PI / 2])
      .sin()
      .toFloat32(),
    [0, 1],
    1e-6,
  );
  assertClose(t.tensor([-1, 0, 1]).silu().toFloat32(), [-1 / (1 + Math.E), 0, 1 / (1 + Math.exp(-1))], 1e-6);
  assertClose(t.tensor([1]).gelu("tanh").toFloat32(), [0.8411920070648193], 1e-6);
  assertClose(t.tensor([1]).gelu().toFloat32(), [0.8413447460685429], 1e-6);
});

test("comparison, logic and where", () => {
  const a = t.tensor([1, 2, 3]);
  assert.deepEqual(a.gt(1).toNumbers(), [0, 1, 1]);
  assert.equal(a.gt(1).dtype, "bool");
  assert.deepEqual(a.eq(t.tensor([1, 0, 3])).toNumbers(), [1, 0, 1]);
  assert.deepEqual(a.le(2).logicalAnd(a.ge(2)).toNumbers(), [0, 1, 0]);
  assert.deepEqual(t.where(a.gt(1), a, 0).toNumbers(), [0, 2, 3]);
  assert.deepEqual(t.where(a.gt(1), a, t.tensor([9, 9, 9])).toNumbers(), [9, 2, 3]);
  assert.deepEqual(a.maskedFill(a.eq(2), -1).toNumbers(), [1, -1, 3]);
  assert.deepEqual(t.tensor([1, NaN, Infinity]).isfinite().toNumbers(), [1, 0, 0]);
});

test("matmul family and linear", () => {
  const a = t.tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const w = t.tensor([
    [1, 0, 1],
    [0, 1, 0],
  ]);
  assert.deepEqual(a.matmul(w.mT).toNumbers(), [4, 2, 10, 5]);
  assert.deepEqual(t.linear(a, w, t.tensor([1, 1])).toNumbers(), [5, 3, 11, 6]);
  const b3 = t.arange(0, 12, 1, { dtype: "float32" }).view(2, 2, 3);
  assert.deepEqual(b3.bmm(b3.transpose(1, 2)).shape, [2, 2, 2]);
  assert.deepEqual(b3.bmm(b3.transpose(1, 2)).toNumbers(), [5, 14, 14, 50, 149, 212, 212, 302]);
  assert.deepEqual(
    t
      .tensor([1, 2])
      .outer(t.tensor([3, 4]))
      .toNumbers(),
    [3, 4, 6, 8],
  );
});

test("reductions", () => {
  const a = t.tensor([
    [1, 5, 3],
    [4, 2, 6],
  ]);
  assert.equal(a.sum().item(), 21);
  assert.deepEqual(a.sum(0).toNumbers(), [5, 7, 9]);
  assert.deepEqual(a.sum(1, true).shape, [2, 1]);
  assert.deepEqual(a.mean(1).toNumbers(), [3, 4]);
  assert.equal(a.max().item(), 6);
  const [v, i] = a.maxDim(1);
  assert.deepEqual(v.toNumbers(), [5, 6]);
  assert.deepEqual(i.toNumbers(), [1, 2]);
  assert.deepEqual(a.argmax(1).toNumbers(), [1, 2]);
  assert.deepEqual(a.amin(0).toNumbers(), [1, 2, 3]);
  assertClose(a.logsumexp(1).toFloat32(), [
    Math.log(Math.exp(1) + Math.exp(5) + Math.exp(3)),
    Math.log(Math.exp(4) + Math.exp(2) + Math.exp(6)),
  ]);
  assertClose([t.tensor([3, 4]).norm().item()], [5]);
  assertClose(t.tensor([1, 2, 3, 4]).var().toFloat32(), [5 / 3]);
  assertClose(
    t
      .tensor([[1, 2, 3]])
      .softmax(-1)
      .toFloat32(),
    [0.09003057, 0.24472847, 0.66524096],
  );
  assertClose(
    t
      .tensor([[1, 2, 3]])
      .logSoftmax(-1)
      .toFloat32(),
    [-2.40760596, -1.40760596, -0.40760596],
  );
  assert.deepEqual(t.tensor([1, 2, 3]).cumsum(0).toNumbers(), [1, 3, 6]);
});

test("sorting, topk, multinomial", () => {
  const a = t.tensor([3, 1, 2]);
  const [sv, si] = a.sort(0, true);
  assert.deepEqual(sv.toNumbers(), [3, 2, 1]);
  assert.deepEqual(si.toNumbers(), [0, 2, 1]);
  assert.deepEqual(a.argsort().toNumbers(), [1, 2, 0]);
  const [tv, ti] = a.topk(2);
  assert.deepEqual(tv.toNumbers(), [3, 2]);
  assert.deepEqual(ti.toNumbers(), [0, 2]);
  t.manualSeed(0);
  const probs = t.tensor([
    [0, 0, 1],
    [1, 0, 0],
  ]);
  assert.deepEqual(probs.multinomial(1).toNumbers(), [2, 0]);
});

test("shape ops", () => {
  const a = t.arange(6, undefined, 1, { dtype: "float32" });
  assert.equal(t.arange(6).dtype, "int64");
  const m = a.view(2, 3);
  assert.deepEqual(m.shape, [2, 3]);
  assert.deepEqual(m.permute(1, 0).contiguous().toNumbers(), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(m.transpose(0, 1).reshape(6).toNumbers(), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(m.unsqueeze(0).shape, [1, 2, 3]);
  assert.deepEqual(m.unsqueeze(0).squeeze(0).shape, [2, 3]);
  assert.deepEqual(t.tensor([1, 2]).expand(2, 2).toNumbers(), [1, 2, 1, 2]);
  assert.deepEqual(t.tensor([1, 2]).repeat(2).toNumbers(), [1, 2, 1, 2]);
  assert.deepEqual(t.tensor([1, 2]).repeatInterleave(2).toNumbers(), [1, 1, 2, 2]);
  assert.deepEqual(
    t
      .tensor([1, 2])
      .repeatInterleave(t.tensor([1, 3], { dtype: "int64" }))
      .toNumbers(),
    [1, 2, 2, 2],
  );
  assert.deepEqual(m.flatten().shape, [6]);
  assert.deepEqual(t.cat([m, m], 0).shape, [4, 3]);
  assert.deepEqual(t.stack([m, m], 1).shape, [2, 2, 3]);
  const parts = a.split([2, 4]);
  assert.deepEqual(
    parts.map((p) => p.toNumbers()),
    [
      [0, 1],
      [2, 3, 4, 5],
    ],
  );
  assert.deepEqual(
    a.split(4).map((p) => p.shape[0]),
    [4, 2],
  );
  assert.deepEqual(
    a.chunk(3).map((p) => p.toNumbers()),
    [
      [0, 1],
      [2, 3],
      [4, 5],
    ],
  );
  assert.deepEqual(
    m.unbind(0).map((p) => p.toNumbers()),
    [
      [0, 1, 2],
      [3, 4, 5],
    ],
  );
  assert.deepEqual(t.ones([3, 3]).triu(1).toNumbers(), [0, 1, 1, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(t.ones([2, 2]).tril().toNumbers(), [1, 0, 1, 1]);
  assert.deepEqual(a.flip(0).toNumbers(), [5, 4, 3, 2, 1, 0]);
});

test("indexing: slice, select, index, gather, scatter, index_select, masked ops", () => {
  const m = t.arange(12, undefined, 1, { dtype: "float32" }).view(3, 4);
  assert.deepEqual(m.slice(1, 1, 3).toNumbers(), [1, 2, 5, 6, 9, 10]);
  assert.deepEqual(m.slice(0, -1).toNumbers(), [8, 9, 10, 11]);
  assert.deepEqual(m.slice(1, null, null, 2).toNumbers(), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(m.select(0, 1).toNumbers(), [4, 5, 6, 7]);
  assert.deepEqual(m.narrow(1, 2, 2).toNumbers(), [2, 3, 6, 7, 10, 11]);
  const rows = t.tensor([2, 0], { dtype: "int64" });
  assert.deepEqual(m.index([rows]).toNumbers(), [8, 9, 10, 11, 0, 1, 2, 3]);
  assert.deepEqual(m.index([rows, t.tensor([1, 3], { dtype: "int64" })]).toNumbers(), [9, 3]);
  assert.deepEqual(m.index([null, t.tensor([0], { dtype: "int64" })]).toNumbers(), [0, 4, 8]);
  assert.deepEqual(m.indexSelect(1, t.tensor([3, 0], { dtype: "int64" })).toNumbers(), [3, 0, 7, 4, 11, 8]);
  assert.deepEqual(m.gather(1, t.tensor([[0], [1], [2]], { dtype: "int64" })).toNumbers(), [0, 5, 10]);
  const z = t.zeros([2, 3]);
  assert.deepEqual(
    z.scatter(1, t.tensor([[2], [0]], { dtype: "int64" }), t.ones([2, 1])).toNumbers(),
    [0, 0, 1, 1, 0, 0],
  );
  assert.deepEqual(
    t
      .zeros([3])
      .scatterAdd(0, t.tensor([0, 0, 2], { dtype: "int64" }), t.ones([3]))
      .toNumbers(),
    [2, 0, 1],
  );
  const mask = t.tensor([0, 1, 0, 1], { dtype: "bool" });
  assert.deepEqual(
    t
      .zeros([4])
      .maskedScatter(mask, t.tensor([7, 8]))
      .toNumbers(),
    [0, 7, 0, 8],
  );
  assert.deepEqual(t.tensor([1, 2, 3, 4]).maskedSelect(mask).toNumbers(), [2, 4]);
  assert.deepEqual(mask.nonzero().toNumbers(), [1, 3]);
  const put = t.zeros([3]).indexPut([t.tensor([1], { dtype: "int64" })], t.tensor([5]));
  assert.deepEqual(put.toNumbers(), [0, 5, 0]);
});

test("creation and dtypes", () => {
  assert.deepEqual(t.zeros([2]).toNumbers(), [0, 0]);
  assert.deepEqual(t.full([2], 7, { dtype: "int32" }).toNumbers(), [7, 7]);
  assert.equal(t.full([2], 7, { dtype: "int32" }).dtype, "int32");
  assert.deepEqual(t.arange(1, 7, 2).toNumbers(), [1, 3, 5]);
  assert.deepEqual(t.arange(0, 1, 0.25).toNumbers(), [0, 0.25, 0.5, 0.75]);
  t.manualSeed(1);
  const r = t.randint(0, 5, [100]);
  const vals = r.toNumbers();
  assert.ok(vals.every((v) => v >= 0 && v < 5 && Number.isInteger(v)));
  const u = t.rand([1000]).toFloat32();
  assert.ok(u.every((v) => v >= 0 && v < 1));
  const bf = t.tensor([1.5, -2.25], { dtype: "bfloat16" });
  assert.equal(bf.dtype, "bfloat16");
  assert.deepEqual(bf.toNumbers(), [1.5, -2.25]);
  assert.deepEqual(t.tensor([1.7, -1.7]).to("int64").toNumbers(), [1, -1]);
  assert.equal(t.tensor([1, 2], { dtype: "int64" }).toArray().constructor, BigInt64Array);
  assert.deepEqual(t.tensor(3).shape, []);
  assert.equal(t.tensor(3).item(), 3);
  assert.equal(
    t
      .tensor([
        [1, 2],
        [3, 4],
      ])
      .size(-1),
    2,
  );
  assert.deepEqual(
    t
      .embedding(
        t.tensor([
          [0, 0],
          [1, 1],
          [2, 2],
        ]),
        t.tensor([2, 0], { dtype: "int64" }),
      )
      .toNumbers(),
    [2, 2, 0, 0],
  );
});

test("RNG state get/set reproduces the same samples", () => {
  t.manualSeed(42);
  const s = t.getRngState();
  const a = t.randn([5]).toFloat32();
  t.setRngState(s);
  const b = t.randn([5]).toFloat32();
  assert.deepEqual(a, b);
  t.manualSeed(42);
  assert.deepEqual(t.randn([5]).toFloat32(), a);
});

test("cross entropy with ignore index and reductions", () => {
  const logits = t.tensor([
    [2, 0, 0],
    [0, 3, 0],
    [0, 0, 1],
  ]);
  const target = t.tensor([0, 1, -100], { dtype: "int64" });
  const lse = (xs: number[]) => Math.log(xs.reduce((a, x) => a + Math.exp(x), 0));
  const l0 = lse([2, 0, 0]) - 2;
  const l1 = lse([0, 3, 0]) - 3;
  assertClose([t.crossEntropy(logits, target).item()], [(l0 + l1) / 2]);
  assertClose(t.crossEntropy(logits, target, { reduction: "none" }).toFloat32(), [l0, l1, 0]);
  assertClose([t.crossEntropy(logits, target, { reduction: "sum" }).item()], [l0 + l1]);
});

test("layer_norm and the escape hatch callOp", () => {
  const x = t.tensor([[1, 2, 3]]);
  const y = t.layerNorm(x, [3], null, null, 0);
  const s = Math.sqrt(2 / 3);
  assertClose(y.toFloat32(), [-1 / s, 0, 1 / s], 1e-5);
  const r = t.callOp("aten::add.Tensor", x, x, 3) as t.Tensor;
  assert.deepEqual(r.toNumbers(), [4, 8, 12]);
  const [vals, idx] = t.callOp("aten::max.dim", x, 1, false) as t.Tensor[];
  assert.deepEqual([vals!.item(), idx!.item()], [3, 2]);
  assert.match(t.opSchema("aten::mm"), /aten::mm\(Tensor self, Tensor mat2\) -> Tensor/);
});

test("bad input surfaces as JS errors naming the op, arguments, shapes and dtypes", () => {
  const a = t.zeros([2, 3]);
  assert.throws(
    () => a.matmul(t.zeros([2, 3])),
    /aten::matmul \(self=\[2,3\] Float, other=\[2,3\] Float\).*cannot be multiplied/,
  );
  assert.throws(() => a.view(5), /aten::view .*shape '\[5\]' is invalid/);
  assert.throws(
    () => t.embedding(t.zeros([3, 2]), t.tensor([5], { dtype: "int64" })),
    /aten::embedding.*index out of range/i,
  );
  assert.throws(() => t.callOp("aten::does_not_exist"), /unknown operator aten::does_not_exist/);
  assert.throws(() => t.callOp("aten::mm", a), /missing argument 'mat2'/);
  assert.throws(() => t.callOp("aten::mm", a, 3), /mat2: expected a tensor handle/);
  assert.throws(() => t.callOp("aten::sum.dim_IntList", a, [0.5]), /expects an integer/);
  assert.throws(() => t.callOp("aten::mm", a, a, a), /too many arguments/);
  assert.throws(() => t.crossEntropy(t.zeros([2, 3]), t.tensor([0, 1])), /cross_entropy_loss/);
  assert.throws(() => t.tensor([1, 2, 3], { shape: [2, 2] }), /3 values do not fill shape \[2, 2\]/);
  const d = t.zeros([1]);
  d.dispose();
  assert.throws(() => d.add(1), /tensor was disposed/);
  assert.throws(() => t.callOp("aten::add.Scalar", d, 1), /disposed/);
  t.setNumThreads(t.getNumThreads());
  assert.throws(() => t.setNumThreads(0), /thread count/);
});

test("the unboxed fast path and the boxed path give identical results", async () => {
  const { spawnSync } = await import("node:child_process");
  const script = new URL("../fixtures/scripts/fastpath_ops.ts", import.meta.url).pathname;
  const runWith = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", script], {
      env: { ...process.env, ...env },
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const fast = runWith({});
  const boxed = runWith({ RFT_NO_FAST_PATH: "1" });
  assert.ok(Object.keys(fast).length >= 20);
  assert.deepEqual(fast, boxed);
});
