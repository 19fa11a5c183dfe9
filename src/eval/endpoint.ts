/**
 * A client of any OpenAI-compatible chat-completions server (vLLM, `rft serve`, GPT-4o, Gemini's compatible API)
 * through the official `openai` npm client: images as base64 data URLs before the text (as the reference sends
 * them, spec §6.3), our own retry loop (the client's own retries are off) with exponential backoff and jitter on
 * 429, 5xx, timeouts, dropped connections and malformed replies, honouring Retry-After. Tensor-free.
 */
import { setMaxListeners } from "node:events";
import { readFile } from "node:fs/promises";
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import {
  DEFAULT_RETRY,
  type Failure,
  type RetryPolicy,
  type RetryResult,
  parseRetryAfter,
  withRetries,
} from "./retry.ts";

export interface EndpointOptions {
  /** Base URL as the openai client takes it, e.g. http://127.0.0.1:8000/v1. A URL without a path gets /v1. */
  baseURL: string;
  /** The `model` field of every request. */
  model: string;
  /** Bearer key; servers without keys accept any (vLLM's convention is "EMPTY"). */
  apiKey?: string;
  /** Per-attempt timeout in ms (default 120 000). */
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Extra fields of every request body (e.g. top_k for vLLM). */
  extraBody?: Record<string, unknown>;
}

/** Sampling fields of a request; undefined fields are not sent. */
export interface EndpointSampling {
  temperature?: number;
  top_p?: number;
  /** Not an OpenAI field: vLLM and `rft serve` accept it, OpenAI refuses it. Sent only when set. */
  top_k?: number;
  max_tokens?: number;
  seed?: number;
}

/** One request: optional system text, images (file paths, sent in order before the text) and the user text. */
export interface ChatRequest {
  system?: string;
  images: readonly string[];
  text: string;
}

export type ChatResult = RetryResult<{ text: string; finishReason: string | null }>;

/** Raised when one attempt (headers and body) takes longer than the timeout; retried. */
export class AttemptTimeoutError extends Error {
  override name = "AttemptTimeoutError";
  constructor() {
    super("timeout");
  }
}

/** Raised for a reply that parsed but is not a chat completion with text; retried like a 5xx. */
export class MalformedReplyError extends Error {
  override name = "MalformedReplyError";
}

/** The base URL the client uses: a bare http://host:port gets /v1 (vLLM's and rft serve's prefix). */
export function normalizeBaseURL(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--endpoint: '${url}' is not a URL (expected e.g. http://127.0.0.1:8000/v1)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new Error(`--endpoint: '${url}' must be an http:// or https:// URL`);
  if (u.pathname === "" || u.pathname === "/") u.pathname = "/v1";
  return u.toString().replace(/\/$/, "");
}

/** MIME type of an encoded image from its first bytes (PNG, JPEG, WebP, GIF); undefined otherwise. */
export function imageMime(bytes: Uint8Array): string | undefined {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "image/png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (b.length >= 12 && String.fromCharCode(...b.subarray(0, 4)) === "RIFF") {
    if (String.fromCharCode(...b.subarray(8, 12)) === "WEBP") return "image/webp";
  }
  if (b.length >= 6 && String.fromCharCode(...b.subarray(0, 4)) === "GIF8") return "image/gif";
  return undefined;
}

