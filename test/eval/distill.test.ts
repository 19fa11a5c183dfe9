// `rft data distill` against a fake endpoint: post-processing, failures, resume by id, and `rft data build` on the output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeEndpoint } from "./fake_endpoint.ts";
import { idFromText, runRft, tinyPng } from "./helpers.ts";
import { DISTILL_SYSTEM, distillPrompt, postprocessCot } from "../../src/eval/distill.ts";

const readJson = (p: string) => JSON.parse(readFileSync(p, "utf8"));

test("post-processing keeps the reply from its last <think>; TRANCE prompts carry the rules", () => {
  assert.equal(
    postprocessCot("Sure! <think>a</think> <think>b</think>\n<answer>3</answer>"),
    "<think>b</think>\n<answer>3</answer>",
  );
  assert.equal(postprocessCot("no tags, 3"), "no tags, 3");
  const st = distillPrompt("spatial-transformation", {
    problem: "Initial objects: [...]",
    answer: "change_size(1, small)",
  });
  assert.match(st, /change_material\(object_id, value\)/);
  assert.match(st, /first image shows the initial state/);
  assert.match(st, /Correct answer: change_size\(1, small\)/);
  assert.match(st, /<answer>change_size\(1, small\)<\/answer>/);
  const vc = distillPrompt("visual-counting", { problem: "How many?", answer: "3" });
  assert.match(vc, /^Below is a question about the image,/);
  assert.doesNotMatch(vc, /change_color/);
});

test("rft data distill: failures retried on rerun by id, output accepted by rft data build", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-distill-"));
  mkdirSync(join(dir, "images"));
  const recs: Record<string, unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    const id = `rec-${String(i).padStart(2, "0")}`;
    writeFileSync(join(dir, "images", `${id}.png`), await tinyPng(i));
    const r: Record<string, unknown> = { id, image: `${id}.png`, problem: `[id=${id}] How many objects are left?` };
    // Pre-distillation files name the answer `solution` (spec §1.2); mix both.
    if (i % 2) r.solution = String(i);
    else r.answer = String(i);
    recs.push(r);
  }
  const meta = join(dir, "train.json");
  writeFileSync(meta, JSON.stringify(recs));
  let healthy = false;
  const server = await startFakeEndpoint({
    idOf: idFromText,
    schedule: (id) =>
      id === "rec-03" && !healthy ? { kind: "status", status: 502 } : { kind: "ok", delayMs: id === "rec-00" ? 80 : 0 },
    answer: (id) => {
      const n = Number(id.split("-")[1]);
      const said = id === "rec-05" ? "42" : String(n);
      return `Here is my answer. <think>I am asked <think>Step 1: count. ${n} objects.</think>\n<answer>${said}</answer>`;
    },
  });
  try {
    const out = join(dir, "train-cot.json");
    const args = ["data", "distill", "--task", "clevr-math", "--meta", meta, "--image-root", join(dir, "images")];
    args.push("--out", out, "--endpoint", server.url, "--model-name", "teacher", "--concurrency", "3");
    args.push("--max-attempts", "2", "--retry-base", "0.01", "--json");
    const r1 = await runRft(args);
    assert.equal(r1.status, 0, r1.stderr);
    const s1 = JSON.parse(r1.stdout);
    assert.deepEqual([s1.n, s1.distilled, s1.failed], [10, 9, 1]);
    assert.deepEqual(s1.mismatched, ["rec-05"]);
    assert.deepEqual(
      readFileSync(join(dir, "train-cot.errors.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).id),
      ["rec-03"],
    );
    const first = readJson(out);
    assert.deepEqual(
      first.map((x: { id: string }) => x.id),
      recs.map((x) => x.id).filter((id) => id !== "rec-03"),
      "input order, the failed record left out",
    );
    assert.equal(first[0].cot, "<think>Step 1: count. 0 objects.</think>\n<answer>0</answer>");
    assert.equal(first[1].answer, "1", "answer added from solution");
    assert.equal(first[1].solution, "1", "input fields kept");
    const req = server.requests.find((q) => q.id === "rec-00")!.body as {
      messages: { role: string; content: unknown }[];
      temperature: number;
      max_tokens: number;
    };
    assert.deepEqual(
      req.messages.map((m) => m.role),
      ["system", "user"],
    );
    assert.equal(req.messages[0]!.content, DISTILL_SYSTEM);
    assert.equal((req.messages[1]!.content as { type: string }[])[0]!.type, "image_url");
    assert.equal(req.temperature, 0.2);
    assert.equal(req.max_tokens, 8192);
    assert.ok(!existsSync(join(dir, "train-cot.partial.jsonl")));

    // Rerun: only the failed record is asked; the output gains it in its place.
    healthy = true;
    server.reset();
    const r2 = await runRft(args);
    assert.equal(r2.status, 0, r2.stderr);
    assert.deepEqual(
      server.requests.map((q) => q.id),
      ["rec-03"],
    );
    const second = readJson(out);
    assert.deepEqual(
      second.map((x: { id: string }) => x.id),
      recs.map((x) => x.id),
    );
    assert.equal(JSON.parse(r2.stdout).failed, 0);
    assert.equal(readFileSync(join(dir, "train-cot.errors.jsonl"), "utf8"), "");

    // The output is a meta-JSON file that rft data build takes.
    const b = await runRft(
      ["data", "build", "--task", "clevr-math", "--meta", out, "--image-root", join(dir, "images")].concat([
        "--out",
        join(dir, "built"),
        "--stage1-size",
        "2",
        "--json",
      ]),
    );
    assert.equal(b.status, 0, b.stderr);
    const cot = readJson(join(dir, "built", "clevr_math_cot_sft.json"));
    assert.equal(cot.length, 10);
    assert.match(JSON.stringify(cot[0]), /Step 1: count\. 0 objects\./);

    // Another input into the same --out is refused.
    const other = join(dir, "other.json");
    writeFileSync(other, JSON.stringify([{ ...recs[0], id: "zzz" }]));
    const r3 = await runRft(args.map((a) => (a === meta ? other : a)));
    assert.equal(r3.status, 1);
    assert.match(r3.stderr, /exists and is not an earlier rft data distill output/);
    const r4 = await runRft(args.map((a) => (a === out ? meta : a)));
    assert.equal(r4.status, 1);
    assert.match(r4.stderr, /is also an input/);
  } finally {
    await server.close();
  }
});
