// `rft eval --endpoint` against a flaky local OpenAI-compatible server: retries, permanent failures, resume by id
// after SIGKILL, and the output files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Action, startFakeEndpoint } from "./fake_endpoint.ts";
import { idFromText, miniCountingBench, runRft, startRft } from "./helpers.ts";
import { readFinished } from "../../src/eval/store.ts";
import { readOutputMarker } from "../../src/io/output.ts";
import { averages } from "../../src/eval/runner.ts";
import { backoffMs, parseRetryAfter } from "../../src/eval/retry.ts";

const readJson = (p: string) => JSON.parse(readFileSync(p, "utf8"));

/** Correct answers for even item numbers, a wrong one for odd numbers. */
function reply(id: string, answers: Map<string, string>): string {
  const n = Number(id.split("-")[1]);
  const truth = answers.get(id)!;
  const said = n % 2 === 0 ? truth : String(Number(truth) + 1);
  return `<think>counting</think>\n<answer>${said}</answer>`;
}

test("backoff grows exponentially with bounded jitter and honours Retry-After", () => {
  const p = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(
    backoffMs(1, p, undefined, () => 0),
    100,
  );
  assert.equal(
    backoffMs(2, p, undefined, () => 0),
    200,
  );
  assert.equal(
    backoffMs(3, p, undefined, () => 0.999999),
    400 * 1.5 - 400 * 0.5 * 0.000001,
  );
  assert.equal(
    backoffMs(10, p, undefined, () => 0.5),
    1000,
    "capped",
  );
  assert.equal(
    backoffMs(1, p, 700, () => 0),
    700,
    "Retry-After wins when longer",
  );
  const h = (o: Record<string, string>) => (n: string) => o[n];
  assert.equal(parseRetryAfter(h({ "retry-after": "2" })), 2000);
  assert.equal(parseRetryAfter(h({ "retry-after-ms": "150", "retry-after": "9" })), 150);
  assert.equal(parseRetryAfter(h({ "retry-after": new Date(10_000).toUTCString() }), 7_000), 3000);
  assert.equal(parseRetryAfter(h({ "retry-after": "soon" })), undefined);
  assert.deepEqual(
    averages([
      { split: "id", accuracy: 0.5 },
      { split: "ood", accuracy: 0.2 },
      { split: "ood", accuracy: 0.4 },
    ]),
    { id_avg: 0.5, ood_avg: 0.30000000000000004, avg: (0.5 + 0.2 + 0.4) / 3 },
  );
});

