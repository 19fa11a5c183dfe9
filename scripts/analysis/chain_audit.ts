// Chain audit of a demo run's counting predictions (docs/results.md): where do the paradigms' answers go wrong —
// in what the model saw, in its arithmetic, or between its chain and its answer?
//
// For every evaluated paradigm of the counting task (the run's, every seed's and every variant's), over the items of
// each test set, it reports:
//   acc        accuracy (the evaluation's own score)
//   strict     exactly one <think> block then one <answer> block, nothing else (strict_format of the plug-in)
//   faithful   the chain's arithmetic is right and chained and the answer equals its result (chain_consistency)
//   seen       the chain's "There are N objects" names the scene's true number of objects (a perception check)
//   acc|f+s    accuracy among the items that are both faithful and seen right
// and the reasons the unfaithful chains fail (checkChain of examples/rewards/chain_consistency.ts).
// Answer-only predictions have no chain: their faithful and seen columns are empty.
//
// Usage: node --import tsx scripts/analysis/chain_audit.ts OUT [--json]
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { checkChain, strictFormat } from "../../examples/rewards/chain_consistency.ts";

export interface ScoredItem {
  pred?: unknown;
  score?: number;
  scene?: { objects?: unknown[] };
}

export interface Audit {
  n: number;
  accuracy: number;
  strict: number;
  /** Items whose prediction has a <think> block (the rates below are over these). */
  chains: number;
  faithful: number;
  seen: number;
  /** Accuracy among items that are faithful and seen right (NaN when there are none). */
  accuracyFaithfulSeen: number;
  /** checkChain's reason → items, over the chains that are not faithful. */
  reasons: Record<string, number>;
}

const START = /\bthere (?:are|is) (\d+) objects?\b/i;

/** The first "There are N objects" of the <think> block, or undefined. */
export function seenCount(pred: string): number | undefined {
  const open = pred.indexOf("<think>");
  if (open < 0) return undefined;
  const close = pred.indexOf("</think>", open);
  const m = START.exec(pred.slice(open, close < 0 ? undefined : close));
  return m ? Number(m[1]) : undefined;
}

/** The audit of one set's scored items. */
export function auditItems(items: readonly ScoredItem[]): Audit {
  let correct = 0,
    strict = 0,
    chains = 0,
    faithful = 0,
    seen = 0,
    both = 0,
    bothCorrect = 0;
  const reasons: Record<string, number> = {};
  for (const it of items) {
    const pred = typeof it.pred === "string" ? it.pred : "";
    const ok = (it.score ?? 0) > 0;
    if (ok) correct++;
    strict += strictFormat(pred);
    if (!pred.includes("<think>")) continue;
    chains++;
    const why = checkChain(pred);
    const f = why === "ok";
    if (f) faithful++;
    else reasons[why] = (reasons[why] ?? 0) + 1;
    const truth = it.scene?.objects?.length;
    const s = truth !== undefined && seenCount(pred) === truth;
    if (s) seen++;
    if (f && s) {
      both++;
      if (ok) bothCorrect++;
    }
  }
  const rate = (k: number, n: number) => (n ? k / n : NaN);
  return {
    n: items.length,
    accuracy: rate(correct, items.length),
    strict: rate(strict, items.length),
    chains,
    faithful: rate(faithful, chains),
    seen: rate(seen, chains),
    accuracyFaithfulSeen: rate(bothCorrect, both),
    reasons,
  };
}

/** One evaluation directory of a demo run: where it sits and what it scored. */
export interface AuditRow {
  /** The path from OUT to the evaluation, e.g. `seed-1/counting/eval/reason-rft` or `variants/chain/…`. */
  where: string;
  paradigm: string;
  set: string;
  audit: Audit;
}

/** Every `…/counting/eval/<paradigm>/<set>_with_score.json` under `out`, audited. */
export function auditRun(out: string, task = "counting"): AuditRow[] {
  const rows: AuditRow[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (!statSync(p).isDirectory()) continue;
      const parts = relative(out, p).split(sep);
      if (parts.length >= 3 && parts.at(-2) === "eval" && parts.at(-3) === task) {
        for (const f of readdirSync(p).sort()) {
          if (!f.endsWith("_with_score.json")) continue;
          const items = JSON.parse(readFileSync(join(p, f), "utf8")) as ScoredItem[];
          rows.push({
            where: relative(out, p),
            paradigm: name,
            set: f.slice(0, -"_with_score.json".length),
            audit: auditItems(items),
          });
        }
      } else if (!["images", "bench", "checkpoint", "final"].some((skip) => name.startsWith(skip))) walk(p);
    }
  };
  walk(out);
  return rows;
}

function fmt(x: number): string {
  return Number.isNaN(x) ? "" : x.toFixed(3);
}

function table(rows: readonly AuditRow[]): string {
  const head = "| evaluation | set | n | acc | strict | faithful | seen | acc\\|f+s | why not faithful |";
  const lines = [head, "|" + " --- |".repeat(9)];
  for (const r of rows) {
    const a = r.audit;
    const why = Object.entries(a.reasons)
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    lines.push(
      `| ${r.where} | ${r.set} | ${a.n} | ${fmt(a.accuracy)} | ${fmt(a.strict)} | ${fmt(a.faithful)} | ${fmt(a.seen)} | ${fmt(a.accuracyFaithfulSeen)} | ${why} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.length === 0) {
    process.stdout.write(
      "usage: node --import tsx scripts/analysis/chain_audit.ts OUT [--json]\n" +
        "  audits the counting predictions of a demo work directory OUT: accuracy, strict format, faithful chains,\n" +
        "  the chain's object count against the scene's, and why chains are unfaithful (see the file's comment)\n",
    );
    process.exit(args.length === 0 ? 2 : 0);
  }
  const out = args.find((a) => !a.startsWith("--"))!;
  if (!existsSync(out)) throw new Error(`no such directory: ${out}`);
  const rows = auditRun(out);
  if (!rows.length)
    throw new Error(`no counting evaluations (…/counting/eval/<paradigm>/*_with_score.json) under ${out}`);
  process.stdout.write(args.includes("--json") ? JSON.stringify(rows, null, 2) + "\n" : table(rows) + "\n");
}
