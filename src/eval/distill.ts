/**
 * CoT distillation through an OpenAI-compatible vision endpoint (spec §7.1), as a library function:
 * `runDistill(opts, client, hooks)`.
 *
 * Each record (id, image, problem, answer or solution) is sent with its image(s) and its correct answer; the model
 * writes the reasoning in `<think>` and repeats the answer in `<answer>`. The reply is post-processed as the
 * reference does (`"<think>" + reply.split("<think>").at(-1)` when the reply has a `<think>` tag, else the whole
 * reply) and stored as `cot`. The output is a meta-JSON file (the input records plus `cot`, and `answer` when the
 * input only had `solution`) that `rft data build` takes. Unlike the reference, which resumes by position and so
 * can skip or repeat items after failures, a rerun continues by id. Tensor-free.
 */
import { readFileSync, rmSync } from "node:fs";
import { prepareOutputFile } from "../io/output.ts";
import { resolve } from "node:path";
import { readJsonFile } from "../data/json.ts";
import { type MetaRecord, parseMetaArray, recordImages } from "../data/meta.ts";
import { type PromptTemplates, fillTemplate, templateFor } from "../tasks/prompts.ts";
import { tranceScore } from "../rewards/functions.ts";
import { answerScore } from "../tasks/score.ts";
import { type TaskFamily, imagesPerSample } from "../tasks/tasks.ts";
import { type EndpointClient, type EndpointSampling } from "./endpoint.ts";
import { writeFileAtomic } from "./files.ts";
import { ItemStore } from "./store.ts";
import type { FailureRecord } from "./runner.ts";

/** System message of the single-image requests (the reference's TRANCE requests have none). */
export const DISTILL_SYSTEM =
  "You are an expert at analysing images and solving visual reasoning problems step by step.";

/** Our wording of the distillation request; {Question} and {Answer} are filled per record. */
export const DISTILL_TEMPLATE = [
  "Below is a question about the image{s}, together with its correct answer.",
  "",
  "Question: {Question}",
  "Correct answer: {Answer}",
  "",
  'Explain step by step how to reach this answer from what the image{s} show{v}, using numbers or mathematical expressions where they help. You may think aloud naturally ("let me check", "oh, I see"). Write the reasoning inside <think> </think>, then the original answer inside <answer> </answer>, in this form:',
  "<think>step-by-step reasoning</think>",
  "<answer>{Answer}</answer>",
].join("\n");

const TRANCE_IMAGES = "The first image shows the initial state of the scene and the second image the final state.";

/** Fills a distillation template: {Question}, {Answer} (and the plural marks of the built-in one). */
export function fillDistillTemplate(template: string, problem: string, answer: string, images: number): string {
  return template
    .replaceAll("{s}", images > 1 ? "s" : "")
    .replaceAll("{v}", images > 1 ? "" : "s")
    .replaceAll("{Question}", problem)
    .replaceAll("{Answer}", answer);
}

/** The user text of one record. For TRANCE the task's rules come first (the functions and their values). */
export function distillPrompt(
  family: TaskFamily,
  rec: Pick<MetaRecord, "problem" | "answer">,
  template = DISTILL_TEMPLATE,
  templates: PromptTemplates = {},
): string {
  const n = imagesPerSample(family);
  const text = fillDistillTemplate(template, rec.problem, rec.answer, n);
  if (family !== "spatial-transformation") return text;
  // The ANS-SFT TRANCE template is the rules block with one {Question} slot.
  return fillTemplate(templateFor("spatial-transformation.answer", templates), `${TRANCE_IMAGES}\n\n${text}`);
}

/** The reference's post-processing: keep from the last `<think>` on, else the whole reply. */
export function postprocessCot(reply: string): string {
  if (!reply.includes("<think>")) return reply;
  return "<think>" + reply.split("<think>").at(-1)!;
}

/** Whether a distilled cot's `<answer>` agrees with the record's answer (the eval scorers' rule). */
export function cotAgrees(family: TaskFamily, cot: string, answer: string): boolean {
  return family === "spatial-transformation" ? tranceScore(cot, answer, true) === 1 : answerScore(cot, answer) === 1;
}

export interface DistillOptions {
  /** Task family (decides images per record, the TRANCE rules and the system message). */
  family: TaskFamily;
  /** Input meta-JSON (records with id, image, problem, answer or solution). */
  meta: string;
  imageRoot: string;
  /** Output meta-JSON file. */
  out: string;
  concurrency: number;
  sampling: EndpointSampling;
  limit?: number;
  /** A template file's text with {Question} and {Answer}, replacing DISTILL_TEMPLATE. */
  template?: string;
  templates?: PromptTemplates;
  /** Start over: remove an existing output file (and its journal) instead of continuing it. */
  force?: boolean;
  signal?: AbortSignal;
}

export interface DistillProgress {
  done: number;
  failed: number;
  total: number;
  resumed: number;
  elapsedMs: number;
  etaMs?: number;
}

export interface DistillSummary {
  meta: string;
  out: string;
  model: string;
  n: number;
  distilled: number;
  failed: number;
  /** Distilled cots whose <answer> does not agree with the record's answer (kept; listed for review). */
  mismatched: string[];
  failures: FailureRecord[];
  seconds: number;
}

