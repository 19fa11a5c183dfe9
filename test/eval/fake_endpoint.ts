/**
 * A scriptable OpenAI-compatible chat-completions server for tests (node:http): per item id and attempt it can
 * answer, answer slowly, refuse with a status (and Retry-After), hang past the client's timeout, or send truncated
 * JSON. It counts requests and successful answers per id.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Action =
  | { kind: "ok"; delayMs?: number; text?: string }
  | { kind: "status"; status: number; retryAfter?: string; retryAfterMs?: number }
  | { kind: "hang"; ms: number }
  | { kind: "truncated" }
  /** Headers and half the body, then nothing until `ms` (the connection stays open). */
  | { kind: "stall"; ms: number }
  | { kind: "no-choices" };

export interface FakeRequest {
  id: string;
  attempt: number;
  at: number;
  body: Record<string, unknown>;
  authorization?: string;
}

export interface FakeEndpointOptions {
  /** Item id from the request's user text. */
  idOf: (text: string) => string;
  /** What to do with attempt n (1-based) for an id. */
  schedule?: (id: string, attempt: number) => Action;
  /** The reply text of a successful answer. */
  answer: (id: string, text: string) => string;
}

export interface FakeEndpoint {
  url: string;
  requests: FakeRequest[];
  /** Requests per id. */
  count(id: string): number;
  /** Successful (200) answers per id. */
  okCount(id: string): number;
  totalOk(): number;
  reset(): void;
  close(): Promise<void>;
}

function userText(body: Record<string, unknown>): { text: string; images: number } {
  const msgs = (body.messages ?? []) as { role: string; content: unknown }[];
  const user = msgs.find((m) => m.role === "user");
  if (!user) return { text: "", images: 0 };
  if (typeof user.content === "string") return { text: user.content, images: 0 };
  const parts = user.content as { type: string; text?: string; image_url?: { url: string } }[];
  return {
    text: parts
      .filter((p) => p.type === "text")
      .map((p) => p.text)
      .join("\n"),
    images: parts.filter((p) => p.type === "image_url" && p.image_url?.url.startsWith("data:image/")).length,
  };
}

export async function startFakeEndpoint(opts: FakeEndpointOptions): Promise<FakeEndpoint> {
  const requests: FakeRequest[] = [];
  const attempts = new Map<string, number>();
  const ok = new Map<string, number>();
  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
      return;
    }
    const body = JSON.parse(raw) as Record<string, unknown>;
    const { text } = userText(body);
    const id = opts.idOf(text);
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    requests.push({ id, attempt, at: Date.now(), body, authorization: req.headers.authorization });
    const action = opts.schedule?.(id, attempt) ?? { kind: "ok" };
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      if (res.destroyed) return;
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(value));
    };
    const completion = (content: string) => ({
      id: `chatcmpl-${id}-${attempt}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
    switch (action.kind) {
      case "ok":
        setTimeout(() => {
          if (res.destroyed) return;
          ok.set(id, (ok.get(id) ?? 0) + 1);
          json(200, completion(action.text ?? opts.answer(id, text)));
        }, action.delayMs ?? 0);
        return;
      case "status": {
        const headers: Record<string, string> = {};
        if (action.retryAfter !== undefined) headers["retry-after"] = action.retryAfter;
        if (action.retryAfterMs !== undefined) headers["retry-after-ms"] = String(action.retryAfterMs);
        json(action.status, { error: { message: `scripted ${action.status}`, type: "test" } }, headers);
        return;
      }
      case "hang":
        setTimeout(() => json(200, completion("too late")), action.ms);
        return;
      case "truncated": {
        const s = JSON.stringify(completion(opts.answer(id, text)));
        res.writeHead(200, { "content-type": "application/json" });
        res.end(s.slice(0, Math.floor(s.length / 2)));
        return;
      }
      case "stall": {
        const s = JSON.stringify(completion(opts.answer(id, text)));
        res.writeHead(200, { "content-type": "application/json" });
        res.write(s.slice(0, 20));
        setTimeout(() => res.destroyed || res.end(s.slice(20)), action.ms);
        return;
      }
      case "no-choices":
        json(200, { id: "x", object: "chat.completion", choices: [] });
        return;
    }
  };
  const server = createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (raw += c));
    req.on("end", () => handle(req, res, raw));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    count: (id) => requests.filter((r) => r.id === id).length,
    okCount: (id) => ok.get(id) ?? 0,
    totalOk: () => [...ok.values()].reduce((a, b) => a + b, 0),
    reset() {
      requests.length = 0;
      attempts.clear();
      ok.clear();
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