/** A file as a `data:<mime>;base64,...` URL (the bytes unchanged: no re-encoding, no quality loss). */
export async function imageDataUrl(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`image ${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const mime = imageMime(bytes);
  if (!mime) throw new Error(`image ${path}: not a PNG, JPEG, WebP or GIF file`);
  return `data:${mime};base64,${bytes.toString("base64")}`;
}

/** Turns an error of one attempt into a retry decision (see the module comment). */
export function classifyEndpointError(e: unknown): Failure {
  if (e instanceof APIUserAbortError) return { kind: "fatal", message: "aborted" };
  if (e instanceof APIConnectionTimeoutError || e instanceof AttemptTimeoutError)
    return { kind: "retry", message: "timeout" };
  if (e instanceof APIConnectionError) {
    const cause = (e as { cause?: Error }).cause;
    return { kind: "retry", message: `connection error: ${cause?.message ?? e.message}` };
  }
  if (e instanceof APIError) {
    const status = e.status;
    const retryAfterMs = e.headers ? parseRetryAfter((n) => e.headers!.get(n)) : undefined;
    const text = firstLine(e.message).replace(new RegExp(`^${status ?? ""}\\s*`), "");
    const message = `HTTP ${status ?? "?"}: ${text || "(no message)"}`;
    if (status === undefined) return { kind: "retry", message, retryAfterMs };
    if (status === 408 || status === 409 || status === 429 || status >= 500)
      return { kind: "retry", message, status, retryAfterMs };
    if (status === 401 || status === 403)
      return { kind: "fatal", message: `${message} (check the key: --api-key-env)`, status };
    if (status === 404) return { kind: "fatal", message: `${message} (check --endpoint and --model-name)`, status };
    return { kind: "permanent", message, status };
  }
  if (e instanceof SyntaxError) return { kind: "retry", message: `malformed reply: ${firstLine(e.message)}` };
  if (e instanceof MalformedReplyError) return { kind: "retry", message: `malformed reply: ${e.message}` };
  // Bodies cut off mid-transfer surface as TypeError("terminated") from fetch; retry them too.
  return { kind: "retry", message: firstLine((e as Error)?.message ?? String(e)) };
}

function firstLine(s: string): string {
  const line = s.split("\n")[0] ?? "";
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** The text of a chat-completion reply, or a MalformedReplyError. */
export function replyText(body: unknown): { text: string; finishReason: string | null } {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new MalformedReplyError(`expected a JSON object, got ${body === null ? "null" : typeof body}`);
  const choices = (body as { choices?: unknown }).choices;
  if (!Array.isArray(choices) || choices.length === 0) throw new MalformedReplyError("no choices");
  const c = choices[0] as { message?: { content?: unknown }; finish_reason?: unknown };
  const content = c?.message?.content;
  if (typeof content !== "string") throw new MalformedReplyError("choices[0].message.content is not a string");
  return { text: content, finishReason: typeof c.finish_reason === "string" ? c.finish_reason : null };
}

export class EndpointClient {
  readonly baseURL: string;
  readonly model: string;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  private readonly client: OpenAI;
  private readonly extraBody: Record<string, unknown>;

  constructor(opts: EndpointOptions) {
    this.baseURL = normalizeBaseURL(opts.baseURL);
    this.model = opts.model;
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.extraBody = opts.extraBody ?? {};
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.client = new OpenAI({
      baseURL: this.baseURL,
      apiKey: opts.apiKey ?? "EMPTY",
      timeout: this.timeoutMs,
      maxRetries: 0,
    });
  }

  /** The request body for a chat request (images as data URLs, then the text). */
  async body(req: ChatRequest, sampling: EndpointSampling): Promise<Record<string, unknown>> {
    const content: Record<string, unknown>[] = [];
    for (const p of req.images) content.push({ type: "image_url", image_url: { url: await imageDataUrl(p) } });
    content.push({ type: "text", text: req.text });
    const messages: Record<string, unknown>[] = [];
    if (req.system !== undefined) messages.push({ role: "system", content: req.system });
    messages.push({ role: "user", content });
    const body: Record<string, unknown> = { model: this.model, messages, ...this.extraBody };
    for (const [k, v] of Object.entries(sampling)) if (v !== undefined) body[k] = v;
    return body;
  }

  /**
   * Sends one request with retries. Resolves to the text or to the last failure (never rejects for an HTTP or
   * network failure); rejects with FatalEndpointError when no request can succeed (401, 403, 404) and with the
   * abort reason when `signal` aborts. Unreadable images are a permanent failure of the item.
   */
  async chat(
    req: ChatRequest,
    sampling: EndpointSampling,
    hooks: {
      signal?: AbortSignal;
      onRetry?: (info: { attempt: number; failure: Failure; delayMs: number }) => void;
    } = {},
  ): Promise<ChatResult> {
    let body: Record<string, unknown>;
    try {
      body = await this.body(req, sampling);
    } catch (e) {
      return { ok: false, failure: { kind: "permanent", message: (e as Error).message }, attempts: 0, history: [] };
    }
    // A signal of our own per call: the client adds an abort listener per request, which must not pile up on a
    // signal shared by a whole run.
    const local = new AbortController();
    setMaxListeners(this.retry.maxAttempts + 10, local.signal);
    const outer = hooks.signal;
    const forward = () => local.abort(outer!.reason);
    if (outer?.aborted) local.abort(outer.reason);
    else outer?.addEventListener("abort", forward, { once: true });
    try {
      return await withRetries(
        async () => {
          // The client's timeout ends when the headers arrive; this one also bounds a body that stalls.
          const attempt = new AbortController();
          const onAbort = () => attempt.abort(local.signal.reason);
          local.signal.addEventListener("abort", onAbort, { once: true });
          let timedOut = false;
          const timer = setTimeout(() => {
            timedOut = true;
            attempt.abort(new AttemptTimeoutError());
          }, this.timeoutMs);
          try {
            const reply = await this.client.chat.completions.create(
              body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming,
              { signal: attempt.signal },
            );
            return replyText(reply);
          } catch (e) {
            throw timedOut ? new AttemptTimeoutError() : e;
          } finally {
            clearTimeout(timer);
            local.signal.removeEventListener("abort", onAbort);
          }
        },
        classifyEndpointError,
        this.retry,
        { signal: local.signal, onRetry: hooks.onRetry },
      );
    } finally {
      outer?.removeEventListener("abort", forward);
    }
  }
}
