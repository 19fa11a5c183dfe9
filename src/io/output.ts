/**
 * Output safety shared by every command that writes (issue 8 item 1): nothing a user made is deleted or
 * half-overwritten without being asked.
 *
 * - **Where may we write?** `prepareOutputDir(dir, {kind, force})` accepts a missing or empty directory, or one that
 *   holds an earlier output of ours *of the same kind* (it has an `.rft-output` marker naming that kind, or the
 *   caller's `recognize` test says so); anything else (a file, a foreign non-empty directory, our output of another
 *   kind) is refused with an OutputError naming the flag, unless `force` (the command's `--force`) is given.
 *   `prepareOutputFile(path, {force})` does the same for a single file (an existing file is ours only when
 *   `recognize` says so).
 * - **Never onto an input.** Both take `inputs`: an output that is (realpath) one of the inputs, or a directory that
 *   contains one, is refused even with `force`.
 * - **Atomic writes.** `writeFileAtomic` / `writeJsonAtomic` write a temporary file in the same directory, fsync it and
 *   rename it over the target, so a reader sees the old file or the new one, never half of one.
 *   `replaceDirAtomic(dir, fill)` builds a whole directory in a temporary sibling and swaps it into place (the old
 *   one is moved aside and removed only after the new one is in place).
 * - **Marker.** `writeOutputMarker(dir, kind, command)` (or `outputMarkerFile(kind, command)` for a writer that takes
 *   a name → content map, like saveCheckpoint's `extraFiles`) records the kind, so the next run recognises its own
 *   output. Kinds in use: "checkpoint" (rft model init and the trainers' checkpoint directories), "dataset" (rft data
 *   build), "benchmark" (rft data synth), "eval" (rft eval).
 * - **Lock.** `lockDir(dir, command)` keeps `.rft-lock` (pid, host, command line) in a directory while a long command
 *   (rft demo, rft train) works there, so a second run into the same directory is refused instead of interleaving
 *   with the first; a lock whose process is gone is taken over.
 *
 * Tensor-free: data, tasks, eval and CLI code may import it.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join, relative, resolve, isAbsolute, sep } from "node:path";

/** Name of the marker file an output directory of ours carries. */
export const OUTPUT_MARKER = ".rft-output";

/** Content of the marker file. */
export interface OutputMarker {
  /** What the directory holds, e.g. "checkpoint". */
  kind: string;
  /** The command that wrote it, e.g. "rft model init". */
  command: string;
}

/** A refused or failed output; the CLI prints its message (it names the path and the flag to change). */
export class OutputError extends Error {
  override name = "OutputError";
}

export interface PrepareOptions {
  /** The command's flag for this output, for messages (e.g. "--out"). */
  flag?: string;
  /** The command, for messages (e.g. "rft model init"). */
  command?: string;
  /** Replace whatever is there (the command's --force). Never allows writing onto an input. */
  force?: boolean;
  /** Paths the command reads: the output may not be one of them, nor (for a directory) contain one. */
  inputs?: readonly (string | undefined)[];
}

export interface PrepareDirOptions extends PrepareOptions {
  /** Kind of output (compared with the marker). */
  kind: string;
  /** Recognises an earlier output of ours that has no marker (e.g. written before markers existed). */
  recognize?: (dir: string) => boolean;
}

export interface PreparedOutput {
  /** Absolute path. */
  path: string;
  /** Something was there before (an earlier output of ours, or anything with force). */
  existed: boolean;
}

/** The real path of `p`, or of its nearest existing ancestor joined with the rest (for paths not created yet). */
export function realPathOf(p: string): string {
  const abs = resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return join(realpathSync(cur), ...rest.reverse());
    } catch {
      const parent = dirname(cur);
      if (parent === cur) return abs;
      rest.push(basename(cur));
      cur = parent;
    }
  }
}

function within(dir: string, p: string): boolean {
  const rel = relative(dir, p);
  return rel === "" || (!rel.startsWith(".." + sep) && rel !== ".." && !isAbsolute(rel));
}

/**
 * Throws when `out` is one of `inputs` (same real path, so links and `./x` vs `x` count), or, with `isDir`, when an
 * input lies inside the directory `out`.
 */
export function assertNotInput(
  out: string,
  inputs: readonly (string | undefined)[],
  opts: { flag?: string; isDir?: boolean } = {},
): void {
  const target = realPathOf(out);
  const flag = opts.flag ?? "--out";
  for (const input of inputs) {
    if (input === undefined) continue;
    const src = realPathOf(input);
    if (src === target) throw new OutputError(`${flag} ${out} is also an input (${input}); refusing to overwrite it`);
    if (opts.isDir && within(target, src)) {
      throw new OutputError(`${flag} ${out} contains an input (${input}); refusing to replace it`);
    }
  }
}

