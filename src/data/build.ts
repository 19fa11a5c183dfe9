/**
 * Builds every training file of one task from a validated meta file: ANS-SFT, CoT-SFT, the Stage-1 CoT-SFT subset,
 * caption-CoT SFT (TRANCE, when the cots carry captions), the RL set (Reason-RFT-Zero) and the Stage-2 RL set, plus
 * the LLaMA-Factory `dataset_info.json` registry (spec §1.3–1.6, §1.10).
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  OutputError,
  StagedFiles,
  assertNotInput,
  outputMarkerFile,
  readOutputMarker,
  writeFileAtomic,
} from "../io/output.ts";
import {
  type RlRecord,
  type ShareGptRecord,
  isCaptionCot,
  sizeTag,
  splitStages,
  toAnsSft,
  toCaptionCotSft,
  toCotSft,
  toRl,
} from "./convert.ts";
import { ImagePathError, checkRelativeImagePath, resolveImagePath } from "./images.ts";
import { type MetaFile, type MetaRecord, MetaRecordError, recordImages } from "./meta.ts";

/** What differs between tasks; src/tasks supplies it. */
export interface TaskBuildSpec {
  /** Registry key / file name prefix, e.g. "clevr_math". */
  prefix: string;
  /** Stage 2 uses the full set (structure perception). */
  stage2UsesAll: boolean;
  /** Prompt text (problem filled in, no image placeholders) per record and format. */
  ansSftPrompt(rec: MetaRecord): string;
  cotSftPrompt(rec: MetaRecord): string;
  /** Only for tasks with a caption-CoT format (TRANCE). */
  captionCotPrompt?(rec: MetaRecord): string;
}

export interface BuildOptions {
  stage1Size: number;
  seed: number;
}

export type BuiltKind = "ans-sft" | "cot-sft" | "stage1-cot-sft" | "caption-cot-sft" | "rl" | "rl-stage2";

export interface BuiltFile {
  kind: BuiltKind;
  /** File name inside the output directory. */
  name: string;
  /** Number of records the file holds. */
  count: number;
  /** Converts the records (on demand, so a writer can hold one file's records at a time). */
  build(): ShareGptRecord[] | RlRecord[];
  /** dataset_info.json keys pointing at this file (SFT formats only). */
  registryKeys: string[];
}

export interface BuildResult {
  files: BuiltFile[];
  stage1Ids: string[];
}

/** Plans every format of the records; nothing is converted until a file's `build()` runs, nothing is written. */
export function buildTaskData(records: readonly MetaRecord[], spec: TaskBuildSpec, opts: BuildOptions): BuildResult {
  const { stage1, stage2 } = splitStages(records, {
    stage1Size: opts.stage1Size,
    seed: opts.seed,
    stage2UsesAll: spec.stage2UsesAll,
  });
  const p = spec.prefix;
  const tag = sizeTag(opts.stage1Size);
  const file = (
    kind: BuiltKind,
    name: string,
    recs: readonly MetaRecord[],
    build: BuiltFile["build"],
    registryKeys: string[] = [],
  ): BuiltFile => ({
    kind,
    name,
    count: recs.length,
    build,
    registryKeys,
  });
  const cot = (recs: readonly MetaRecord[]) => () => recs.map((r) => toCotSft(r, spec.cotSftPrompt(r)));
  const files: BuiltFile[] = [
    file("ans-sft", `${p}_sft.json`, records, () => records.map((r) => toAnsSft(r, spec.ansSftPrompt(r))), [
      `${p}_sft`,
    ]),
    file("cot-sft", `${p}_cot_sft.json`, records, cot(records), [`${p}_cot_sft`]),
    // The reference registry uses "-1k6" while its scripts ask for "_1k6" (spec §1.10); we register both.
    file("stage1-cot-sft", `${p}_cot_sft-${tag}.json`, stage1, cot(stage1), [
      `${p}_cot_sft-${tag}`,
      `${p}_cot_sft_${tag}`,
    ]),
  ];
  const captionPrompt = spec.captionCotPrompt;
  const captioned = captionPrompt ? records.filter((r) => isCaptionCot(r.cot)) : [];
  if (captionPrompt && captioned.length > 0) {
    const build = () => captioned.map((r) => toCaptionCotSft(r, captionPrompt(r))!);
    files.push(
      file("caption-cot-sft", `${p}_add_caption_cot_sft.json`, captioned, build, [`${p}_add_caption_cot_sft`]),
    );
  }
  files.push(
    file("rl", `${p}_rl.json`, records, () => records.map(toRl)),
    file("rl-stage2", `${p}_rl_stage2.json`, stage2, () => stage2.map(toRl)),
  );
  return { files, stage1Ids: stage1.map((r) => r.id) };
}

