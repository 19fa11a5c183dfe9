/**
 * Perception questions of an instruct set (src/tasks/synth/instruct.ts), tensor-free: which records are asked,
 * what a reply is compared on, and the per-kind accuracy with its majority baseline and standard error.
 * The model side (loading, prompting, greedy generation) is perception.ts.
 *
 * Only plain-format records count (the reference reply holds no `<think>`): the reply is the bare answer, so the
 * greedy reply can be compared with it directly. Kinds, by the user question:
 * - count:     "How many ... ?"                         the reply, trimmed, equals the reference number
 * - total:     "Describe the objects ..."               N of a leading "There are N objects"/"There is 1 object"
 * - exists:    "Is there ...?"                          "yes"/"no", trimmed, exact
 * - attribute: "What color is the leftmost object?"     the attribute word, trimmed, exact
 * - figure:    "What figure is shown?" (geometry)        the figure's name ("a right triangle"), trimmed, exact
 */

import { itemSe } from "./seeds.ts";

export const PERCEPTION_KINDS = ["count", "total", "exists", "attribute", "figure"] as const;
export type PerceptionKind = (typeof PERCEPTION_KINDS)[number];

/** Default number of records per kind. */
export const DEFAULT_PERCEPTION_LIMIT = 500;

/** One selected record. */
export interface PerceptionItem {
  id: string;
  kind: PerceptionKind;
  /** The record's image style ("counting", "transformation", ...; "unknown" when the record has none). */
  style: string;
  image: string | string[];
  /** The user turn as the model was trained on it (image placeholders, then the question). */
  user: string;
  /** The value replies are compared with: the count, N, yes/no, the attribute word. */
  reference: string;
  /** The start of the reference reply a correct reply must produce (sets the generation budget). */
  target: string;
}

export interface PerceptionSelection {
  items: PerceptionItem[];
  /** Records in the file. */
  records: number;
  /** Plain-format records (no `<think>` in the reply). */
  plain: number;
  /** Plain records of each kind before the limit. */
  available: Record<PerceptionKind, number>;
  /** Plain records of a kind whose reference reply does not have the kind's form (not asked). */
  unparsed: number;
}

/** Leading image placeholders of a user turn ("<image>\n" each), dropped before the question is matched. */
function questionText(user: string): string {
  return user.replace(/^(?:\s*<image>)+\s*/, "").trim();
}

/** The perception kind of a user turn's question, or null for other questions. */
export function perceptionKind(user: string): PerceptionKind | null {
  const q = questionText(user);
  if (/^How many\b.*\?$/s.test(q)) return "count";
  if (/^Describe the objects\b/.test(q)) return "total";
  if (/^Is there\b.*\?$/s.test(q)) return "exists";
  if (/^What (?:size|color|material|shape) is the (?:leftmost|rightmost) object\?$/.test(q)) return "attribute";
  if (/^What figure is shown\?$/.test(q)) return "figure";
  return null;
}

const TOTAL = /^There (?:are|is) (\d+)(?=\D)/;

/**
 * What a reply says for a kind: the trimmed reply, or for `total` the N of a leading "There are N objects" (null when
 * the reply does not start so; the number must be followed by a non-digit, so a reply cut inside it is not read).
 */
export function extractAnswer(kind: PerceptionKind, reply: string): string | null {
  const t = reply.trim();
  if (kind !== "total") return t;
  const m = TOTAL.exec(t);
  return m ? String(Number(m[1])) : null;
}

/** The compared value and the reply prefix of a reference reply, or null when it does not have the kind's form. */
function referenceOf(kind: PerceptionKind, response: string): { reference: string; target: string } | null {
  const t = response.trim();
  if (kind === "count") return /^\d+$/.test(t) ? { reference: t, target: t } : null;
  if (kind === "exists") return t === "yes" || t === "no" ? { reference: t, target: t } : null;
  if (kind === "attribute" || kind === "figure")
    return t !== "" && !t.includes("\n") ? { reference: t, target: t } : null;
  const m = /^There (?:are|is) (\d+) objects?\b/.exec(t);
  return m ? { reference: String(Number(m[1])), target: m[0] } : null;
}

interface RecordLike {
  id?: unknown;
  image?: unknown;
  style?: unknown;
  messages?: { role?: unknown; content?: unknown }[];
}

/** `limit` of `n` indices spread evenly over [0, n) (all of them when n ≤ limit): styles keep their shares. */
export function evenlySpaced(n: number, limit: number): number[] {
  if (n <= limit) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: limit }, (_, i) => Math.floor((i * n) / limit));
}

/**
 * The plain-format perception records of an instruct set, at most `limit` per kind, spread evenly over the file
 * (the generator writes the styles one after the other, so the first N would be one style). Throws, naming the file
 * and record, for a record that is not an SFT (sharegpt) record.
 */