export function distillPaths(out: string): { journal: string; errors: string } {
  const base = out.replace(/\.json$/i, "");
  return { journal: `${base}.partial.jsonl`, errors: `${base}.errors.jsonl` };
}

/** Runs a distillation (see the module comment). The caller owns the client. */
export async function runDistill(
  opts: DistillOptions,
  client: EndpointClient,
  hooks: {
    onProgress?: (p: DistillProgress) => void;
    onFailure?: (f: FailureRecord) => void;
    onLog?: (m: string) => void;
  } = {},
): Promise<DistillSummary> {
  const t0 = Date.now();
  if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1))
    throw new Error(`--concurrency must be a positive integer, got ${opts.concurrency}`);
  const data = readJsonFile(opts.meta);
  const meta = parseMetaArray(data, opts.meta, { imagesPerRecord: imagesPerSample(opts.family) });
  const n = opts.limit === undefined ? meta.records.length : Math.min(opts.limit, meta.records.length);
  const records = meta.records.slice(0, n);
  // Output records: every input field kept, `answer` added when the input only had `solution`.
  const raw = (data as Record<string, unknown>[])
    .slice(0, n)
    .map((r, i) => (typeof r.answer === "string" ? r : { ...r, answer: records[i]!.answer }));
  const { journal, errors } = distillPaths(opts.out);
  const ids = new Set(meta.records.map((r) => r.id));
  // An existing output is ours when it is a JSON array of records of this input (a rerun continues it).
  prepareOutputFile(opts.out, {
    flag: "--out",
    command: "rft data distill",
    force: opts.force,
    inputs: [opts.meta],
    recognize: (path) => {
      try {
        const prev = JSON.parse(readFileSync(path, "utf8")) as unknown;
        return Array.isArray(prev) && prev.every((r) => ids.has(String((r as { id?: unknown })?.id)));
      } catch {
        return false;
      }
    },
  });
  if (opts.force) {
    rmSync(opts.out, { force: true });
    rmSync(journal, { force: true });
  }
  const store = new ItemStore(opts.out, journal, raw, "cot");
  const resumed = store.size;
  if (resumed > 0) hooks.onLog?.(`${resumed} of ${n} records already distilled; they are not asked again`);
  const template = opts.template;
  const imageRoot = resolve(opts.imageRoot);
  const pending = records.filter((r) => !store.has(r.id));
  const failures: FailureRecord[] = [];
  writeFileAtomic(errors, "");
  let done = resumed;
  let next = 0;
  const progress = () => {
    const elapsedMs = Date.now() - t0;
    const fresh = done - resumed + failures.length;
    hooks.onProgress?.({
      done,
      failed: failures.length,
      total: n,
      resumed,
      elapsedMs,
      etaMs: fresh > 0 ? (elapsedMs / fresh) * (n - done - failures.length) : undefined,
    });
  };
  progress();
  let fatal: unknown;
  const abort = new AbortController();
  const onOuter = () => abort.abort(opts.signal!.reason);
  opts.signal?.addEventListener("abort", onOuter, { once: true });
  const worker = async () => {
    while (next < pending.length && !abort.signal.aborted) {
      const rec = pending[next++]!;
      const images = recordImages(rec).map((p) => resolve(imageRoot, p));
      const req = {
        system: opts.family === "spatial-transformation" ? undefined : DISTILL_SYSTEM,
        images,
        text: distillPrompt(opts.family, rec, template, opts.templates),
      };
      let r;
      try {
        r = await client.chat(req, opts.sampling, { signal: abort.signal });
      } catch (e) {
        if (fatal === undefined) fatal = e;
        abort.abort(e);
        return;
      }
      if (r.ok) {
        store.record(rec.id, postprocessCot(r.value.text));
        done++;
      } else {
        const f: FailureRecord = { set: opts.meta, id: rec.id, error: r.failure.message, attempts: r.attempts };
        if (r.failure.status !== undefined) f.status = r.failure.status;
        failures.push(f);
        writeFileAtomic(errors, failures.map((x) => JSON.stringify(x) + "\n").join(""));
        hooks.onFailure?.(f);
      }
      progress();
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  } finally {
    opts.signal?.removeEventListener("abort", onOuter);
    store.close();
  }
  if (fatal !== undefined) throw fatal;
  if (abort.signal.aborted) throw abort.signal.reason ?? new Error("aborted");
  const mismatched = store
    .finishedItems()
    .filter((it) => !cotAgrees(opts.family, it.cot as string, it.answer as string))
    .map((it) => String(it.id));
  return {
    meta: opts.meta,
    out: opts.out,
    model: client.model,
    n,
    distilled: store.size,
    failed: failures.length,
    mismatched,
    failures,
    seconds: (Date.now() - t0) / 1000,
  };
}

/** Reads a --prompt template file and checks it has both placeholders. */
export function readDistillTemplate(path: string): string {
  const t = readFileSync(path, "utf8");
  for (const p of ["{Question}", "{Answer}"])
    if (!t.includes(p)) throw new Error(`${path}: the distillation template has no ${p} placeholder`);
  return t;
}
