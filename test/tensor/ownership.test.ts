import { test } from "node:test";
import assert from "node:assert/strict";
import * as t from "../../src/tensor/index.ts";

class KVCache implements t.TensorContainer {
  keys: t.Tensor[] = [];
  values: t.Tensor[] = [];
  length = 0;
  *tensors(): Iterable<t.Tensor> {
    yield* this.keys;
    yield* this.values;
  }
  dispose(): void {
    for (const x of this.tensors()) x.dispose();
  }
}

class Output implements t.TensorContainer {
  constructor(
    readonly logits: t.Tensor,
    readonly cache: KVCache,
    readonly extra: { hidden: t.Tensor },
  ) {}
  tensors() {
    return [this.logits, this.cache, this.extra]; // containers and plain objects are searched too
  }
}

class Opaque {
  constructor(readonly x: t.Tensor) {}
}

test("tidy keeps the tensors a returned class declares through tensors(), nested, and disposes the rest", () => {
  const base = t.handleBalance();
  const out = t.tidy(() => {
    const cache = new KVCache();
    const a = t.ones([2, 3]);
    cache.keys.push(a.mul(2));
    cache.values.push(a.mul(3));
    a.add(1); // a temporary
    return new Output(a.sum(), cache, { hidden: a.neg() });
  });
  assert.equal(t.handleBalance() - base, 4, "logits, key, value and hidden survive; a and a+1 were disposed");
  assert.equal(out.logits.item(), 6);
  assert.deepEqual(out.cache.keys[0]!.toNumbers(), [2, 2, 2, 2, 2, 2]);
  assert.deepEqual(out.extra.hidden.toNumbers(), [-1, -1, -1, -1, -1, -1]);
  // Nested scopes move the container's tensors to the parent scope, which then disposes them.
  t.tidy(() => {
    const inner = t.tidy(() => {
      const c = new KVCache();
      c.keys.push(t.zeros([1]));
      return c;
    });
    assert.equal(inner.keys[0]!.isDisposed, false);
  });
  out.cache.dispose();
  out.logits.dispose();
  out.extra.hidden.dispose();
  assert.equal(t.handleBalance(), base);
});

test("a returned class without tensors() is not searched: its tensors end with the scope", () => {
  const o = t.tidy(() => new Opaque(t.ones([1])));
  assert.equal(o.x.isDisposed, true);
  assert.throws(() => o.x.add(1), /tensor was disposed/);
});

test("the native handle is private: not a public field or getter, and a disposed tensor says so", () => {
  const x = t.ones([2]);
  assert.equal("handle" in x, false);
  assert.equal(
    Object.keys(x).some((k) => /handle|^#/.test(k)),
    false,
  );
  x.dispose();
  assert.throws(() => x.shape, /tensor was disposed/);
  assert.throws(() => x.toNumbers(), /tensor was disposed/);
  using y = t.ones([2]);
  assert.throws(() => y.add(x), /tensor was disposed/);
  assert.throws(() => t.cat([y, x]), /tensor was disposed/);
  assert.throws(() => t.callOp("aten::add.Tensor", y, x), /tensor was disposed/);
  // Tensors moved away by assign() are disposed too.
  using z = t.zeros([2]);
  const w = t.ones([2]);
  z.assign(w);
  assert.throws(() => w.sum(), /tensor was disposed/);
  assert.deepEqual(z.toNumbers(), [1, 1]);
});
