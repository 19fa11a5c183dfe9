/**
 * Side concerns of the training loops: the metrics file, the progress line and the alarms.
 *
 * - `MetricsLog`: `OUT/metrics.jsonl`, one JSON object per optimizer step (TRL's metric names). On resume the lines
 *   of steps after the checkpoint are dropped, so the file always matches the weights.
 * - `Progress`: one updating line on a TTY (step, ETA, the chosen metrics); plain lines every `logging_steps`
 *   otherwise.
 * - `grpoAlarms`: warnings about a run going wrong in known ways (format saturating while accuracy stays flat, most
 *   groups without variance, most completions hitting the length cap).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";

export type Metrics = Record<string, number>;

export class MetricsLog {
  /** `enabled` false (ranks other than 0 of a data-parallel run): writes nothing. */
  constructor(
    readonly path: string,
    readonly enabled = true,
  ) {}

  /** Keeps only the lines of steps ≤ `step` (resume), or starts an empty file. */
  truncateAfter(step: number): void {
    if (!this.enabled) return;
    if (!existsSync(this.path)) {
      writeFileSync(this.path, "");
      return;
    }
    const kept = readFileSync(this.path, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .filter((l) => {
        try {
          return (JSON.parse(l) as { step?: number }).step! <= step;
        } catch {
          return false;
        }
      });
    writeFileSync(this.path, kept.map((l) => l + "\n").join(""));
  }

  append(m: Metrics): void {
    if (this.enabled) appendFileSync(this.path, JSON.stringify(m) + "\n");
  }

  /** Every line, parsed. */
  read(): Metrics[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Metrics);
  }
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(a < 1 ? 4 : 3);
}

export interface ProgressOptions {
  total: number;
  /** Metric names shown on the line, in order. */
  keys: readonly string[];
  /** Plain-line interval when not a TTY. */
  every: number;
  stream?: NodeJS.WriteStream;
  label?: string;
  /** Put before every line, step lines and messages alike (the demo's "  base: "). */
  prefix?: string;
  /** false: print nothing (ranks other than 0 of a data-parallel run). Default true. */
  enabled?: boolean;
}

export class Progress {
  readonly #start = Date.now();
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  #firstStep = -1;
  #dirty = false;

  constructor(readonly o: ProgressOptions) {
    this.#stream = o.stream ?? process.stderr;
    this.#tty = !!this.#stream.isTTY;
  }

  /** Reports step `step` (1-based, of `total`) with its metrics. */
  update(step: number, m: Metrics): void {
    if (this.o.enabled === false) return;
    if (this.#firstStep < 0) this.#firstStep = step - 1;
    const elapsed = (Date.now() - this.#start) / 1000;
    const done = step - this.#firstStep;
    const eta = done > 0 ? (elapsed / done) * (this.o.total - step) : NaN;
    const parts = this.o.keys.filter((k) => m[k] !== undefined).map((k) => `${k} ${fmtValue(m[k]!)}`);
    const line = `${this.o.prefix ?? ""}${this.o.label ?? "step"} ${step}/${this.o.total} | ${parts.join(" | ")} | ${fmtTime(elapsed)} elapsed, ETA ${fmtTime(eta)}`;
    if (this.#tty) {
      this.#stream.write(`\r\x1b[K${line}`);
      this.#dirty = true;
    } else if (step % this.o.every === 0 || step === this.o.total || step === this.#firstStep + 1) {
      this.#stream.write(line + "\n");
    }
  }

  /** A message on its own line (the TTY line is redrawn by the next update). */
  log(msg: string): void {
    if (this.o.enabled === false) return;
    if (this.#dirty) this.#stream.write("\r\x1b[K");
    this.#dirty = false;
    this.#stream.write((this.o.prefix ?? "") + msg + "\n");
  }

  end(): void {
    if (this.#dirty) this.#stream.write("\n");
    this.#dirty = false;
  }
}

/** What the GRPO alarms look at, per optimizer step. */
export interface AlarmInputs {
  /** rewards/<name>/mean per step. */
  rewards: Record<string, number>;
  fracZeroStd: number;
  clippedRatio: number;
}

/**
 * Watches a GRPO run and returns messages to log (each alarm fires once, then again only after it cleared):
 * - the format reward saturates (≥ 0.95 over the window) while accuracy stays flat (its window mean moved < 0.02);
 * - most groups have zero reward variance (≥ 0.8 over the window): no learning signal;
 * - most completions hit the length cap (≥ 0.5 over the window).
 */
export class GrpoAlarms {
  readonly #hist: AlarmInputs[] = [];
  readonly #active = new Set<string>();
  constructor(readonly window = 10) {}

  check(x: AlarmInputs): string[] {
    this.#hist.push(x);
    if (this.#hist.length > 2 * this.window) this.#hist.shift();
    const w = this.#hist.slice(-this.window);
    if (w.length < this.window) return [];
    const mean = (f: (a: AlarmInputs) => number, xs = w) => xs.reduce((a, b) => a + f(b), 0) / xs.length;
    const out: string[] = [];
    const fire = (key: string, on: boolean, msg: string) => {
      if (on && !this.#active.has(key)) {
        this.#active.add(key);
        out.push(msg);
      } else if (!on) this.#active.delete(key);
    };
    const fmt = mean((a) => a.rewards.format ?? NaN);
    const acc = mean((a) => a.rewards.accuracy ?? NaN);
    const older = this.#hist.slice(0, -this.window);
    const accBefore = older.length >= this.window / 2 ? mean((a) => a.rewards.accuracy ?? NaN, older) : NaN;
    fire(
      "format",
      fmt >= 0.95 && Number.isFinite(accBefore) && Math.abs(acc - accBefore) < 0.02,
      `alarm: the format reward saturates (${fmt.toFixed(2)}) while accuracy stays flat (${accBefore.toFixed(3)} → ${acc.toFixed(3)} over the last ${this.window} steps): the policy may be learning the format only`,
    );
    const z = mean((a) => a.fracZeroStd);
    fire(
      "zero-std",
      z >= 0.8,
      `alarm: ${(z * 100).toFixed(0)}% of groups have identical rewards over the last ${this.window} steps: little learning signal (raise temperature or num_generations, or use dynamic sampling)`,
    );
    const c = mean((a) => a.clippedRatio);
    fire(
      "length",
      c >= 0.5,
      `alarm: ${(c * 100).toFixed(0)}% of completions hit max_completion_length over the last ${this.window} steps: raise it or check that the policy ends its turn`,
    );
    return out;
  }
}
