import { existsSync } from "node:fs";
import { join } from "node:path";
import { type CommandSpec, type ParsedOptions, UsageError } from "../args.ts";
import { EVAL_STRATEGIES, type EvalStrategy, loadPromptTemplates } from "../../tasks/prompts.ts";
import { BENCHMARKS, type Benchmark, TASK_NAMES, taskFamily } from "../../tasks/tasks.ts";
import { endpointBackend } from "../../eval/endpoint_backend.ts";
import { progressPrinter } from "../../eval/progress.ts";
import { DEFAULT_RETRY } from "../../eval/retry.ts";
import { type EvalBackend, formatSummaryTable, runEval } from "../../eval/runner.ts";
import { benchSets, fileSets } from "../../eval/sets.ts";

function positiveInt(opts: ParsedOptions, name: string): number | undefined {
  const v = opts[name];
  if (v === undefined) return undefined;
  if (!(Number.isInteger(v) && (v as number) >= 1))
    throw new UsageError(`--${name} must be a positive integer, got ${String(v)}`);
  return v as number;
}

function nonNegative(opts: ParsedOptions, name: string): number | undefined {
  const v = opts[name];
  if (v === undefined) return undefined;
  if (!((v as number) >= 0)) throw new UsageError(`--${name} must be >= 0, got ${String(v)}`);
  return v as number;
}

/** The API key named by --api-key-env (never the key itself on the command line). */
export function apiKeyFromEnv(opts: ParsedOptions): string | undefined {
  const name = opts["api-key-env"] as string | undefined;
  if (name === undefined) return undefined;
  const key = process.env[name];
  if (key === undefined || key === "")
    throw new UsageError(`--api-key-env ${name}: the environment variable is not set`);
  return key;
}

/** Retry and timeout flags shared with `rft data distill`. */
export const RETRY_OPTIONS = {
  timeout: { type: "number", help: "seconds before one request attempt times out", default: 120 },
  "max-attempts": {
    type: "number",
    help: "attempts per item before it is recorded as failed",
    default: DEFAULT_RETRY.maxAttempts,
  },
  "retry-base": {
    type: "number",
    help: "backoff after the first failure, in seconds (doubled each time, plus up to 50% jitter, at least Retry-After)",
    default: DEFAULT_RETRY.baseDelayMs / 1000,
  },
  "retry-max": { type: "number", help: "longest single backoff, in seconds", default: DEFAULT_RETRY.maxDelayMs / 1000 },
} as const;

export function retryFromOptions(opts: ParsedOptions) {
  const timeout = Number(opts.timeout);
  if (!(timeout > 0)) throw new UsageError(`--timeout must be > 0, got ${timeout}`);
  const maxAttempts = positiveInt(opts, "max-attempts")!;
  const base = nonNegative(opts, "retry-base")!;
  const max = nonNegative(opts, "retry-max")!;
  return { timeoutMs: timeout * 1000, retry: { maxAttempts, baseDelayMs: base * 1000, maxDelayMs: max * 1000 } };
}

