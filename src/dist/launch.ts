/**
 * `rft launch`: starts N worker processes on this machine with torchrun's environment contract and supervises them.
 *
 * Pure Node (child_process), no tensors. The environment of a worker is computed by pure functions (workerEnv,
 * threadSetting) so it can be tested without starting anything; superviseWorkers starts, relays and stops them.
 *
 * The variables are those torchrun's LocalElasticAgent sets (torch/distributed/elastic/agent/server/
 * local_elastic_agent.py, _start_workers): LOCAL_RANK, RANK, GROUP_RANK, ROLE_RANK, ROLE_NAME, LOCAL_WORLD_SIZE,
 * WORLD_SIZE, GROUP_WORLD_SIZE, ROLE_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT,
 * TORCHELASTIC_MAX_RESTARTS, TORCHELASTIC_RUN_ID, TORCHELASTIC_USE_AGENT_STORE and (TORCH_)NCCL_ASYNC_ERROR_HANDLING.
 * With one role ("default") and no restarts, ROLE_RANK = RANK and ROLE_WORLD_SIZE = WORLD_SIZE.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants as fsConstants } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, constants as osConstants } from "node:os";
import { delimiter, join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { fileURLToPath } from "node:url";

export const DEFAULT_MASTER_ADDR = "127.0.0.1";
/** torchrun's default --master-port, used when several nodes must agree on it without talking first. */
export const DEFAULT_MASTER_PORT = 29500;
/** Lines of each worker's stderr kept for the failure message. */
export const STDERR_TAIL_LINES = 30;
/** Time between SIGTERM and SIGKILL when stopping workers. */
export const DEFAULT_GRACE_MS = 5000;
/** The V8 flags bin/rft.js's shebang passes (they keep V8's helper threads off libtorch's cores). */
export const WORKER_NODE_FLAGS = ["--single-threaded-gc", "--v8-pool-size=1"] as const;
/** The `rft` entry point, resolved from this module's location (src/dist/ → bin/rft.js). */
export const RFT_BIN = fileURLToPath(new URL("../../bin/rft.js", import.meta.url));

export interface LaunchConfig {
  /** Workers on this node (torchrun's --nproc-per-node). */
  nproc: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  /** undefined: DEFAULT_MASTER_PORT on several nodes, a free port on one; 0: a free port (one node only). */
  masterPort?: number;
  /** Threads per worker (--threads); undefined: the environment's, else cores ÷ nproc. */
  threads?: number;
  /** The command is a program and its arguments instead of an rft command line. */
  exec: boolean;
  command: string[];
}

/** A launch configuration that cannot work; the CLI prints the message and exits 2. */
export class LaunchConfigError extends Error {
  override name = "LaunchConfigError";
}

/** Checks what the flag parser cannot (relations between flags); throws LaunchConfigError naming the flags. */
export function validateLaunch(c: LaunchConfig): void {
  const int = (v: number, min: number) => Number.isSafeInteger(v) && v >= min;
  if (!int(c.nproc, 1)) throw new LaunchConfigError(`--nproc must be a positive integer, got ${c.nproc}`);
  if (!int(c.nnodes, 1)) throw new LaunchConfigError(`--nnodes must be a positive integer, got ${c.nnodes}`);
  if (!int(c.nodeRank, 0) || c.nodeRank >= c.nnodes)
    throw new LaunchConfigError(`--node-rank must be from 0 to --nnodes - 1 = ${c.nnodes - 1}, got ${c.nodeRank}`);
  if (c.masterPort !== undefined && (!Number.isSafeInteger(c.masterPort) || c.masterPort < 0 || c.masterPort > 65535))
    throw new LaunchConfigError(`--master-port must be an integer from 0 to 65535, got ${c.masterPort}`);
  if (c.masterPort === 0 && c.nnodes > 1)
    throw new LaunchConfigError(
      "--master-port 0 (pick a free port) works on one node only: with --nnodes > 1 every node must be given the same port",
    );
  if (c.threads !== undefined && !int(c.threads, 1))
    throw new LaunchConfigError(`--threads must be a positive integer, got ${c.threads}`);
  if (c.masterAddr.trim() === "") throw new LaunchConfigError("--master-addr must not be empty");
  if (c.command.length === 0 || c.command[0] === "")
    throw new LaunchConfigError(
      "missing the command to run: put it after '--', e.g. rft launch --nproc 2 -- train cot-sft ... " +
        "(or --exec -- PROGRAM ARGS)",
    );
}

function isSet(v: string | undefined): v is string {
  return v !== undefined && v !== "";
}

