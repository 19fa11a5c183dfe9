/**
 * The Reason-RFT meta-JSON format (spec §1.2): a JSON array of records with `id`, `image` (one path or a list of
 * paths, relative to the image root), `problem`, `answer` (always a string) and, in training files, `cot`.
 *
 * This is the project's dataset format: the real Reason-RFT-CoT-Dataset files and the generated mini benchmark
 * both use it. `readMetaFile` validates every record and names the file, record and field of each problem.
 */
import { readJsonFile } from "./json.ts";

/** One record of a meta-JSON file. */
export interface MetaRecord {
  /** Unique id; structure-perception ids containing "geomath" select the GeoMath prompts in the reference. */
  id: string;
  /** Image path(s) relative to the image root: one for counting/structure, [initial, final] for TRANCE. */
  image: string | string[];
  /** The question; for TRANCE it lists the initial objects' attribute tuples. */
  problem: string;
  /** Ground truth as a string: "3", "B", "2.5", or "change_color(1, red), change_size(2, small)". */
  answer: string;
  /** Step-by-step reasoning (training files); may already carry <think>/<answer> tags. */
  cot?: string;
  /** Older files' name for the answer; kept as read. */
  solution?: string;
  /** GeoMath test files: the problem without the embedded choice instructions. */
  problem_no_prompt?: string;
  /** Grouping fields some test files carry (older scorers grouped by them). */
  level?: string;
  type?: string;
}

/** Optional fields kept when reading (anything else is dropped). */
const OPTIONAL_STRING_FIELDS = ["cot", "solution", "problem_no_prompt", "level", "type"] as const;

export interface ReadMetaOptions {
  /** Skip invalid records (each one is reported in `skipped`) instead of failing on the first. */
  skipInvalid?: boolean;
  /** Records without a non-empty `cot` are invalid (needed to build CoT formats). */
  requireCot?: boolean;
  /** Exact number of images every record must have (e.g. 2 for TRANCE). */
  imagesPerRecord?: number;
}

export interface SkippedRecord {
  index: number;
  id?: string;
  reason: string;
}

export interface MetaFile {
  file: string;
  records: MetaRecord[];
  skipped: SkippedRecord[];
}

/** A problem with one record; `message` names the file, record and field. */
export class MetaRecordError extends Error {
  override name = "MetaRecordError";
  constructor(
    readonly file: string,
    readonly index: number,
    readonly id: string | undefined,
    readonly field: string | undefined,
    readonly reason: string,
  ) {
    super(`${file}: ${describeRecord(index, id)}${field ? `: field "${field}"` : ""}: ${reason}`);
  }
}

/** Error raised by parseMetaRecord for one field. */
export class FieldError extends Error {
  override name = "FieldError";
  constructor(
    readonly field: string | undefined,
    readonly reason: string,
  ) {
    super(field ? `field "${field}": ${reason}` : reason);
  }
}

function describeRecord(index: number, id: string | undefined): string {
  return id === undefined ? `record ${index}` : `record ${index} (id ${JSON.stringify(id)})`;
}

function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/** Normalises the `image` field: a string, a list of strings, or `{path}` objects (accepted by the RL loader). */
function readImage(v: unknown): string | string[] {
  const one = (x: unknown, where: string): string => {
    if (typeof x === "string" && x.length > 0) return x;
    if (x && typeof x === "object" && !Array.isArray(x) && typeof (x as { path?: unknown }).path === "string") {
      const p = (x as { path: string }).path;
      if (p.length > 0) return p;
    }
    throw new Error(`${where}expected a non-empty path string or {"path": string}, got ${typeName(x)}`);
  };
  if (Array.isArray(v)) {
    if (v.length === 0) throw new Error("expected at least one image, got an empty list");
    return v.map((x, i) => one(x, `item ${i}: `));
  }
  return one(v, "");
}

/**
 * Validates one parsed JSON value as a meta record. Throws a FieldError (`field "name": reason`), which
 * `parseMetaArray` / `readMetaFile` turn into a MetaRecordError naming the file and record.
 */