export const command: CommandSpec = {
  name: "eval",
  summary: "evaluate a local checkpoint or an OpenAI-compatible endpoint on a task's ID and OOD test sets",
  options: {
    task: { type: "string", help: `task family or benchmark name (${TASK_NAMES.join(", ")})`, required: true },
    model: { type: "string", help: "local checkpoint directory (HF layout)" },
    endpoint: {
      type: "string",
      help: "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (instead of --model)",
    },
    "model-name": { type: "string", help: "model name sent to --endpoint" },
    "api-key-env": { type: "string", help: "environment variable holding the endpoint's API key" },
    bench: { type: "string", help: "dataset root in the Reason-RFT layout: the task's test_jsons/ sets are used" },
    test: { type: "strings", help: "test set file (meta-JSON); instead of --bench" },
    "image-root": { type: "string", help: "image root of the test records (default with --bench: BENCH/images)" },
    out: { type: "string", help: "output directory (resumed when it holds the same evaluation)", required: true },
    strategy: {
      type: "string",
      help: "prompt strategy (spec §2.3)",
      choices: EVAL_STRATEGIES,
      default: "cot-sft",
    },
    limit: { type: "number", help: "first N items of each set" },
    concurrency: { type: "number", help: "endpoint requests in flight [default: 8]" },
    "batch-size": { type: "number", help: "local: prompts per generate call", default: 8 },
    temperature: { type: "number", help: "sampling temperature (0 = greedy)", default: 0.1 },
    "top-p": { type: "number", help: "nucleus sampling mass", default: 0.9 },
    "top-k": { type: "number", help: "top-k (local default 50; sent to an endpoint only when given)" },
    "max-new-tokens": { type: "number", help: "maximum generated tokens", default: 768 },
    seed: { type: "number", help: "sampling seed (local default 0; sent to an endpoint only when given)" },
    ...RETRY_OPTIONS,
    prompts: { type: "string", help: "JSON file mapping prompt keys to templates, replacing the built-in prompts" },
    "min-pixels": { type: "number", help: "local: processor min_pixels (default: the checkpoint's)" },
    "max-pixels": { type: "number", help: "local: processor max_pixels (default: the checkpoint's)" },
    dtype: { type: "string", help: "local: compute dtype (default: as stored)", choices: ["float32", "bfloat16"] },
    threads: { type: "number", help: "local: libtorch threads" },
    force: { type: "boolean", help: "start over in an --out holding another evaluation, or write into a foreign dir" },
    json: { type: "boolean", help: "print the summary as JSON instead of the table" },
  },
  details: [
    "(`rft eval perception` scores a model's perception on held-out instruct questions instead; see its --help.)",
    "",
    "Writes OUT/<set>.json (the test items plus `pred`, saved as items finish), OUT/<set>_with_score.json",
    "(`rft score` logic), OUT/summary.json and OUT/errors.jsonl (items that failed after all attempts).",
    "A second run with the same settings continues: finished items are never asked again; failed ones are retried.",
    "Averages (docs/evaluation.md): id_avg = mean of the ID sets' accuracies, ood_avg = mean of the OOD sets',",
    "avg = mean of all sets' (the paper's per-task AVG). Accuracies are fractions in [0, 1].",
    "",
    "Examples:",
    "  rft eval --task clevr-math --model runs/tiny --bench runs/bench --out runs/eval-tiny --limit 20",
    "  rft eval --task trance --endpoint http://127.0.0.1:8000/v1 --model-name qwen2-vl --bench data/Reason-RFT \\",
    "    --out runs/eval-vllm --concurrency 16",
    "  rft eval --task geomath --endpoint https://api.openai.com/v1 --model-name gpt-4o-2024-08-06 \\",
    "    --api-key-env OPENAI_API_KEY --test geomath.json --image-root images --out runs/gpt4o --strategy closed-source",
  ].join("\n"),
  async run(opts) {
    const task = String(opts.task);
    const family = taskFamily(task);
    if (!family) throw new UsageError(`unknown --task '${task}' (one of: ${TASK_NAMES.join(", ")})`);
    const local = opts.model !== undefined;
    const remote = opts.endpoint !== undefined;
    if (local === remote) throw new UsageError("give either --model DIR or --endpoint URL --model-name NAME");
    if (remote && opts["model-name"] === undefined) throw new UsageError("--endpoint needs --model-name");
    if (local && opts["model-name"] !== undefined)
      throw new UsageError("--model-name goes with --endpoint, not --model");
    if (local && opts["api-key-env"] !== undefined) throw new UsageError("--api-key-env goes with --endpoint");
    if (local && opts.concurrency !== undefined)
      throw new UsageError("--concurrency applies to --endpoint; a local model batches with --batch-size");
    const tests = (opts.test as string[] | undefined) ?? [];
    if ((opts.bench !== undefined) === tests.length > 0) throw new UsageError("give either --bench DIR or --test FILE");
    for (const f of tests) if (!existsSync(f)) throw new UsageError(`--test: ${f} does not exist`);
    const imageRoot =
      (opts["image-root"] as string | undefined) ??
      (opts.bench !== undefined ? join(String(opts.bench), "images") : undefined);
    if (imageRoot === undefined) throw new UsageError("--image-root is required with --test");
    if (!existsSync(imageRoot)) throw new UsageError(`--image-root: ${imageRoot} does not exist`);
    const limit = positiveInt(opts, "limit");
    const strategy = opts.strategy as EvalStrategy;
    const temperature = nonNegative(opts, "temperature")!;
    const topP = Number(opts["top-p"]);
    if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p must be in (0, 1], got ${topP}`);
    const topK = opts["top-k"] === undefined ? undefined : Number(opts["top-k"]);
    if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0))
      throw new UsageError(`--top-k must be a non-negative integer, got ${topK}`);
    const maxNew = positiveInt(opts, "max-new-tokens")!;
    const seed = opts.seed === undefined ? undefined : Number(opts.seed);
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0))
      throw new UsageError(`--seed must be a non-negative integer, got ${seed}`);
    const templates = opts.prompts ? loadPromptTemplates(String(opts.prompts)) : {};
    const fallback = Object.prototype.hasOwnProperty.call(BENCHMARKS, task) ? (task as Benchmark) : undefined;
    const sets = opts.bench !== undefined ? benchSets(String(opts.bench), family) : fileSets(tests, family, fallback);

    const printer = progressPrinter(process.stderr, "[eval]");
    const log = (m: string) => printer.log(`[eval] ${m}`);
    let backend: EvalBackend;
    if (remote) {
      const { timeoutMs, retry } = retryFromOptions(opts);
      backend = endpointBackend({
        baseURL: String(opts.endpoint),
        model: String(opts["model-name"]),
        apiKey: apiKeyFromEnv(opts),
        timeoutMs,
        retry,
        concurrency: positiveInt(opts, "concurrency") ?? 8,
        sampling: { temperature, top_p: topP, top_k: topK, max_tokens: maxNew, seed },
      });
    } else {
      // Loaded only for local models: `rft eval --endpoint` never loads libtorch.
      const { createLocalBackend } = await import("../../eval/local.ts");
      if (opts.threads !== undefined) (await import("../../tensor/index.ts")).setNumThreads(Number(opts.threads));
      backend = await createLocalBackend({
        modelDir: String(opts.model),
        batchSize: positiveInt(opts, "batch-size")!,
        sampling: { temperature, topP, topK: topK ?? 50, maxNewTokens: maxNew },
        minPixels: opts["min-pixels"] as number | undefined,
        maxPixels: opts["max-pixels"] as number | undefined,
        dtype: opts.dtype as "float32" | "bfloat16" | undefined,
        onLog: log,
      });
    }
    log(`${family}, ${strategy}, ${sets.map((s) => `${s.name} (${s.split})`).join(", ")} → ${String(opts.out)}`);
    // Ctrl-C stops between items with everything finished saved (a second Ctrl-C kills at once).
    const interrupt = new AbortController();
    const onSigint = () => interrupt.abort(new Error("interrupted; rerun the same command to continue"));
    process.once("SIGINT", onSigint);
    let summary;
    try {
      summary = await runEval(
        {
          task: family,
          sets,
          imageRoot,
          out: String(opts.out),
          strategy,
          limit,
          seed: seed ?? 0,
          templates,
          force: Boolean(opts.force),
          signal: interrupt.signal,
        },
        backend,
        {
          onProgress: (p) =>
            printer.update({
              label: p.set,
              partDone: p.setDone,
              partFailed: p.setFailed,
              partTotal: p.setTotal,
              done: p.done,
              failed: p.failed,
              total: p.total,
              elapsedMs: p.elapsedMs,
              etaMs: p.etaMs,
            }),
          onRetry: (r) =>
            process.env.RFT_DEBUG
              ? log(
                  `${r.set}/${r.id}: attempt ${r.attempt} failed (${r.message}); retry in ${(r.delayMs / 1000).toFixed(1)} s`,
                )
              : undefined,
          onFailure: (f) => log(`${f.set}/${f.id} failed after ${f.attempts} attempt(s): ${f.error}`),
          onLog: log,
        },
      );
    } finally {
      process.removeListener("SIGINT", onSigint);
      printer.end();
      await backend.close?.();
    }
    if (opts.json) console.log(JSON.stringify(summary, null, 2));
    else console.log(formatSummaryTable(summary));
    const failed = summary.failures.length;
    if (failed > 0)
      log(`${failed} item(s) failed; listed in ${join(String(opts.out), "errors.jsonl")} (a rerun retries them)`);
    return 0;
  },
};
