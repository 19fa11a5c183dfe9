/**
 * The project's one host-side pseudo-random generator (tensor-free; the engine's streams are `Generator` in
 * src/tensor/generator.ts). Deterministic on every platform (32-bit integer arithmetic only). Not for cryptography.
 *
 * Two algorithms, kept bit-identical to the two classes this module replaces, so existing seeds give the same
 * numbers:
 * - `new Rng(seed)`: mulberry32 over one 32-bit word (data splits, shuffles, test data);
 * - `Rng.stream(...labels)`: sfc32 (Chris Doty-Humphrey's small fast counter generator) seeded through a 32-bit
 *   string hash of the labels joined with '/', so every item of the synthetic benchmark gets its own independent
 *   stream from (seed, task, split, index, attempt) and generation order never changes what an item looks like.
 *
 * State and streams:
 * - `getState()` returns a JSON-serialisable `RngState`; `setState(s)` (or `Rng.fromState(s)`) restores it exactly;
 * - `fork(...labels)` derives an independent sfc32 stream from this one's current state and the labels, without
 *   advancing this one (e.g. one stream per data-loader worker); `Rng.derive(seed, rank)` is the stream of a rank.
 *
 * @example
 * const rng = new Rng(42);
 * rng.next();              // a float in [0, 1)
 * rng.int(6);              // an integer in [0, 6)
 * rng.int(1, 6);           // an integer in [1, 6] (both inclusive)
 * rng.shuffle([1, 2, 3]);  // a new shuffled array; the input is not modified
 * const saved = JSON.stringify(rng.getState());
 * rng.setState(JSON.parse(saved));
 */

/** FNV-1a over the UTF-16 code units of `s`, then a murmur3 finaliser: a well-mixed 32-bit hash. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A generator's full state: the algorithm and its 32-bit words (plain JSON). */
export interface RngState {
  algorithm: "mulberry32" | "sfc32";
  words: number[];
}

const WORDS = { mulberry32: 1, sfc32: 4 } as const;

export class Rng {
  #algorithm: "mulberry32" | "sfc32" = "mulberry32";
  // mulberry32 uses s[0]; sfc32 uses a, b, c, d = s[0..3] (kept as signed or unsigned 32-bit values as the
  // original code did; getState normalises them to unsigned).
  #s: number[] = [0];

  /** A mulberry32 stream from a numeric seed (any finite number is folded into 32 bits). */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${String(seed)}`);
    this.#s = [((Math.trunc(seed) >>> 0) ^ (Math.trunc(seed / 4294967296) >>> 0)) >>> 0];
  }

  /** An sfc32 stream determined by the given labels (numbers and strings, joined with '/'). */
  static stream(...labels: (string | number)[]): Rng {
    const key = labels.join("/");
    const r = new Rng(0);
    r.#algorithm = "sfc32";
    r.#s = [hash32("a:" + key), hash32("b:" + key), hash32("c:" + key), hash32("d:" + key) | 1];
    for (let i = 0; i < 12; i++) r.u32();
    return r;
  }

  /** The stream of one rank (or worker) of a run seeded with `seed`: independent of every other rank's. */
  static derive(seed: number, rank: number | string): Rng {
    return Rng.stream(seed, "rank", rank);
  }

  /** A generator in the given state (from getState()). */
  static fromState(state: RngState): Rng {
    return new Rng(0).setState(state);
  }

  /**
   * An independent sfc32 stream derived from this stream's current state and `labels`; this stream does not
   * advance. The same state and labels always give the same stream.
   */
  fork(...labels: (string | number)[]): Rng {
    const st = this.getState();
    return Rng.stream(st.algorithm, ...st.words, "fork", ...labels);
  }

  /** The full state, JSON-serialisable. */
  getState(): RngState {
    return { algorithm: this.#algorithm, words: this.#s.map((w) => w >>> 0) };
  }

  /** Restores a state from getState() (validated). Returns this. */
  setState(state: RngState): this {
    const n = state && WORDS[state.algorithm];
    if (!n) throw new Error(`Rng.setState: unknown algorithm ${JSON.stringify(state?.algorithm)}`);
    const w = state.words;
    if (!Array.isArray(w) || w.length !== n || !w.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff))
      throw new Error(`Rng.setState: ${state.algorithm} needs ${n} unsigned 32-bit words, got ${JSON.stringify(w)}`);
    this.#algorithm = state.algorithm;
    this.#s = w.slice();
    return this;
  }

  /** The next 32-bit unsigned integer. */
  u32(): number {
    const s = this.#s;
    if (this.#algorithm === "mulberry32") {
      s[0] = (s[0]! + 0x6d2b79f5) >>> 0;
      let t = s[0];
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (t ^ (t >>> 14)) >>> 0;
    }
    const b = s[1]!;
    const c = s[2]!;
    const t = (((s[0]! + b) | 0) + s[3]!) | 0;
    s[3] = (s[3]! + 1) | 0;
    s[0] = b ^ (b >>> 9);
    s[1] = (c + (c << 3)) | 0;
    s[2] = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /** The next 32-bit unsigned integer (alias of u32). */
  nextUint32(): number {
    return this.u32();
  }

  /** A float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  float(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /**
   * `int(n)`: an integer in [0, n), n a positive integer.
   * `int(lo, hi)`: an integer in [lo, hi], both inclusive.
   */
  int(nOrLo: number, hi?: number): number {
    if (hi === undefined) {
      const n = nOrLo;
      if (!Number.isInteger(n) || n <= 0) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
      return Math.floor(this.next() * n);
    }
    const lo = nOrLo;
    if (hi < lo) throw new Error(`Rng.int: empty range [${lo}, ${hi}]`);
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** An integer in [lo, hi] (both inclusive; lo and hi integers). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Rng.pick: empty array");
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Picks by non-negative weights (same length as items). */
  weighted<T>(items: readonly T[], weights: readonly number[]): T {
    const total = weights.reduce((s, w) => s + w, 0);
    let r = this.next() * total;
    for (let i = 0; i < items.length; i++) {
      r -= weights[i]!;
      if (r < 0) return items[i]!;
    }
    return items[items.length - 1]!;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** `n` distinct elements in random order. */
  sample<T>(items: readonly T[], n: number): T[] {
    return this.shuffle(items).slice(0, n);
  }

  /** k distinct indices of [0, n), in random order (k is clamped to n). */
  sampleIndices(n: number, k: number): number[] {
    const all = Array.from({ length: n }, (_, i) => i);
    return this.shuffle(all).slice(0, Math.max(0, Math.min(k, n)));
  }
}
