/**
 * The trainers' side concerns (src/train/metrics.ts): the metrics file across a resume, the progress lines a log
 * file gets (not a TTY), and the GRPO alarms firing once per episode.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GrpoAlarms, MetricsLog, Progress } from "../../src/train/metrics.ts";

/** A non-TTY stream that keeps what is written. */
function sink(): { stream: NodeJS.WriteStream; text: () => string } {
  let buf = "";
  const stream = {
    isTTY: false,
    write: (s: string) => {
      buf += s;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => buf };
}

test("MetricsLog: truncateAfter keeps the steps up to a checkpoint and drops unreadable lines", () => {
  const dir = mkdtempSync(join(tmpdir(), "rft-metrics-"));
  try {
    const log = new MetricsLog(join(dir, "metrics.jsonl"));
    log.truncateAfter(0); // a fresh run: an empty file
    assert.equal(readFileSync(log.path, "utf8"), "");
    for (let s = 1; s <= 5; s++) log.append({ step: s, loss: 1 / s });
    // A crash mid-write leaves a torn last line.
    appendFileSync(log.path, '{"step": 6, "lo');
    log.truncateAfter(3);
    assert.deepEqual(
      log.read().map((m) => m.step),
      [1, 2, 3],
    );
    log.append({ step: 4, loss: 0.2 });
    assert.deepEqual(log.read().at(-1), { step: 4, loss: 0.2 });
    // A rank other than 0 writes nothing.
    const other = new MetricsLog(join(dir, "other.jsonl"), false);
    other.truncateAfter(0);
    other.append({ step: 1 });
    assert.deepEqual(other.read(), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Progress: plain lines on the first step, every `every` steps and the last, with the prefix on every line", () => {
  const out = sink();
  const p = new Progress({ total: 7, keys: ["loss", "absent"], every: 3, stream: out.stream, prefix: "  base: " });
  for (let s = 1; s <= 7; s++) {
    p.update(s, { loss: 0.5, learning_rate: 1e-4 });
    if (s === 3) p.log("saved checkpoint-3");
  }
  p.end();
  const lines = out.text().trimEnd().split("\n");
  assert.deepEqual(
    lines.map((l) => l.replace(/\| [^|]*elapsed, ETA .*$/, "")),
    [
      "  base: step 1/7 | loss 0.5000 ",
      "  base: step 3/7 | loss 0.5000 ",
      "  base: saved checkpoint-3",
      "  base: step 6/7 | loss 0.5000 ",
      "  base: step 7/7 | loss 0.5000 ",
    ],
  );
  assert.match(lines.at(-1)!, /ETA 0s$/);
});

test("Progress: a resumed run prints its first step; a disabled one prints nothing", () => {
  const out = sink();
  const p = new Progress({ total: 100, keys: ["loss"], every: 50, stream: out.stream });
  p.update(41, { loss: 1 });
  p.update(42, { loss: 1 });
  assert.match(out.text(), /^step 41\/100 \| loss 1\.000 \| \d+s elapsed, ETA /);
  assert.equal(out.text().split("\n").length, 2);

  const quiet = sink();
  const q = new Progress({ total: 2, keys: ["loss"], every: 1, stream: quiet.stream, enabled: false });
  q.update(1, { loss: 1 });
  q.log("saved");
  q.end();
  assert.equal(quiet.text(), "");
});

test("GrpoAlarms: each alarm fires once when its condition holds over the window and again only after it cleared", () => {
  const w = 4;
  const alarms = new GrpoAlarms(w);
  const step = (format: number, accuracy: number, fracZeroStd = 0, clippedRatio = 0) =>
    alarms.check({ rewards: { format, accuracy }, fracZeroStd, clippedRatio });

  // Nothing before a full window, whatever the values.
  for (let i = 0; i < w - 1; i++) assert.deepEqual(step(1, 0.3, 1, 1), []);
  // The window is full: zero-variance and length alarms fire; the format alarm needs a history before the window.
  const first = step(1, 0.3, 1, 1);
  assert.equal(first.length, 2);
  assert.match(first[0]!, /of groups have identical rewards/);
  assert.match(first[1]!, /hit max_completion_length/);
  // Still true: no repeat. The format alarm fires once the steps before the window fill half a window, accuracy flat.
  assert.deepEqual(step(1, 0.3, 1, 1), []);
  const next = step(1, 0.3, 1, 1);
  assert.equal(next.length, 1);
  assert.match(next[0]!, /^alarm: the format reward saturates \(1\.00\) while accuracy stays flat/);
  assert.deepEqual(step(1, 0.3, 1, 1), []);

  // Variance comes back for a window: the zero-std alarm clears, then fires again when it returns.
  for (let i = 0; i < w; i++) step(1, 0.3, 0, 1);
  const again: string[] = [];
  for (let i = 0; i < w; i++) again.push(...step(1, 0.3, 1, 1));
  assert.equal(again.filter((m) => /identical rewards/.test(m)).length, 1);
  assert.equal(again.filter((m) => /max_completion_length/.test(m)).length, 0);

  // Accuracy rising clears the format alarm's condition: no alarm while it moves.
  const rising = new GrpoAlarms(w);
  const msgs: string[] = [];
  for (let i = 0; i < 3 * w; i++)
    msgs.push(...rising.check({ rewards: { format: 1, accuracy: 0.05 * i }, fracZeroStd: 0, clippedRatio: 0 }));
  assert.deepEqual(msgs, []);
});
