/**
 * The op surface generator. From the schemas the installed libtorch registers with its dispatcher (no Python, no
 * YAML) it writes:
 * 1. src/tensor/ops.generated.ts: one typed function per ATen operator overload (the `aten` namespace);
 * 2. the Tensor methods the project uses, into the marked regions of src/tensor/tensor.ts, and the free functions,
 *    into the marked region of src/tensor/ops.ts, as listed in codegen/surface.ts (the JS name and the overloads;
 *    everything else comes from the schema). Hand-written conveniences (surface.ts HAND_WRITTEN) stay outside the
 *    regions. `callOp("aten::name.overload", ...)` is the one untyped escape hatch.
 *
 *   node --import tsx codegen/gen_ops.ts            (re)writes the file and the regions
 *   node --import tsx codegen/gen_ops.ts --check    exits 1 if anything committed differs (a libtorch upgrade
 *                                                   shows up as a reviewable diff)
 * Exceptions are listed below (SKIP_*) and in surface.ts, as tch-rs and mlverse/torch keep theirs next to their
 * generators.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { format, resolveConfig } from "prettier";
import { fileURLToPath } from "node:url";
import { native, type NativeOpInfo } from "../src/native/index.ts";
import { FUNCTIONS, HAND_WRITTEN, TENSOR_METHODS, type SurfaceEntry } from "./surface.ts";

const OUT = fileURLToPath(new URL("../src/tensor/ops.generated.ts", import.meta.url));
const TENSOR_TS = fileURLToPath(new URL("../src/tensor/tensor.ts", import.meta.url));
const OPS_TS = fileURLToPath(new URL("../src/tensor/ops.ts", import.meta.url));

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
   *  D dtype, d optional dtype, G optional generator, x passthrough. */
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
  // A single int is accepted for any int list (repeated to the list's fixed size, as Python does for int[N]).
  if (/^(int|SymInt)\[\d*\]$/.test(base)) return { ts: nullable("number[] | number"), kind: "x" };
  if (base === "float[]") return { ts: nullable("number[]"), kind: "x" };
  if (base === "bool") return { ts: nullable("boolean"), kind: "x" };
  if (/^bool\[\d*\]$/.test(base)) return { ts: nullable("boolean[]"), kind: "x" };
  if (base === "Scalar") return { ts: nullable("number | boolean"), kind: "x" };
  if (base === "str" || base === "Device") return { ts: nullable("string"), kind: "x" };
  if (base === "Generator" && opt) return { ts: "Generator | null", kind: "G" };
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
    'import type { Generator } from "./generator.ts";',
    "",
  ];
  return header.concat(lines).join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------------------------
// The typed surface (surface.ts): Tensor methods and free functions written into marked regions.
// ---------------------------------------------------------------------------------------------------------------

const camel = (n: string) => n.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

interface Param {
  name: string;
  ts: string;
  kind: string;
  omittable: boolean;
}

interface Resolved {
  info: NativeOpInfo;
  qualified: string;
  key: string; // the caller table's key: name_overload
  params: Param[]; // without self for methods
  ret: string;
  inPlace: boolean;
}

function resolve(byName: Map<string, NativeOpInfo>, spec: SurfaceEntry, op: string, method: boolean): Resolved {
  const info = byName.get("aten::" + op);
  if (!info) throw new Error(`surface.ts: ${spec.name}: no operator aten::${op} in this libtorch`);
  const types = info.args.map((a) => argType(a.type));
  const bad = info.args.findIndex((_, i) => types[i] === null);
  if (bad >= 0)
    throw new Error(`surface.ts: ${spec.name}: aten::${op} argument ${info.args[bad]!.name} has an unsupported type`);
  let firstOmittable = info.args.length;
  for (let i = info.args.length - 1; i >= 0; i--) {
    if (info.args[i]!.hasDefault || info.args[i]!.type.endsWith("?")) firstOmittable = i;
    else break;
  }
  const inPlace = info.name.endsWith("_") && info.args[0]?.write === true;
  if (method && types[0]!.kind !== "T") throw new Error(`surface.ts: ${spec.name}: aten::${op} has no Tensor self`);
  const params = info.args.map((a, i) => ({
    name: RESERVED.has(camel(a.name)) ? `${camel(a.name)}_` : camel(a.name),
    ts: types[i]!.ts,
    kind: types[i]!.kind,
    omittable: i >= firstOmittable,
  }));
  const ret = inPlace ? "this" : returnType(info.returns);
  if (ret === null) throw new Error(`surface.ts: ${spec.name}: aten::${op} has an unsupported return type`);
  const [n, ov] = op.split(".");
  return {
    info,
    qualified: "aten::" + op,
    key: ov ? `${n}_${ov}` : n!,
    params: method ? params.slice(1) : params,
    ret,
    inPlace,
  };
}

