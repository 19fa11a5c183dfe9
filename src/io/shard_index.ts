/**
 * `model.safetensors.index.json` of a sharded checkpoint, read safely: the index is data from whoever made the
 * checkpoint, so every shard path it names must be a plain file name that stays inside the checkpoint directory
 * (no `..`, no absolute path, no separator, no NUL, and no symbolic link leading out). Tensor-free.
 */
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, relative, sep } from "node:path";

export const INDEX_FILE = "model.safetensors.index.json";

/** A refused or unreadable index; the message names the index file and the shard. */
export class ShardIndexError extends Error {
  override name = "ShardIndexError";
}

export interface ShardIndex {
  /** Path of the index file. */
  index: string;
  /** Tensor name → shard file name, as listed. */
  weightMap: Record<string, string>;
  /** Distinct shard file names in first-listed order. */
  shards: string[];
  /** The same shards joined to the checkpoint directory (each checked to stay inside it). */
  paths: string[];
}

/**
 * Checks one shard name of an index: a plain file name whose real path is inside `dir` (only checked when the file
 * exists; a missing shard is reported by whoever opens it).
 */
export function confineShardPath(dir: string, name: string, index = join(dir, INDEX_FILE)): string {
  const bad = (why: string) => new ShardIndexError(`${index}: shard ${JSON.stringify(name)} ${why}`);
  if (typeof name !== "string" || name === "") throw bad("is not a file name");
  if (name.includes("\0")) throw bad("contains a NUL byte");
  if (isAbsolute(name) || /^[A-Za-z]:/.test(name))
    throw bad("is an absolute path; shards must be inside the checkpoint");
  if (name.includes("/") || name.includes("\\") || name === "." || name === "..")
    throw bad("is not a plain file name in the checkpoint directory");
  const path = join(dir, name);
  if (existsSync(path)) {
    const real = realpathSync(path);
    const rel = relative(realpathSync(dir), real);
    if (rel === "" || rel.startsWith(".." + sep) || rel === ".." || isAbsolute(rel))
      throw bad(`leads outside the checkpoint directory (${real})`);
    if (!statSync(real).isFile()) throw bad("is not a file");
  }
  return path;
}

/**
 * Reads and validates the index of a checkpoint directory; undefined when there is none. Throws ShardIndexError
 * for an index that is not JSON, has no weight_map object, maps a tensor to a non-string, or names a shard outside
 * the directory.
 *
 * @example
 * readShardIndex("runs/7b")?.paths; // ["runs/7b/model-00001-of-00004.safetensors", ...]
 */
export function readShardIndex(dir: string): ShardIndex | undefined {
  const index = join(dir, INDEX_FILE);
  if (!existsSync(index)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(index, "utf8"));
  } catch (e) {
    throw new ShardIndexError(`${index}: not valid JSON (${(e as Error).message})`);
  }
  const wm = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (!wm || typeof wm !== "object" || Array.isArray(wm)) throw new ShardIndexError(`${index}: no weight_map object`);
  const weightMap: Record<string, string> = {};
  for (const [k, v] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof v !== "string") throw new ShardIndexError(`${index}: weight_map["${k}"] is not a file name`);
    weightMap[k] = v;
  }
  const shards = [...new Set(Object.values(weightMap))];
  const paths = shards.map((s) => confineShardPath(dir, s, index));
  return { index, weightMap, shards, paths };
}
