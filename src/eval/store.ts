/**
 * The predictions of one test set on disk, resumable by item id.
 *
 * - `OUT/<set>.partial.jsonl`: one `{"id", "value"}` line appended the moment an item finishes, so a killed run
 *   loses nothing it was told and never asks again for a finished item.
 * - `OUT/<set>.json`: the reference's prediction format (the test items plus `pred`, in test-file order), rewritten
 *   atomically at most every `snapshotMs` and when the set ends; the journal is removed once it is complete.
 *
 * On start both are read and merged by id; ids that are not in the current selection are ignored. Tensor-free.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readJsonFile } from "../data/json.ts";
import { appendJsonLine, readJsonLines, writeJsonAtomic } from "./files.ts";

export function predictionPath(out: string, set: string): string {
  return join(out, `${set}.json`);
}

export function journalPath(out: string, set: string): string {
  return join(out, `${set}.partial.jsonl`);
}

/** Finished items found on disk (the output file and its journal): id → value of `field`. */
export function readFinishedFile(file: string, journal: string, field = "pred"): Map<string, string> {
  const done = new Map<string, string>();
  if (existsSync(file)) {
    const data = readJsonFile(file);
    if (!Array.isArray(data)) throw new Error(`${file}: expected a JSON array of items`);
    for (const it of data as Record<string, unknown>[]) {
      const v = it?.[field];
      if (typeof v === "string" && (typeof it.id === "string" || typeof it.id === "number")) done.set(String(it.id), v);
    }
  }
  for (const line of readJsonLines(journal).values) {
    const it = line as { id?: unknown; value?: unknown };
    if (it && typeof it.value === "string" && typeof it.id === "string") done.set(it.id, it.value);
  }
  return done;
}

/** Finished predictions of a set in an eval output directory, by id. */
export function readFinished(out: string, set: string): Map<string, string> {
  return readFinishedFile(predictionPath(out, set), journalPath(out, set));
}

/** Items of a file finished one by one: `field` is added to each item (eval: `pred`; distill: `cot`). */
export class ItemStore {
  private readonly values = new Map<string, string>();
  private lastSnapshot = 0;
  private dirty = false;

  constructor(
    readonly file: string,
    readonly journal: string,
    /** The selected items, in file order (each with a string `id`). */
    private readonly items: readonly Record<string, unknown>[],
    readonly field = "pred",
    private readonly snapshotMs = 2000,
  ) {
    const wanted = new Set(items.map((it) => String(it.id)));
    for (const [id, v] of readFinishedFile(file, journal, field)) if (wanted.has(id)) this.values.set(id, v);
  }

  has(id: string): boolean {
    return this.values.has(id);
  }

  get size(): number {
    return this.values.size;
  }

  /** Records a finished item: journal line now, snapshot when due. */
  record(id: string, value: string): void {
    if (this.values.has(id)) throw new Error(`${this.file}: item ${JSON.stringify(id)} finished twice`);
    appendJsonLine(this.journal, { id, value });
    this.values.set(id, value);
    this.dirty = true;
    if (Date.now() - this.lastSnapshot >= this.snapshotMs) this.snapshot();
  }

  /** The finished items in file order (each item plus `field`). */
  finishedItems(): Record<string, unknown>[] {
    return this.items
      .filter((it) => this.values.has(String(it.id)))
      .map((it) => ({ ...it, [this.field]: this.values.get(String(it.id)) }));
  }

  /** Rewrites the output file atomically. */
  snapshot(): void {
    writeJsonAtomic(this.file, this.finishedItems());
    this.lastSnapshot = Date.now();
    this.dirty = false;
  }

  /** Final write; the journal goes once the output file holds everything it held. */
  close(): void {
    if (this.dirty || !existsSync(this.file)) this.snapshot();
    rmSync(this.journal, { force: true });
  }
}

/** The prediction store of one eval test set: OUT/<set>.json and OUT/<set>.partial.jsonl. */
export class PredictionStore extends ItemStore {
  constructor(
    out: string,
    readonly set: string,
    items: readonly Record<string, unknown>[],
    snapshotMs = 2000,
  ) {
    super(predictionPath(out, set), journalPath(out, set), items, "pred", snapshotMs);
  }
}
