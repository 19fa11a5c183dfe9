/**
 * Progress output for long item loops (eval, distill): on a TTY one line rewritten in place, otherwise a plain
 * line at most every `intervalMs` and at the end of each part. Tensor-free.
 */

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(h > 0 ? 2 : 1, "0");
  return h > 0 ? `${h}:${mm}:${String(sec).padStart(2, "0")}` : `${mm}:${String(sec).padStart(2, "0")}`;
}

export interface ProgressState {
  /** What is being worked on (a set name). */
  label: string;
  partDone: number;
  partFailed: number;
  partTotal: number;
  done: number;
  failed: number;
  total: number;
  elapsedMs: number;
  etaMs?: number;
}

export function progressLine(p: ProgressState, prefix: string): string {
  const pct = p.total > 0 ? Math.floor((100 * (p.done + p.failed)) / p.total) : 100;
  const parts = [
    `${prefix} ${p.label} ${p.partDone}/${p.partTotal}${p.partFailed ? ` (${p.partFailed} failed)` : ""}`,
    `all ${p.done + p.failed}/${p.total} ${pct}%`,
    `elapsed ${formatDuration(p.elapsedMs)}`,
    `ETA ${p.etaMs === undefined ? "?" : formatDuration(p.etaMs)}`,
  ];
  return parts.join(" | ");
}

export interface ProgressPrinter {
  update(p: ProgressState): void;
  /** A message on its own line (the progress line is redrawn after it on a TTY). */
  log(msg: string): void;
  /** Ends the in-place line. */
  end(): void;
}

export function progressPrinter(
  stream: NodeJS.WriteStream,
  prefix: string,
  opts: { tty?: boolean; intervalMs?: number } = {},
): ProgressPrinter {
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const interval = opts.intervalMs ?? (tty ? 100 : 5000);
  let last = 0;
  let lastLine = "";
  let lastLabel = "";
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      const partEnd = p.partDone + p.partFailed === p.partTotal;
      const changed = p.label !== lastLabel;
      if (!partEnd && !changed && now - last < interval) return;
      last = now;
      lastLabel = p.label;
      lastLine = progressLine(p, prefix);
      if (tty) {
        stream.write(`\r\x1b[2K${lastLine}`);
        shown = true;
      } else {
        stream.write(`${lastLine}\n`);
      }
    },
    log(msg) {
      if (tty && shown) stream.write(`\r\x1b[2K${msg}\n${lastLine}`);
      else stream.write(`${msg}\n`);
    },
    end() {
      if (tty && shown) stream.write("\n");
      shown = false;
    },
  };
}
