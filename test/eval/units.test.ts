// Pure parts of src/eval: progress output, test-set naming, image data URLs, reply parsing, error classification.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { APIConnectionTimeoutError, APIError } from "openai";
import { formatDuration, progressPrinter } from "../../src/eval/progress.ts";
import { fileSets, setFromFileName } from "../../src/eval/sets.ts";
import {
  MalformedReplyError,
  classifyEndpointError,
  imageDataUrl,
  normalizeBaseURL,
  replyText,
} from "../../src/eval/endpoint.ts";
import { itemPrompt } from "../../src/eval/runner.ts";
import { tinyPng } from "./helpers.ts";

function fakeStream(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, write: (s: string) => chunks.push(s) } as unknown as NodeJS.WriteStream };
}

const state = (partDone: number, label = "clevr-math") => ({
  label,
  partDone,
  partFailed: 0,
  partTotal: 10,
  done: partDone,
  failed: 0,
  total: 20,
  elapsedMs: 65_000,
  etaMs: 3_725_000,
});

test("progress: one updating line on a TTY, plain throttled lines otherwise", () => {
  assert.equal(formatDuration(65_000), "1:05");
  assert.equal(formatDuration(3_725_000), "1:02:05");
  const tty = fakeStream(true);
  const p = progressPrinter(tty.stream, "[eval]", { intervalMs: 0 });
  p.update(state(1));
  p.update(state(2));
  p.log("a message");
  p.end();
  assert.ok(tty.chunks[0]!.startsWith("\r\x1b[2K[eval] clevr-math 1/10 | all 1/20 5% | elapsed 1:05 | ETA 1:02:05"));
  assert.ok(!tty.chunks.slice(0, 2).some((c) => c.includes("\n")), "the line is rewritten in place");
  assert.ok(tty.chunks[2]!.startsWith("\r\x1b[2Ka message\n[eval] clevr-math 2/10"));
  assert.equal(tty.chunks.at(-1), "\n");

  const plain = fakeStream(false);
  const q = progressPrinter(plain.stream, "[eval]", { intervalMs: 60_000 });
  q.update(state(1));
  q.update(state(2)); // throttled
  q.update(state(10)); // the end of a part is always shown
  q.update(state(0, "super-clevr")); // so is a new part
  assert.deepEqual(
    plain.chunks.map((c) => c.split(" | ")[0]),
    ["[eval] clevr-math 1/10", "[eval] clevr-math 10/10", "[eval] super-clevr 0/10"],
  );
  assert.ok(plain.chunks.every((c) => c.endsWith("\n") && !c.includes("\r")));
});

test("test sets are named from the dataset's and the reference's file names", () => {
  assert.deepEqual(setFromFileName("x/Visual-Counting-ood-test-1k.json"), {
    name: "super-clevr",
    split: "ood",
    benchmark: "super-clevr",
  });
  assert.deepEqual(setFromFileName("Spatial-Transformation-ood-left-test-1k.json"), {
    name: "trance-left",
    split: "ood",
    benchmark: "trance-left",
  });
  assert.deepEqual(setFromFileName("Structure-Perception-id-test-820.json"), {
    name: "geomath",
    split: "id",
    benchmark: "geomath",
  });
  assert.deepEqual(setFromFileName("Visual-Counting-ood-steps-test-1k.json"), {
    name: "clevr-math-ood-steps",
    split: "ood",
    benchmark: "clevr-math",
  });
  assert.deepEqual(setFromFileName("trance_right.json"), {
    name: "trance-right",
    split: "ood",
    benchmark: "trance-right",
  });
  assert.equal(setFromFileName("mine.json"), undefined);
  assert.deepEqual(fileSets(["a/my-ood-set.json"], "structure-perception", "geometry3k"), [
    { name: "my-ood-set", split: "ood", benchmark: "geometry3k", file: "a/my-ood-set.json" },
  ]);
  assert.throws(() => fileSets(["geomath.json"], "visual-counting"), /says geomath, not a visual-counting set/);
});

test("prompts per strategy: closed-source asks GeoMath with problem_no_prompt; sft has a super-clevr prompt", () => {
  const raw = { problem: "Find x. Choices: A 1 B 2", problem_no_prompt: "Find x." };
  assert.match(itemPrompt("geomath", "closed-source", raw, { problem: raw.problem, answer: "A" }), /Find x\.$/);
  assert.match(itemPrompt("geomath", "cot-sft", raw, { problem: raw.problem, answer: "A" }), /chosen letter/);
  assert.equal(itemPrompt("super-clevr", "sft", {}, { problem: "How many?", answer: "2" }), "How many?");
  assert.throws(
    () => itemPrompt("clevr-math", "caption-cot", {}, { problem: "?", answer: "1" }),
    /only defined for TRANCE/,
  );
});

test("endpoint helpers: base URL, data URLs, reply parsing, error classes", async () => {
  assert.equal(normalizeBaseURL("http://127.0.0.1:8000"), "http://127.0.0.1:8000/v1");
  assert.equal(normalizeBaseURL("http://h/v1/"), "http://h/v1");
  assert.equal(
    normalizeBaseURL("https://generativelanguage.googleapis.com/v1beta/openai/"),
    "https://generativelanguage.googleapis.com/v1beta/openai",
  );
  assert.throws(() => normalizeBaseURL("localhost:8000"), /--endpoint/);
  const dir = mkdtempSync(join(tmpdir(), "rft-units-"));
  const png = join(dir, "a.png");
  writeFileSync(png, await tinyPng(1));
  const url = await imageDataUrl(png);
  assert.ok(url.startsWith("data:image/png;base64,"));
  assert.deepEqual(Buffer.from(url.split(",")[1]!, "base64"), await tinyPng(1));
  writeFileSync(join(dir, "b.png"), "not an image");
  await assert.rejects(imageDataUrl(join(dir, "b.png")), /b\.png: not a PNG, JPEG, WebP or GIF/);

  assert.deepEqual(replyText({ choices: [{ message: { content: "hi" }, finish_reason: "stop" }] }), {
    text: "hi",
    finishReason: "stop",
  });
  assert.throws(() => replyText("<html>"), MalformedReplyError);
  assert.throws(() => replyText({ choices: [{ message: { content: null } }] }), /content is not a string/);

  const err = (status: number, headers: Record<string, string> = {}) =>
    APIError.generate(status, { error: { message: "m" } }, undefined, new Headers(headers));
  assert.deepEqual(classifyEndpointError(err(429, { "retry-after": "3" })), {
    kind: "retry",
    message: "HTTP 429: m",
    status: 429,
    retryAfterMs: 3000,
  });
  assert.equal(classifyEndpointError(err(503)).kind, "retry");
  assert.equal(classifyEndpointError(err(400)).kind, "permanent");
  assert.equal(classifyEndpointError(err(422)).kind, "permanent");
  assert.equal(classifyEndpointError(err(401)).kind, "fatal");
  assert.equal(classifyEndpointError(err(404)).kind, "fatal");
  assert.equal(classifyEndpointError(new APIConnectionTimeoutError()).message, "timeout");
  assert.equal(classifyEndpointError(new SyntaxError("Unexpected end of JSON input")).kind, "retry");
});
