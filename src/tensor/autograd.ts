/**
 * Autograd and execution modes: grad mode, inference mode, CPU autocast, each as a function that restores the
 * previous state in `finally` (the RAII guards of C++), plus `grad()` for gradients of outputs w.r.t. inputs.
 * These are synchronous: do not pass async functions.
 */
import { native } from "../native/index.ts";
import { DTYPE_CODE, type DType } from "./dtype.ts";
import { Tensor, handleOf } from "./tensor.ts";

function syncOnly(r: unknown, what: string): void {
  if (r instanceof Promise) throw new Error(`${what}(): the function returned a Promise; modes are synchronous`);
}

function withGradMode<T>(enabled: boolean, fn: () => T, what: string): T {
  const prev = native.setGradEnabled(enabled);
  try {
    const r = fn();
    syncOnly(r, what);
    return r;
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording off (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn, "noGrad");
}

/** Runs fn with gradient recording on (torch.enable_grad), e.g. inside a noGrad region. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn, "enableGrad");
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

/** Runs fn in inference mode (torch.inference_mode): no autograd bookkeeping at all; results cannot enter autograd later. */
export function inferenceMode<T>(fn: () => T): T {
  const depth = native.inferenceEnter(true);
  try {
    const r = fn();
    syncOnly(r, "inferenceMode");
    return r;
  } finally {
    native.inferenceExit(depth);
  }
}

/** Runs fn with CPU autocast to `dtype` (bfloat16 by default); `enabled=false` runs it in full precision. */
export function autocast<T>(fn: () => T, opts: { dtype?: DType; enabled?: boolean } = {}): T {
  const enabled = opts.enabled ?? true;
  const prev = native.setAutocastCpu(enabled, DTYPE_CODE[opts.dtype ?? "bfloat16"]);
  try {
    const r = fn();
    syncOnly(r, "autocast");
    return r;
  } finally {
    native.setAutocastCpu(prev);
  }
}

/** Backpropagates from several outputs at once (torch.autograd.backward). */
export function backward(outputs: Tensor[], grads?: (Tensor | null)[], opts: { retainGraph?: boolean } = {}): void {
  native.backward(
    outputs.map(handleOf),
    grads ? grads.map((g) => (g ? handleOf(g) : null)) : null,
    !!opts.retainGraph,
    false,
  );
}

/** Gradients of outputs w.r.t. inputs (torch.autograd.grad); null for unused inputs when allowUnused. */
export function grad(
  outputs: Tensor[],
  inputs: Tensor[],
  opts: { gradOutputs?: (Tensor | null)[]; retainGraph?: boolean; createGraph?: boolean; allowUnused?: boolean } = {},
): (Tensor | null)[] {
  const r = native.grad(
    outputs.map(handleOf),
    inputs.map(handleOf),
    opts.gradOutputs ? opts.gradOutputs.map((g) => (g ? handleOf(g) : null)) : null,
    !!opts.retainGraph,
    !!opts.createGraph,
    !!opts.allowUnused,
  );
  return r.map((hd) => (hd === null ? null : new Tensor(hd)));
}