test("flaky endpoint: every item ends scored or listed as failed, none repeated, Retry-After honoured", async () => {
  const bench = await miniCountingBench(12, 6);
  // Per item number k (id "id-05" → 5): a schedule of failures before success.
  const schedule = (id: string, attempt: number): Action => {
    const k = Number(id.split("-")[1]);
    if (id === "id-00") return { kind: "status", status: 500 }; // never succeeds → failed after 3 attempts
    if (id === "id-06") return { kind: "status", status: 400 }; // refused → failed at once
    if (id === "id-01" && attempt === 1) return { kind: "status", status: 429, retryAfter: "1" };
    if (attempt === 1 && k % 6 === 1) return { kind: "status", status: 429, retryAfterMs: 30 };
    if (attempt <= 2 && k % 6 === 2) return { kind: "status", status: attempt === 1 ? 500 : 503 };
    if (attempt === 1 && k % 6 === 3) return { kind: "hang", ms: 3000 };
    if (attempt === 1 && k % 6 === 4) return { kind: "truncated" };
    if (attempt === 1 && k % 6 === 5) return { kind: "no-choices" };
    if (attempt === 1 && k % 6 === 0) return { kind: "stall", ms: 3000 }; // ood-00: the body stops half-way
    return { kind: "ok", delayMs: k % 3 === 0 ? 150 : 0 };
  };
  const server = await startFakeEndpoint({ idOf: idFromText, schedule, answer: (id) => reply(id, bench.answers) });
  try {
    const out = join(mkdtempSync(join(tmpdir(), "rft-eval-")), "out");
    const r = await runRft(
      [
        "eval",
        "--task",
        "clevr-math",
        "--endpoint",
        server.url,
        "--model-name",
        "fake",
        "--api-key-env",
        "FAKE_KEY",
        "--bench",
        bench.dir,
        "--out",
        out,
        "--concurrency",
        "4",
        "--timeout",
        "0.5",
        "--max-attempts",
        "3",
        "--retry-base",
        "0.02",
        "--json",
      ],
      { FAKE_KEY: "sekret" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(
      server.requests.every((q) => q.authorization === "Bearer sekret"),
      "the key from --api-key-env is sent",
    );
    const body = server.requests[0]!.body as {
      messages: { content: { type: string; image_url?: { url: string } }[] }[];
    };
    assert.equal(body.messages[0]!.content[0]!.type, "image_url", "image before the text");
    assert.match(body.messages[0]!.content[0]!.image_url!.url, /^data:image\/png;base64,/);
    assert.equal((server.requests[0]!.body as { temperature: number }).temperature, 0.1);
    assert.equal((server.requests[0]!.body as { top_k?: number }).top_k, undefined, "top_k only when given");

    const summary = readJson(join(out, "summary.json"));
    assert.equal(summary.task, "visual-counting");
    assert.equal(summary.model, "fake");
    assert.equal(summary.strategy, "cot-sft");
    assert.deepEqual(
      summary.sets.map((s: { name: string; split: string }) => [s.name, s.split]),
      [
        ["clevr-math", "id"],
        ["super-clevr", "ood"],
      ],
    );
    const [idSet, oodSet] = summary.sets;
    assert.deepEqual([idSet.n, idSet.scored, idSet.failed], [12, 10, 2]);
    assert.deepEqual([oodSet.n, oodSet.scored, oodSet.failed], [6, 6, 0]);
    const failedIds = readFileSync(join(out, "errors.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(failedIds.map((f: { id: string }) => f.id).sort(), ["id-00", "id-06"]);
    assert.equal(failedIds.find((f: { id: string }) => f.id === "id-00").attempts, 3);
    assert.equal(failedIds.find((f: { id: string }) => f.id === "id-06").status, 400);
    assert.deepEqual(summary.failures.map((f: { id: string }) => f.id).sort(), ["id-00", "id-06"]);
    assert.equal(server.count("id-06"), 1, "a 400 is not retried");
    assert.equal(server.count("id-00"), 3, "bounded attempts");

    // Each item that finished: once in the prediction file, answered (200) exactly once by the server.
    for (const [set, ids] of [
      ["clevr-math", bench.ids.id],
      ["super-clevr", bench.ids.ood],
    ] as const) {
      const preds = readJson(join(out, `${set}.json`));
      const scored = readJson(join(out, `${set}_with_score.json`));
      const expected = ids.filter((id) => id !== "id-00" && id !== "id-06");
      assert.deepEqual(
        preds.map((p: { id: string }) => p.id),
        expected,
        "file order, each finished item once",
      );
      assert.equal(preds[0].extra, `kept-${preds[0].id}`, "test items keep their fields");
      for (const id of expected) assert.equal(server.okCount(id), 1, `${id} answered once`);
      // Scores: even item numbers were answered correctly.
      for (const s of scored) assert.equal(s.score, Number(s.id.split("-")[1]) % 2 === 0 ? 1 : 0, s.id);
      const acc = scored.reduce((a: number, s: { score: number }) => a + s.score, 0) / scored.length;
      assert.equal(summary.sets.find((x: { name: string }) => x.name === set).accuracy, acc);
      assert.ok(!existsSync(join(out, `${set}.partial.jsonl`)), "journal removed once the set is complete");
    }
    assert.equal(summary.id_avg, idSet.accuracy);
    assert.equal(summary.ood_avg, oodSet.accuracy);
    assert.equal(summary.avg, (idSet.accuracy + oodSet.accuracy) / 2);
    // Retry-After: 1 on id-01's first attempt: the second came at least a second later.
    const t = server.requests.filter((q) => q.id === "id-01").map((q) => q.at);
    assert.equal(t.length, 2);
    assert.ok(t[1]! - t[0]! >= 950, `Retry-After honoured (${t[1]! - t[0]!} ms)`);
    // Every failure kind was retried to success.
    for (const id of ["id-02", "id-03", "id-04", "id-05", "id-07", "ood-00"]) assert.ok(server.count(id) >= 2, id);
    assert.match(r.stdout, /"avg"/);

    // A rerun asks only for the two failed items (and they fail again).
    server.reset();
    const r2 = await runRft(
      [
        "eval",
        "--task",
        "clevr-math",
        "--endpoint",
        server.url,
        "--model-name",
        "fake",
        "--api-key-env",
        "FAKE_KEY",
      ].concat(["--bench", bench.dir, "--out", out, "--max-attempts", "2", "--retry-base", "0.01", "--timeout", "0.5"]),
      { FAKE_KEY: "sekret" },
    );
    assert.equal(r2.status, 0, r2.stderr);
    assert.deepEqual([...new Set(server.requests.map((q) => q.id))].sort(), ["id-00", "id-06"]);
    assert.match(r2.stdout, /clevr-math\s+id\s+12\s+10\s+2/);
    assert.equal(readOutputMarker(out)?.kind, "eval", "the output marker");

    // Other settings into the same --out are refused; --force starts over.
    server.reset();
    const other = [
      "eval",
      "--task",
      "clevr-math",
      "--endpoint",
      server.url,
      "--model-name",
      "fake",
      "--bench",
      bench.dir,
    ].concat(["--out", out, "--strategy", "zero-shot", "--max-attempts", "1", "--limit", "2", "--timeout", "0.5"]);
    const r3 = await runRft(other);
    assert.equal(r3.status, 1);
    assert.match(r3.stderr, /other settings \(strategy: "cot-sft" → "zero-shot"\)/);
    assert.equal(server.requests.length, 0);
    const r4 = await runRft([...other, "--force"]);
    assert.equal(r4.status, 0, r4.stderr);
    const s4 = readJson(join(out, "summary.json"));
    assert.equal(s4.strategy, "zero-shot");
    assert.deepEqual(
      s4.sets.map((x: { n: number; scored: number; failed: number }) => [x.n, x.scored + x.failed]),
      [
        [2, 2],
        [2, 2],
      ],
    );
    assert.equal(readJson(join(out, "clevr-math.json")).length, s4.sets[0].scored, "the earlier predictions are gone");
  } finally {
    await server.close();
  }
});

test("a killed eval resumes without asking again for finished items", async () => {
  const bench = await miniCountingBench(16, 8);
  const server = await startFakeEndpoint({
    idOf: idFromText,
    schedule: () => ({ kind: "ok", delayMs: 60 }),
    answer: (id) => reply(id, bench.answers),
  });
  try {
    const out = join(mkdtempSync(join(tmpdir(), "rft-eval-kill-")), "out");
    const args = ["eval", "--task", "vc", "--endpoint", server.url, "--model-name", "fake", "--bench", bench.dir];
    args.push("--out", out, "--concurrency", "2");
    const { child, done } = startRft(args);
    const t0 = Date.now();
    while (server.totalOk() < 9 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 10));
    child.kill("SIGKILL");
    const killed = await done;
    assert.equal(killed.signal, "SIGKILL");
    const finished = [...readFinished(out, "clevr-math").keys(), ...readFinished(out, "super-clevr").keys()];
    assert.ok(finished.length >= 5 && finished.length < 24, `finished before the kill: ${finished.length}`);
    const answeredBefore = server.totalOk();

    // The resumed run talks to a server restarted on another port (the URL may change, the model name may not).
    const server2 = await startFakeEndpoint({
      idOf: idFromText,
      schedule: () => ({ kind: "ok", delayMs: 10 }),
      answer: (id) => reply(id, bench.answers),
    });
    const r = await runRft(args.map((a) => (a === server.url ? server2.url : a))).finally(() => server2.close());
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /already finished/);
    for (const id of finished) assert.equal(server2.count(id), 0, `${id} finished before the kill: not asked again`);
    // Only items answered while the process died (at most `concurrency` of them) were asked twice.
    assert.ok(answeredBefore + server2.totalOk() - 24 <= 2, "at most the in-flight items are repeated");
    const summary = readJson(join(out, "summary.json"));
    assert.deepEqual(
      summary.sets.map((s: { n: number; scored: number; failed: number }) => [s.n, s.scored, s.failed]),
      [
        [16, 16, 0],
        [8, 8, 0],
      ],
    );
    for (const [set, ids] of [
      ["clevr-math", bench.ids.id],
      ["super-clevr", bench.ids.ood],
    ] as const) {
      const preds = readJson(join(out, `${set}.json`)).map((p: { id: string }) => p.id);
      assert.deepEqual(preds, ids, `${set}: every item once, in file order`);
    }
    assert.equal(summary.sets[0].accuracy, 8 / 16);
  } finally {
    await server.close();
  }
});

test("rft eval refuses bad flag combinations and a foreign --out", async () => {
  const bench = await miniCountingBench(2, 1);
  const base = ["eval", "--task", "clevr-math", "--bench", bench.dir, "--out", join(bench.dir, "o")];
  let r = await runRft([...base, "--endpoint", "http://127.0.0.1:9/v1"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--endpoint needs --model-name/);
  r = await runRft([...base, "--model", bench.dir, "--endpoint", "http://x/v1", "--model-name", "m"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /either --model/);
  r = await runRft([...base, "--endpoint", "http://x/v1", "--model-name", "m", "--api-key-env", "NO_SUCH_VAR_RFT"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /NO_SUCH_VAR_RFT/);
  r = await runRft(
    ["eval", "--task", "clevr-math", "--bench", bench.dir, "--out", bench.dir, "--endpoint", "http://x/v1"].concat([
      "--model-name",
      "m",
    ]),
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /contains an input/);
  const foreign = mkdtempSync(join(tmpdir(), "rft-foreign-"));
  writeFileSync(join(foreign, "notes.txt"), "mine");
  r = await runRft(
    ["eval", "--task", "clevr-math", "--bench", bench.dir, "--out", foreign, "--endpoint", "http://x/v1"].concat([
      "--model-name",
      "m",
    ]),
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is not empty .*not an earlier rft eval output/);
  assert.equal(readFileSync(join(foreign, "notes.txt"), "utf8"), "mine");
});

test("a wrong key stops the run at once (401 is fatal), keeping what finished", async () => {
  const bench = await miniCountingBench(6, 2);
  const server = await startFakeEndpoint({
    idOf: idFromText,
    schedule: (id) => (id === "id-00" ? { kind: "ok" } : { kind: "status", status: 401 }),
    answer: (id) => reply(id, bench.answers),
  });
  try {
    const out = join(bench.dir, "out");
    const r = await runRft(
      ["eval", "--task", "clevr-math", "--endpoint", server.url, "--model-name", "fake"].concat([
        "--bench",
        bench.dir,
        "--out",
        out,
        "--concurrency",
        "1",
      ]),
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /HTTP 401.*--api-key-env/);
    assert.equal(server.requests.length, 2, "no retries, no further items after a 401");
    assert.deepEqual([...readFinished(out, "clevr-math").keys()], ["id-00"]);
  } finally {
    await server.close();
  }
});

test("Ctrl-C (SIGINT) stops an eval between items with what finished saved", async () => {
  const bench = await miniCountingBench(8, 1);
  const server = await startFakeEndpoint({
    idOf: idFromText,
    schedule: () => ({ kind: "ok", delayMs: 100 }),
    answer: (id) => reply(id, bench.answers),
  });
  try {
    const out = join(bench.dir, "out");
    // A finished run with --limit 1 first: its summary must not survive into the interrupted one.
    const args = [
      "eval",
      "--task",
      "clevr-math",
      "--endpoint",
      server.url,
      "--model-name",
      "fake",
      "--bench",
      bench.dir,
    ];
    args.push("--out", out, "--concurrency", "1");
    assert.equal((await runRft([...args, "--limit", "1"])).status, 0);
    assert.ok(existsSync(join(out, "summary.json")));
    server.reset();
    const { child, done } = startRft(args);
    const t0 = Date.now();
    while (server.totalOk() < 1 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 10));
    child.kill("SIGINT");
    const r = await done;
    assert.equal(r.status, 1, r.stderr);
    assert.ok(!existsSync(join(out, "summary.json")), "no summary for an unfinished run");
    assert.match(r.stderr, /interrupted; rerun the same command to continue/);
    const saved = readJson(join(out, "clevr-math.json")).map((p: { id: string }) => p.id);
    assert.ok(saved.length >= 2 && saved.length < 8, `saved ${saved.length}`);
    assert.deepEqual(saved, bench.ids.id.slice(0, saved.length));
  } finally {
    await server.close();
  }
});
