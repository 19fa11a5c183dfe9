/**
 * Runtime of the generated operator surface (ops.generated.ts): converts each argument by a one-letter kind
 * (T tensor, t optional tensor, L tensor list, O optional-tensor list, D dtype, d optional dtype, G optional
 * generator, x as is) and wraps
 * the results, through the same cached boxed/fast call path as every other op.
 */
import { DTYPE_CODE, type DType } from "./dtype.ts";
import { op } from "./op.ts";
import { nativeGenerator, type Generator } from "./generator.ts";
import { Tensor, handleOf, wrapValue } from "./tensor.ts";

function convert(kind: string, v: unknown): unknown {
  if (v === undefined) return undefined;
  switch (kind) {
    case "T":
      return handleOf(v as Tensor);
    case "t":
      return v === null ? null : handleOf(v as Tensor);
    case "L":
      return (v as Tensor[]).map(handleOf);
    case "O":
      return (v as (Tensor | null)[]).map((x) => (x === null ? null : handleOf(x)));
    case "G":
      return nativeGenerator(v as Generator | null);
    case "D":
      return DTYPE_CODE[v as DType];
    case "d":
      return v === null ? null : DTYPE_CODE[v as DType];
    default:
      return v;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function generatedOp(qualified: string, kinds: string): any {
  const call = op(qualified);
  return (...args: unknown[]) => {
    for (let i = 0; i < args.length; i++) args[i] = convert(kinds[i] ?? "x", args[i]);
    return wrapValue(call(...args));
  };
}

export type { Tensor };
