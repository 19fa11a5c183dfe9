/**
 * `rft serve`: an OpenAI-compatible chat-completions server over a local checkpoint (the counterpart of the
 * reference's LLaMA-Factory API server, spec §7.3), plus the chat page at `/` (serve_page.ts).
 *
 * - `GET /v1/models`, `POST /v1/chat/completions` (text and image_url parts; images as data URLs, local paths and
 *   file:// URLs only under `allowImagesFrom`, remote URLs refused), streaming (SSE) and not, `n`, temperature,
 *   top_p, top_k (vLLM's extension), max_tokens / max_completion_tokens, stop, seed, usage counts.
 * - Limits, checked before any work: body size (413), n, max_tokens, image pixels, context length and the memory
 *   estimate of limits.ts (400, naming the field), queue length (429).
 * - Scheduling: a FIFO queue served by one worker running one `generateAsync` at a time. When the worker is free it
 *   takes the oldest request and batches with it the queued requests that are compatible (same `n`, no `seed`; a
 *   seeded request runs alone so that its output depends on its seed only), up to `maxBatch` requests and while the
 *   batch's memory estimate fits. Per-request sampling settings, lengths and stop strings ride on generate's `rows`.
 *   generateAsync yields between decode steps, so the server keeps answering (and queueing) while it generates.
 * - A client that disconnects aborts its generation when it runs alone (or when every client of its batch has
 *   left); in a batch with live clients its rows finish with the batch and are discarded.
 * - Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with the HTTP status.
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import { realpathSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { isAbsolute, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import type { ChatMessage, ContentPart } from "../models/qwen2vl/chat_template.ts";
import { padTokenId, stopTokenIds } from "../models/qwen2vl/checkpoint.ts";
import {
  type Generation,
  type PromptSample,
  type RowOptions,
  type TokenEvent,
  generateAsync,
  promptSample,
} from "../models/qwen2vl/generate.ts";
import { prepareInputs } from "../models/qwen2vl/inputs.ts";
import {
  LimitError,
  checkContextLength,
  checkRequestFits,
  defaultMemoryBudget,
  estimateRequestMemory,
} from "../models/qwen2vl/limits.ts";
import type { LoadedModel } from "./local.ts";
import { CHAT_PAGE } from "./serve_page.ts";

export interface ServeOptions {
  /** The model's name in /v1/models and replies; requests must name it. */
  modelName: string;
  /** Bearer key every /v1 request must carry (none: open). */
  apiKey?: string;
  /** Local image paths and file:// URLs are accepted only under this directory (none: refused). */
  allowImagesFrom?: string;
  /** Largest request body in bytes (413 beyond). */
  maxRequestBytes: number;
  /** Default and largest max_tokens of a request. */
  maxTokens: number;
  /** Largest `n`. */
  maxN: number;
  /** Most requests generated together. */
  maxBatch: number;
  /** Most requests waiting (429 beyond). */
  maxQueue: number;
  /** Largest decoded image (width × height) accepted. */
  maxImagePixels: number;
  /** Memory a batch may use (default: free memory at each check). */
  memoryBudget?: number;
  minPixels?: number;
  maxPixels?: number;
  log?: (msg: string) => void;
}

export const SERVE_DEFAULTS = {
  maxRequestBytes: 32 * 2 ** 20,
  maxTokens: 1024,
  maxN: 8,
  maxBatch: 8,
  maxQueue: 256,
  maxImagePixels: 4096 * 4096,
} as const;

/** An error reply in OpenAI's shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

const bad = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, message, "invalid_request_error", param, code);

/** A validated chat-completions request, before preprocessing. */
export interface ParsedRequest {
  messages: ChatMessage[];
  /** Image references in message order (data URLs or paths/file URLs). */
  images: { url: string; param: string }[];
  n: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  maxTokens?: number;
  maxTokensParam: string;
  stop: string[];
  seed?: number;
  stream: boolean;
  includeUsage: boolean;
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function num(body: Record<string, unknown>, name: string, lo: number, hi: number, integer = false): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isSafeInteger(v)))
    throw bad(
      `'${name}' must be ${integer ? "an integer" : "a number"} from ${lo} to ${hi}, got ${JSON.stringify(v)}`,
      name,
    );
  return v;
}

