/** Shared test helpers. */
import assert from "node:assert/strict";

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5, msg = ""): void {
  assert.equal(actual.length, expected.length, `${msg} length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const ok = Math.abs(a - e) <= tol * (1 + Math.abs(e)) || (Number.isNaN(a) && Number.isNaN(e));
    if (!ok) assert.fail(`${msg} element ${i}: ${a} vs ${e} (tol ${tol})`);
  }
}
