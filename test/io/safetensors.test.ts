import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, readdirSync, existsSync, truncateSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as t from "../../src/tensor/index.ts";
import {
  saveSafetensors,
  loadSafetensors,
  readHeader,
  saveCheckpointTensors,
  loadCheckpointTensors,
  SafetensorsError,
} from "../../src/io/safetensors.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "rft-st-"));

/** Builds a safetensors file by hand from a header object and a data buffer. */
function rawFile(path: string, header: unknown, data: Buffer, headerLenOverride?: bigint): void {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLenOverride ?? BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h, data]));
}

test("round trip of every supported dtype, with metadata", () => {
  const dir = tmp();
  const p = join(dir, "a.safetensors");
  const src = new Map<string, t.Tensor>([
    [
      "f32",
      t.tensor([
        [1.5, -2],
        [3, 4],
      ]),
    ],
    ["f64", t.tensor([1e-300, 2], { dtype: "float64" })],
    ["bf16", t.tensor([1.5, -0.25, 3], { dtype: "bfloat16" })],
    ["f16", t.tensor([0.5, 65504], { dtype: "float16" })],
    ["i64", t.tensor([-(2 ** 40), 7], { dtype: "int64" })],
    ["i32", t.tensor([-5, 6], { dtype: "int32" })],
    ["u8", t.tensor([0, 255], { dtype: "uint8" })],
    ["bool", t.tensor([1, 0, 1], { dtype: "bool" })],
    ["empty", t.zeros([0, 3])],
    ["scalar", t.tensor(42)],
    ["strided", t.arange(6, undefined, 1, { dtype: "float32" }).view(2, 3).transpose(0, 1)],
  ]);
  saveSafetensors(p, src, { format: "pt" });
  assert.deepEqual(readdirSync(dir), ["a.safetensors"], "no temp file left behind");
  const buf = readFileSync(p);
  assert.equal(Number(buf.readBigUInt64LE(0)) % 8, 0, "header padded to 8 bytes");
  const { tensors, metadata } = loadSafetensors(p);
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual([...tensors.keys()].sort(), [...src.keys()].sort());
  for (const [k, v] of src) {
    const r = tensors.get(k)!;
    assert.equal(r.dtype, v.dtype, k);
    assert.deepEqual(r.shape, v.shape, k);
    assert.deepEqual(r.toNumbers(), v.toNumbers(), k);
  }
  const filtered = loadSafetensors(p, (n) => n.startsWith("f"));
  assert.deepEqual([...filtered.tensors.keys()].sort(), ["f16", "f32", "f64"]);
});

test("sharded checkpoints write an index and load back", () => {
  const dir = tmp();
  const sd = new Map<string, t.Tensor>();
  for (let i = 0; i < 5; i++) sd.set(`model.layers.${i}.weight`, t.full([64], i));
  const files = saveCheckpointTensors(dir, sd, { maxShardBytes: 600 });
  assert.deepEqual(files, [
    "model-00001-of-00003.safetensors",
    "model-00002-of-00003.safetensors",
    "model-00003-of-00003.safetensors",
    "model.safetensors.index.json",
  ]);
  const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8"));
  assert.equal(index.metadata.total_size, 5 * 64 * 4);
  assert.equal(index.weight_map["model.layers.4.weight"], "model-00003-of-00003.safetensors");
  const back = loadCheckpointTensors(dir);
  assert.equal(back.size, 5);
  assert.deepEqual(back.get("model.layers.3.weight")!.toNumbers(), new Array(64).fill(3));
  // a later unsharded save replaces the index
  saveCheckpointTensors(dir, new Map([["x", t.ones([2])]]));
  assert.ok(!existsSync(join(dir, "model.safetensors.index.json")));
  assert.deepEqual([...loadCheckpointTensors(dir).keys()], ["x"]);
});

test("corrupted files give errors naming the file and tensor", () => {
  const dir = tmp();
  const p = join(dir, "bad.safetensors");
  const data = Buffer.alloc(16);
  const ok = {
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
  };

  rawFile(p, ok, data);
  assert.equal(readHeader(p).tensors.length, 2, "the well-formed control case loads");

  const expectErr = (re: RegExp) =>
    assert.throws(
      () => loadSafetensors(p),
      (e: Error) => e instanceof SafetensorsError && e.message.startsWith(p) && re.test(e.message),
    );

  writeFileSync(p, Buffer.alloc(4));
  expectErr(/file too small/);
  rawFile(p, ok, data, 10_000n);
  expectErr(/header length 10000 runs past the end of the file/);
  rawFile(p, ok, data, 2n ** 40n);
  expectErr(/exceeds the 100000000-byte limit/);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(5n);
  writeFileSync(p, Buffer.concat([len, Buffer.from("{oops"), data]));
  expectErr(/header is not valid JSON/);
  rawFile(p, [1, 2], data);
  expectErr(/header is not a JSON object/);
  rawFile(p, { ...ok, b: { dtype: "F8_E4M3", shape: [2], data_offsets: [8, 16] } }, data);
  expectErr(/tensor 'b': unknown or unsupported dtype "F8_E4M3"/);
  rawFile(p, { ...ok, b: { dtype: "F32", shape: [3], data_offsets: [8, 16] } }, data);
  expectErr(/tensor 'b': 8 bytes for shape \[3\] F32 \(expected 12\)/);
  rawFile(p, { ...ok, b: { dtype: "F32", shape: [-1], data_offsets: [8, 16] } }, data);
  expectErr(/tensor 'b': shape must be a list of non-negative integers/);
  rawFile(p, { a: ok.a, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, Buffer.alloc(12));
  expectErr(/tensor 'b' overlaps tensor 'a'/);
  rawFile(p, { a: ok.a, b: { dtype: "F32", shape: [2], data_offsets: [12, 20] } }, Buffer.alloc(20));
  expectErr(/hole in the data section before tensor 'b'/);
  rawFile(p, ok, Buffer.alloc(20));
  expectErr(/4 trailing bytes/);
  rawFile(p, { a: { dtype: "F32", shape: [2], data_offsets: [0] } }, data.subarray(0, 8));
  expectErr(/tensor 'a': data_offsets must be \[begin, end\]/);
  rawFile(p, { ...ok, __metadata__: { n: 3 } }, data);
  expectErr(/__metadata__.n must be a string/);
  // truncated after writing a good file
  saveSafetensors(p, { a: t.ones([100]) });
  truncateSync(p, statSync(p).size - 10);
  expectErr(/tensor 'a': data \[0, 400\) runs past the end of the data .*truncated/);
  assert.throws(() => loadSafetensors(join(dir, "missing.safetensors")), /cannot open/);
  assert.throws(() => loadCheckpointTensors(dir), /no model.safetensors or model.safetensors.index.json/);
});

test("a failed load releases the tensors already read", () => {
  const dir = tmp();
  const before = t.handleBalance();
  writeFileSync(
    join(dir, "model.safetensors.index.json"),
    JSON.stringify({ weight_map: { a: "x.safetensors", b: "y.safetensors" } }),
  );
  saveSafetensors(join(dir, "x.safetensors"), { a: t.ones([4]) });
  assert.throws(() => loadCheckpointTensors(dir), /cannot open/);
  assert.equal(t.handleBalance() - before, 1, "only the tensor created for saving is alive");
});
