import { test } from "node:test";
import assert from "node:assert/strict";
import { chooseBlasCoreType, blasCoreTypeSource } from "../../src/native/index.ts";

test("the BLAS core type is chosen from CPU flags (most specific first)", () => {
  assert.equal(chooseBlasCoreType("fpu sse avx2 avx512f avx512bw avx512_bf16 amx_tile"), "Cooperlake");
  assert.equal(chooseBlasCoreType("fpu avx2 avx512f avx512bw avx512_vnni"), "SkylakeX");
  assert.equal(chooseBlasCoreType("fpu sse4_2 avx avx2 fma"), "Haswell");
  assert.equal(chooseBlasCoreType("fpu sse sse2"), undefined);
  // whole-word matches only: "avx512_bf16" alone must not count as "avx512f"
  assert.equal(chooseBlasCoreType("avx2 avx512_bf16"), "Haswell");
  assert.ok(["env", "auto", "none"].includes(blasCoreTypeSource));
  if (blasCoreTypeSource === "auto")
    assert.ok(process.env.OPENBLAS_CORETYPE, "the choice is exported before libtorch loads");
});