export interface ThreadSetting {
  /** Variables to set in every worker's environment (empty when the user's own are kept). */
  env: Record<string, string>;
  /** What the workers will use, for the start line. */
  describe: string;
}

/**
 * Threads per worker: --threads T sets RFT_NUM_THREADS and OMP_NUM_THREADS to T; else a RFT_NUM_THREADS or
 * OMP_NUM_THREADS already in the environment is kept (passed through unchanged); else both are set to
 * max(1, floor(cores / nproc)), so the workers on one machine share its cores instead of each taking all of them.
 */
export function threadSetting(
  nproc: number,
  opts: { threads?: number; env?: NodeJS.ProcessEnv; cores?: number } = {},
): ThreadSetting {
  const env = opts.env ?? process.env;
  const plural = (n: number) => `${n} thread${n === 1 ? "" : "s"} per worker`;
  if (opts.threads !== undefined) {
    const t = String(opts.threads);
    return { env: { RFT_NUM_THREADS: t, OMP_NUM_THREADS: t }, describe: `${plural(opts.threads)} (--threads)` };
  }
  if (isSet(env.RFT_NUM_THREADS))
    return { env: {}, describe: `threads per worker from RFT_NUM_THREADS=${env.RFT_NUM_THREADS}` };
  if (isSet(env.OMP_NUM_THREADS))
    return { env: {}, describe: `threads per worker from OMP_NUM_THREADS=${env.OMP_NUM_THREADS}` };
  const cores = opts.cores ?? availableParallelism();
  const t = Math.max(1, Math.floor(cores / nproc));
  return {
    env: { RFT_NUM_THREADS: String(t), OMP_NUM_THREADS: String(t) },
    describe: `${plural(t)} (${cores} core${cores === 1 ? "" : "s"} ÷ ${nproc} worker${nproc === 1 ? "" : "s"}; --threads to change)`,
  };
}

/** The run id all workers of a job share; derived from the rendezvous address so every node computes the same one. */
export function runId(masterAddr: string, masterPort: number): string {
  return `rft-${masterAddr}-${masterPort}`;
}

/**
 * The environment of local worker `localRank`: the parent's environment, then torchrun's variables, then the
 * thread setting. Pure: everything comes from the arguments.
 */
export function workerEnv(
  c: Pick<LaunchConfig, "nproc" | "nnodes" | "nodeRank" | "masterAddr">,
  localRank: number,
  ctx: { masterPort: number; runId: string; threadEnv: Record<string, string>; parentEnv: NodeJS.ProcessEnv },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.parentEnv)) if (v !== undefined) out[k] = v;
  const rank = c.nodeRank * c.nproc + localRank;
  const world = c.nnodes * c.nproc;
  Object.assign(out, {
    LOCAL_RANK: String(localRank),
    RANK: String(rank),
    GROUP_RANK: String(c.nodeRank),
    ROLE_RANK: String(rank),
    ROLE_NAME: "default",
    LOCAL_WORLD_SIZE: String(c.nproc),
    WORLD_SIZE: String(world),
    GROUP_WORLD_SIZE: String(c.nnodes),
    ROLE_WORLD_SIZE: String(world),
    MASTER_ADDR: c.masterAddr,
    MASTER_PORT: String(ctx.masterPort),
    TORCHELASTIC_RESTART_COUNT: "0",
    TORCHELASTIC_MAX_RESTARTS: "0",
    TORCHELASTIC_RUN_ID: ctx.runId,
    // The workers create their own c10d store (rank 0 hosts it at MASTER_ADDR:MASTER_PORT), as under torchrun's
    // c10d rendezvous; there is no agent store.
    TORCHELASTIC_USE_AGENT_STORE: "False",
    NCCL_ASYNC_ERROR_HANDLING: ctx.parentEnv.NCCL_ASYNC_ERROR_HANDLING ?? "1",
    TORCH_NCCL_ASYNC_ERROR_HANDLING: ctx.parentEnv.TORCH_NCCL_ASYNC_ERROR_HANDLING ?? "1",
  });
  Object.assign(out, ctx.threadEnv);
  return out;
}

/** The program and arguments of every worker: `node <V8 flags> bin/rft.js ARGS`, or ARGS itself with --exec. */
export function workerCommand(c: Pick<LaunchConfig, "exec" | "command">): { file: string; args: string[] } {
  if (c.exec) return { file: c.command[0]!, args: c.command.slice(1) };
  return { file: process.execPath, args: [...WORKER_NODE_FLAGS, RFT_BIN, ...c.command] };
}