/** A LLaMA-Factory dataset_info.json entry for a sharegpt file (spec §1.3), with a path relative to the registry. */
export function registryEntry(fileName: string): Record<string, unknown> {
  return {
    file_name: fileName,
    formatting: "sharegpt",
    columns: { messages: "messages", images: "image" },
    tags: { role_tag: "role", content_tag: "content", user_tag: "user", assistant_tag: "assistant" },
  };
}

/**
 * Checks every image path of the records: always that it stays inside the root, and with `imageRoot` that the file
 * exists there. Bad records throw a MetaRecordError, or with `skipInvalid` move to `skipped`.
 */
export function checkImages(meta: MetaFile, opts: { imageRoot?: string; skipInvalid?: boolean }): MetaFile {
  const records: MetaRecord[] = [];
  const skipped = meta.skipped.slice();
  meta.records.forEach((rec) => {
    try {
      for (const img of recordImages(rec)) {
        if (opts.imageRoot !== undefined) resolveImagePath(opts.imageRoot, img);
        else checkRelativeImagePath(img);
      }
      records.push(rec);
    } catch (e) {
      if (!(e instanceof ImagePathError)) throw e;
      const index = recordIndex(meta, rec);
      const err = new MetaRecordError(meta.file, index, rec.id, "image", e.message);
      if (!opts.skipInvalid) throw err;
      skipped.push({ index, id: rec.id, reason: err.message.slice(meta.file.length + 2) });
    }
  });
  skipped.sort((a, b) => a.index - b.index);
  return { file: meta.file, records, skipped };
}

// Records keep no index of their own; recover it from the file order (ids are unique after validation).
function recordIndex(meta: MetaFile, rec: MetaRecord): number {
  let i = meta.records.indexOf(rec);
  for (const s of meta.skipped) if (s.index <= i) i++;
  return i;
}

/** Kind recorded in the output marker of a data build directory. */
export const OUTPUT_KIND = "dataset";

/** Writes an array as `JSON.stringify(records, null, 2)` would, one record at a time (see writeJsonArray). */
function jsonArrayWriter(records: readonly unknown[]): (put: (chunk: string) => void) => void {
  return (put) => {
    if (records.length === 0) return put("[]\n");
    put("[\n");
    records.forEach((r, i) => {
      const body = "  " + JSON.stringify(r, null, 2).replace(/\n/g, "\n  ");
      put(i + 1 < records.length ? body + ",\n" : body + "\n]\n");
    });
  };
}

/**
 * Writes an array as `JSON.stringify(records, null, 2)` would, one record at a time, so that a 60k-record file
 * never exists as one giant string. Atomic (temporary file, fsync, rename).
 */
export function writeJsonArrayAtomic(path: string, records: readonly unknown[]): void {
  writeFileAtomic(path, jsonArrayWriter(records));
}

export interface WriteSummary {
  /** Written file paths with their record counts, in write order. */
  written: { path: string; kind: BuiltKind | "registry" | "report"; count: number }[];
}

