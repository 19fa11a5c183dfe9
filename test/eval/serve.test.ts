// `rft serve` with the official `openai` client as a real client (tiny random checkpoint): models, non-streaming and
// streaming replies (equal for equal seeds), n, usage, concurrent requests batched and all answered, limits (body
// size, max_tokens, context length), the API key, image data URLs and paths inside/outside --allow-images-from,
// client disconnect, `rft eval --endpoint` against the server, and shutdown on SIGTERM.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import OpenAI from "openai";
import { runRft, tinyPng } from "./helpers.ts";
import { type ServerProcess, startServer, tinyCheckpoint } from "./serve_helpers.ts";
import { SPLIT_THINK_JS } from "../../src/eval/serve_page.ts";
import { parseChatRequest } from "../../src/eval/serve.ts";

const KEY = "test-key-0123456789";
let server: ServerProcess;
let client: OpenAI;
let work: string;
let allowed: string;
let outside: string;
let png: Buffer;
let dataUrl: string;
let ck: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), "rft-serve-test-"));
  ck = await tinyCheckpoint();
  allowed = join(work, "allowed");
  outside = join(work, "outside");
  mkdirSync(allowed);
  mkdirSync(outside);
  png = await tinyPng(3);
  writeFileSync(join(allowed, "a.png"), png);
  writeFileSync(join(outside, "b.png"), png);
  symlinkSync(join(outside, "b.png"), join(allowed, "link.png")); // points outside: refused
  dataUrl = `data:image/png;base64,${png.toString("base64")}`;
  server = await startServer(
    [
      "--model",
      ck,
      "--model-name",
      "tiny",
      "--api-key-env",
      "RFT_TEST_SERVE_KEY",
      "--allow-images-from",
      allowed,
      "--max-request-bytes",
      "256KB",
      "--max-tokens",
      "5000",
      "--threads",
      "1",
    ],
    { RFT_TEST_SERVE_KEY: KEY },
  );
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0, timeout: 60_000 });
});

after(async () => {
  await server?.stop();
});

const user = (text: string, image?: string): OpenAI.Chat.ChatCompletionMessageParam => ({
  role: "user",
  content: [...(image ? [{ type: "image_url" as const, image_url: { url: image } }] : []), { type: "text", text }],
});

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  assert.fail("the request was not refused");
}

test("GET /v1/models lists the served model", async () => {
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  assert.deepEqual(
    models.map((m) => [m.id, m.object]),
    [["tiny", "model"]],
  );
});

