import { availableParallelism } from "node:os";
import type { CommandSpec } from "../args.ts";
import { UsageError, integerOption } from "../args.ts";
import { synthesize, TASKS, TASK_ALIASES, type SynthSize, type SynthTask } from "../../tasks/synth/generate.ts";
import type { InstructStyle } from "../../tasks/synth/instruct.ts";

export function parseTasks(list: string): SynthTask[] {
  const out: SynthTask[] = [];
  for (const raw of list.split(",").map((s) => s.trim().toLowerCase())) {
    if (!raw) continue;
    const t = TASK_ALIASES[raw];
    if (!t) throw new UsageError(`--tasks: unknown task '${raw}' (known: ${Object.keys(TASK_ALIASES).join(", ")})`);
    if (!out.includes(t)) out.push(t);
  }
  if (out.length === 0) throw new UsageError("--tasks: give at least one task");
  return out;
}

/** Parses --instruct-images: `style=N` pairs, comma-separated. */
export function parseInstructImages(value: string): Partial<Record<InstructStyle, number>> {
  const out: Partial<Record<InstructStyle, number>> = {};
  for (const part of value
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^(counting|transformation|geometry)=(\d+)$/.exec(part);
    if (!m)
      throw new UsageError(
        `--instruct-images: expected style=N with style one of counting, transformation, geometry, got '${part}'`,
      );
    out[m[1] as InstructStyle] = Number(m[2]);
  }
  return out;
}

export const command: CommandSpec = {
  name: "data synth",
  summary:
    "generate the mini benchmark (counting, geometry, transformation, instruct) in the Reason-RFT dataset layout",
  options: {
    out: {
      type: "string",
      help: "output directory: new, empty, or an earlier synth output (replaced); anything else is refused",
      required: true,
    },
    force: { type: "boolean", help: "replace --out even when it is a non-empty directory that synth did not write" },
    size: {
      type: "string",
      help: "small: tens of items per split, for tests; full: the main job's data",
      choices: ["small", "full"],
      default: "full",
    },
    seed: {
      type: "number",
      help: "random seed; the same seed gives byte-identical files",
      default: 0,
      integer: true,
      min: 0,
    },
    tasks: { type: "string", help: "comma-separated tasks", default: TASKS.join(",") },
    "instruct-images": {
      type: "string",
      help: "instruct images per style instead of the size's, e.g. counting=12000,transformation=0 (a bigger perception set, or a held-out one)",
    },
    workers: {
      type: "number",
      help: "worker threads (the output does not depend on it)",
      default: Math.min(2, availableParallelism()),
    },
  },
  details: [
    "Writes DIR/images/{train_images,test_images}/..., DIR/train_jsons/*.json (meta-JSON with cot),",
    "DIR/test_jsons/*.json (ID and OOD test sets) and DIR/manifest.json. See docs/benchmark.md.",
    "",
    "Refuses a non-empty --out that is not an earlier 'rft data synth' output (or a file) unless --force is given.",
    "The output is built in a temporary sibling directory and swapped in when complete: an interrupted run leaves",
    "the old directory untouched.",
    "",
    "Example:",
    "  rft data synth --out data/mini --size full --seed 0",
    "  rft data synth --out data/heldout --tasks instruct --seed 1000 --instruct-images counting=1000,transformation=300,geometry=300",
  ].join("\n"),
  async run(opts) {
    const seed = integerOption(opts, "seed", { min: 0 });
    const tasks = parseTasks(opts.tasks as string);
    const workers = opts.workers as number;
    if (!Number.isInteger(workers) || workers < 1)
      throw new UsageError(`--workers must be a positive integer, got ${workers}`);
    const t0 = performance.now();
    const manifest = await synthesize({
      out: opts.out as string,
      size: opts.size as SynthSize,
      seed,
      tasks,
      instruct: opts["instruct-images"] ? parseInstructImages(opts["instruct-images"] as string) : undefined,
      workers,
      force: Boolean(opts.force),
      log: (line) => console.error(`synth: ${line}`),
    });
    let records = 0;
    let images = 0;
    for (const f of Object.values(manifest.files)) {
      records += f.records;
      images += f.images;
    }
    console.log(
      `wrote ${records} records and ${images} images to ${opts.out as string} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const stage1 = Object.entries(manifest.stage1Size);
    if (stage1.length) {
      console.log(
        `Stage-1 sizes (5% of train, for rft data build --stage1-size): ${stage1.map(([t, n]) => `${t} ${n}`).join(", ")}`,
      );
    }
  },
};
