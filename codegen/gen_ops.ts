/**
 * Generates src/tensor/ops.generated.ts: one typed function per ATen operator overload, from the schemas the
 * installed libtorch registers with its dispatcher (no Python, no YAML). Hand-written wrappers (tensor.ts, ops.ts)
 * stay the friendly surface; the generated one covers everything else with types, e.g.
 *   import * as aten from "./src/tensor/ops.generated.ts";  aten.addcmul(x, a, b, 0.5)
 *
 *   node --import tsx codegen/gen_ops.ts            (re)writes the file
 *   node --import tsx codegen/gen_ops.ts --check    exits 1 if the committed file differs (a libtorch upgrade
 *                                                   shows up as a reviewable diff)
 * Exceptions are listed below (SKIP_*), as tch-rs and mlverse/torch keep theirs next to their generators.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { native, type NativeOpInfo } from "../src/native/index.ts";

const OUT = fileURLToPath(new URL("../src/tensor/ops.generated.ts", import.meta.url));

/** Operators left out on purpose. */
const SKIP_NAMES = new Set<string>([]);
/** Overload names of out= variants and other forms the TS surface does not need. */
const SKIP_OVERLOAD = /(^|_)out$|^(names|dimname|Dimname)|_dimname|Dimname/;

const RESERVED = new Set([
  "delete",
  "new",
  "var",
  "function",
  "in",
  "instanceof",
  "typeof",
  "void",
  "with",
  "default",
  "class",
  "enum",
  "export",
  "import",
  "return",
  "switch",
  "case",
  "const",
  "let",
  "do",
  "if",
  "else",
  "for",
  "while",
  "break",
  "continue",
  "try",
  "catch",
  "finally",
  "throw",
  "this",
  "super",
  "yield",
  "null",
  "true",
  "false",
]);

interface ArgType {
  ts: string;
  /** Conversion code for the runtime: T tensor, t optional tensor, L tensor list, O optional-tensor list,
   *  D dtype, d optional dtype, x passthrough. */
  kind: string;
}

function argType(type: string): ArgType | null {
  const opt = type.endsWith("?");
  const base = opt ? type.slice(0, -1) : type;
  const nullable = (ts: string) => (opt ? `${ts} | null` : ts);
  if (base === "Tensor") return { ts: nullable("Tensor"), kind: opt ? "t" : "T" };
  if (base === "Tensor[]") return opt ? null : { ts: "Tensor[]", kind: "L" };
  if (base === "Tensor?[]") return opt ? null : { ts: "(Tensor | null)[]", kind: "O" };
  if (base === "ScalarType") return { ts: nullable("DType"), kind: opt ? "d" : "D" };
  if (base === "int" || base === "SymInt" || base === "float" || base === "Layout" || base === "MemoryFormat")
    return { ts: nullable("number"), kind: "x" };
  if (/^(int|SymInt)\[\d*\]$/.test(base))
    return { ts: nullable(/\[\d+\]/.test(base) ? "number[] | number" : "number[]"), kind: "x" };
  if (base === "float[]") return { ts: nullable("number[]"), kind: "x" };
  if (base === "bool") return { ts: nullable("boolean"), kind: "x" };
  if (/^bool\[\d*\]$/.test(base)) return { ts: nullable("boolean[]"), kind: "x" };
  if (base === "Scalar") return { ts: nullable("number | boolean"), kind: "x" };
  if (base === "str" || base === "Device") return { ts: nullable("string"), kind: "x" };
  if (base === "Generator" && opt) return { ts: "null", kind: "x" };
  return null;
}

function returnType(returns: string[]): string | null {
  const one = (r: string): string | null => {
    if (r === "Tensor") return "Tensor";
    if (r === "Tensor[]") return "Tensor[]";
    if (r === "int" || r === "float" || r === "Scalar" || r === "SymInt") return "number";
    if (r === "bool") return "boolean";
    return null;
  };
  if (returns.length === 0) return "void";
  const parts = returns.map(one);
  if (parts.some((p) => p === null)) return null;
  return parts.length === 1 ? parts[0]! : `[${parts.join(", ")}]`;
}

function tsName(o: NativeOpInfo): string {
  const base = o.name.slice("aten::".length);
  const n = o.overload ? `${base}_${o.overload}` : base;
  return RESERVED.has(n) ? `${n}_` : n;
}

function generate(): string {
  const infos = native
    .allOpInfos()
    .filter((o) => o.name.startsWith("aten::") && !SKIP_NAMES.has(o.name) && !SKIP_OVERLOAD.test(o.overload))
    .sort((a, b) => (a.name + "." + a.overload < b.name + "." + b.overload ? -1 : 1));
  const lines: string[] = [];
  const seen = new Set<string>();
  let count = 0;
  for (const o of infos) {
    // In-place ops (name_) may write their first argument; anything else that writes an argument is an out= form.
    const inPlace = o.name.endsWith("_");
    if (o.args.some((a, i) => a.write && !(inPlace && i === 0))) continue;
    const types = o.args.map((a) => argType(a.type));
    if (types.some((t) => t === null)) continue;
    const ret = returnType(o.returns);
    if (ret === null) continue;
    const name = tsName(o);
    if (seen.has(name)) continue;
    seen.add(name);
    // Trailing arguments with defaults (or None) may be omitted; an optional one before a required one may not.
    let firstOmittable = o.args.length;
    for (let i = o.args.length - 1; i >= 0; i--) {
      if (o.args[i]!.hasDefault || o.args[i]!.type.endsWith("?")) firstOmittable = i;
      else break;
    }
    const params = o.args.map((a, i) => {
      const pname = RESERVED.has(a.name) ? `${a.name}_` : a.name;
      return `${pname}${i >= firstOmittable ? "?" : ""}: ${types[i]!.ts}`;
    });
    const kinds = types.map((t) => t!.kind).join("");
    lines.push(`/** ${o.schema.replace(/\*\//g, "* /")} */`);
    lines.push(
      `export const ${name}: (${params.join(", ")}) => ${ret} = g("${o.name}${o.overload ? "." + o.overload : ""}", "${kinds}");`,
    );
    count++;
  }
  const header = [
    "// THIS FILE IS GENERATED by codegen/gen_ops.ts from the operator schemas that libtorch",
    `// ${native.buildInfo().torchVersion} registers with its dispatcher. DO NOT EDIT BY HAND: run \`node --import tsx codegen/gen_ops.ts\`.`,
    `// ${count} operator overloads (out= variants and named-dimension forms are left out).`,
    "/* eslint-disable */",
    'import { generatedOp as g } from "./generated_support.ts";',
    'import type { Tensor } from "./tensor.ts";',
    'import type { DType } from "./dtype.ts";',
    "",
  ];
  return header.concat(lines).join("\n") + "\n";
}

const text = generate();
if (process.argv.includes("--check")) {
  const current = readFileSync(OUT, "utf8");
  if (current !== text) {
    console.error(`${OUT} is out of date with the installed libtorch: run node --import tsx codegen/gen_ops.ts`);
    process.exit(1);
  }
  console.log("ops.generated.ts is up to date");
} else {
  writeFileSync(OUT, text);
  console.log(`wrote ${OUT}`);
}