test("non-streaming and streaming replies with an image data URL: equal for equal seeds, n, usage", async () => {
  const params = {
    model: "tiny",
    messages: [user("How many objects are there?", dataUrl)],
    max_tokens: 12,
    temperature: 1,
    seed: 7,
  };
  const a = await client.chat.completions.create({ ...params, n: 2 });
  assert.equal(a.object, "chat.completion");
  assert.equal(a.model, "tiny");
  assert.match(a.id, /^chatcmpl-/);
  assert.equal(a.choices.length, 2);
  for (const [i, c] of a.choices.entries()) {
    assert.equal(c.index, i);
    assert.equal(c.message.role, "assistant");
    assert.equal(typeof c.message.content, "string");
    assert.ok(c.finish_reason === "length" || c.finish_reason === "stop");
  }
  assert.ok(a.usage!.prompt_tokens > 16, "the prompt counts the image tokens");
  assert.ok(a.usage!.completion_tokens >= 2 && a.usage!.completion_tokens <= 24);
  assert.equal(a.usage!.total_tokens, a.usage!.prompt_tokens + a.usage!.completion_tokens);
  // A seeded request runs alone: the same seed gives the same reply, streamed or not.
  const b = await client.chat.completions.create(params);
  const again = await client.chat.completions.create(params);
  assert.equal(b.choices[0]!.message.content, again.choices[0]!.message.content);
  const stream = await client.chat.completions.create({
    ...params,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let contentChunks = 0;
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  let role: string | undefined;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content) {
        text += c.delta.content;
        contentChunks++;
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(role, "assistant");
  assert.equal(text, b.choices[0]!.message.content);
  assert.ok(contentChunks >= 2, `the reply streamed in pieces (${contentChunks} chunks)`);
  assert.equal(finish, b.choices[0]!.finish_reason);
  assert.deepEqual(usage, b.usage);
  // n = 2 streamed: the chunks carry each choice's index, and each choice equals the non-streamed one.
  const texts = ["", ""];
  for await (const chunk of await client.chat.completions.create({ ...params, n: 2, stream: true }))
    for (const c of chunk.choices) texts[c.index] += c.delta.content ?? "";
  assert.deepEqual(
    texts,
    a.choices.map((c) => c.message.content),
  );
});

test("stop strings end a reply and are left out of it", async () => {
  const params = { model: "tiny", messages: [user("Say something.")], max_tokens: 24, temperature: 1, seed: 11 };
  const full = (await client.chat.completions.create(params)).choices[0]!.message.content!;
  assert.ok(full.length >= 6, full);
  const stop = full.slice(3, 5);
  const cut = await client.chat.completions.create({ ...params, stop: [stop] });
  assert.equal(cut.choices[0]!.finish_reason, "stop");
  assert.equal(cut.choices[0]!.message.content, full.slice(0, full.indexOf(stop)));
  let streamed = "";
  for await (const ch of await client.chat.completions.create({ ...params, stop, stream: true }))
    streamed += ch.choices[0]?.delta.content ?? "";
  assert.equal(streamed, cut.choices[0]!.message.content);
});

test("concurrent requests are all answered (unseeded ones batched together)", async () => {
  const lens = [3, 5, 7, 9, 11, 13];
  const before = (server.log().match(/request\(s\) × 1/g) ?? []).length;
  const replies = await Promise.all(
    lens.map((max_tokens, i) =>
      client.chat.completions.create({
        model: "tiny",
        messages: [user(`Question ${i}: how many?`, i % 2 ? dataUrl : undefined)],
        max_tokens,
        temperature: 0.8,
      }),
    ),
  );
  replies.forEach((r, i) => {
    const c = r.choices[0]!;
    assert.equal(typeof c.message.content, "string");
    assert.ok(r.usage!.completion_tokens <= lens[i]!);
    if (c.finish_reason === "length") assert.equal(r.usage!.completion_tokens, lens[i]);
  });
  assert.equal(new Set(replies.map((r) => r.id)).size, lens.length);
  // The log line of the last batch may arrive after its replies.
  let batches: number[] = [];
  for (let t = 0; t < 50; t++) {
    batches = [...server.log().matchAll(/(\d+) request\(s\) × 1/g)].slice(before).map((m) => Number(m[1]));
    if (batches.reduce((a, b) => a + b, 0) >= lens.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(
    batches.reduce((a, b) => a + b, 0),
    lens.length,
    server.log(),
  );
  assert.ok(
    batches.some((b) => b > 1),
    `requests that arrived together were batched: ${batches.join(", ")}\n${server.log()}`,
  );
});

test("limits: oversized body 413, max_tokens over the server's limit and prompt + max_tokens over the context 400", async () => {
  const big = await apiError(
    client.chat.completions.create({ model: "tiny", messages: [user("x".repeat(300 * 1024))], max_tokens: 4 }),
  );
  assert.equal(big.status, 413);
  assert.equal(big.code, "request_too_large");
  assert.match(big.message, /--max-request-bytes/);
  const many = await apiError(
    client.chat.completions.create({ model: "tiny", messages: [user("hi")], max_tokens: 6000 }),
  );
  assert.equal(many.status, 400);
  assert.equal(many.param, "max_tokens");
  const ctx = await apiError(
    client.chat.completions.create({ model: "tiny", messages: [user("hi")], max_completion_tokens: 4090 }),
  );
  assert.equal(ctx.status, 400);
  assert.equal(ctx.code, "context_length_exceeded");
  assert.equal(ctx.param, "max_completion_tokens");
  assert.match(ctx.message, /max_position_embeddings \(4096\)/);
  const n = await apiError(client.chat.completions.create({ model: "tiny", messages: [user("hi")], n: 9 }));
  assert.equal(n.status, 400);
  assert.equal(n.param, "n");
  const model = await apiError(client.chat.completions.create({ model: "gpt-4o", messages: [user("hi")] }));
  assert.equal(model.status, 404);
  assert.equal(model.code, "model_not_found");
});

test("a wrong or missing API key is refused with 401", async () => {
  for (const apiKey of ["wrong-key", "test-key-012345678X"]) {
    const other = new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0 });
    const e = await apiError(other.chat.completions.create({ model: "tiny", messages: [user("hi")], max_tokens: 2 }));
    assert.equal(e.status, 401);
    assert.equal(e.code, "invalid_api_key");
    assert.equal((await apiError(other.models.list())).status, 401);
  }
  const res = await fetch(`${server.url}/v1/models`);
  assert.equal(res.status, 401);
  const body = (await res.json()) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
});

test("images: paths under --allow-images-from accepted, outside it (also through a symlink) and remote URLs refused", async () => {
  const ok = await client.chat.completions.create({
    model: "tiny",
    messages: [user("Count.", join(allowed, "a.png"))],
    max_tokens: 2,
  });
  assert.equal(ok.choices.length, 1);
  const viaFileUrl = await client.chat.completions.create({
    model: "tiny",
    messages: [user("Count.", `file://${join(allowed, "a.png")}`)],
    max_tokens: 2,
  });
  assert.equal(viaFileUrl.usage!.prompt_tokens, ok.usage!.prompt_tokens);
  for (const [url, re] of [
    [join(outside, "b.png"), /outside the allowed directory/],
    [join(allowed, "..", "outside", "b.png"), /outside the allowed directory/],
    [join(allowed, "link.png"), /outside the allowed directory/],
    ["https://example.com/cat.png", /remote image URLs are not fetched/],
    ["data:image/png;base64,AAAA", /cannot decode the image/],
  ] as const) {
    const e = await apiError(
      client.chat.completions.create({ model: "tiny", messages: [user("Count.", url)], max_tokens: 2 }),
    );
    assert.equal(e.status, 400, url);
    assert.equal(e.param, "messages[0].content[0].image_url.url");
    assert.match(e.message, re);
  }
});

test("a client that disconnects aborts its generation; the server keeps serving", async () => {
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    { model: "tiny", messages: [user("Tell a long story.")], max_tokens: 3000, temperature: 1, stream: true },
    { signal: ac.signal },
  );
  let pieces = 0;
  try {
    for await (const ch of stream) {
      if (ch.choices[0]?.delta.content) pieces++;
      if (pieces === 3) ac.abort();
    }
  } catch (e) {
    assert.ok(ac.signal.aborted, String(e));
  }
  assert.equal(pieces, 3, "the reply was still streaming when the client left");
  await server.waitForLog(/client disconnected, generation aborted/, 20_000);
  const r = await client.chat.completions.create({ model: "tiny", messages: [user("hi")], max_tokens: 2 });
  assert.equal(r.choices.length, 1);
});

test("rft eval --endpoint against rft serve scores every item", async () => {
  const bench = join(work, "bench");
  const out = join(work, "eval");
  let r = await runRft(["data", "synth", "--out", bench, "--size", "small", "--seed", "0", "--tasks", "counting"]);
  assert.equal(r.status, 0, r.stderr);
  r = await runRft(
    [
      "eval",
      "--task",
      "clevr-math",
      "--endpoint",
      `${server.url}/v1`,
      "--model-name",
      "tiny",
      "--api-key-env",
      "RFT_TEST_SERVE_KEY",
      "--bench",
      bench,
      "--out",
      out,
      "--limit",
      "2",
      "--max-new-tokens",
      "6",
      "--concurrency",
      "4",
    ],
    { RFT_TEST_SERVE_KEY: KEY },
  );
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
  assert.equal(s.model, "tiny");
  assert.ok(s.sets.length >= 2);
  for (const set of s.sets) {
    assert.equal(set.n, 2);
    assert.equal(set.scored, 2, `${set.name}: every item answered and scored`);
    assert.equal(set.failed, 0);
    assert.ok(set.accuracy >= 0 && set.accuracy <= 1);
    const preds = JSON.parse(readFileSync(join(out, `${set.name}.json`), "utf8"));
    for (const p of preds) assert.equal(typeof p.pred, "string");
  }
});

test("request checks name the field (no model work)", () => {
  const o = { modelName: "m", maxN: 4, maxTokens: 100 };
  const err = (body: unknown) => {
    try {
      parseChatRequest(body, o);
    } catch (e) {
      return e as { status: number; param: string | null };
    }
    return assert.fail("accepted");
  };
  assert.equal(err({ model: "m", messages: [] }).param, "messages");
  assert.equal(err({ model: "m", messages: [{ role: "tool", content: "x" }] }).param, "messages[0].role");
  assert.equal(err({ model: "m", messages: [{ role: "user", content: "x" }], temperature: 3 }).param, "temperature");
  assert.equal(err({ model: "m", messages: [{ role: "user", content: "x" }], top_p: 0 }).param, "top_p");
  assert.equal(err({ model: "m", messages: [{ role: "user", content: "x" }], stop: ["a", ""] }).param, "stop");
  assert.equal(err({ model: "m", messages: [{ role: "user", content: "x" }], logprobs: true }).param, "logprobs");
  assert.equal(
    err({ model: "m", messages: [{ role: "user", content: [{ type: "input_audio" }] }] }).param,
    "messages[0].content[0].type",
  );
  const p = parseChatRequest(
    {
      model: "m",
      messages: [
        { role: "developer", content: "be brief" },
        {
          role: "user",
          content: [
            { type: "image_url", image_url: { url: "data:," } },
            { type: "text", text: "q" },
          ],
        },
      ],
      max_tokens: 5,
      max_completion_tokens: 7,
      top_k: -1,
      stop: "x",
    },
    o,
  );
  assert.equal(p.messages[0]!.role, "system");
  assert.deepEqual(p.messages[1]!.content, [{ type: "image" }, { type: "text", text: "q" }]);
  assert.equal(p.maxTokens, 7);
  assert.equal(p.topK, 0);
  assert.deepEqual(p.stop, ["x"]);
});

test("the page's think/answer split (the same JavaScript the page runs)", () => {
  const inPage = runInNewContext(`${SPLIT_THINK_JS}; splitThinkAnswer`) as (t: string) => unknown;
  const split = (t: string) => JSON.parse(JSON.stringify(inPage(t))) as unknown; // out of the vm's realm
  assert.deepEqual(split("<think>two cubes\n</think>\n<answer>2</answer>"), {
    think: "two cubes",
    thinking: false,
    answer: "2",
    tagged: true,
  });
  assert.deepEqual(split("<think>still count"), { think: "still count", thinking: true, answer: "", tagged: false });
  assert.deepEqual(split("<think>a</think> <answer>3"), { think: "a", thinking: false, answer: "3", tagged: true });
  assert.deepEqual(split(" plain reply "), { think: null, thinking: false, answer: "plain reply", tagged: false });
});

test("SIGTERM: the running reply finishes, then the server stops accepting and exits cleanly", async () => {
  const s = await startServer(["--model", ck, "--model-name", "t"]);
  const res = await fetch(`${s.url}/health`);
  assert.equal(res.status, 200);
  const c = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "none", maxRetries: 0 });
  const stream = await c.chat.completions.create({
    model: "t",
    messages: [user("Go on.")],
    max_tokens: 40,
    temperature: 1,
    seed: 2,
    stream: true,
    stream_options: { include_usage: true },
  });
  let signalled = false;
  let usage: OpenAI.CompletionUsage | undefined;
  let finish: string | null = null;
  for await (const ch of stream) {
    if (!signalled && ch.choices[0]?.delta.content) {
      signalled = true;
      s.child.kill("SIGTERM");
    }
    if (ch.usage) usage = ch.usage;
    finish = ch.choices[0]?.finish_reason ?? finish;
  }
  assert.ok(signalled);
  assert.ok(finish === "length" || finish === "stop", "the running reply finished after the signal");
  if (finish === "length") assert.equal(usage!.completion_tokens, 40);
  const { status } = await s.exited;
  assert.equal(status, 0);
  assert.match(s.log(), /SIGTERM: shutting down/);
  assert.match(s.log(), /stopped/);
  await assert.rejects(fetch(`${s.url}/health`));
});