export function parseMetaRecord(raw: unknown, opts: ReadMetaOptions = {}): MetaRecord {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new FieldError(undefined, `expected an object, got ${typeName(raw)}`);
  }
  const r = raw as Record<string, unknown>;
  const str = (field: string, required: boolean): string | undefined => {
    const v = r[field];
    if (v === undefined) {
      if (required) throw new FieldError(field, "is missing");
      return undefined;
    }
    if (typeof v !== "string") throw new FieldError(field, `expected a string, got ${typeName(v)}`);
    return v;
  };
  const id = str("id", true)!;
  if (id.trim() === "") throw new FieldError("id", "is empty");
  if (r.image === undefined) throw new FieldError("image", "is missing");
  let image: string | string[];
  try {
    image = readImage(r.image);
  } catch (e) {
    throw new FieldError("image", (e as Error).message);
  }
  const nImages = Array.isArray(image) ? image.length : 1;
  if (opts.imagesPerRecord !== undefined && nImages !== opts.imagesPerRecord) {
    throw new FieldError("image", `expected ${opts.imagesPerRecord} image(s), got ${nImages}`);
  }
  const problem = str("problem", true)!;
  if (problem.trim() === "") throw new FieldError("problem", "is empty");
  // `answer` is the current name; pre-distillation files only have `solution` (spec §1.2).
  const answer = r.answer !== undefined ? str("answer", true)! : str("solution", false);
  if (answer === undefined) throw new FieldError("answer", 'is missing (and there is no "solution" either)');
  if (answer.trim() === "") throw new FieldError(r.answer !== undefined ? "answer" : "solution", "is empty");
  const rec: MetaRecord = { id, image, problem, answer };
  for (const f of OPTIONAL_STRING_FIELDS) {
    const v = str(f, false);
    if (v !== undefined) rec[f] = v;
  }
  if (opts.requireCot && (rec.cot === undefined || rec.cot.trim() === "")) {
    throw new FieldError("cot", rec.cot === undefined ? "is missing (needed for CoT formats)" : "is empty");
  }
  return rec;
}

/**
 * Validates an already-parsed meta-JSON array. `file` is only used in messages.
 * Without `skipInvalid` the first bad record throws a MetaRecordError; with it every bad record is reported.
 */
export function parseMetaArray(data: unknown, file: string, opts: ReadMetaOptions = {}): MetaFile {
  if (!Array.isArray(data)) throw new Error(`${file}: expected a JSON array of records, got ${typeName(data)}`);
  const records: MetaRecord[] = [];
  const skipped: SkippedRecord[] = [];
  const seen = new Map<string, number>();
  data.forEach((raw, index) => {
    const rawId =
      raw && typeof raw === "object" && typeof (raw as { id?: unknown }).id === "string"
        ? (raw as { id: string }).id
        : undefined;
    try {
      const rec = parseMetaRecord(raw, opts);
      const prev = seen.get(rec.id);
      if (prev !== undefined) throw new FieldError("id", `duplicate of record ${prev}`);
      seen.set(rec.id, index);
      records.push(rec);
    } catch (e) {
      const fe = e instanceof FieldError ? e : new FieldError(undefined, (e as Error).message);
      const err = new MetaRecordError(file, index, rawId, fe.field, fe.reason);
      if (!opts.skipInvalid) throw err;
      skipped.push({ index, id: rawId, reason: err.message.slice(file.length + 2) });
    }
  });
  return { file, records, skipped };
}

/** Reads and validates a meta-JSON file (see parseMetaArray). */
export function readMetaFile(path: string, opts: ReadMetaOptions = {}): MetaFile {
  const data = readJsonFile(path);
  return parseMetaArray(data, path, opts);
}

/** The images of a record as a list. */
export function recordImages(rec: Pick<MetaRecord, "image">): string[] {
  return Array.isArray(rec.image) ? rec.image : [rec.image];
}