/** Reads the marker of a directory, or undefined (missing or not ours). */
export function readOutputMarker(dir: string): OutputMarker | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, OUTPUT_MARKER), "utf8")) as Partial<OutputMarker>;
    return typeof m.kind === "string" && typeof m.command === "string"
      ? { kind: m.kind, command: m.command }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The marker as a file name → text pair, for writers that take a map of extra files. */
export function outputMarkerFile(kind: string, command: string): Record<string, string> {
  return { [OUTPUT_MARKER]: JSON.stringify({ kind, command } satisfies OutputMarker, null, 2) + "\n" };
}

/** Writes the marker into `dir` (atomically). */
export function writeOutputMarker(dir: string, kind: string, command: string): void {
  writeFileAtomic(join(dir, OUTPUT_MARKER), outputMarkerFile(kind, command)[OUTPUT_MARKER]!);
}

/** Whether `p` is (or links to) a directory; false for a broken link. */
function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === "ENOENT";
}

/**
 * Checks that the directory `dir` may be written (see the module comment). Creates nothing. Returns whether something
 * was there.
 *
 * @example
 * prepareOutputDir("runs/tiny", { kind: "checkpoint", flag: "--out", command: "rft model init", force: false });
 */
export function prepareOutputDir(dir: string, opts: PrepareDirOptions): PreparedOutput {
  const path = resolve(dir);
  const flag = opts.flag ?? "--out";
  const who = opts.command ?? "rft";
  assertNotInput(dir, opts.inputs ?? [], { flag, isDir: true });
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (isMissing(e)) return { path, existed: false };
    throw new OutputError(`${flag} ${dir}: cannot inspect: ${(e as Error).message}`);
  }
  const force = " (use --force to replace it)";
  if (!st.isDirectory() && !(st.isSymbolicLink() && isDirectory(path))) {
    if (opts.force) return { path, existed: true };
    throw new OutputError(`${flag} ${dir} exists and is not a directory; refusing to replace it${force}`);
  }
  const entries = readdirSync(path).filter((e) => e !== LOCK_FILE); // a lock is checked by lockDir
  if (entries.length === 0) return { path, existed: false };
  const marker = readOutputMarker(path);
  if (marker?.kind === opts.kind) return { path, existed: true };
  if (!marker && opts.recognize?.(path)) return { path, existed: true };
  if (opts.force) return { path, existed: true };
  const why = marker
    ? `it holds a ${marker.kind} written by ${marker.command}, not a ${opts.kind}`
    : `it holds ${entries
        .slice(0, 3)
        .map((e) => JSON.stringify(e))
        .join(", ")}${entries.length > 3 ? ", ..." : ""} and is not an earlier ${who} output`;
  throw new OutputError(`${flag} ${dir} is not empty (${why}); refusing to write into it${force}`);
}

/**
 * Checks that the file `file` may be written: not an input, not a directory, and (unless `force`) either missing or
 * recognised as an earlier output of ours by `recognize`.
 */
export function prepareOutputFile(
  file: string,
  opts: PrepareOptions & { recognize?: (path: string) => boolean },
): PreparedOutput {
  const path = resolve(file);
  const flag = opts.flag ?? "--out";
  assertNotInput(file, opts.inputs ?? [], { flag });
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if (isMissing(e)) return { path, existed: false };
    throw new OutputError(`${flag} ${file}: cannot inspect: ${(e as Error).message}`);
  }
  if (st.isDirectory()) throw new OutputError(`${flag} ${file} is a directory; give a file name`);
  if (opts.force || opts.recognize?.(path)) return { path, existed: true };
  const who = opts.command ? ` an earlier ${opts.command} output` : " ours";
  throw new OutputError(
    `${flag} ${file} exists and is not${who}; refusing to overwrite it (use --force to replace it)`,
  );
}

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not every file system lets a directory be opened or synced; the rename itself is still atomic.
  }
}

/**
 * Writes `path` atomically: a temporary file in the same directory is written (all of `data`, or whatever `write`
 * puts through the callback), fsynced and renamed over `path`. On failure the temporary file is removed and `path`
 * is untouched. The parent directory must exist.
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array | ((write: (chunk: string) => void) => void),
): void {
  const tmp = tempName(path);
  const fd = openSync(tmp, "w");
  try {
    try {
      const put = (chunk: string | Uint8Array) => {
        const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
        for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
      };
      if (typeof data === "function") data(put);
      else put(data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}

/** `writeFileAtomic` of `JSON.stringify(value, null, indent)` plus a newline. */
export function writeJsonAtomic(path: string, value: unknown, indent = 2): void {
  writeFileAtomic(path, JSON.stringify(value, null, indent) + "\n");
}

/**
 * A set of files written together: each is staged as a temporary file beside its target, and `commit()` renames all
 * of them into place only after every one was written, so a failure part-way leaves every target as it was.
 */