test("rft serve flags: clear usage errors; --memory-budget refuses requests that would not fit", async () => {
  const cases: Promise<{ r: Awaited<ReturnType<typeof runRft>>; args: readonly string[]; re: RegExp }>[] = [];
  for (const [args, re] of [
    [["--model", join(work, "nothing")], /--model: .* has no config\.json/],
    [["--model", ck, "--port", "70000"], /--port must be an integer from 0 to 65535/],
    [["--model", ck, "--allow-images-from", join(allowed, "a.png")], /--allow-images-from: .* is not a directory/],
    [["--model", ck, "--api-key-env", "RFT_TEST_UNSET_VARIABLE"], /--api-key-env RFT_TEST_UNSET_VARIABLE: .*not set/],
    [["--model", ck, "--max-request-bytes", "lots"], /--max-request-bytes: cannot read 'lots'/],
    [["--model", ck, "--port", new URL(server.url).port], /--port \d+: the address 127\.0\.0\.1:\d+ is in use/],
  ] as const)
    cases.push(runRft(["serve", ...args]).then((r) => ({ r, args, re })));
  for (const { r, args, re } of await Promise.all(cases)) {
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const s = await startServer(["--model", ck, "--model-name", "t", "--memory-budget", "4096"]);
  try {
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "t", messages: [{ role: "user", content: "hi" }], max_tokens: 4 }),
    });
    assert.equal(res.status, 400);
    const e = ((await res.json()) as { error: { code: string; message: string } }).error;
    assert.equal(e.code, "request_too_large");
    assert.match(e.message, /budget is 4\.0 KB \(the server's --memory-budget\): lower max_tokens or n/);
    const page = await fetch(`${s.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /connect-src 'self'/);
    assert.match(await page.text(), /<title>rft serve/);
    // A page on another site that resolved its own name to 127.0.0.1 (DNS rebinding) sends its own Host.
    const rebound = await new Promise<number>((resolve, reject) =>
      httpGet(`${s.url}/v1/models`, { headers: { host: "attacker.example" } }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      }).on("error", reject),
    );
    assert.equal(rebound, 403);
  } finally {
    await s.stop();
  }
});
