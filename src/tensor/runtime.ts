/**
 * Process-wide engine settings: threads, RNG (seed and exact state save/restore), memory counters, build info.
 */
import { native, parseThreadCount, type NativeMemory } from "../native/index.ts";

export { maxThreads, parseThreadCount, defaultThreadCount, EngineConfigError } from "../native/index.ts";

/** Seeds every default generator (CPU, and CUDA when present): rand, randn, randint, multinomial, dropout. */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

/**
 * The full state of a device's default generator ("cpu" when omitted), for exact resume. Explicit streams have
 * their own: `Generator.getState()` (generator.ts).
 */
export function getRngState(device?: string): Buffer {
  return native.getRngState(device);
}

/** Restores a state from getRngState(device). */
export function setRngState(state: Buffer, device?: string): void {
  native.setRngState(state, device);
}

/**
 * Sets the intra-op thread count; throws unless it is an integer from 1 to maxThreads() (min(1024, 4 x cores)).
 * `name` is what the error names (a CLI passes "--threads").
 */
export function setNumThreads(n: number, name = "setNumThreads"): void {
  native.setNumThreads(parseThreadCount(n, name));
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

/** Live tensor handles and bytes of unique CPU storages they reference. */
export function memory(): NativeMemory {
  return native.memory();
}

export function buildInfo(): ReturnType<typeof native.buildInfo> {
  return native.buildInfo();
}

/**
 * Handles created and never disposed explicitly: live handles plus those the GC safety net freed. Use this (not
 * `liveHandles`) for before/after leak checks: the GC may free forgotten tensors of earlier code at any moment
 * (finalizers run synchronously inside GC), which lowers `liveHandles` without any dispose in the code measured.
 */
export function handleBalance(): number {
  const m = native.memory();
  return m.liveHandles + m.finalizedHandles;
}

/**
 * Runs fn and throws if it leaves more undisposed tensor handles than it started with (tfjs-style leak check).
 * `allowed` extra handles may survive (e.g. a returned tensor).
 */
export function expectNoLeaks<T>(fn: () => T, allowed = 0): T {
  const before = handleBalance();
  const r = fn();
  const after = handleBalance();
  if (after - before > allowed)
    throw new Error(`leak: ${after - before} tensor handles left alive (allowed ${allowed})`);
  return r;
}
