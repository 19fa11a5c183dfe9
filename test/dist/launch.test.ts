import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import {
  LaunchConfigError,
  RFT_BIN,
  type LaunchConfig,
  findSetpriv,
  superviseWorkers,
  threadSetting,
  validateLaunch,
  workerCommand,
  workerEnv,
} from "../../src/dist/launch.ts";

const BIN = fileURLToPath(new URL("../../bin/rft.js", import.meta.url));
const NODE = process.execPath;

/** The launcher's environment without thread variables, so the default thread rule applies. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const k of ["RFT_NUM_THREADS", "OMP_NUM_THREADS"]) if (!(k in extra)) delete env[k];
  return env;
}

interface Run {
  child: ChildProcess;
  done: Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }>;
  stdout: () => string;
}

/** Starts `rft launch ARGS` asynchronously (so the test can signal it) with a hard timeout. */
function startLaunch(args: string[], env: NodeJS.ProcessEnv = cleanEnv(), timeoutMs = 30_000): Run {
  const t0 = Date.now();
  const child = spawn(NODE, [BIN, "launch", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<Awaited<Run["done"]>>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
  return { child, done, stdout: () => stdout };
}

function launchSync(args: string[], env: NodeJS.ProcessEnv = cleanEnv()) {
  const t0 = Date.now();
  const r = spawnSync(NODE, [BIN, "launch", ...args], { env, encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

/** Whether a process still runs (a zombie waiting for its new parent to reap it counts as gone). */
function alive(pid: number): boolean {
  if (existsSync("/proc/self/stat")) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** Lines of a launcher's stdout by rank: rank 0 unprefixed, others `[rank R] `. */
function byRank(stdout: string): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const line of stdout.split("\n").filter((l) => l !== "")) {
    const m = /^\[rank (\d+)\] (.*)$/.exec(line);
    const rank = m ? Number(m[1]) : 0;
    out.set(rank, [...(out.get(rank) ?? []), m ? m[2]! : line]);
  }
  return out;
}

const PRINT_ENV =
  "const k=['RANK','LOCAL_RANK','WORLD_SIZE','LOCAL_WORLD_SIZE','GROUP_RANK','GROUP_WORLD_SIZE','ROLE_RANK'," +
  "'ROLE_NAME','ROLE_WORLD_SIZE','MASTER_ADDR','MASTER_PORT','TORCHELASTIC_RUN_ID','TORCHELASTIC_RESTART_COUNT'," +
  "'TORCHELASTIC_MAX_RESTARTS','TORCHELASTIC_USE_AGENT_STORE','NCCL_ASYNC_ERROR_HANDLING','RFT_NUM_THREADS'," +
  "'OMP_NUM_THREADS','RFT_LAUNCH_TEST_VAR'];console.log(JSON.stringify(Object.fromEntries(k.map(n=>[n,process.env[n]]))))";

type Env = Record<string, string | undefined>;
function envsOf(stdout: string): Env[] {
  const ranks = byRank(stdout);
  return [...ranks.keys()].sort((a, b) => a - b).map((r) => JSON.parse(ranks.get(r)![0]!) as Env);
}

const base: LaunchConfig = { nproc: 2, nnodes: 1, nodeRank: 0, masterAddr: "127.0.0.1", exec: true, command: ["x"] };

test("workerEnv: torchrun's variables for --nproc 2 on node 1 of 2, over the parent's environment", () => {
  const c = { ...base, nnodes: 2, nodeRank: 1, masterAddr: "10.0.0.1" };
  const parentEnv = { PATH: "/bin", RANK: "99", NCCL_ASYNC_ERROR_HANDLING: "0" };
  const envs = [0, 1].map((l) =>
    workerEnv(c, l, { masterPort: 29501, runId: "job", threadEnv: { RFT_NUM_THREADS: "3" }, parentEnv }),
  );
  for (const [l, e] of envs.entries()) {
    assert.equal(e.PATH, "/bin");
    assert.equal(e.LOCAL_RANK, String(l));
    assert.equal(e.RANK, String(2 + l), "RANK = node_rank × nproc + local_rank (the parent's RANK is replaced)");
    assert.equal(e.ROLE_RANK, e.RANK);
    assert.equal(e.WORLD_SIZE, "4");
    assert.equal(e.ROLE_WORLD_SIZE, "4");
    assert.equal(e.LOCAL_WORLD_SIZE, "2");
    assert.equal(e.GROUP_RANK, "1");
    assert.equal(e.GROUP_WORLD_SIZE, "2");
    assert.equal(e.ROLE_NAME, "default");
    assert.equal(e.MASTER_ADDR, "10.0.0.1");
    assert.equal(e.MASTER_PORT, "29501");
    assert.equal(e.TORCHELASTIC_RUN_ID, "job");
    assert.equal(e.TORCHELASTIC_RESTART_COUNT, "0");
    assert.equal(e.TORCHELASTIC_USE_AGENT_STORE, "False");
    assert.equal(e.NCCL_ASYNC_ERROR_HANDLING, "0", "the user's NCCL setting is kept");
    assert.equal(e.TORCH_NCCL_ASYNC_ERROR_HANDLING, "1");
    assert.equal(e.RFT_NUM_THREADS, "3");
  }
});

test("threadSetting: cores ÷ nproc (at least 1), --threads wins, a user's RFT/OMP_NUM_THREADS is kept", () => {
  assert.deepEqual(threadSetting(2, { env: {}, cores: 2 }).env, { RFT_NUM_THREADS: "1", OMP_NUM_THREADS: "1" });
  assert.deepEqual(threadSetting(3, { env: {}, cores: 8 }).env, { RFT_NUM_THREADS: "2", OMP_NUM_THREADS: "2" });
  assert.deepEqual(threadSetting(4, { env: {}, cores: 1 }).env, { RFT_NUM_THREADS: "1", OMP_NUM_THREADS: "1" });
  assert.match(threadSetting(3, { env: {}, cores: 8 }).describe, /2 threads per worker \(8 cores ÷ 3 workers/);
  assert.deepEqual(threadSetting(2, { env: { RFT_NUM_THREADS: "5" }, cores: 8 }).env, {});
  assert.match(threadSetting(2, { env: { RFT_NUM_THREADS: "5" }, cores: 8 }).describe, /RFT_NUM_THREADS=5/);
  assert.deepEqual(threadSetting(2, { env: { OMP_NUM_THREADS: "4,2" }, cores: 8 }).env, {});
  // empty counts as unset, as in the engine's defaultThreadCount
  assert.deepEqual(threadSetting(2, { env: { RFT_NUM_THREADS: "", OMP_NUM_THREADS: "" }, cores: 8 }).env, {
    RFT_NUM_THREADS: "4",
    OMP_NUM_THREADS: "4",
  });
  assert.deepEqual(threadSetting(2, { threads: 3, env: { RFT_NUM_THREADS: "5" }, cores: 8 }).env, {
    RFT_NUM_THREADS: "3",
    OMP_NUM_THREADS: "3",
  });
});

test("validateLaunch names the flag; workerCommand runs bin/rft.js with its V8 flags unless --exec", () => {
  const cases: [Partial<LaunchConfig>, RegExp][] = [
    [{ nproc: 0 }, /--nproc must be a positive integer, got 0/],
    [{ nproc: 1.5 }, /--nproc must be a positive integer/],
    [{ nnodes: 2, nodeRank: 2 }, /--node-rank must be from 0 to --nnodes - 1 = 1, got 2/],
    [{ masterPort: 65536 }, /--master-port must be an integer from 0 to 65535/],
    [{ masterPort: 0, nnodes: 2 }, /--master-port 0 .* one node only/],
    [{ command: [] }, /missing the command to run: put it after '--'/],
  ];
  for (const [c, re] of cases) {
    assert.throws(
      () => validateLaunch({ ...base, ...c }),
      (e: Error) => e instanceof LaunchConfigError && re.test(e.message),
    );
  }
  validateLaunch({ ...base, masterPort: 0 });
  const w = workerCommand({ exec: false, command: ["train", "cot-sft", "--out", "x"] });
  assert.equal(w.file, process.execPath);
  assert.deepEqual(w.args, ["--single-threaded-gc", "--v8-pool-size=1", RFT_BIN, "train", "cot-sft", "--out", "x"]);
  assert.ok(existsSync(RFT_BIN), RFT_BIN);
  assert.deepEqual(workerCommand({ exec: true, command: ["node", "-e", "1"] }), { file: "node", args: ["-e", "1"] });
});

test("rft launch --nproc 2 --exec: each worker sees torchrun's environment, the thread rule and the parent's variables", () => {
  const r = launchSync(["--nproc", "2", "--exec", "--", NODE, "-e", PRINT_ENV], cleanEnv({ RFT_LAUNCH_TEST_VAR: "kept" }));
  assert.equal(r.status, 0, r.stderr);
  const envs = envsOf(r.stdout);
  assert.equal(envs.length, 2, r.stdout);
  const threads = String(Math.max(1, Math.floor(availableParallelism() / 2)));
  for (const [rank, e] of envs.entries()) {
    assert.equal(e.RANK, String(rank));
    assert.equal(e.LOCAL_RANK, String(rank));
    assert.equal(e.ROLE_RANK, String(rank));
    assert.equal(e.WORLD_SIZE, "2");
    assert.equal(e.ROLE_WORLD_SIZE, "2");
    assert.equal(e.LOCAL_WORLD_SIZE, "2");
    assert.equal(e.GROUP_RANK, "0");
    assert.equal(e.GROUP_WORLD_SIZE, "1");
    assert.equal(e.ROLE_NAME, "default");
    assert.equal(e.MASTER_ADDR, "127.0.0.1");
    assert.equal(e.TORCHELASTIC_RESTART_COUNT, "0");
    assert.equal(e.TORCHELASTIC_MAX_RESTARTS, "0");
    assert.equal(e.TORCHELASTIC_USE_AGENT_STORE, "False");
    assert.equal(e.NCCL_ASYNC_ERROR_HANDLING, "1");
    assert.equal(e.RFT_NUM_THREADS, threads);
    assert.equal(e.OMP_NUM_THREADS, threads);
    assert.equal(e.RFT_LAUNCH_TEST_VAR, "kept");
  }
  const port = Number(envs[0]!.MASTER_PORT);
  assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `a free port on one node, got ${envs[0]!.MASTER_PORT}`);
  assert.equal(envs[1]!.MASTER_PORT, envs[0]!.MASTER_PORT);
  assert.ok(envs[0]!.TORCHELASTIC_RUN_ID);
  assert.equal(envs[1]!.TORCHELASTIC_RUN_ID, envs[0]!.TORCHELASTIC_RUN_ID);
  assert.match(
    r.stderr,
    new RegExp(`^rft launch: world size 2 \\(1 node × 2 workers.*master 127\\.0\\.0\\.1:${port}, ${threads} threads? per worker`),
  );
});

test("rft launch: --threads sets both variables, a user's RFT_NUM_THREADS passes through, several nodes use port 29500", () => {
  let r = launchSync(["--nproc", "2", "--threads", "3", "--exec", "--", NODE, "-e", PRINT_ENV]);
  assert.equal(r.status, 0, r.stderr);
  for (const e of envsOf(r.stdout)) assert.deepEqual([e.RFT_NUM_THREADS, e.OMP_NUM_THREADS], ["3", "3"]);
  assert.match(r.stderr, /3 threads per worker \(--threads\)/);

  r = launchSync(["--nproc", "2", "--exec", "--", NODE, "-e", PRINT_ENV], cleanEnv({ RFT_NUM_THREADS: "5" }));
  assert.equal(r.status, 0, r.stderr);
  for (const e of envsOf(r.stdout)) assert.deepEqual([e.RFT_NUM_THREADS, e.OMP_NUM_THREADS], ["5", undefined]);
  assert.match(r.stderr, /threads per worker from RFT_NUM_THREADS=5/);

  r = launchSync(["--nproc", "2", "--exec", "--", NODE, "-e", PRINT_ENV], cleanEnv({ OMP_NUM_THREADS: "4" }));
  for (const e of envsOf(r.stdout)) assert.deepEqual([e.RFT_NUM_THREADS, e.OMP_NUM_THREADS], [undefined, "4"]);

  // node 1 of 2: global ranks 2 and 3 (rank 2 is this node's local rank 0, so its lines are not prefixed)
  r = launchSync(["--nproc", "2", "--nnodes", "2", "--node-rank", "1", "--master-addr", "127.0.0.2", "--exec", "--"].concat([NODE, "-e", PRINT_ENV]));
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines.length, 2);
  const e0 = JSON.parse(lines.find((l) => !l.startsWith("["))!) as Env;
  const e1 = JSON.parse(lines.find((l) => l.startsWith("[rank 3] "))!.slice("[rank 3] ".length)) as Env;
  assert.deepEqual([e0.RANK, e0.LOCAL_RANK, e1.RANK, e1.LOCAL_RANK], ["2", "0", "3", "1"]);
  for (const e of [e0, e1]) {
    assert.deepEqual([e.WORLD_SIZE, e.GROUP_RANK, e.GROUP_WORLD_SIZE], ["4", "1", "2"]);
    assert.deepEqual([e.MASTER_ADDR, e.MASTER_PORT], ["127.0.0.2", "29500"]);
  }
  assert.match(r.stderr, /world size 4 \(2 nodes × 2 workers; node 1 runs ranks 2-3\)/);
});

test("rft launch: rank 0's output passes through unchanged, other ranks' lines get '[rank R] ', partial lines too", () => {
  const script =
    "const r=process.env.RANK;process.stdout.write('out a '+r+'\\nout b '+r+'\\nno newline '+r);" +
    "process.stderr.write('err '+r+'\\n')";
  const r = launchSync(["--nproc", "2", "--exec", "--", NODE, "-e", script]);
  assert.equal(r.status, 0, r.stderr);
  // each line whole, in order per rank; rank 0's unterminated line is not glued to another rank's line
  const lines = r.stdout.split("\n").filter((l) => l !== "");
  assert.deepEqual(
    lines.filter((l) => !l.startsWith("[")),
    ["out a 0", "out b 0", "no newline 0"],
    r.stdout,
  );
  assert.deepEqual(
    lines.filter((l) => l.startsWith("[")),
    ["[rank 1] out a 1", "[rank 1] out b 1", "[rank 1] no newline 1"],
    r.stdout,
  );
  assert.ok(!/\[rank 0\]/.test(r.stdout + r.stderr));
  assert.match(r.stderr, /^err 0$/m);
  assert.match(r.stderr, /^\[rank 1\] err 1$/m);
  // alone, rank 0's bytes come through exactly (no newline added)
  const one = launchSync(["--nproc", "1", "--exec", "--", NODE, "-e", script]);
  assert.equal(one.status, 0, one.stderr);
  assert.equal(one.stdout, "out a 0\nout b 0\nno newline 0");
});

test("rft launch --nproc 1 -- COMMAND prints what rft COMMAND prints; words after -- belong to the worker", () => {
  const direct = spawnSync(NODE, [BIN, "reward", "--help"], { encoding: "utf8" });
  const r = launchSync(["--nproc", "1", "--", "reward", "--help"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, direct.stdout);
  // --nproc and --help after -- are the worker's arguments, not the launcher's
  const a = launchSync(["--nproc", "1", "--exec", "--", NODE, "-e", "console.log(JSON.stringify(process.argv.slice(1)))",
    "--", "--nproc", "5", "--help"]);
  assert.equal(a.status, 0, a.stderr);
  assert.deepEqual(JSON.parse(a.stdout), ["--nproc", "5", "--help"]);
});

test("rft launch: a worker exiting with code 3 stops the other one; the launcher exits 3 naming rank and code", async () => {
  const script =
    "if(process.env.RANK==='1'){setTimeout(()=>{console.error('line one');console.error('boom: bad shard');process.exit(3)},300)}" +
    "else{console.log('pid '+process.pid);setInterval(()=>{},1000)}";
  const run = startLaunch(["--nproc", "2", "--exec", "--", NODE, "-e", script]);
  const r = await run.done;
  assert.equal(r.status, 3, r.stderr);
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  assert.match(r.stderr, /rft launch: rank 1 \(pid \d+\) failed with exit code 3\n/);
  assert.match(r.stderr, /last 2 line\(s\) of rank 1's stderr:\n {2}line one\n {2}boom: bad shard\n/);
  const pid = Number(/^pid (\d+)$/m.exec(r.stdout)?.[1]);
  assert.ok(pid > 0, r.stdout);
  assert.equal(alive(pid), false, `rank 0 (pid ${pid}) is gone`);
});

test("rft launch: a worker killed by SIGKILL makes the launcher exit 137 with the signal in the message", () => {
  const script = "if(process.env.RANK==='0'){process.kill(process.pid,'SIGKILL')}else{setInterval(()=>{},1000)}";
  const r = launchSync(["--nproc", "2", "--exec", "--", NODE, "-e", script]);
  assert.equal(r.status, 137, r.stderr);
  assert.match(r.stderr, /rft launch: rank 0 \(pid \d+\) failed: killed by SIGKILL/);
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
});

test("rft launch: SIGTERM to the launcher reaches every worker; it exits 128+15", async () => {
  const script =
    "process.on('SIGTERM',()=>{console.log('got SIGTERM');process.exit(0)});console.log('ready');setInterval(()=>{},1000)";
  const run = startLaunch(["--nproc", "2", "--exec", "--", NODE, "-e", script]);
  assert.ok(await waitFor(() => (run.stdout().match(/ready/g) ?? []).length === 2, 15_000), run.stdout());
  run.child.kill("SIGTERM");
  const r = await run.done;
  const ranks = byRank(r.stdout);
  assert.deepEqual(ranks.get(0), ["ready", "got SIGTERM"]);
  assert.deepEqual(ranks.get(1), ["ready", "got SIGTERM"]);
  assert.equal(r.status, 143, r.stderr);
  assert.match(r.stderr, /received SIGTERM, forwarding it to 2 worker\(s\)/);
});

test("rft launch: workers that do not handle the forwarded SIGINT die of it; the launcher exits 130 and says so", async () => {
  const run = startLaunch(["--nproc", "2", "--exec", "--", NODE, "-e", "console.log('ready');setInterval(()=>{},1000)"]);
  assert.ok(await waitFor(() => (run.stdout().match(/ready/g) ?? []).length === 2, 15_000), run.stdout());
  run.child.kill("SIGINT");
  const r = await run.done;
  assert.equal(r.status, 130, r.stderr);
  assert.match(r.stderr, /rank [01] \(pid \d+\) failed: killed by SIGINT/);
});

test("rft launch: workers do not outlive a launcher killed with SIGKILL (setpriv --pdeathsig)", { skip: !findSetpriv() && "no setpriv" }, async () => {
  const run = startLaunch(["--nproc", "2", "--exec", "--", NODE, "-e", "console.log('pid '+process.pid);setInterval(()=>{},1000)"]);
  assert.ok(await waitFor(() => (run.stdout().match(/pid \d+/g) ?? []).length === 2, 15_000), run.stdout());
  const pids = [...run.stdout().matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(pids.every(alive));
  run.child.kill("SIGKILL");
  await run.done;
  assert.ok(await waitFor(() => !pids.some(alive), 5_000), `workers ${pids} still running`);
});

test("superviseWorkers: a worker ignoring SIGTERM is killed after the grace period; the first failure decides", async () => {
  const out = new PassThrough();
  const err = new PassThrough();
  let errText = "";
  err.on("data", (d) => (errText += d));
  out.resume();
  const mk = (rank: number, script: string) => ({ rank, localRank: rank, file: NODE, args: ["-e", script], env: cleanEnv() as Record<string, string> });
  const t0 = Date.now();
  const res = await superviseWorkers(
    [
      mk(0, "process.on('SIGTERM',()=>{});setInterval(()=>{},1000)"),
      mk(1, "setTimeout(()=>{console.error('rank one fails');process.exit(5)},500)"),
    ],
    { stdout: out, stderr: err, graceMs: 400 },
  );
  assert.equal(res.exitCode, 5);
  assert.equal(res.failure?.rank, 1);
  assert.deepEqual(res.failure?.tail, ["rank one fails"]);
  assert.equal(res.workers[0]!.signal, "SIGKILL");
  assert.match(errText, /rank 0 still running 400 ms after SIGTERM: sending SIGKILL/);
  assert.ok(Date.now() - t0 < 10_000);
});

test("superviseWorkers: a program that cannot be started counts as a failure (exit 127) and stops the others", async () => {
  const err = new PassThrough();
  let errText = "";
  err.on("data", (d) => (errText += d));
  const out = new PassThrough().resume();
  const res = await superviseWorkers(
    [
      { rank: 0, localRank: 0, file: NODE, args: ["-e", "setInterval(()=>{},1000)"], env: cleanEnv() as Record<string, string> },
      { rank: 1, localRank: 1, file: "/nonexistent/rft-worker", args: [], env: cleanEnv() as Record<string, string> },
    ],
    { stdout: out, stderr: err, graceMs: 2000, setpriv: false },
  );
  assert.equal(res.exitCode, 127);
  assert.equal(res.failure?.rank, 1);
  assert.match(errText, /rank 1 \(pid none\) could not be started: \/nonexistent\/rft-worker: ENOENT/);
  assert.equal(res.workers[0]!.signal, "SIGTERM");
});

test("rft launch: bad flags and missing commands exit 2 with a message naming them", () => {
  for (const [args, re] of [
    [["--nproc", "0", "--", "train"], /--nproc must be a positive integer, got 0/],
    [["--nproc", "two", "--", "train"], /--nproc expects a number, got 'two'/],
    [["--", "train"], /missing required option --nproc/],
    [["--nproc", "2", "--nnodes", "2", "--node-rank", "2", "--", "train"], /--node-rank must be from 0 to --nnodes - 1 = 1, got 2/],
    [["--nproc", "2", "--master-port", "70000", "--", "train"], /--master-port must be an integer from 0 to 65535, got 70000/],
    [["--nproc", "2"], /missing the command to run: put it after '--'/],
    [["--nproc", "2", "--"], /missing the command to run/],
    [["--nproc", "2", "train"], /unexpected argument 'train': the command goes after '--'/],
    [["--nproc", "2", "--frobnicate", "--", "train"], /--frobnicate/],
    [["--nproc", "2", "--", "frobnicate"], /unknown rft command 'frobnicate' after '--' \(use --exec/],
    [["--nproc", "2", "--", "launch", "--nproc", "2"], /cannot run 'rft launch'/],
  ] as const) {
    const r = launchSync([...args]);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^rft launch: .*${re.source}`, "m"), args.join(" "));
    assert.doesNotMatch(r.stderr, /world size/, "nothing started");
  }
});

test("rft launch --help explains the contract with examples", () => {
  const r = spawnSync(NODE, [BIN, "launch", "--help"], { encoding: "utf8" });
  assert.equal(r.status, 0);
  for (const s of ["--nproc", "--exec", "RANK = node-rank × nproc + LOCAL_RANK", "torchrun", "Slurm", "Kubernetes", "[rank R]", "SIGKILL"])
    assert.ok(r.stdout.includes(s), s);
});
