/**
 * The one call path to ATen: every typed op in the project resolves an `aten::name.overload` operator once
 * (a cached c10::OperatorHandle id on the native side) and then makes a boxed call with handles and plain values.
 */
import { native, type NativeValue } from "../native/index.ts";

const ids = new Map<string, number>();

/** Resolves "aten::name.overload" (or "aten::name" for the default overload) to a cached native operator id. */
export function opId(qualified: string): number {
  let id = ids.get(qualified);
  if (id === undefined) {
    const dot = qualified.indexOf(".", qualified.indexOf("::") + 2);
    const name = dot < 0 ? qualified : qualified.slice(0, dot);
    const overload = dot < 0 ? "" : qualified.slice(dot + 1);
    id = native.opHandle(name, overload);
    ids.set(qualified, id);
  }
  return id;
}

export type OpCaller = (...args: unknown[]) => NativeValue;

/** A caller for one operator; the operator is looked up on first use. */
export function op(qualified: string): OpCaller {
  let id = -1;
  return (...args: unknown[]) => {
    if (id < 0) id = opId(qualified);
    return native.call(id, ...args);
  };
}

/** The schema string of an operator, e.g. for error messages and docs. */
export function opSchema(qualified: string): string {
  return native.opSchema(opId(qualified));
}
