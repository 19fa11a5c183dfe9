import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as t from "../../src/tensor/index.ts";
import { aten } from "../../src/tensor/index.ts";

test("ops.generated.ts is what codegen/gen_ops.ts generates from the installed libtorch", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "codegen/gen_ops.ts", "--check"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});

test("generated ops: tensors, scalars, dtypes, tuples, lists, in-place, defaults", () => {
  const x = t.tensor([1, 2, 3]);
  assert.deepEqual(aten.addcmul(x, x, x, 0.5).toNumbers(), [1.5, 4, 7.5]);
  assert.deepEqual(aten.cumprod(x, 0).toNumbers(), [1, 2, 6]);
  const s = aten.sum(x, "float64");
  assert.equal(s.dtype, "float64");
  assert.equal(s.item(), 6);
  const [v, i] = aten.max_dim(
    t.tensor([
      [1, 5],
      [7, 2],
    ]),
    1,
  );
  assert.deepEqual(
    [v.toNumbers(), i.toNumbers()],
    [
      [5, 7],
      [1, 0],
    ],
  );
  assert.deepEqual(
    aten.split_Tensor(x, 2).map((p) => p.toNumbers()),
    [[1, 2], [3]],
  );
  assert.equal(aten.is_nonzero(t.tensor([3])), true);
  const y = t.zeros([3]);
  aten.add__Tensor(y, x).dispose(); // in place; returns an alias of y
  assert.deepEqual(y.toNumbers(), [1, 2, 3]);
  assert.deepEqual(aten.index_Tensor(x, [t.tensor([2, 0], { dtype: "int64" })]).toNumbers(), [3, 1]);
  assert.deepEqual(aten.where_self(x.gt(1), x, t.zerosLike(x)).toNumbers(), [0, 2, 3]);
  assert.deepEqual(aten.full([2], 4, "int32").toNumbers(), [4, 4]);
  assert.equal(aten.full([2], 4, "int32").dtype, "int32");
  assert.throws(() => aten.mm(x, x), /aten::mm/);
});
