/**
 * Process-wide engine settings: threads, RNG (seed and exact state save/restore), memory counters, build info.
 */
import { native, type NativeMemory } from "../native/index.ts";

/** Seeds the global CPU generator (rand, randn, randint, multinomial, dropout). */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

/** The global CPU generator's full state (for exact resume). */
export function getRngState(): Buffer {
  return native.getRngState();
}

export function setRngState(state: Buffer): void {
  native.setRngState(state);
}

export function setNumThreads(n: number): void {
  native.setNumThreads(n);
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