/** Options that change what a reply means and that we do not implement: refused rather than ignored. */
const UNSUPPORTED: Record<string, (v: unknown) => boolean> = {
  logprobs: (v) => v === true,
  top_logprobs: (v) => v !== undefined && v !== null && v !== 0,
  tools: (v) => Array.isArray(v) && v.length > 0,
  functions: (v) => Array.isArray(v) && v.length > 0,
  response_format: (v) => isObj(v) && v.type !== "text",
  logit_bias: (v) => isObj(v) && Object.keys(v).length > 0,
  presence_penalty: (v) => typeof v === "number" && v !== 0,
  frequency_penalty: (v) => typeof v === "number" && v !== 0,
  audio: (v) => v !== undefined && v !== null,
};

/** Checks a request body's fields and shapes (no model work). Throws ApiError naming the field. */
export function parseChatRequest(
  body: unknown,
  o: Pick<ServeOptions, "modelName" | "maxN" | "maxTokens">,
): ParsedRequest {
  if (!isObj(body)) throw bad("the request body must be a JSON object");
  if (typeof body.model !== "string") throw bad("'model' is required (a string)", "model");
  if (body.model !== o.modelName)
    throw new ApiError(
      404,
      `the model '${body.model}' does not exist; this server serves '${o.modelName}'`,
      "invalid_request_error",
      "model",
      "model_not_found",
    );
  for (const [k, refused] of Object.entries(UNSUPPORTED))
    if (refused(body[k])) throw bad(`'${k}' is not supported by this server`, k, "unsupported_parameter");
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    throw bad("'messages' must be a non-empty array", "messages");
  const messages: ChatMessage[] = [];
  const images: { url: string; param: string }[] = [];
  body.messages.forEach((m: unknown, i: number) => {
    const at = `messages[${i}]`;
    if (!isObj(m)) throw bad(`${at} must be an object`, at);
    let role = m.role;
    if (role === "developer") role = "system";
    if (role !== "system" && role !== "user" && role !== "assistant")
      throw bad(`${at}.role must be 'system', 'user' or 'assistant', got ${JSON.stringify(m.role)}`, `${at}.role`);
    if (typeof m.content === "string") {
      messages.push({ role, content: m.content });
      return;
    }
    if (!Array.isArray(m.content)) throw bad(`${at}.content must be a string or an array of parts`, `${at}.content`);
    const parts: ContentPart[] = [];
    m.content.forEach((p: unknown, j: number) => {
      const pat = `${at}.content[${j}]`;
      if (!isObj(p)) throw bad(`${pat} must be an object`, pat);
      if (p.type === "text") {
        if (typeof p.text !== "string") throw bad(`${pat}.text must be a string`, `${pat}.text`);
        parts.push({ type: "text", text: p.text });
      } else if (p.type === "image_url") {
        if (role !== "user") throw bad(`${pat}: images go in user messages`, pat);
        const iu = p.image_url;
        const url = typeof iu === "string" ? iu : isObj(iu) ? iu.url : undefined;
        if (typeof url !== "string" || url === "")
          throw bad(`${pat}.image_url.url must be a string (a data: URL)`, `${pat}.image_url.url`);
        images.push({ url, param: `${pat}.image_url.url` });
        parts.push({ type: "image" });
      } else {
        throw bad(`${pat}.type ${JSON.stringify(p.type)} is not supported (use 'text' or 'image_url')`, `${pat}.type`);
      }
    });
    messages.push({ role, content: parts });
  });
  const n = num(body, "n", 1, o.maxN, true) ?? 1;
  const temperature = num(body, "temperature", 0, 2);
  const topP = num(body, "top_p", 0, 1);
  if (topP === 0) throw bad("'top_p' must be in (0, 1]", "top_p");
  let topK = num(body, "top_k", -1, Number.MAX_SAFE_INTEGER, true);
  if (topK === -1) topK = 0; // vLLM's "off"
  const mct = num(body, "max_completion_tokens", 1, Number.MAX_SAFE_INTEGER, true);
  const mt = num(body, "max_tokens", 1, Number.MAX_SAFE_INTEGER, true);
  const maxTokens = mct ?? mt;
  const maxTokensParam = mct !== undefined ? "max_completion_tokens" : "max_tokens";
  if (maxTokens !== undefined && maxTokens > o.maxTokens)
    throw bad(
      `'${maxTokensParam}' is ${maxTokens}, more than this server allows (${o.maxTokens}; rft serve --max-tokens)`,
      maxTokensParam,
    );
  let stop: string[] = [];
  if (typeof body.stop === "string") stop = [body.stop];
  else if (Array.isArray(body.stop)) stop = body.stop as string[];
  else if (body.stop !== undefined && body.stop !== null)
    throw bad("'stop' must be a string or an array of strings", "stop");
  if (stop.length > 4 || stop.some((s) => typeof s !== "string" || s === ""))
    throw bad("'stop' takes up to 4 non-empty strings", "stop");
  const seed = num(body, "seed", 0, Number.MAX_SAFE_INTEGER, true);
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean")
    throw bad("'stream' must be a boolean", "stream");
  const so = body.stream_options;
  if (so !== undefined && so !== null && !isObj(so)) throw bad("'stream_options' must be an object", "stream_options");
  return {
    messages,
    images,
    n,
    temperature,
    topP,
    topK,
    maxTokens,
    maxTokensParam,
    stop,
    seed,
    stream: body.stream === true,
    includeUsage: isObj(so) && so.include_usage === true,
  };
}

