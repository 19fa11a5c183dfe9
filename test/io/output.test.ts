/** Output safety helpers (issue 8 item 1). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import {
  LOCK_FILE,
  OUTPUT_MARKER,
  OutputError,
  StagedFiles,
  assertNotInput,
  lockDir,
  prepareOutputDir,
  prepareOutputFile,
  replaceDirAtomic,
  writeFileAtomic,
  writeOutputMarker,
} from "../../src/io/output.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "rft-output-"));
const opts = { kind: "checkpoint", command: "rft model init", flag: "--out" };

test("prepareOutputDir: missing, empty and our own kind pass; files, foreign and other kinds need --force", () => {
  const root = tmp();
  assert.deepEqual(prepareOutputDir(join(root, "new"), opts).existed, false);
  mkdirSync(join(root, "empty"));
  assert.equal(prepareOutputDir(join(root, "empty"), opts).existed, false);

  const ours = join(root, "ours");
  mkdirSync(ours);
  writeFileSync(join(ours, "config.json"), "{}");
  writeOutputMarker(ours, "checkpoint", "rft model init");
  assert.equal(prepareOutputDir(ours, opts).existed, true);
  assert.deepEqual(JSON.parse(readFileSync(join(ours, OUTPUT_MARKER), "utf8")), {
    kind: "checkpoint",
    command: "rft model init",
  });

  const foreign = join(root, "foreign");
  mkdirSync(foreign);
  writeFileSync(join(foreign, "thesis.tex"), "years of work");
  assert.throws(
    () => prepareOutputDir(foreign, opts),
    (e: Error) =>
      e instanceof OutputError &&
      /--out .*foreign is not empty \(it holds "thesis.tex" and is not an earlier rft model init output\); refusing to write into it \(use --force/.test(
        e.message,
      ),
  );
  assert.equal(prepareOutputDir(foreign, { ...opts, force: true }).existed, true);

  const other = join(root, "other");
  mkdirSync(other);
  writeOutputMarker(other, "dataset", "rft data build");
  assert.throws(() => prepareOutputDir(other, opts), /holds a dataset written by rft data build, not a checkpoint/);

  const file = join(root, "file");
  writeFileSync(file, "x");
  assert.throws(() => prepareOutputDir(file, opts), /exists and is not a directory; refusing/);
  assert.equal(prepareOutputDir(file, { ...opts, force: true }).existed, true);

  const legacy = join(root, "legacy");
  mkdirSync(legacy);
  writeFileSync(join(legacy, "manifest.json"), "{}");
  assert.equal(
    prepareOutputDir(legacy, { ...opts, recognize: (d) => existsSync(join(d, "manifest.json")) }).existed,
    true,
  );
});

test("never onto an input, even with --force (real paths: links and relative spellings count)", () => {
  const root = tmp();
  const input = join(root, "in.jsonl");
  writeFileSync(input, "{}\n");
  symlinkSync(input, join(root, "alias.jsonl"));
  assert.throws(() => assertNotInput(join(root, "alias.jsonl"), [input]), /is also an input/);
  assert.throws(() => prepareOutputFile(input, { inputs: [input], force: true }), /is also an input/);
  assert.throws(
    () => prepareOutputDir(root, { ...opts, inputs: [input], force: true }),
    /contains an input .*refusing to replace it/,
  );
  assert.doesNotThrow(() => assertNotInput(join(root, "out.jsonl"), [input, undefined]));
});

test("prepareOutputFile: an existing file must be recognised as ours or --force given; a directory is refused", () => {
  const root = tmp();
  const f = join(root, "scores.json");
  writeFileSync(f, "precious");
  assert.throws(() => prepareOutputFile(f, { command: "rft score" }), /exists and is not an earlier rft score output/);
  assert.equal(prepareOutputFile(f, { recognize: () => true }).existed, true);
  assert.equal(prepareOutputFile(f, { force: true }).existed, true);
  assert.throws(() => prepareOutputFile(root, { force: true }), /is a directory/);
});

test("atomic writes: a failing writer leaves the old file and no temporary file", () => {
  const root = tmp();
  const f = join(root, "a.json");
  writeFileAtomic(f, "old\n");
  assert.throws(() =>
    writeFileAtomic(f, (put) => {
      put("half of the new");
      throw new Error("disk full");
    }),
  );
  assert.equal(readFileSync(f, "utf8"), "old\n");
  assert.deepEqual(readdirSync(root), ["a.json"]);
});

test("staged files: all in place at commit, none touched on abort", () => {
  const root = tmp();
  writeFileSync(join(root, "a"), "old a");
  const s = new StagedFiles();
  s.write(join(root, "a"), "new a");
  s.write(join(root, "b"), "new b");
  assert.equal(readFileSync(join(root, "a"), "utf8"), "old a", "nothing visible before commit");
  s.abort();
  assert.deepEqual(readdirSync(root), ["a"]);
  const t = new StagedFiles();
  t.write(join(root, "a"), "new a");
  t.write(join(root, "b"), "new b");
  t.commit();
  assert.equal(readFileSync(join(root, "a"), "utf8"), "new a");
  assert.equal(readFileSync(join(root, "b"), "utf8"), "new b");
  assert.deepEqual(readdirSync(root).sort(), ["a", "b"]);
});

test("replaceDirAtomic: the new directory replaces the old only when complete", async () => {
  const root = tmp();
  const d = join(root, "out");
  mkdirSync(d);
  writeFileSync(join(d, "old.txt"), "old");
  await assert.rejects(
    replaceDirAtomic(d, (t) => {
      writeFileSync(join(t, "partial.txt"), "x");
      throw new Error("interrupted");
    }),
    /interrupted/,
  );
  assert.deepEqual(readdirSync(d), ["old.txt"], "old directory untouched");
  assert.deepEqual(readdirSync(root), ["out"], "no temporary directory left");
  const r = await replaceDirAtomic(d, (t) => {
    writeFileSync(join(t, "new.txt"), "new");
    return 7;
  });
  assert.equal(r, 7);
  assert.deepEqual(readdirSync(d), ["new.txt"]);
  assert.deepEqual(readdirSync(root), ["out"]);
});

test("a broken symbolic link at the output path is refused like a file, not a crash", () => {
  const root = tmp();
  symlinkSync(join(root, "nowhere"), join(root, "dangling"));
  assert.throws(() => prepareOutputDir(join(root, "dangling"), opts), /exists and is not a directory; refusing/);
});

/** A live process that is not us (a `sleep`), with its /proc command line where the platform has one. */
async function otherProcess(): Promise<{ pid: number; cmdline?: string; stop: () => void }> {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  await new Promise((res) => child.once("spawn", res));
  const pid = child.pid!;
  let cmdline: string | undefined;
  for (let i = 0; i < 50 && !cmdline?.startsWith("sleep"); i++) {
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      break; // no /proc here
    }
    await new Promise((res) => setTimeout(res, 10));
  }
  return { pid, cmdline, stop: () => child.kill("SIGKILL") };
}

