/**
 * Explicit random streams. A `Generator` is an independent libtorch generator (CPU, or CUDA on a CUDA build) with
 * its own seed and state; every op whose schema takes `Generator? generator` accepts one (multinomial, bernoulli,
 * normal_, uniform_, rand, randn, randint, randperm, dropout below), and leaves the default stream untouched.
 * Without one, ops draw from the default generator of their device (seeded by `manualSeed`, saved and restored by
 * `getRngState`/`setRngState` in runtime.ts).
 *
 * @example
 * const g = new Generator(1234);
 * const saved = g.getState();            // Buffer: the generator's full state (exact resume)
 * const a = probs.multinomial(4, true, g);
 * g.setState(saved);
 * const b = probs.multinomial(4, true, g); // same samples as a
 */
import { native, type NativeGenerator } from "../native/index.ts";

let nativeOf: (g: Generator) => NativeGenerator;

export class Generator {
  readonly #g: NativeGenerator;

  /** A new stream seeded with `seed` (a safe integer; a random seed when omitted), on `device` ("cpu"). */
  constructor(seed?: number | null, opts: { device?: string } = {}) {
    this.#g = new native.Generator(seed ?? null, opts.device ?? "cpu");
  }

  /** Re-seeds this stream (as torch.Generator.manual_seed). */
  manualSeed(seed: number): this {
    this.#g.manualSeed(seed);
    return this;
  }

  /** The seed this stream was last seeded with. */
  initialSeed(): number {
    return this.#g.initialSeed();
  }

  /** The full state (a Buffer; 5056 bytes for a CPU generator). Save it with the checkpoint for exact resume. */
  getState(): Buffer {
    return this.#g.getState();
  }

  /** Restores a state from getState() of a generator of the same device type. */
  setState(state: Buffer): this {
    this.#g.setState(state);
    return this;
  }

  get device(): string {
    return this.#g.device();
  }

  static {
    nativeOf = (g) => g.#g;
  }
}

/** The native object behind a Generator, for the op call path (tensor layer only). */
export function nativeGenerator(g: Generator | null | undefined): NativeGenerator | null | undefined {
  if (g === null || g === undefined) return g;
  if (!(g instanceof Generator)) throw new TypeError(`expected a Generator or null, got ${String(g)}`);
  return nativeOf(g);
}
