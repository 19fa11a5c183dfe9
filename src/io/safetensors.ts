/**
 * safetensors read and write (https://huggingface.co/docs/safetensors format):
 *   [8-byte little-endian header length N][N bytes of JSON header][data]
 * The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data start)
 * plus an optional "__metadata__" string map.
 *
 * Reading validates the header completely before any tensor is created (bounds, sizes, overlaps, dtypes), then reads
 * each tensor straight from the file into torch memory (pread, no intermediate JS buffer). Writing streams each
 * tensor's own memory (zero-copy view) to a temp file, fsyncs and renames, so a crash never leaves a partial file.
 * Sharded checkpoints use `model.safetensors.index.json` ({metadata: {total_size}, weight_map}) as transformers.
 */
import {
  closeSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
  existsSync,
} from "node:fs";
import { join, basename, dirname } from "node:path";
import { Tensor, fromFile, DTYPE_BYTES, type DType } from "../tensor/index.ts";
import { INDEX_FILE, ShardIndexError, readShardIndex } from "./shard_index.ts";

/** safetensors dtype names ↔ ours. */
const ST_TO_DTYPE: Record<string, DType> = {
  F64: "float64",
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I64: "int64",
  I32: "int32",
  I16: "int16",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};
const DTYPE_TO_ST = Object.fromEntries(Object.entries(ST_TO_DTYPE).map(([k, v]) => [v, k])) as Record<DType, string>;

/** Headers larger than this are refused (the reference implementation's limit is 100 MB). */
const MAX_HEADER = 100_000_000;

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  tensors: TensorInfo[];
  metadata: Record<string, string>;
  fileSize: number;
}

/** Reads and validates the header of a safetensors file; throws SafetensorsError naming the file and tensor. */
export function readHeader(path: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot open (${(e as Error).message})`);
  }
  try {
    const fileSize = fstatSync(fd).size;
    const fail = (msg: string): never => {
      throw new SafetensorsError(`${path}: ${msg}`);
    };
    if (fileSize < 8) fail(`file too small for a safetensors header (${fileSize} bytes)`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER)) fail(`header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
    const headerLen = Number(n);
    if (8 + headerLen > fileSize)
      fail(`header length ${headerLen} runs past the end of the file (${fileSize} bytes): truncated?`);
    const hb = Buffer.alloc(headerLen);
    readSync(fd, hb, 0, headerLen, 8);
    let json: unknown;
    try {
      json = JSON.parse(hb.toString("utf8"));
    } catch (e) {
      return fail(`header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) return fail("header is not a JSON object");
    const dataStart = 8 + headerLen;
    const dataSize = fileSize - dataStart;
    const metadata: Record<string, string> = {};
    const tensors: TensorInfo[] = [];
    for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
      if (name === "__metadata__") {
        if (typeof raw !== "object" || raw === null) fail("__metadata__ must be an object of strings");
        for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
          if (typeof v !== "string") fail(`__metadata__.${k} must be a string`);
          metadata[k] = v as string;
        }
        continue;
      }
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const where = `tensor '${name}'`;
      if (typeof e !== "object" || e === null) fail(`${where}: entry is not an object`);
      const dtype = typeof e.dtype === "string" ? ST_TO_DTYPE[e.dtype] : undefined;
      if (!dtype) fail(`${where}: unknown or unsupported dtype ${JSON.stringify(e.dtype)}`);
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
        fail(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(e.shape)}`);
      const off = e.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0))
        fail(`${where}: data_offsets must be [begin, end], got ${JSON.stringify(off)}`);
      const [b, en] = off as [number, number];
      const shape = e.shape as number[];
      const expected = shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype!];
      if (en < b) fail(`${where}: data_offsets end ${en} < begin ${b}`);
      if (en - b !== expected) fail(`${where}: ${en - b} bytes for shape [${shape}] ${e.dtype} (expected ${expected})`);
      if (en > dataSize)
        fail(`${where}: data [${b}, ${en}) runs past the end of the data (${dataSize} bytes): truncated?`);
      tensors.push({ name, dtype: dtype!, shape, begin: dataStart + b, end: dataStart + en });
    }
    // Tensors must tile the data section without overlaps or holes (as the reference implementation requires).
    const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
    let pos = dataStart;
    for (const t of sorted) {
      if (t.begin < pos) {
        const prev = sorted[sorted.indexOf(t) - 1];
        fail(
          `tensor '${t.name}' overlaps tensor '${prev?.name}' (offsets ${t.begin - dataStart} < ${pos - dataStart})`,
        );
      }
      if (t.begin > pos)
        fail(
          `hole in the data section before tensor '${t.name}' (bytes ${pos - dataStart}..${t.begin - dataStart} unused)`,
        );
      pos = t.end;
    }
    if (pos !== fileSize && tensors.length > 0) fail(`${fileSize - pos} trailing bytes after the last tensor`);
    return { path, tensors, metadata, fileSize };
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads tensors of a safetensors file (all, or those `filter` accepts). The caller owns the returned tensors.
 */
