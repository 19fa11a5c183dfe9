/** Shard paths of model.safetensors.index.json stay inside the checkpoint directory (issue 8 item 4). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INDEX_FILE, ShardIndexError, confineShardPath, readShardIndex } from "../../src/io/shard_index.ts";
import { loadCheckpointTensors } from "../../src/io/safetensors.ts";
import { loadCheckpoint, CheckpointError } from "../../src/models/qwen2vl/checkpoint.ts";
import { configToJsonText, presetConfig } from "../../src/models/qwen2vl/config.ts";

function checkpointWithIndex(weightMap: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "rft-shards-"));
  writeFileSync(join(dir, "config.json"), configToJsonText(presetConfig("qwen2-vl-tiny")));
  writeFileSync(join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }));
  return dir;
}

test("a shard path that leaves the checkpoint directory is refused before anything is opened", async () => {
  for (const bad of ["../../../../etc/passwd", "/etc/passwd", "sub/../../x.safetensors", "a\\b", "..", "x\0y"]) {
    const dir = checkpointWithIndex({ "model.embed_tokens.weight": bad });
    assert.throws(() => readShardIndex(dir), ShardIndexError, bad);
    assert.throws(() => loadCheckpointTensors(dir), /shard .* (is an absolute path|is not a plain file name|NUL)/, bad);
    await assert.rejects(loadCheckpoint(dir), (e: Error) => e instanceof CheckpointError && /shard/.test(e.message));
  }
});

test("a symbolic link in the checkpoint that leads outside it is refused; plain names pass", () => {
  const outside = mkdtempSync(join(tmpdir(), "rft-outside-"));
  writeFileSync(join(outside, "secret.safetensors"), "x");
  const dir = checkpointWithIndex({ a: "model-00001-of-00002.safetensors", b: "link.safetensors" });
  symlinkSync(join(outside, "secret.safetensors"), join(dir, "link.safetensors"));
  assert.throws(() => readShardIndex(dir), /link\.safetensors" leads outside the checkpoint directory/);
  mkdirSync(join(dir, "d.safetensors"));
  assert.throws(() => confineShardPath(dir, "d.safetensors"), /is not a file/);
  const ok = checkpointWithIndex({ a: "model-00001-of-00002.safetensors", b: "model-00002-of-00002.safetensors" });
  assert.deepEqual(readShardIndex(ok)!.paths, [
    join(ok, "model-00001-of-00002.safetensors"),
    join(ok, "model-00002-of-00002.safetensors"),
  ]);
  assert.throws(() => readShardIndex(checkpointWithIndex({ a: 3 })), /weight_map\["a"\] is not a file name/);
});
