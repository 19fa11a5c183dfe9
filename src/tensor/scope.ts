/**
 * Scopes for temporaries (STYLE.md (e)): `tidy(fn)` disposes every tensor created while `fn` runs, except the
 * tensors reachable from its return value and those passed to `keep()`. Returned tensors move to the enclosing
 * scope. Scopes are synchronous only: returning a Promise throws.
 *
 * "Reachable from the return value" means: the value itself if it is a tensor; the elements of arrays, the values
 * of plain objects and Maps; and, for any other object (a class instance such as a KV cache or a model output),
 * the tensors it declares through the TensorContainer interface:
 *
 *   class KVCache implements TensorContainer {
 *     *tensors() { yield* this.keys; yield* this.values; }
 *   }
 *   const cache = tidy(() => model.prefill(ids));   // the cache's tensors survive the scope
 *
 * `tensors()` may also yield containers, arrays or plain objects; they are searched the same way. Class instances
 * without `tensors()` are not searched (their private fields are not the scope's business): their tensors are
 * disposed with the scope, so a class that is returned from `tidy` must declare them.
 */

import { native } from "../native/index.ts";

/**
 * An object that owns tensors and says which: `tidy` keeps the tensors a returned container yields (see the module
 * comment). Implement it on classes that hold tensors and are returned from scopes (KV caches, model outputs).
 */
export interface TensorContainer {
  tensors(): Iterable<unknown>;
}

/** True for objects that implement TensorContainer. */
export function isTensorContainer(v: unknown): v is TensorContainer {
  return v !== null && typeof v === "object" && typeof (v as TensorContainer).tensors === "function";
}

/** What a scope needs of a tensor; implemented by Tensor. */
export interface Scoped {
  dispose(): void;
  /** Index+1 of the scope that tracks this tensor, 0 when untracked (kept or created outside any scope). */
  scopeDepth: number;
  /**
   * Called when the tensor leaves every scope (kept, or returned from the outermost one): from then on nothing is
   * certain to dispose it, so it needs the GC safety net, which tensors created inside a scope do without.
   */
  untracked(): void;
}

const stack: Scoped[][] = [];

function push(): number {
  stack.push([]);
  if (stack.length === 1) native.setScoped(true);
  return stack.length;
}

function pop(): Scoped[] {
  const tracked = stack.pop()!;
  if (stack.length === 0) native.setScoped(false);
  return tracked;
}

/** Called by every Tensor constructor. */
export function track(t: Scoped): void {
  const depth = stack.length;
  if (depth === 0) return;
  stack[depth - 1]!.push(t);
  t.scopeDepth = depth;
}

/** Exempts a tensor from disposal by any enclosing scope; its owner must dispose it. Returns it. */
export function keep<T extends Scoped>(t: T): T {
  t.scopeDepth = 0;
  t.untracked();
  return t;
}

function collect(value: unknown, out: Set<Scoped>, seen: Set<unknown>): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if ("scopeDepth" in value && typeof (value as Scoped).dispose === "function") {
    out.add(value as Scoped);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, out, seen);
  else if (isTensorContainer(value)) for (const v of value.tensors()) collect(v, out, seen);
  else if (value instanceof Map) for (const v of value.values()) collect(v, out, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collect(v, out, seen);
}

/** Runs `fn` in a new scope; see the module comment. */
export function tidy<T>(fn: () => T): T {
  const depth = push();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    endScope(depth, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    endScope(depth, undefined);
    throw new Error("tidy(): the function returned a Promise; scopes are synchronous (use `using` across await)");
  }
  endScope(depth, result);
  return result;
}

function endScope(depth: number, result: unknown): void {
  const tracked = pop();
  const keepSet = new Set<Scoped>();
  collect(result, keepSet, new Set());
  const parent = stack.length > 0 ? stack[stack.length - 1] : undefined;
  for (const t of tracked) {
    if (t.scopeDepth !== depth) continue; // kept, or already moved
    if (keepSet.has(t)) {
      if (parent) {
        parent.push(t);
        t.scopeDepth = depth - 1;
      } else {
        t.scopeDepth = 0;
        t.untracked();
      }
    } else t.dispose();
  }
}

/** Number of open scopes (for tests). */
export function scopeDepth(): number {
  return stack.length;
}