/** The expression that converts parameter `p` for the native call. */
function conv(p: Param, inClass: boolean): string {
  const h = (x: string) => (inClass ? `${x}.#hd()` : `H(${x})`);
  switch (p.kind) {
    case "T":
      return h(p.name);
    case "t":
      return `${p.name} == null ? null : ${h(p.name)}`;
    case "L":
      return `${p.name}.map((x) => ${h("x")})`;
    case "O":
      return `${p.name}.map((x) => (x === null ? null : ${h("x")}))`;
    case "D":
      return `DTYPE_CODE[${p.name}]`;
    case "d":
      return `${p.name} == null ? ${p.name} : DTYPE_CODE[${p.name}]`;
    case "G":
      return `nativeGenerator(${p.name})`;
    default:
      return p.name;
  }
}

function callExpr(r: Resolved, params: Param[], method: boolean, inClass: boolean): string {
  const args = params.map((p) => conv(p, inClass));
  if (method) args.unshift("this.#hd()");
  // Trailing parameters the signature drops (after a rest parameter) take the schema default.
  return `G.${r.key}(${args.join(", ")})`;
}

function wrapReturn(ret: string, call: string): string {
  if (ret === "Tensor") return `T(${call})`;
  if (ret === "[Tensor, Tensor]") return `pair(${call})`;
  if (ret === "Tensor[]") return `list(${call})`;
  if (ret === "this") return `native.dispose((${call}) as NativeHandle);\n    return this`;
  return `${call} as ${ret}`;
}

/** Applies the rest flag: the first list parameter becomes `...name`, later ones are dropped (defaults). */
function layout(spec: SurfaceEntry, params: Param[]): { sig: Param[]; rest: number } {
  if (!spec.rest) return { sig: params, rest: -1 };
  const i = params.findIndex((p) => p.ts.startsWith("number[]"));
  if (i < 0) throw new Error(`surface.ts: ${spec.name}: rest needs an int[] parameter`);
  if (params.slice(i + 1).some((p) => !p.omittable))
    throw new Error(`surface.ts: ${spec.name}: parameters after the rest parameter must have defaults`);
  return { sig: params.slice(0, i + 1), rest: i };
}

function signature(sig: Param[], rest: number, types: string[]): string {
  return sig
    .map((p, i) => (i === rest ? `...${p.name}: number[]` : `${p.name}${p.omittable ? "?" : ""}: ${types[i]}`))
    .join(", ");
}

function emit(
  spec: SurfaceEntry,
  byName: Map<string, NativeOpInfo>,
  method: boolean,
  callers: Map<string, string>,
): string[] {
  if (spec.ops.length < 1 || spec.ops.length > 2) throw new Error(`surface.ts: ${spec.name}: one or two overloads`);
  const rs = spec.ops.map((o) => resolve(byName, spec, o, method));
  for (const r of rs) callers.set(r.key, r.qualified);
  const ind = method ? "  " : "";
  const doc = [`${ind}/**`];
  if (spec.doc) doc.push(`${ind} * ${spec.doc}`);
  for (const r of rs) doc.push(`${ind} * ${r.info.schema.replace(/\*\//g, "* /")}`);
  doc.push(`${ind} */`);
  const [a, b] = rs as [Resolved, Resolved | undefined];
  const { sig, rest } = layout(spec, a.params);
  let types = sig.map((p) => p.ts);
  let body: string;
  if (!b) {
    body = wrapReturn(a.ret, callExpr(a, sig, method, method));
  } else {
    const sigB = layout(spec, b.params).sig;
    if (sigB.length !== sig.length || a.ret !== b.ret)
      throw new Error(`surface.ts: ${spec.name}: overloads differ in arity or return type`);
    const diff = sig.map((p, i) => p.ts !== sigB[i]!.ts).reduce<number[]>((acc, d, i) => (d ? [...acc, i] : acc), []);
    if (diff.length !== 1) throw new Error(`surface.ts: ${spec.name}: overloads must differ in exactly one parameter`);
    const d = diff[0]!;
    const numeric = (p: Param) => /^number( \| boolean)?$/.test(p.ts);
    if (numeric(sig[d]!) === numeric(sigB[d]!))
      throw new Error(`surface.ts: ${spec.name}: cannot dispatch on ${sig[d]!.name}`);
    // `obj` takes the object (Tensor or int[]) at position d, `num` the number.
    const [obj, num, objSig, numSig] = numeric(sig[d]!) ? [b, a, sigB, sig] : [a, b, sig, sigB];
    const name = objSig[d]!.name;
    const numSigRenamed = numSig.map((p, i) => (i === d ? { ...p, name } : { ...p, name: objSig[i]!.name }));
    types = objSig.map((p, i) => (i === d ? `${p.ts} | ${numSig[i]!.ts}` : p.ts));
    const cObj = callExpr(obj, objSig, method, method);
    const cNum = callExpr(num, numSigRenamed, method, method);
    body = wrapReturn(a.ret, `typeof ${name} === "object" ? ${cObj} : ${cNum}`);
    return [
      ...doc,
      `${ind}${method ? "" : "export function "}${spec.name}(${signature(objSig, rest, types)}): ${a.ret} {`,
      `${ind}  ${body.startsWith("native.dispose") ? body : "return " + body};`,
      `${ind}}`,
    ];
  }
  return [
    ...doc,
    `${ind}${method ? "" : "export function "}${spec.name}(${signature(sig, rest, types)}): ${a.ret} {`,
    `${ind}  ${body.startsWith("native.dispose") ? body : "return " + body};`,
    `${ind}}`,
  ];
}

