import { existsSync } from "node:fs";
import { type CommandSpec, UsageError } from "../args.ts";
import { loadPromptTemplates } from "../../tasks/prompts.ts";
import { TASK_NAMES, taskFamily } from "../../tasks/tasks.ts";
import { distillPaths, readDistillTemplate, runDistill } from "../../eval/distill.ts";
import { EndpointClient } from "../../eval/endpoint.ts";
import { progressPrinter } from "../../eval/progress.ts";
import { RETRY_OPTIONS, apiKeyFromEnv, retryFromOptions } from "./eval.ts";

export const command: CommandSpec = {
  name: "data distill",
  summary: "distill chain-of-thought labels for a meta-JSON file through an OpenAI-compatible vision endpoint",
  options: {
    task: { type: "string", help: `task family or benchmark name (${TASK_NAMES.join(", ")})`, required: true },
    meta: {
      type: "string",
      help: "input meta-JSON: records with id, image, problem, answer (or solution)",
      required: true,
    },
    "image-root": { type: "string", help: "image root of the records", required: true },
    out: {
      type: "string",
      help: "output meta-JSON file (the records plus cot); continued when it exists",
      required: true,
    },
    endpoint: { type: "string", help: "OpenAI-compatible base URL, e.g. https://api.openai.com/v1", required: true },
    "model-name": { type: "string", help: "model name sent to the endpoint, e.g. gpt-4o-2024-08-06", required: true },
    "api-key-env": { type: "string", help: "environment variable holding the endpoint's API key" },
    concurrency: { type: "number", help: "requests in flight", default: 8 },
    limit: { type: "number", help: "first N records only" },
    temperature: { type: "number", help: "sampling temperature", default: 0.2 },
    "max-tokens": { type: "number", help: "max_tokens of each request", default: 8192 },
    ...RETRY_OPTIONS,
    prompt: {
      type: "string",
      help: "text file replacing the built-in request wording; must contain {Question} and {Answer}",
    },
    prompts: { type: "string", help: "JSON prompt-template file (its spatial-transformation.answer rules are used)" },
    force: { type: "boolean", help: "start over: discard an existing --out instead of continuing it" },
    json: { type: "boolean", help: "print the summary as JSON" },
  },
  details: [
    "Each record is sent with its image(s) first, then a request to explain step by step how the given correct answer",
    "follows from the image, ending in <think>…</think><answer>…</answer> (TRANCE: the rules block first, two images).",
    "The reply is kept from its last <think> on (the reference's post-processing) and stored as `cot`.",
    "Records are written as they finish (OUT.partial.jsonl, then OUT atomically); a rerun continues by id and retries",
    "the records that failed (listed in OUT.errors.jsonl, without .json). Cots whose <answer> disagrees with the",
    "record's answer are kept and counted. The output validates with `rft data build --meta OUT`.",
    "",
    "Example:",
    "  rft data distill --task clevr-math --meta train.json --image-root images --out train-cot.json \\",
    "    --endpoint https://api.openai.com/v1 --model-name gpt-4o-2024-08-06 --api-key-env OPENAI_API_KEY",
  ].join("\n"),
  async run(opts) {
    const family = taskFamily(String(opts.task));
    if (!family) throw new UsageError(`unknown --task '${String(opts.task)}' (one of: ${TASK_NAMES.join(", ")})`);
    const meta = String(opts.meta);
    if (!existsSync(meta)) throw new UsageError(`--meta: ${meta} does not exist`);
    const imageRoot = String(opts["image-root"]);
    if (!existsSync(imageRoot)) throw new UsageError(`--image-root: ${imageRoot} does not exist`);
    const concurrency = Number(opts.concurrency);
    if (!(Number.isInteger(concurrency) && concurrency >= 1))
      throw new UsageError(`--concurrency must be a positive integer, got ${concurrency}`);
    const limit = opts.limit === undefined ? undefined : Number(opts.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1))
      throw new UsageError(`--limit must be a positive integer, got ${limit}`);
    const temperature = Number(opts.temperature);
    if (!(temperature >= 0)) throw new UsageError(`--temperature must be >= 0, got ${temperature}`);
    const maxTokens = Number(opts["max-tokens"]);
    if (!(Number.isInteger(maxTokens) && maxTokens >= 1))
      throw new UsageError(`--max-tokens must be a positive integer, got ${maxTokens}`);
    const { timeoutMs, retry } = retryFromOptions(opts);
    const client = new EndpointClient({
      baseURL: String(opts.endpoint),
      model: String(opts["model-name"]),
      apiKey: apiKeyFromEnv(opts),
      timeoutMs,
      retry,
    });
    const printer = progressPrinter(process.stderr, "[distill]");
    const log = (m: string) => printer.log(`[distill] ${m}`);
    // Ctrl-C stops between items with everything finished saved (a second Ctrl-C kills at once).
    const interrupt = new AbortController();
    const onSigint = () => interrupt.abort(new Error("interrupted; rerun the same command to continue"));
    process.once("SIGINT", onSigint);
    let summary;
    try {
      summary = await runDistill(
        {
          family,
          meta,
          imageRoot,
          out: String(opts.out),
          concurrency,
          limit,
          sampling: { temperature, max_tokens: maxTokens },
          template: opts.prompt ? readDistillTemplate(String(opts.prompt)) : undefined,
          templates: opts.prompts ? loadPromptTemplates(String(opts.prompts)) : {},
          force: Boolean(opts.force),
          signal: interrupt.signal,
        },
        client,
        {
          onProgress: (p) =>
            printer.update({
              label: "records",
              partDone: p.done,
              partFailed: p.failed,
              partTotal: p.total,
              done: p.done,
              failed: p.failed,
              total: p.total,
              elapsedMs: p.elapsedMs,
              etaMs: p.etaMs,
            }),
          onFailure: (f) => log(`${f.id} failed after ${f.attempts} attempt(s): ${f.error}`),
          onLog: log,
        },
      );
    } finally {
      process.removeListener("SIGINT", onSigint);
      printer.end();
    }
    if (opts.json) {
      console.log(JSON.stringify(summary, null, 2));
    } else {
      console.log(
        `${summary.out}: ${summary.distilled} of ${summary.n} records distilled, ${summary.failed} failed, ` +
          `${summary.mismatched.length} cot(s) whose <answer> disagrees with the record (${summary.seconds.toFixed(1)} s)`,
      );
      if (summary.failed > 0) console.log(`failures: ${distillPaths(summary.out).errors} (a rerun retries them)`);
    }
    return 0;
  },
};