export function loadSafetensors(
  path: string,
  filter?: (name: string) => boolean,
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const header = readHeader(path);
  const out = new Map<string, Tensor>();
  try {
    for (const info of header.tensors) {
      if (filter && !filter(info.name)) continue;
      try {
        out.set(info.name, fromFile(path, info.begin, info.shape, info.dtype));
      } catch (e) {
        throw new SafetensorsError(`${path}: tensor '${info.name}': ${(e as Error).message}`);
      }
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return { tensors: out, metadata: header.metadata };
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
}

/** Writes `path` atomically (temp file in the same directory, fsync, rename). */
export function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata: Record<string, string> = {},
): void {
  const entries = [...(tensors instanceof Map ? tensors : new Map(Object.entries(tensors)))];
  // Order as the reference writer: by dtype size (largest first, keeps alignment), then by name.
  entries.sort(([an, a], [bn, b]) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (an < bn ? -1 : an > bn ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of entries) {
    const n = t.numel * DTYPE_BYTES[t.dtype];
    header[name] = { dtype: DTYPE_TO_ST[t.dtype], shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let hjson = JSON.stringify(header);
  hjson += " ".repeat((8 - (Buffer.byteLength(hjson) % 8)) % 8); // pad so the data starts 8-byte aligned
  const hbuf = Buffer.from(hjson, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hbuf.byteLength));
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, "w");
  try {
    writeAll(fd, len);
    writeAll(fd, hbuf);
    for (const [, t] of entries) {
      if (t.numel === 0) continue;
      using c = t.device === "cpu" ? t.contiguous() : t.to({ device: "cpu" });
      writeAll(fd, new Uint8Array(c.dataView()));
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export { INDEX_FILE };
export const SINGLE_FILE = "model.safetensors";

/**
 * Saves a state dict into `dir` as model.safetensors, or, when it exceeds `maxShardBytes`, as
 * model-0000k-of-0000n.safetensors shards plus model.safetensors.index.json. Returns the files written.
 */
export function saveCheckpointTensors(
  dir: string,
  tensors: Map<string, Tensor>,
  opts: { maxShardBytes?: number; metadata?: Record<string, string> } = {},
): string[] {
  const max = opts.maxShardBytes ?? 5 * 1024 ** 3;
  const metadata = opts.metadata ?? { format: "pt" };
  const shards: Map<string, Tensor>[] = [new Map()];
  let cur = 0;
  let total = 0;
  for (const [name, t] of tensors) {
    const n = t.numel * DTYPE_BYTES[t.dtype];
    if (cur > 0 && cur + n > max) {
      shards.push(new Map());
      cur = 0;
    }
    shards[shards.length - 1]!.set(name, t);
    cur += n;
    total += n;
  }
  for (const stale of [SINGLE_FILE, INDEX_FILE]) rmSync(join(dir, stale), { force: true });
  if (shards.length === 1) {
    saveSafetensors(join(dir, SINGLE_FILE), shards[0]!, metadata);
    return [SINGLE_FILE];
  }
  const pad = (k: number) => String(k).padStart(5, "0");
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    const f = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    saveSafetensors(join(dir, f), s, metadata);
    for (const name of s.keys()) weightMap[name] = f;
    files.push(f);
  });
  writeJsonAtomic(join(dir, INDEX_FILE), { metadata: { total_size: total }, weight_map: weightMap });
  return [...files, INDEX_FILE];
}

/** Loads every tensor of a checkpoint directory (single file or sharded index). The caller owns the tensors. */
export function loadCheckpointTensors(dir: string, filter?: (name: string) => boolean): Map<string, Tensor> {
  let shardIndex;
  try {
    shardIndex = readShardIndex(dir);
  } catch (e) {
    if (e instanceof ShardIndexError) throw new SafetensorsError(e.message);
    throw e;
  }
  if (shardIndex) {
    const { index, weightMap } = shardIndex;
    const parsed = { weight_map: weightMap };
    const files = shardIndex.shards;
    const out = new Map<string, Tensor>();
    try {
      for (const f of files) {
        const { tensors } = loadSafetensors(join(dir, f), filter);
        for (const [k, t] of tensors) {
          if (parsed.weight_map[k] !== f) {
            t.dispose();
            throw new SafetensorsError(`${join(dir, f)}: tensor '${k}' is not listed for this shard in ${INDEX_FILE}`);
          }
          out.set(k, t);
        }
      }
      const missing = Object.keys(parsed.weight_map).filter((k) => !out.has(k) && (!filter || filter(k)));
      if (missing.length)
        throw new SafetensorsError(
          `${index}: tensors listed but not found in shards: ${missing.slice(0, 10).join(", ")}`,
        );
    } catch (e) {
      for (const t of out.values()) t.dispose();
      throw e;
    }
    return out;
  }
  const single = join(dir, SINGLE_FILE);
  if (!existsSync(single)) throw new SafetensorsError(`${dir}: no ${SINGLE_FILE} or ${INDEX_FILE}`);
  return loadSafetensors(single, filter).tensors;
}

/** Writes JSON atomically (temp + fsync + rename). */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, "w");
  try {
    writeAll(fd, Buffer.from(JSON.stringify(value, null, 2) + "\n"));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