/** True when `path` (already resolved) lies inside `root` (resolved). */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * The bytes of an image reference: a base64 data URL; a local path or file:// URL under `allowRoot` (symlinks
 * resolved); anything else refused.
 */
export async function resolveImage(url: string, param: string, allowRoot: string | undefined): Promise<Buffer> {
  const m = /^data:([^;,]*)((?:;[^;,]*)*),(.*)$/s.exec(url);
  if (m) {
    if (!/;base64$/i.test(m[2]!)) throw bad(`${param}: data URLs must be base64-encoded`, param, "invalid_image_url");
    const buf = Buffer.from(m[3]!, "base64");
    if (buf.length === 0) throw bad(`${param}: the data URL holds no image`, param, "invalid_image_url");
    return buf;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^file:\/\//i.test(url))
    throw bad(
      `${param}: remote image URLs are not fetched by this server; send the image as a base64 data: URL`,
      param,
      "invalid_image_url",
    );
  let path: string;
  try {
    path = /^file:\/\//i.test(url) ? fileURLToPath(url) : url;
  } catch {
    throw bad(`${param}: cannot read ${JSON.stringify(url)} as a file URL`, param, "invalid_image_url");
  }
  if (!allowRoot)
    throw bad(
      `${param}: local image paths are refused (the server was started without --allow-images-from); send a data: URL`,
      param,
      "invalid_image_url",
    );
  if (!isAbsolute(path))
    throw bad(`${param}: local image paths must be absolute (under ${allowRoot})`, param, "invalid_image_url");
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw bad(`${param}: no such image file`, param, "invalid_image_url");
  }
  if (!inside(allowRoot, real))
    throw bad(
      `${param}: the image path is outside the allowed directory (--allow-images-from)`,
      param,
      "invalid_image_url",
    );
  try {
    return await readFile(real);
  } catch (e) {
    throw bad(`${param}: cannot read the image (${(e as NodeJS.ErrnoException).code ?? "error"})`, param);
  }
}