/** A TCP port that was free a moment ago (the same race torchrun --standalone accepts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error("could not find a free TCP port"))));
    });
  });
}

/** The master port: the flag; else DEFAULT_MASTER_PORT on several nodes; else (or for 0) a free port. */
export async function resolveMasterPort(c: Pick<LaunchConfig, "masterPort" | "nnodes">): Promise<number> {
  if (c.masterPort !== undefined && c.masterPort !== 0) return c.masterPort;
  if (c.masterPort === undefined && c.nnodes > 1) return DEFAULT_MASTER_PORT;
  return freePort();
}

/** util-linux's setpriv, when present: it makes the kernel send SIGTERM to a worker whose launcher died. */
export function findSetpriv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (process.platform !== "linux") return undefined;
  for (const dir of [...(env.PATH ?? "").split(delimiter), "/usr/bin", "/bin"]) {
    if (!dir) continue;
    const p = join(dir, "setpriv");
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface WorkerSpec {
  /** Global rank (RANK). */
  rank: number;
  localRank: number;
  file: string;
  args: string[];
  env: Record<string, string>;
}

export interface SuperviseOptions {
  /** Where workers' output goes (the launcher's own stdout/stderr by default). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  graceMs?: number;
  tailLines?: number;
  /** Forward SIGINT/SIGTERM received by this process to the workers (the CLI does; tests driving it in-process not). */
  forwardSignals?: boolean;
  /** Start each worker through `setpriv --pdeathsig TERM` (default: when setpriv is found). */
  setpriv?: string | false;
}

export interface WorkerOutcome {
  rank: number;
  localRank: number;
  pid: number | undefined;
  /** Exit code, or null when killed by a signal or never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Could not be started (spawn error message). */
  startError?: string;
  /** The last lines of its stderr. */
  tail: string[];
}

export interface LaunchResult {
  /** The launcher's exit status: 0, the first failed worker's code (128 + signal number when killed), at least 1. */
  exitCode: number;
  /** The first worker that exited non-zero or by a signal. */
  failure?: WorkerOutcome;
  /** A signal the launcher received and forwarded. */
  signal?: NodeJS.Signals;
  workers: WorkerOutcome[];
}

/** The exit status a shell reports for a worker outcome (128 + n for signal n). */
export function outcomeStatus(o: WorkerOutcome): number {
  if (o.signal) return 128 + (osConstants.signals[o.signal] ?? 0);
  if (o.code === null) return 127;
  return o.code;
}

/** One line describing a failed worker. */
export function describeFailure(o: WorkerOutcome): string {
  const who = `rank ${o.rank} (pid ${o.pid ?? "none"})`;
  if (o.startError) return `${who} could not be started: ${o.startError}`;
  if (o.signal) return `${who} failed: killed by ${o.signal}`;
  return `${who} failed with exit code ${o.code}`;
}

/** Keeps the last `max` lines of a stream of text chunks. */
class Tail {
  readonly lines: string[] = [];
  #partial = "";
  constructor(readonly max: number) {}
  push(text: string): void {
    const parts = (this.#partial + text).split("\n");
    this.#partial = parts.pop()!;
    for (const p of parts) this.#add(p);
  }
  end(): void {
    if (this.#partial) this.#add(this.#partial);
    this.#partial = "";
  }
  #add(line: string): void {
    this.lines.push(line.replace(/\r$/, ""));
    if (this.lines.length > this.max) this.lines.shift();
  }
}

/** Writes complete lines of a stream with a prefix (a last unterminated line when the stream ends). */
class Prefixer {
  #partial = "";
  constructor(
    readonly prefix: string,
    readonly write: (s: string) => void,
  ) {}
  push(text: string): void {
    const data = this.#partial + text;
    const cut = data.lastIndexOf("\n");
    if (cut < 0) {
      this.#partial = data;
      return;
    }
    this.#partial = data.slice(cut + 1);
    this.write(
      data
        .slice(0, cut)
        .split("\n")
        .map((l) => this.prefix + l + "\n")
        .join(""),
    );
  }
  end(): void {
    if (this.#partial) this.write(this.prefix + this.#partial + "\n");
    this.#partial = "";
  }
}

/**
 * Starts the workers and waits for all of them. Local rank 0's stdout and stderr pass through unchanged (and it
 * gets the launcher's stdin); other local ranks' lines get a `[rank R] ` prefix (R the global rank). When a worker
 * exits non-zero or by a signal, the others get SIGTERM, then SIGKILL after graceMs; the first failure decides the
 * exit status. Never resolves while a worker still runs.
 */
export function superviseWorkers(specs: WorkerSpec[], opts: SuperviseOptions = {}): Promise<LaunchResult> {
  const out = opts.stdout ?? process.stdout;
  const err = opts.stderr ?? process.stderr;
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const tailLines = opts.tailLines ?? STDERR_TAIL_LINES;
  const setpriv = opts.setpriv === undefined ? findSetpriv() : opts.setpriv;

  return new Promise((resolve) => {
    interface State {
      spec: WorkerSpec;
      child: ChildProcess;
      outcome: WorkerOutcome;
      exited: boolean;
      streamsOpen: number;
      tail: Tail;
      flush: () => void;
    }
    // Whether the last bytes written to a stream ended mid-line (local rank 0's output passes through unchanged,
    // so it may stop without a newline); whole lines from elsewhere then start on a new line instead of gluing on.
    const midLine = new Map<NodeJS.WritableStream, boolean>();
    const put = (dest: NodeJS.WritableStream, data: string | Buffer, whole: boolean): boolean => {
      if (whole && midLine.get(dest)) dest.write("\n");
      if (data.length > 0) midLine.set(dest, data[data.length - 1] !== (typeof data === "string" ? "\n" : 0x0a));
      return dest.write(data);
    };
    const say = (msg: string) => put(err, msg, true);
    const states: State[] = [];
    let failure: WorkerOutcome | undefined;
    let received: NodeJS.Signals | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let closeTimer: NodeJS.Timeout | undefined;
    let finished = false;

    const live = () => states.filter((s) => !s.exited);
    const killAll = (sig: NodeJS.Signals) => {
      for (const s of live()) {
        try {
          s.child.kill(sig);
        } catch {
          // already gone
        }
      }
    };
    const stopAll = (sig: NodeJS.Signals) => {
      killAll(sig);
      if (!killTimer && live().length > 0) {
        killTimer = setTimeout(() => {
          const left = live();
          if (left.length > 0) {
            say(
              `rft launch: ${left.map((s) => `rank ${s.spec.rank}`).join(", ")} still running ${graceMs} ms after ${sig}: sending SIGKILL\n`,
            );
            killAll("SIGKILL");
          }
        }, graceMs);
      }
    };

    const onSignal = (sig: NodeJS.Signals) => {
      if (received) {
        say(`rft launch: ${sig} again: killing the workers now\n`);
        killAll("SIGKILL");
        return;
      }
      received = sig;
      say(`rft launch: received ${sig}, forwarding it to ${live().length} worker(s)\n`);
      stopAll(sig);
    };
    if (opts.forwardSignals) {
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    }

    const finish = () => {
      if (finished) return;
      finished = true;
      if (killTimer) clearTimeout(killTimer);
      if (closeTimer) clearTimeout(closeTimer);
      if (opts.forwardSignals) {
        process.removeListener("SIGINT", onSignal);
        process.removeListener("SIGTERM", onSignal);
      }
      for (const s of states) s.flush();
      let exitCode = 0;
      if (failure) {
        exitCode = Math.max(1, outcomeStatus(failure));
        say(`rft launch: ${describeFailure(failure)}\n`);
        if (failure.tail.length > 0) {
          say(`rft launch: last ${failure.tail.length} line(s) of rank ${failure.rank}'s stderr:\n`);
          say(failure.tail.map((l) => `  ${l}\n`).join(""));
        } else say(`rft launch: rank ${failure.rank} wrote nothing to stderr\n`);
      } else if (received) {
        exitCode = 128 + (osConstants.signals[received] ?? 0);
        say(`rft launch: stopped by ${received}; every worker exited with status 0\n`);
      }
      resolve({ exitCode, failure, signal: received, workers: states.map((s) => s.outcome) });
    };
    const maybeFinish = () => {
      if (finished || states.some((s) => !s.exited)) return;
      if (states.every((s) => s.streamsOpen === 0)) return finish();
      // All exited but a pipe is still open (a grandchild may hold it): do not wait for it long.
      closeTimer ??= setTimeout(finish, 500);
    };

    const onExit = (s: State) => {
      if (s.exited) return;
      s.exited = true;
      const o = s.outcome;
      if ((o.code !== 0 || o.signal !== null) && !failure) {
        failure = o;
        const others = live().length;
        if (others > 0 && !received) {
          say(
            `rft launch: rank ${o.rank} ${o.signal ? `was killed by ${o.signal}` : o.startError ? "could not be started" : `exited with code ${o.code}`}; stopping ${others} other worker(s)\n`,
          );
        }
        stopAll("SIGTERM");
      }
      maybeFinish();
    };

    for (const spec of specs) {
      const file = setpriv ? setpriv : spec.file;
      const args = setpriv ? ["--pdeathsig", "TERM", "--", spec.file, ...spec.args] : spec.args;
      const child = spawn(file, args, {
        env: spec.env,
        stdio: [spec.localRank === 0 ? "inherit" : "ignore", "pipe", "pipe"],
        detached: false,
      });
      const tail = new Tail(tailLines);
      const outcome: WorkerOutcome = {
        rank: spec.rank,
        localRank: spec.localRank,
        pid: child.pid,
        code: null,
        signal: null,
        tail: tail.lines,
      };
      const prefix = spec.localRank === 0 ? "" : `[rank ${spec.rank}] `;
      const flushers: (() => void)[] = [];
      const relay = (src: NodeJS.ReadableStream, dest: NodeJS.WritableStream, isErr: boolean) => {
        let waiting = false;
        // Backpressure: a slow reader of the launcher's output pauses the worker's pipe, not the launcher's memory.
        const write = (data: string | Buffer) => {
          if (!put(dest, data, !!prefix) && !waiting) {
            waiting = true;
            src.pause();
            dest.once("drain", () => {
              waiting = false;
              src.resume();
            });
          }
        };
        const decoder = new StringDecoder("utf8");
        const pre = prefix ? new Prefixer(prefix, write) : undefined;
        src.on("data", (chunk: Buffer) => {
          if (!pre) write(chunk); // local rank 0: bytes unchanged
          const text = decoder.write(chunk);
          pre?.push(text);
          if (isErr) tail.push(text);
        });
        let flushed = false;
        const flush = () => {
          if (flushed) return;
          flushed = true;
          const rest = decoder.end();
          pre?.push(rest);
          pre?.end();
          if (isErr) {
            tail.push(rest);
            tail.end();
          }
        };
        src.once("close", flush);
        flushers.push(flush);
      };
      const state: State = {
        spec,
        child,
        outcome,
        exited: false,
        streamsOpen: 2,
        tail,
        flush: () => {
          for (const f of flushers.splice(0)) f();
        },
      };
      relay(child.stdout!, out, false);
      relay(child.stderr!, err, true);
      for (const src of [child.stdout!, child.stderr!]) {
        src.once("close", () => {
          state.streamsOpen--;
          maybeFinish();
        });
      }
      child.once("exit", (code, signal) => {
        outcome.code = code;
        outcome.signal = signal;
        onExit(state);
      });
      child.once("error", (e: NodeJS.ErrnoException) => {
        if (child.pid !== undefined) return; // a failed kill() of a running worker; its exit is still to come
        outcome.startError = `${spec.file}: ${e.code ?? e.message}`;
        outcome.code = 127;
        onExit(state);
      });
      states.push(state);
    }
  });
}

/** Everything `rft launch` does after parsing: validate, print the start line, run the workers. */
export async function launch(
  c: LaunchConfig,
  opts: SuperviseOptions & { env?: NodeJS.ProcessEnv; cores?: number } = {},
): Promise<LaunchResult> {
  validateLaunch(c);
  const parentEnv = opts.env ?? process.env;
  const err = opts.stderr ?? process.stderr;
  const masterPort = await resolveMasterPort(c);
  const threads = threadSetting(c.nproc, { threads: c.threads, env: parentEnv, cores: opts.cores });
  const id = runId(c.masterAddr, masterPort);
  const cmd = workerCommand(c);
  const specs: WorkerSpec[] = [];
  for (let local = 0; local < c.nproc; local++) {
    specs.push({
      rank: c.nodeRank * c.nproc + local,
      localRank: local,
      file: cmd.file,
      args: cmd.args,
      env: workerEnv(c, local, { masterPort, runId: id, threadEnv: threads.env, parentEnv }),
    });
  }
  const world = c.nnodes * c.nproc;
  const first = c.nodeRank * c.nproc;
  const ranks = c.nproc === 1 ? `rank ${first}` : `ranks ${first}-${first + c.nproc - 1}`;
  err.write(
    `rft launch: world size ${world} (${c.nnodes} node${c.nnodes === 1 ? "" : "s"} × ${c.nproc} worker${c.nproc === 1 ? "" : "s"}; ` +
      `node ${c.nodeRank} runs ${ranks}), master ${c.masterAddr}:${masterPort}, ${threads.describe}\n`,
  );
  return superviseWorkers(specs, opts);
}