export interface WriteBuildOptions {
  /** Files the build read (meta file, prompt file): no output may be one of them. */
  inputs?: readonly (string | undefined)[];
  /** Overwrite files of ours that exist in a directory with no sign of an earlier build (the command's --force). */
  force?: boolean;
}

/** Reads the registry to merge into; throws (before anything is written) when it is not a JSON object. */
function readRegistry(regPath: string): Record<string, unknown> {
  if (!existsSync(regPath)) return {};
  try {
    const old = JSON.parse(readFileSync(regPath, "utf8")) as unknown;
    if (old && typeof old === "object" && !Array.isArray(old)) return old as Record<string, unknown>;
    throw new Error("not a JSON object");
  } catch (e) {
    throw new Error(`${regPath}: cannot merge into the existing registry: ${(e as Error).message}`);
  }
}

/**
 * Writes a build into `outDir`: each file, the merged `dataset_info.json` (entries of other tasks already there are
 * kept), `<prefix>_build_report.json` (counts, seed, Stage-1 ids, skipped records) and the `.rft-output` marker.
 *
 * Safety (issue 8): everything is checked before anything is written — the existing registry must parse, no output
 * may be an input, and a file we would replace must belong to an earlier build (the directory has our marker or this
 * task's build report) unless `force`. The directory may hold other files (a LLaMA-Factory data directory): they are
 * left alone. Every file is staged as a temporary file and all are renamed into place together at the end, so a
 * failure part-way leaves the directory as it was. `onWrite` hears about each file once it is in place.
 */
export function writeBuild(
  outDir: string,
  prefix: string,
  result: BuildResult,
  report: Record<string, unknown>,
  onWrite?: (w: WriteSummary["written"][number]) => void,
  opts: WriteBuildOptions = {},
): WriteSummary {
  if (existsSync(outDir) && !statSync(outDir).isDirectory())
    throw new OutputError(`--out ${outDir} exists and is not a directory; refusing to replace it`);
  const regPath = join(outDir, "dataset_info.json");
  const reportPath = join(outDir, `${prefix}_build_report.json`);
  const targets = [...result.files.map((f) => join(outDir, f.name)), regPath, reportPath];
  for (const t of targets) assertNotInput(t, opts.inputs ?? [], { flag: "--out" });
  const marker = readOutputMarker(outDir);
  const ours = (marker && marker.kind === OUTPUT_KIND) || existsSync(reportPath);
  if (!ours && !opts.force) {
    const clash = result.files.map((f) => join(outDir, f.name)).filter((t) => existsSync(t));
    if (clash.length) {
      throw new OutputError(
        `--out ${outDir} already holds ${clash.slice(0, 3).join(", ")}${clash.length > 3 ? ", ..." : ""}, which no earlier rft data build wrote; refusing to overwrite (use --force to replace them)`,
      );
    }
  }
  const registry = readRegistry(regPath);
  for (const f of result.files) for (const k of f.registryKeys) registry[k] = registryEntry(f.name);

  mkdirSync(outDir, { recursive: true });
  const staged = new StagedFiles();
  const written: WriteSummary["written"] = [];
  try {
    for (const f of result.files) {
      const path = join(outDir, f.name);
      staged.write(path, jsonArrayWriter(f.build()));
      written.push({ path, kind: f.kind, count: f.count });
    }
    staged.write(regPath, JSON.stringify(registry, null, 2) + "\n");
    written.push({ path: regPath, kind: "registry", count: Object.keys(registry).length });
    staged.write(reportPath, JSON.stringify({ ...report, stage1_ids: result.stage1Ids }, null, 2) + "\n");
    written.push({ path: reportPath, kind: "report", count: result.stage1Ids.length });
    for (const [name, text] of Object.entries(outputMarkerFile(OUTPUT_KIND, "rft data build")))
      staged.write(join(outDir, name), text);
    staged.commit();
  } catch (e) {
    staged.abort();
    throw e;
  }
  for (const w of written) onWrite?.(w);
  return { written };
}