export function selectPerceptionItems(
  records: readonly unknown[],
  opts: { limit?: number; file?: string } = {},
): PerceptionSelection {
  const limit = opts.limit ?? DEFAULT_PERCEPTION_LIMIT;
  if (!(Number.isSafeInteger(limit) && limit >= 1)) throw new Error(`limit must be a positive integer, got ${limit}`);
  const file = opts.file ?? "data";
  const byKind: Record<PerceptionKind, PerceptionItem[]> = {
    count: [],
    total: [],
    exists: [],
    attribute: [],
    figure: [],
  };
  let plain = 0;
  let unparsed = 0;
  records.forEach((r, i) => {
    const x = r as RecordLike | null;
    const m = x?.messages;
    const ok =
      x !== null &&
      typeof x === "object" &&
      typeof x.id === "string" &&
      Array.isArray(m) &&
      m.length === 2 &&
      m[0]?.role === "user" &&
      m[1]?.role === "assistant" &&
      typeof m[0].content === "string" &&
      typeof m[1].content === "string";
    if (!ok) {
      const id = x && typeof x.id === "string" ? ` (${x.id})` : "";
      throw new Error(
        `${file}: record ${i}${id} is not an instruct/SFT record (id, image, messages: [user, assistant])`,
      );
    }
    const user = m[0]!.content as string;
    const response = m[1]!.content as string;
    if (response.includes("<think>")) return;
    plain++;
    const kind = perceptionKind(user);
    if (!kind) return;
    const ref = referenceOf(kind, response);
    if (!ref) {
      unparsed++;
      return;
    }
    byKind[kind].push({
      id: x.id as string,
      kind,
      style: typeof x.style === "string" ? x.style : "unknown",
      image: (x.image ?? []) as string | string[],
      user,
      ...ref,
    });
  });
  const available = Object.fromEntries(PERCEPTION_KINDS.map((k) => [k, byKind[k].length])) as Record<
    PerceptionKind,
    number
  >;
  const items = PERCEPTION_KINDS.flatMap((k) => evenlySpaced(byKind[k].length, limit).map((i) => byKind[k][i]!));
  return { items, records: records.length, plain, available, unparsed };
}

export interface AccuracyStats {
  /** Share of correct replies (null when n = 0). */
  accuracy: number | null;
  n: number;
  /** Share of the most frequent reference value: what always giving that answer scores (null when n = 0). */
  majority: number | null;
  /** Standard error of the accuracy, sqrt(p(1 − p) / n) (null when n = 0). */
  se: number | null;
}

export interface KindStats extends AccuracyStats {
  /** Plain records of this kind in the file, before the limit. */
  available: number;
  /** Accuracy and n per image style. */
  by_style: Record<string, { accuracy: number; n: number }>;
  /** How often each value was read from the replies (the 10 most frequent; "(other)" the rest, "(none)" unreadable, "(empty)" no text). */
  predicted: Record<string, number>;
}

/** Accuracy, majority baseline and standard error of scored items. */
export function accuracyStats(correct: readonly boolean[], references: readonly string[]): AccuracyStats {
  const n = correct.length;
  if (references.length !== n) throw new Error(`accuracyStats: ${n} scores for ${references.length} references`);
  if (n === 0) return { accuracy: null, n: 0, majority: null, se: null };
  const p = correct.filter(Boolean).length / n;
  const freq = new Map<string, number>();
  for (const r of references) freq.set(r, (freq.get(r) ?? 0) + 1);
  const majority = Math.max(...freq.values()) / n;
  return { accuracy: p, n, majority, se: itemSe(p, n) };
}

function histogram(values: readonly (string | null)[], top = 10): Record<string, number> {
  const freq = new Map<string, number>();
  for (const v of values) {
    const key = v === null ? "(none)" : v === "" ? "(empty)" : v;
    freq.set(key, (freq.get(key) ?? 0) + 1);
  }
  const sorted = [...freq].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const out: Record<string, number> = Object.fromEntries(sorted.slice(0, top));
  const rest = sorted.slice(top).reduce((a, [, c]) => a + c, 0);
  if (rest > 0) out["(other)"] = rest;
  return out;
}

/** Per-kind statistics of the items given the model's reply to each (same order). */
export function scorePerception(
  sel: Pick<PerceptionSelection, "items" | "available">,
  replies: readonly string[],
): Record<PerceptionKind, KindStats> {
  if (replies.length !== sel.items.length)
    throw new Error(`scorePerception: ${replies.length} replies for ${sel.items.length} items`);
  const out = {} as Record<PerceptionKind, KindStats>;
  for (const kind of PERCEPTION_KINDS) {
    const rows = sel.items.flatMap((it, i) =>
      it.kind === kind ? [{ it, got: extractAnswer(kind, replies[i]!) }] : [],
    );
    const ok = rows.map((r) => r.got === r.it.reference);
    const by_style: Record<string, { accuracy: number; n: number }> = {};
    for (const style of [...new Set(rows.map((r) => r.it.style))].sort()) {
      const s = ok.filter((_, j) => rows[j]!.it.style === style);
      by_style[style] = { accuracy: s.filter(Boolean).length / s.length, n: s.length };
    }
    out[kind] = {
      ...accuracyStats(
        ok,
        rows.map((r) => r.it.reference),
      ),
      available: sel.available[kind],
      by_style,
      predicted: histogram(rows.map((r) => r.got)),
    };
  }
  return out;
}

/** A small table: kind, accuracy, n, majority, SE and the accuracy per style. */
export function formatPerceptionTable(kinds: Record<PerceptionKind, AccuracyStats & Partial<KindStats>>): string {
  const f = (x: number | null) => (x === null ? "-" : x.toFixed(3));
  const head = ["kind", "accuracy", "n", "majority", "se", "by style"];
  const rows = PERCEPTION_KINDS.map((k) => {
    const s = kinds[k];
    const styles = Object.entries(s.by_style ?? {})
      .map(([st, v]) => `${st} ${v.accuracy.toFixed(3)} (n=${v.n})`)
      .join(", ");
    return [k, f(s.accuracy), String(s.n), f(s.majority), f(s.se), styles];
  });
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, j) => c.padEnd(widths[j]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
