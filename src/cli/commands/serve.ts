import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { type CommandSpec, UsageError, checkInteger } from "../args.ts";
import { apiKeyFromEnv } from "./eval.ts";

function log(msg: string): void {
  process.stderr.write(`[serve] ${msg}\n`);
}

function intOpt(opts: Record<string, unknown>, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  return checkInteger(name, Number(opts[name]), { min, max });
}

export const command: CommandSpec = {
  name: "serve",
  summary: "serve a checkpoint over an OpenAI-compatible chat-completions API, with a chat page at /",
  options: {
    model: { type: "string", help: "checkpoint directory (config.json, safetensors, tokenizer)", required: true },
    host: {
      type: "string",
      help: "address to listen on (0.0.0.0 exposes the server to the network)",
      default: "127.0.0.1",
    },
    port: { type: "number", help: "port (0 = any free port; the URL is printed)", default: 8000 },
    "api-key-env": {
      type: "string",
      help: "environment variable holding the API key clients must send as 'Authorization: Bearer KEY'",
    },
    "model-name": {
      type: "string",
      help: "model name in /v1/models and replies (default: the --model directory's name)",
    },
    "allow-images-from": {
      type: "string",
      help: "accept local image paths and file:// URLs under this directory (default: data: URLs only)",
    },
    "max-tokens": {
      type: "number",
      help: "default and largest max_tokens of a request",
      default: 1024,
    },
    "max-n": { type: "number", help: "largest n (choices per request)", default: 8 },
    "max-batch": { type: "number", help: "most requests generated together", default: 8 },
    "max-queue": { type: "number", help: "most requests waiting; more are refused with 429", default: 256 },
    "max-request-bytes": {
      type: "string",
      help: "largest request body (e.g. 32MB); larger ones get 413",
      default: "32MB",
    },
    "max-image-pixels": { type: "number", help: "largest image (width × height) accepted", default: 4096 * 4096 },
    "memory-budget": {
      type: "string",
      help: "refuse requests (and stop growing batches) estimated to need more memory (default: free memory)",
    },
    "min-pixels": { type: "number", help: "processor min_pixels (default: the checkpoint's)" },
    "max-pixels": { type: "number", help: "processor max_pixels (default: the checkpoint's)" },
    dtype: {
      type: "string",
      help: "compute dtype of the weights (default: as stored)",
      choices: ["float32", "bfloat16"],
    },
    threads: { type: "number", help: "libtorch threads" },
  },
  details: [
    "Endpoints: GET /v1/models, POST /v1/chat/completions (OpenAI's request and reply shapes, stream: true for",
    "server-sent events), GET / (the chat page), GET /health. Request fields: messages (text and image_url parts;",
    "images as base64 data: URLs), n, temperature, top_p, top_k, max_tokens / max_completion_tokens, stop, seed,",
    "stream, stream_options.include_usage. Unset sampling fields take generation_config.json's (greedy when it does",
    "not sample). Requests wait in a FIFO queue; compatible ones (same n, no seed) are generated together.",
    'Errors: {"error": {"message", "type", "param", "code"}} with the HTTP status. Ctrl-C or SIGTERM stops',
    "accepting, refuses what waits, finishes the running generation and exits (a second signal aborts it).",
    "",
    "Examples:",
    "  rft serve --model runs/demo/counting/reason-rft --port 8000",
    "  RFT_KEY=secret rft serve --model runs/tiny --api-key-env RFT_KEY --model-name tiny",
    "  rft eval --task clevr-math --endpoint http://127.0.0.1:8000/v1 --model-name tiny --bench runs/bench --out runs/e",
  ].join("\n"),
  async run(opts) {
    const dir = String(opts.model);
    if (!existsSync(join(dir, "config.json"))) throw new UsageError(`--model: ${dir} has no config.json`);
    if (!existsSync(join(dir, "tokenizer.json"))) throw new UsageError(`--model: ${dir} has no tokenizer.json`);
    const host = String(opts.host);
    const port = intOpt(opts, "port", 0, 65535);
    const apiKey = apiKeyFromEnv(opts);
    const modelName =
      opts["model-name"] !== undefined ? String(opts["model-name"]) : resolve(dir).split(/[\\/]/).pop() || "model";
    if (modelName === "") throw new UsageError("--model-name must not be empty");
    let allow: string | undefined;
    if (opts["allow-images-from"] !== undefined) {
      allow = resolve(String(opts["allow-images-from"]));
      if (!existsSync(allow) || !statSync(allow).isDirectory())
        throw new UsageError(`--allow-images-from: ${String(opts["allow-images-from"])} is not a directory`);
    }
    const maxTokens = intOpt(opts, "max-tokens", 1);
    const maxN = intOpt(opts, "max-n", 1);
    const maxBatch = intOpt(opts, "max-batch", 1);
    const maxQueue = intOpt(opts, "max-queue", 1);
    const maxImagePixels = intOpt(opts, "max-image-pixels", 1);
    for (const f of ["min-pixels", "max-pixels"] as const) if (opts[f] !== undefined) intOpt(opts, f, 1);
    const { parseByteSize, LimitError } = await import("../../models/qwen2vl/limits.ts");
    let maxRequestBytes: number;
    let memoryBudget: number | undefined;
    try {
      maxRequestBytes = parseByteSize(String(opts["max-request-bytes"]), "--max-request-bytes");
      if (opts["memory-budget"] !== undefined) memoryBudget = parseByteSize(String(opts["memory-budget"]));
    } catch (e) {
      if (e instanceof LimitError) throw new UsageError(e.message);
      throw e;
    }

    const { loadCheckpoint } = await import("../../models/qwen2vl/checkpoint.ts");
    const { ChatServer } = await import("../../eval/serve.ts");
    if (opts.threads !== undefined)
      (await import("../../tensor/index.ts")).setNumThreads(Number(opts.threads), "--threads");
    const t0 = Date.now();
    const ck = await loadCheckpoint(dir, { dtype: opts.dtype as "float32" | "bfloat16" | undefined });
    if (!ck.tokenizer) {
      ck.model.dispose();
      throw new UsageError(`--model: ${dir} has no tokenizer`);
    }
    log(`loaded ${dir} (${ck.model.dtype}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const w of ck.warnings) log(`warning: ${w.field}: ${w.message}`);
    const min = (opts["min-pixels"] as number | undefined) ?? ck.preprocessor.min_pixels;
    const max = (opts["max-pixels"] as number | undefined) ?? ck.preprocessor.max_pixels;
    if (min > max) {
      ck.model.dispose();
      throw new UsageError(`--min-pixels (${min}) is larger than --max-pixels (${max}) (flags or preprocessor config)`);
    }
    const server = new ChatServer(
      { ...ck, tokenizer: ck.tokenizer },
      {
        modelName,
        apiKey,
        allowImagesFrom: allow,
        maxRequestBytes,
        maxTokens,
        maxN,
        maxBatch,
        maxQueue,
        maxImagePixels,
        memoryBudget,
        minPixels: opts["min-pixels"] as number | undefined,
        maxPixels: opts["max-pixels"] as number | undefined,
        log,
      },
    );
    let url: string;
    try {
      url = await server.listen(port, host);
    } catch (e) {
      ck.model.dispose();
      const err = e as NodeJS.ErrnoException;
      if (err.code === "EADDRINUSE") throw new UsageError(`--port ${port}: the address ${host}:${port} is in use`);
      if (err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND")
        throw new UsageError(`--host ${host}: cannot listen on this address (${err.code})`);
      throw e;
    }
    log(`model '${modelName}'${apiKey ? ", API key required" : ""}${allow ? `, local images from ${allow}` : ""}`);
    if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1" && !apiKey)
      log(`warning: listening on ${host} without an API key: anyone who can reach it can use the model`);
    // The URL on stdout (one line) for scripts and tests; everything else on stderr.
    console.log(`listening on ${url} (chat page ${url}/, API ${url}/v1)`);

    await new Promise<void>((resolveStop) => {
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        if (signals === 1) {
          log(`${sig}: shutting down (the running generation finishes; ${sig} again to abort it)`);
          void server.close().then(resolveStop);
        } else {
          log(`${sig}: aborting the running generation`);
          void server.close(true);
        }
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    });
    ck.model.dispose();
    log("stopped");
    return 0;
  },
};