function callerTable(callers: Map<string, string>): string[] {
  const lines = ["const G = {"];
  for (const [k, q] of [...callers].sort((x, y) => (x[0] < y[0] ? -1 : 1))) lines.push(`  ${k}: op("${q}"),`);
  lines.push("};");
  return lines;
}

/** Replaces the text between `// <generated name="NAME">` and `// </generated>` (markers kept). */
function replaceRegion(text: string, file: string, name: string, body: string[]): string {
  const open = new RegExp(`^([ \\t]*)// <generated name="${name}">.*\\n`, "m");
  const m = open.exec(text);
  const closeAt = m ? text.indexOf("// </generated>", m.index) : -1;
  if (!m || closeAt < 0) throw new Error(`${file}: region "${name}" markers not found`);
  const start = m.index + m[0].length;
  const lineStart = text.lastIndexOf("\n", closeAt) + 1;
  return text.slice(0, start) + body.map((l) => l + "\n").join("") + text.slice(lineStart);
}

function generateSurface(): { tensorTs: string; opsTs: string } {
  const byName = new Map(native.allOpInfos().map((o) => [o.name + (o.overload ? "." + o.overload : ""), o]));
  for (const e of [...TENSOR_METHODS, ...FUNCTIONS])
    if (e.name in HAND_WRITTEN) throw new Error(`surface.ts: ${e.name} is both generated and hand-written`);
  const mCallers = new Map<string, string>();
  const methods: string[] = [];
  for (const e of TENSOR_METHODS) methods.push(...emit(e, byName, true, mCallers));
  const fCallers = new Map<string, string>();
  const fns: string[] = [];
  for (const e of FUNCTIONS) fns.push(...emit(e, byName, false, fCallers), "");
  let tensorTs = readFileSync(TENSOR_TS, "utf8");
  tensorTs = replaceRegion(tensorTs, TENSOR_TS, "op-table", callerTable(mCallers));
  tensorTs = replaceRegion(tensorTs, TENSOR_TS, "methods", methods);
  let opsTs = readFileSync(OPS_TS, "utf8");
  opsTs = replaceRegion(opsTs, OPS_TS, "functions", [...callerTable(fCallers), "", ...fns.slice(0, -1)]);
  return { tensorTs, opsTs };
}

/** tensor.ts and ops.ts are formatted with prettier as a whole, so their generated regions are written formatted. */
async function pretty(file: string, text: string): Promise<string> {
  return format(text, { ...(await resolveConfig(file)), filepath: file });
}

const outputs: [string, string][] = [[OUT, generate()]];
const surface = generateSurface();
outputs.push([TENSOR_TS, await pretty(TENSOR_TS, surface.tensorTs)], [OPS_TS, await pretty(OPS_TS, surface.opsTs)]);
if (process.argv.includes("--check")) {
  let stale = false;
  for (const [file, text] of outputs) {
    if (readFileSync(file, "utf8") !== text) {
      console.error(
        `${file} is out of date with codegen/ and the installed libtorch: run node --import tsx codegen/gen_ops.ts`,
      );
      stale = true;
    }
  }
  if (stale) process.exit(1);
  console.log("ops.generated.ts and the generated regions of tensor.ts and ops.ts are up to date");
} else {
  for (const [file, text] of outputs) writeFileSync(file, text);
  console.log(`wrote ${outputs.map(([f]) => f).join(", ")}`);
}