interface Job {
  id: string;
  created: number;
  req: ParsedRequest;
  sample: PromptSample;
  promptTokens: number;
  patches: number[];
  row: RowOptions & { maxNewTokens: number };
  signal: AbortSignal;
  /** Streaming: each new token of choice `index`. */
  onToken?: (index: number, ev: TokenEvent) => void;
  resolve: (g: Generation[]) => void;
  reject: (e: unknown) => void;
}

/** Incremental text of one streamed choice: held back while it may end in a stop string or a partial character. */
class TextStream {
  ids: number[] = [];
  sent = "";
  constructor(
    readonly decode: (ids: number[]) => string,
    readonly stops: readonly string[],
    readonly stopIds: ReadonlySet<number>,
  ) {}
  /** The new text to send after token `id` (final: the generation's `text` closes the stream exactly). */
  push(id: number): string {
    this.ids.push(id);
    const body = this.stopIds.has(id) ? this.ids.slice(0, -1) : this.ids;
    let text = this.decode(body);
    let hold = 0;
    for (const s of this.stops) {
      const at = text.indexOf(s);
      if (at >= 0) text = text.slice(0, at);
      for (let k = Math.min(s.length - 1, text.length); k > hold; k--)
        if (text.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
    }
    // A character whose bytes are split over tokens decodes to U+FFFD until its last byte arrives.
    const partial = text.length - text.replace(/\uFFFD{1,3}$/, "").length;
    hold = Math.max(hold, partial);
    return this.advance(text.slice(0, text.length - hold));
  }
  advance(text: string): string {
    if (!text.startsWith(this.sent) || text.length <= this.sent.length) return "";
    const delta = text.slice(this.sent.length);
    this.sent = text;
    return delta;
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers });
  res.end(data);
}

