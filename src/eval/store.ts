/**
 * The predictions of one test set on disk, resumable by item id.
 *
 * - `OUT/<set>.partial.jsonl`: one `{"id", "pred"}` line appended the moment an item finishes, so a killed run
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

/** Finished predictions of a set found on disk (prediction file and journal), by id. */
export function readFinished(out: string, set: string): Map<string, string> {
  const done = new Map<string, string>();
  const file = predictionPath(out, set);
  if (existsSync(file)) {
    const data = readJsonFile(file);
    if (!Array.isArray(data)) throw new Error(`${file}: expected a JSON array of prediction items`);
    for (const it of data as { id?: unknown; pred?: unknown }[]) {
      if (it && typeof it.pred === "string" && (typeof it.id === "string" || typeof it.id === "number"))
        done.set(String(it.id), it.pred);
    }
  }
  for (const v of readJsonLines(journalPath(out, set)).values) {
    const it = v as { id?: unknown; pred?: unknown };
    if (it && typeof it.pred === "string" && typeof it.id === "string") done.set(it.id, it.pred);
  }
  return done;
}

export class PredictionStore {
  private readonly preds = new Map<string, string>();
  private lastSnapshot = 0;
  private dirty = false;

  constructor(
    readonly out: string,
    readonly set: string,
    /** The selected test items, in file order (each with a string `id`). */
    private readonly items: readonly Record<string, unknown>[],
    private readonly snapshotMs = 2000,
  ) {
    const wanted = new Set(items.map((it) => String(it.id)));
    for (const [id, pred] of readFinished(out, set)) if (wanted.has(id)) this.preds.set(id, pred);
  }

  has(id: string): boolean {
    return this.preds.has(id);
  }

  get size(): number {
    return this.preds.size;
  }

  /** Records a finished item: journal line now, snapshot when due. */
  record(id: string, pred: string): void {
    if (this.preds.has(id)) throw new Error(`${this.set}: item ${JSON.stringify(id)} finished twice`);
    appendJsonLine(journalPath(this.out, this.set), { id, pred });
    this.preds.set(id, pred);
    this.dirty = true;
    if (Date.now() - this.lastSnapshot >= this.snapshotMs) this.snapshot();
  }

  /** The finished items in file order (the test item plus `pred`). */
  finishedItems(): Record<string, unknown>[] {
    return this.items
      .filter((it) => this.preds.has(String(it.id)))
      .map((it) => ({ ...it, pred: this.preds.get(String(it.id)) }));
  }

  /** Rewrites OUT/<set>.json atomically. */
  snapshot(): void {
    writeJsonAtomic(predictionPath(this.out, this.set), this.finishedItems());
    this.lastSnapshot = Date.now();
    this.dirty = false;
  }

  /** Final write; the journal goes once the prediction file holds everything it held. */
  close(): void {
    if (this.dirty || !existsSync(predictionPath(this.out, this.set))) this.snapshot();
    rmSync(journalPath(this.out, this.set), { force: true });
  }
}