export class StagedFiles {
  private staged: { tmp: string; path: string }[] = [];

  /** Stages one file (same arguments as writeFileAtomic). */
  write(path: string, data: string | Uint8Array | ((write: (chunk: string) => void) => void)): void {
    const tmp = tempName(path);
    // writeFileAtomic onto the temporary name: fsynced, and removed again on failure.
    writeFileAtomic(tmp, data);
    this.staged.push({ tmp, path });
  }

  /** Renames every staged file into place, in staging order. */
  commit(): void {
    for (const { tmp, path } of this.staged) renameSync(tmp, path);
    const dirs = new Set(this.staged.map((s) => dirname(s.path)));
    this.staged = [];
    for (const d of dirs) fsyncDir(d);
  }

  /** Removes every staged file (call on failure). */
  abort(): void {
    for (const { tmp } of this.staged) rmSync(tmp, { force: true });
    this.staged = [];
  }
}

/**
 * Builds a directory in a temporary sibling with `fill(tmpDir)` and swaps it into place at `dir`: whatever was at
 * `dir` (a directory, or a file with force) is moved aside, the new directory renamed in, and the old one removed.
 * If `fill` fails, the temporary directory is removed and `dir` is untouched. Check the target with
 * prepareOutputDir first.
 */
export async function replaceDirAtomic<T>(dir: string, fill: (tmpDir: string) => Promise<T> | T): Promise<T> {
  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = tempName(target);
  mkdirSync(tmp);
  let result: T;
  try {
    result = await fill(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const old = `${tmp}.old`;
  const had = existsSync(target) || isLink(target);
  if (had) renameSync(target, old);
  try {
    renameSync(tmp, target);
  } catch (e) {
    if (had) renameSync(old, target);
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fsyncDir(dirname(target));
  if (had) rmSync(old, { recursive: true, force: true });
  return result;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Name of the lock file a long-running writer keeps in its directory while it works (see `lockDir`). */
export const LOCK_FILE = ".rft-lock";

/** Content of a lock file: who holds it. */
export interface DirLock {
  pid: number;
  host: string;
  command: string;
  /** ISO time the lock was taken. */
  started: string;
  /** The holder's /proc/<pid>/cmdline (Linux), so a reused pid is not taken for the holder. */
  cmdline?: string;
}

function procCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return undefined;
  }
}

/** Whether the process a lock names still runs on this host (and is the same program, where /proc tells). */
function lockHolderAlive(l: DirLock): boolean {
  try {
    process.kill(l.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = procCmdline(l.pid);
  return l.cmdline === undefined || now === undefined || now === l.cmdline;
}

/**
 * Takes `dir`'s lock (creating `dir`), so two runs of a long command never write one directory at once: a second
 * run is refused with an OutputError naming the first. A lock left by a process that no longer runs on this host
 * (killed, crashed, or ended with the machine) is taken over, and `onStale` hears about it. A lock from another host
 * cannot be checked and is refused with the file to delete. With `ownIsStale`, a lock this very process holds is
 * taken over too (a trainer runs one run per directory at a time; its own lock there is left by an earlier run in this
 * process that failed). Returns `release`, which removes the lock if it is still ours (also run at process exit).
 */
export function lockDir(
  dir: string,
  command: string,
  onStale: (held: DirLock) => void = () => {},
  o: { ownIsStale?: boolean } = {},
): { release: () => void } {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const me: DirLock = {
    pid: process.pid,
    host: hostname(),
    command,
    started: new Date().toISOString(),
    cmdline: procCmdline(process.pid),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, JSON.stringify(me) + "\n", { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (attempt > 0) throw new OutputError(`${dir}: another run took ${path} at the same moment; run again`);
    }
    let held: DirLock | undefined;
    try {
      held = JSON.parse(readFileSync(path, "utf8")) as DirLock;
    } catch {
      held = undefined; // torn or foreign: nobody can be shown to hold it
    }
    if (held && typeof held.pid === "number") {
      const who = `${held.command} (pid ${held.pid} on ${held.host}, since ${held.started})`;
      if (held.host !== me.host)
        throw new OutputError(
          `${dir} is in use by ${who}; wait for it to finish, or delete ${path} if it no longer runs`,
        );
      if (!(o.ownIsStale && held.pid === me.pid) && lockHolderAlive(held))
        throw new OutputError(`${dir} is in use by ${who}; wait for it to finish or stop it, then run again`);
      onStale(held);
    }
    rmSync(path, { force: true });
  }
  const release = () => {
    try {
      if ((JSON.parse(readFileSync(path, "utf8")) as DirLock).pid === me.pid) rmSync(path, { force: true });
    } catch {
      // already gone
    }
    process.off("exit", release);
  };
  process.on("exit", release);
  return { release };
}
