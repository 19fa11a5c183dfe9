import { type CommandSpec, UsageError, integerOption } from "../args.ts";
import { commandNames } from "../main.ts";
import {
  DEFAULT_GRACE_MS,
  DEFAULT_MASTER_ADDR,
  DEFAULT_MASTER_PORT,
  type LaunchConfig,
  LaunchConfigError,
  STDERR_TAIL_LINES,
  launch,
  validateLaunch,
} from "../../dist/launch.ts";

/** Refuses a worker command line that names no rft command (or `launch` itself), before anything starts. */
function checkRftCommand(words: string[]): void {
  const names = commandNames();
  const known = names.some((n) => {
    const w = n.split(" ");
    return w.every((x, i) => words[i] === x);
  });
  if (words[0] === "launch") throw new UsageError("the workers cannot run 'rft launch' themselves");
  if (!known)
    throw new UsageError(
      `unknown rft command '${words
        .filter((w) => !w.startsWith("-"))
        .slice(0, 2)
        .join(" ")}' after '--' ` + "(use --exec to run another program)",
    );
}

export const command: CommandSpec = {
  name: "launch",
  summary: "start N data-parallel workers with torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR, ...)",
  passThrough: true,
  options: {
    nproc: { type: "number", integer: true, min: 1, help: "workers on this node", required: true },
    nnodes: { type: "number", integer: true, min: 1, default: 1, help: "nodes (machines) in the job" },
    "node-rank": { type: "number", integer: true, min: 0, default: 0, help: "index of this node, 0 to nnodes-1" },
    "master-addr": {
      type: "string",
      default: DEFAULT_MASTER_ADDR,
      help: "address of node 0, where rank 0 hosts the c10d store",
    },
    "master-port": {
      type: "number",
      integer: true,
      min: 0,
      max: 65535,
      help: `port of the store [default: ${DEFAULT_MASTER_PORT} with --nnodes > 1, else a free port]`,
    },
    threads: {
      type: "number",
      integer: true,
      min: 1,
      max: 1024,
      help: "threads per worker (RFT_NUM_THREADS and OMP_NUM_THREADS) [default: cores ÷ nproc]",
    },
    exec: { type: "boolean", help: "the words after -- are a program and its arguments, not an rft command" },
  },
  details: [
    "Usage: rft launch --nproc N [--nnodes M --node-rank R --master-addr A --master-port P] [--threads T]",
    "                  [--exec] -- COMMAND ARGS",
    "",
    "Starts N worker processes on this machine. Without --exec each runs `rft COMMAND ARGS` (node with the V8",
    "flags of bin/rft.js); with --exec each runs COMMAND ARGS as a program (like torchrun --no-python).",
    "",
    "Each worker gets torchrun's environment (plus the launcher's own):",
    "  RANK = node-rank × nproc + LOCAL_RANK   WORLD_SIZE = nnodes × nproc   LOCAL_RANK = 0..nproc-1",
    "  LOCAL_WORLD_SIZE = nproc   GROUP_RANK = node-rank   GROUP_WORLD_SIZE = nnodes   ROLE_NAME = default",
    "  ROLE_RANK = RANK   ROLE_WORLD_SIZE = WORLD_SIZE   MASTER_ADDR, MASTER_PORT   TORCHELASTIC_RUN_ID (the same on",
    "  every node)   TORCHELASTIC_RESTART_COUNT = TORCHELASTIC_MAX_RESTARTS = 0   TORCHELASTIC_USE_AGENT_STORE =",
    "  False   NCCL_ASYNC_ERROR_HANDLING = TORCH_NCCL_ASYNC_ERROR_HANDLING = 1 (unless set)",
    "  RFT_NUM_THREADS = OMP_NUM_THREADS = max(1, floor(cores / nproc)), or --threads; a RFT_NUM_THREADS or",
    "  OMP_NUM_THREADS already in the environment is kept as it is.",
    "",
    "Output: local rank 0's stdout and stderr pass through unchanged (it also gets stdin); the lines of the other",
    "workers are prefixed `[rank R] `. Workers write to pipes, so progress shows as log lines, not as a live bar.",
    "",
    "Failure: when a worker exits non-zero or is killed, the others get SIGTERM (SIGKILL after",
    `${DEFAULT_GRACE_MS / 1000} s); the launcher prints \`rft launch: rank R (pid P) failed with exit code C\` (or \`killed by`,
    `SIGNAL\`) and the last ${STDERR_TAIL_LINES} lines of that worker's stderr, and exits with its code (128 + signal number for a`,
    "signal). The first failure decides. SIGINT/SIGTERM sent to the launcher are forwarded to every worker (a second",
    "one kills them at once). On Linux each worker is started through util-linux's setpriv --pdeathsig TERM, so",
    "the workers get SIGTERM even when the launcher itself is killed with SIGKILL. Bad flags exit 2.",
    "",
    "Examples:",
    "  # two workers on this machine; each prints its rank",
    '  rft launch --nproc 2 --exec -- node -e "console.log(process.env.RANK, process.env.WORLD_SIZE)"',
    "  # data-parallel CoT-SFT with two workers",
    "  rft launch --nproc 2 -- train cot-sft --task clevr-math --data runs/built/counting/clevr_math_cot_sft-10.json \\",
    "    --image-root runs/bench/images --model runs/tiny --out runs/x",
    "  # two machines with 2 workers each: run on each machine, with --node-rank 0 on the one at 10.0.0.1",
    "  rft launch --nproc 2 --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 --master-port 29500 -- train ...",
    "",
    "Other launchers start the same workers: anything that sets these variables and runs `rft COMMAND ARGS` works.",
    "  torchrun --nproc_per_node 2 --no_python node bin/rft.js train ...   (torchrun sets OMP_NUM_THREADS=1 if unset)",
    "  Slurm, one task per worker: srun --ntasks-per-node 2 bash -c 'RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID \\",
    "    WORLD_SIZE=$SLURM_NTASKS LOCAL_WORLD_SIZE=$SLURM_NTASKS_PER_NODE MASTER_PORT=29500 \\",
    '    MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1) rft train ...\'',
    "  Slurm, one launcher per node: srun --ntasks-per-node 1 bash -c 'rft launch --nproc 2 --nnodes $SLURM_NNODES \\",
    '    --node-rank $SLURM_NODEID --master-addr $(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1) -- train ...\'',
    "  Kubernetes (Kubeflow PyTorchJob, one worker per pod): the operator sets MASTER_ADDR, MASTER_PORT, WORLD_SIZE",
    "    and RANK in each pod; run `rft train ...` as the container command.",
  ].join("\n"),
  async run(opts, positionals) {
    const masterPort = opts["master-port"] === undefined ? undefined : integerOption(opts, "master-port");
    const threads = opts.threads === undefined ? undefined : integerOption(opts, "threads");
    const c: LaunchConfig = {
      nproc: integerOption(opts, "nproc", { min: 1 }),
      nnodes: integerOption(opts, "nnodes", { min: 1 }),
      nodeRank: integerOption(opts, "node-rank", { min: 0 }),
      masterAddr: String(opts["master-addr"]),
      masterPort,
      threads,
      exec: Boolean(opts.exec),
      command: positionals,
    };
    try {
      validateLaunch(c);
      if (!c.exec) checkRftCommand(c.command);
    } catch (e) {
      if (e instanceof LaunchConfigError) throw new UsageError(e.message);
      throw e;
    }
    if (c.nnodes > 1 && opts["master-addr"] === DEFAULT_MASTER_ADDR)
      console.error(
        `rft launch: note: --master-addr is ${DEFAULT_MASTER_ADDR}, which other machines cannot reach; give node 0's address`,
      );
    const result = await launch(c, { forwardSignals: true });
    return result.exitCode;
  },
};
