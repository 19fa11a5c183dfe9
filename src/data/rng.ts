/**
 * Small seeded pseudo-random generator (mulberry32) and helpers built on it.
 *
 * Deterministic for a given seed on every platform (32-bit integer arithmetic only), so data splits and
 * generated benchmarks are reproducible. Not for cryptography.
 *
 * @example
 * const rng = new Rng(42);
 * rng.next();              // a float in [0, 1)
 * rng.int(6);              // an integer in [0, 6)
 * rng.shuffle([1, 2, 3]);  // a new shuffled array; the input is not modified
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${String(seed)}`);
    // Fold any finite number (negatives, large values, fractions) into a 32-bit state.
    this.state = ((Math.trunc(seed) >>> 0) ^ (Math.trunc(seed / 4294967296) >>> 0)) >>> 0;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** An integer in [0, n); n must be a positive integer. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi] (both inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Rng.pick: empty array");
    return items[this.int(items.length)]!;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** k distinct indices of [0, n), in random order (k is clamped to n). */
  sampleIndices(n: number, k: number): number[] {
    const all = Array.from({ length: n }, (_, i) => i);
    return this.shuffle(all).slice(0, Math.max(0, Math.min(k, n)));
  }
}