const writeLock = (dir: string, lock: Record<string, unknown>) =>
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ command: "rft demo", started: "then", ...lock }));

test("lockDir: one holder at a time; released on release(); a lone lock does not make a directory foreign", () => {
  const dir = join(tmp(), "run");
  const a = lockDir(dir, "rft demo");
  const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")) as { pid: number; host: string };
  assert.equal(held.pid, process.pid);
  assert.equal(held.host, hostname());
  assert.throws(
    () => lockDir(dir, "rft demo"),
    (e: Error) => {
      assert.ok(e instanceof OutputError);
      assert.match(e.message, new RegExp(`in use by rft demo \\(pid ${process.pid} on `));
      return true;
    },
  );
  // The check of the directory's contents ignores the lock (the lock is lockDir's to judge).
  assert.equal(prepareOutputDir(dir, opts).existed, false);
  a.release();
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  lockDir(dir, "rft demo").release();
  assert.deepEqual(readdirSync(dir), []);

  // ownIsStale (the trainers): this process's own lock, left by an earlier run that failed, is taken over.
  lockDir(dir, "rft train");
  const stale: number[] = [];
  lockDir(dir, "rft train", (h) => stale.push(h.pid), { ownIsStale: true }).release();
  assert.deepEqual(stale, [process.pid]);
  assert.deepEqual(readdirSync(dir), []);
});

test("lockDir: a live holder is refused; a dead one, a reused pid or a torn file is taken over; another host is refused", async () => {
  const dir = tmp();
  const other = await otherProcess();
  try {
    writeLock(dir, { pid: other.pid, host: hostname(), cmdline: other.cmdline });
    assert.throws(() => lockDir(dir, "rft demo"), new RegExp(`pid ${other.pid} .*wait for it to finish`));

    // The same pid running another program (the holder died and its pid was reused) does not hold the lock.
    if (other.cmdline !== undefined) {
      writeLock(dir, { pid: other.pid, host: hostname(), cmdline: "node\0bin/rft.js\0demo\0" });
      const stale: number[] = [];
      lockDir(dir, "rft demo", (h) => stale.push(h.pid)).release();
      assert.deepEqual(stale, [other.pid]);
    }

    writeLock(dir, { pid: other.pid, host: "elsewhere", cmdline: other.cmdline });
    assert.throws(() => lockDir(dir, "rft demo"), /on elsewhere.*delete .*\.rft-lock if it no longer runs/);
  } finally {
    other.stop();
  }
  const dead = spawnSync("true").pid!;
  writeLock(dir, { pid: dead, host: hostname() });
  const stale: number[] = [];
  const l = lockDir(dir, "rft demo", (h) => stale.push(h.pid));
  assert.deepEqual(stale, [dead]);
  l.release();

  writeFileSync(join(dir, LOCK_FILE), "{ torn");
  lockDir(dir, "rft demo").release();
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
});