function sendError(res: ServerResponse, e: ApiError, headers: Record<string, string> = {}): void {
  send(res, e.status, e.body(), headers);
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** The HTTP server. Owns nothing of the model: the caller disposes it after `close()`. */
export class ChatServer {
  readonly server: Server;
  readonly #queue: Job[] = [];
  #running: Job[] = [];
  #batchAbort: AbortController | null = null;
  #working = false;
  #closing = false;
  #loopbackOnly = true;
  readonly #created = Math.floor(Date.now() / 1000);
  readonly #stops: number[];
  readonly #pad: number;
  readonly #allowRoot: string | undefined;
  #idle: Promise<void> = Promise.resolve();
  #idleResolve: (() => void) | null = null;
  /** Chat responses not yet finished (shutdown waits for them before closing connections). */
  readonly #active = new Set<ServerResponse>();

  constructor(
    readonly ck: LoadedModel,
    readonly opts: ServeOptions,
  ) {
    this.#stops = stopTokenIds(ck.generationConfig, ck.config);
    this.#pad = padTokenId(ck.generationConfig, ck.config);
    this.#allowRoot = opts.allowImagesFrom ? realpathSync(opts.allowImagesFrom) : undefined;
    this.server = createServer((req, res) => {
      this.#handle(req, res).catch((e) => {
        this.#log(`internal error: ${(e as Error).stack ?? String(e)}`);
        if (res.headersSent) res.end();
        else sendError(res, new ApiError(500, `internal server error: ${(e as Error).message}`, "server_error"));
      });
    });
  }

  #log(msg: string): void {
    this.opts.log?.(msg);
  }

  /** Starts listening; resolves to the base URL (http://host:port). */
  async listen(port: number, host: string): Promise<string> {
    this.#loopbackOnly = LOOPBACK.has(host);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    const h = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `http://${h}:${a.port}`;
  }

  /** Requests waiting and running (for logs and tests). */
  get load(): { queued: number; running: number } {
    return { queued: this.#queue.length, running: this.#running.length };
  }

  /**
   * Graceful stop: no new connections or requests (503), queued requests refused with 503, the running batch
   * finishes (or is aborted at once with `force`). Resolves when the worker is idle and the listener closed.
   */
  async close(force = false): Promise<void> {
    this.#closing = true;
    for (const j of this.#queue.splice(0))
      j.reject(new ApiError(503, "the server is shutting down", "server_error", null, "shutting_down"));
    if (force) this.#batchAbort?.abort(new Error("server shut down"));
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await this.#idle;
    // Let the last replies flush (bounded), then drop what is left.
    for (let t = 0; this.#active.size > 0 && t < 100; t++) await new Promise((r) => setTimeout(r, 50));
    this.server.closeAllConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#loopbackOnly) {
      // DNS rebinding guard: a server bound to loopback answers only requests addressed to a loopback name.
      const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
      if (!LOOPBACK.has(host))
        return sendError(res, new ApiError(403, `requests to host '${host}' are refused`, "invalid_request_error"));
    }
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    if (path === "/" || path === "/index.html") {
      if (req.method !== "GET" && req.method !== "HEAD")
        return sendError(res, new ApiError(405, `${req.method} ${path} is not allowed`), { allow: "GET" });
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "content-length": Buffer.byteLength(CHAT_PAGE),
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; connect-src 'self'",
        "x-content-type-options": "nosniff",
      });
      res.end(req.method === "HEAD" ? undefined : CHAT_PAGE);
      return;
    }
    if (path === "/health") return send(res, 200, { status: this.#closing ? "closing" : "ok", ...this.load });
    if (!path.startsWith("/v1/"))
      return sendError(res, new ApiError(404, `no route ${path}`, "invalid_request_error", null, "not_found"));
    if (!this.#authorized(req))
      return sendError(
        res,
        new ApiError(
          401,
          "invalid or missing API key (send 'Authorization: Bearer KEY')",
          "invalid_request_error",
          null,
          "invalid_api_key",
        ),
        { "www-authenticate": "Bearer" },
      );
    if (path === "/v1/models") {
      if (req.method !== "GET")
        return sendError(res, new ApiError(405, `${req.method} ${path} is not allowed`), { allow: "GET" });
      return send(res, 200, {
        object: "list",
        data: [{ id: this.opts.modelName, object: "model", created: this.#created, owned_by: "rft" }],
      });
    }
    if (path === "/v1/chat/completions") {
      if (req.method !== "POST")
        return sendError(res, new ApiError(405, `${req.method} ${path} is not allowed`), { allow: "POST" });
      return this.#chat(req, res);
    }
    return sendError(res, new ApiError(404, `no route ${path}`, "invalid_request_error", null, "not_found"));
  }

  #authorized(req: IncomingMessage): boolean {
    const key = this.opts.apiKey;
    if (!key) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (!m) return false;
    const a = Buffer.from(m[1]!.trim());
    const b = Buffer.from(key);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Reads a JSON body within the size limit (the rest of an oversized body is drained, then 413). */
  async #readBody(req: IncomingMessage): Promise<unknown> {
    const limit = this.opts.maxRequestBytes;
    const tooBig = () =>
      new ApiError(
        413,
        `the request body is larger than this server accepts (${limit} bytes; rft serve --max-request-bytes)`,
        "invalid_request_error",
        null,
        "request_too_large",
      );
    const ctype = String(req.headers["content-type"] ?? "");
    if (!/^application\/json\b/i.test(ctype)) {
      req.resume();
      throw new ApiError(415, "the request body must be JSON (Content-Type: application/json)");
    }
    const declared = Number(req.headers["content-length"] ?? NaN);
    const chunks: Buffer[] = [];
    let size = 0;
    let over = declared > limit;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > limit) over = true;
      if (over) {
        if (size > 4 * limit) {
          req.destroy();
          break;
        }
        continue; // drain so the client reads the 413
      }
      chunks.push(c);
    }
    if (over) throw tooBig();
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (e) {
      throw bad(`the request body is not valid JSON: ${(e as Error).message}`);
    }
  }

  async #chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = new AbortController();
    this.#active.add(res);
    res.on("close", () => this.#active.delete(res));
    res.on("close", () => {
      if (!res.writableFinished) client.abort(new Error("client disconnected"));
    });
    let job: Job;
    let done: Promise<Generation[]>;
    try {
      if (this.#closing) throw new ApiError(503, "the server is shutting down", "server_error", null, "shutting_down");
      const body = await this.#readBody(req);
      const parsed = parseChatRequest(body, this.opts);
      ({ job, done } = await this.#prepare(parsed, client.signal));
    } catch (e) {
      if (e instanceof ApiError) return sendError(res, e);
      throw e;
    }
    const id = job.id;
    const base = { id, created: job.created, model: this.opts.modelName };
    const usage = (gens: Generation[]) => {
      const completion = gens.reduce((a, g) => a + g.ids.length, 0);
      return {
        prompt_tokens: job.promptTokens,
        completion_tokens: completion,
        total_tokens: job.promptTokens + completion,
      };
    };
    if (!job.req.stream) {
      try {
        const gens = await done;
        if (client.signal.aborted) return; // its rows ran in a batch with live clients
        send(res, 200, {
          ...base,
          object: "chat.completion",
          system_fingerprint: null,
          choices: gens.map((g, index) => ({
            index,
            message: { role: "assistant", content: g.text ?? "", refusal: null },
            logprobs: null,
            finish_reason: g.finishReason,
          })),
          usage: usage(gens),
        });
      } catch (e) {
        if (client.signal.aborted) return;
        sendError(
          res,
          e instanceof ApiError ? e : new ApiError(500, `generation failed: ${(e as Error).message}`, "server_error"),
        );
      }
      return;
    }
    // Streaming: headers and the role chunk at once (the client sees a live stream while the request waits).
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      res.write(
        `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", system_fingerprint: null, choices, ...extra })}\n\n`,
      );
    const n = job.req.n;
    for (let i = 0; i < n; i++)
      chunk([{ index: i, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]);
    const decode = (ids: number[]) => this.ck.tokenizer.decode(ids, { skipSpecialTokens: true });
    const streams = Array.from({ length: n }, () => new TextStream(decode, job.req.stop, new Set(this.#stops)));
    job.onToken = (index, ev) => {
      if (res.writableEnded || client.signal.aborted || ev.finishReason) return; // the final text comes from the generation
      const delta = streams[index]!.push(ev.id);
      if (delta) chunk([{ index, delta: { content: delta }, logprobs: null, finish_reason: null }]);
    };
    try {
      const gens = await done;
      if (res.writableEnded || client.signal.aborted) return;
      gens.forEach((g, index) => {
        const delta = streams[index]!.advance(g.text ?? "");
        if (delta) chunk([{ index, delta: { content: delta }, logprobs: null, finish_reason: null }]);
        chunk([{ index, delta: {}, logprobs: null, finish_reason: g.finishReason }]);
      });
      if (job.req.includeUsage) chunk([], { usage: usage(gens) });
    } catch (e) {
      if (client.signal.aborted || res.writableEnded) return;
      const err =
        e instanceof ApiError ? e : new ApiError(500, `generation failed: ${(e as Error).message}`, "server_error");
      res.write(`data: ${JSON.stringify(err.body())}\n\n`);
    }
    res.end("data: [DONE]\n\n");
  }

  /** Images, prompt, limits; then queues the job. */
  async #prepare(r: ParsedRequest, signal: AbortSignal): Promise<{ job: Job; done: Promise<Generation[]> }> {
    const { ck, opts } = this;
    const buffers: Buffer[] = [];
    for (const im of r.images) {
      const buf = await resolveImage(im.url, im.param, this.#allowRoot);
      let meta;
      try {
        meta = await sharp(buf).metadata();
      } catch (e) {
        throw bad(`${im.param}: cannot decode the image (${(e as Error).message})`, im.param, "invalid_image");
      }
      const px = (meta.width ?? 0) * (meta.height ?? 0);
      if (!(px > 0)) throw bad(`${im.param}: cannot read the image's size`, im.param, "invalid_image");
      if (px > opts.maxImagePixels)
        throw bad(
          `${im.param}: the image is ${meta.width}x${meta.height}, more than ${opts.maxImagePixels} pixels (rft serve --max-image-pixels)`,
          im.param,
          "image_too_large",
        );
      buffers.push(buf);
    }
    let inputs;
    try {
      inputs = await prepareInputs(ck.tokenizer, ck.preprocessor, r.messages, buffers, {
        sampleId: "request",
        addGenerationPrompt: true,
        minPixels: opts.minPixels,
        maxPixels: opts.maxPixels,
      });
    } catch (e) {
      if (e instanceof LimitError) throw bad((e as Error).message, "messages", "request_too_large");
      throw bad(`cannot prepare the messages: ${(e as Error).message}`, "messages");
    }
    const promptTokens = inputs.inputIds.length;
    const ctxMax = ck.config.max_position_embeddings;
    const maxNew = r.maxTokens ?? Math.min(opts.maxTokens, Math.max(1, ctxMax - promptTokens));
    const patches = inputs.imageGridThw.map(([t, h, w]) => t * h * w);
    try {
      checkContextLength(ck.config, {
        promptTokens,
        maxNewTokens: maxNew,
        promptName: "the messages",
        maxNewTokensName: r.maxTokensParam,
      });
    } catch (e) {
      throw bad(
        (e as Error).message,
        r.maxTokens !== undefined ? r.maxTokensParam : "messages",
        "context_length_exceeded",
      );
    }
    this.#checkFits([{ promptTokens, patches, n: r.n, maxNew }], "request");
    const job: Job = {
      id: `chatcmpl-${randomUUID().replace(/-/g, "")}`,
      created: Math.floor(Date.now() / 1000),
      req: r,
      sample: promptSample(inputs),
      promptTokens,
      patches,
      row: this.#rowOptions(r, maxNew),
      signal,
      resolve: () => {},
      reject: () => {},
    };
    if (this.#queue.length >= opts.maxQueue)
      throw new ApiError(
        429,
        `the server has ${this.#queue.length} requests waiting; retry later`,
        "rate_limit_error",
        null,
        "queue_full",
      );
    const done = new Promise<Generation[]>((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
    });
    if (signal.aborted) throw new ApiError(499, "client disconnected", "invalid_request_error");
    if (this.#closing) throw new ApiError(503, "the server is shutting down", "server_error", null, "shutting_down");
    this.#queue.push(job);
    signal.addEventListener("abort", () => this.#onClientGone(job), { once: true });
    // After the caller has attached its stream callback (microtasks run before setImmediate).
    setImmediate(() => void this.#work());
    return { job, done };
  }

  /** Sampling of a request: its fields, else generation_config.json (do_sample false → greedy), as rft generate. */
  #rowOptions(r: ParsedRequest, maxNew: number): RowOptions & { maxNewTokens: number } {
    const gen = this.ck.generationConfig;
    const sample = gen.do_sample === true;
    return {
      temperature: r.temperature ?? (sample ? (gen.temperature ?? 1) : 0),
      topP: r.topP ?? (sample ? gen.top_p : undefined),
      topK: r.topK ?? (sample ? gen.top_k : undefined),
      maxNewTokens: maxNew,
      stopStrings: r.stop,
    };
  }

  /** Refuses (400) a batch whose memory estimate exceeds the budget. */
  #checkFits(
    jobs: { promptTokens: number; patches: number[]; n: number; maxNew: number }[],
    what: "request" | "batch",
  ): void {
    const est = estimateRequestMemory(this.ck.config, {
      batch: jobs.reduce((a, j) => a + j.n, 0),
      prefillBatch: jobs.length,
      promptTokens: Math.max(...jobs.map((j) => j.promptTokens)),
      maxNewTokens: Math.max(...jobs.map((j) => j.maxNew)),
      imagePatches: jobs.flatMap((j) => j.patches),
      dtype: this.ck.model.dtype,
    });
    try {
      checkRequestFits(est, {
        budget: this.opts.memoryBudget ?? defaultMemoryBudget(),
        budgetName: this.opts.memoryBudget !== undefined ? "the server's --memory-budget" : "the server's free memory",
        hints: { tokens: "lower max_tokens or n, or shorten the messages", images: "send fewer or smaller images" },
      });
    } catch (e) {
      if (what === "batch") throw e;
      throw bad((e as Error).message, "messages", "request_too_large");
    }
  }

  #onClientGone(job: Job): void {
    const q = this.#queue.indexOf(job);
    if (q >= 0) {
      this.#queue.splice(q, 1);
      job.reject(new Error("client disconnected"));
      return;
    }
    if (this.#running.includes(job) && this.#running.every((j) => j.signal.aborted)) {
      this.#log(`${job.id}: client disconnected, generation aborted`);
      this.#batchAbort?.abort(new Error("client disconnected"));
    }
  }

  /** The next batch: the oldest job, then compatible queued jobs while the batch fits (FIFO otherwise). */
  #takeBatch(): Job[] {
    const first = this.#queue.shift()!;
    const batch = [first];
    if (first.req.seed === undefined) {
      for (let i = 0; i < this.#queue.length && batch.length < this.opts.maxBatch;) {
        const j = this.#queue[i]!;
        if (j.req.seed === undefined && j.req.n === first.req.n) {
          try {
            this.#checkFits(
              [...batch, j].map((x) => ({
                promptTokens: x.promptTokens,
                patches: x.patches,
                n: x.req.n,
                maxNew: x.row.maxNewTokens,
              })),
              "batch",
            );
          } catch {
            break;
          }
          batch.push(j);
          this.#queue.splice(i, 1);
        } else i++;
      }
    }
    return batch;
  }

  async #work(): Promise<void> {
    if (this.#working) return;
    this.#working = true;
    this.#idle = new Promise<void>((r) => (this.#idleResolve = r));
    try {
      while (this.#queue.length > 0) {
        const batch = this.#takeBatch();
        const n = batch[0]!.req.n;
        this.#running = batch;
        this.#batchAbort = new AbortController();
        const t0 = Date.now();
        try {
          const gens = await generateAsync(
            this.ck.model,
            batch.map((j) => j.sample),
            {
              maxNewTokens: Math.max(...batch.map((j) => j.row.maxNewTokens)),
              stopTokenIds: this.#stops,
              padTokenId: this.#pad,
              numReturnSequences: n,
              rows: batch.flatMap((j) => Array.from({ length: n }, () => j.row)),
              seed: batch[0]!.req.seed,
              tokenizer: this.ck.tokenizer,
              signal: this.#batchAbort.signal,
              onTokens: (events) => {
                for (const ev of events) {
                  const j = batch[Math.floor(ev.row / n)]!;
                  if (!j.signal.aborted) j.onToken?.(ev.row % n, ev);
                }
              },
            },
          );
          const tokens = gens.reduce((a, g) => a + g.ids.length, 0);
          this.#log(
            `${batch.length} request(s) × ${n}: ${tokens} tokens in ${((Date.now() - t0) / 1000).toFixed(2)} s` +
              (this.#queue.length ? ` (${this.#queue.length} waiting)` : ""),
          );
          batch.forEach((j, b) => j.resolve(gens.slice(b * n, (b + 1) * n)));
        } catch (e) {
          if (!this.#batchAbort.signal.aborted) this.#log(`generation failed: ${(e as Error).message}`);
          for (const j of batch) j.reject(e);
        } finally {
          this.#running = [];
          this.#batchAbort = null;
        }
      }
    } finally {
      this.#working = false;
      this.#idleResolve?.();
    }
  }
}
