/**
 * Module: a tree of named parameters, buffers and child modules whose dotted names are exactly the keys of
 * Hugging Face state dicts ("model.layers.3.self_attn.q_proj.weight"), so checkpoints load by name lookup.
 *
 * Ownership: a module owns its parameters, buffers and children; `dispose()` frees them all. Tensors returned by
 * `namedParameters()` / `stateDict()` are borrowed references: do not dispose them.
 */
import { Tensor, noGrad, keep, type DType } from "../tensor/index.ts";

export type StateDict = Map<string, Tensor>;

/** Thrown by loadStateDict; lists every problem by name. */
export class StateDictError extends Error {
  override name = "StateDictError";
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: string[],
  ) {
    const parts: string[] = [];
    const show = (xs: string[]) => xs.slice(0, 20).join(", ") + (xs.length > 20 ? `, ... (${xs.length} in all)` : "");
    if (missing.length) parts.push(`missing keys: ${show(missing)}`);
    if (unexpected.length) parts.push(`unexpected keys: ${show(unexpected)}`);
    if (mismatched.length) parts.push(`mismatched: ${show(mismatched)}`);
    super(`state dict does not match the model: ${parts.join("; ")}`);
  }
}

/** Glob over dotted names: `*` matches within one segment, `**` across segments; or a RegExp. */
export function namePattern(p: string | RegExp): RegExp {
  if (p instanceof RegExp) return p;
  const re = p
    .split("**")
    .map((part) =>
      part
        .split("*")
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join("[^.]*"),
    )
    .join(".*");
  return new RegExp(`^${re}$`);
}

export class Module implements Disposable {
  training = true;
  readonly #params = new Map<string, Tensor>();
  readonly #buffers = new Map<string, { t: Tensor; persistent: boolean }>();
  readonly #children = new Map<string, Module>();

  /** Registers (and takes ownership of) a parameter; it is kept out of any tidy() scope. */
  protected param(name: string, t: Tensor): Tensor {
    if (this.#params.has(name) || this.#children.has(name)) throw new Error(`duplicate member '${name}'`);
    keep(t);
    if (!t.requiresGrad) t.requiresGrad_(true);
    this.#params.set(name, t);
    return t;
  }

  /** Registers a buffer (non-trainable state); non-persistent buffers are left out of state dicts (HF rotary inv_freq). */
  protected buffer(name: string, t: Tensor, persistent = true): Tensor {
    keep(t);
    this.#buffers.set(name, { t, persistent });
    return t;
  }

  protected module<M extends Module>(name: string, m: M): M {
    if (this.#params.has(name) || this.#children.has(name)) throw new Error(`duplicate member '${name}'`);
    this.#children.set(name, m);
    return m;
  }

  *namedParameters(prefix = ""): Generator<[string, Tensor]> {
    for (const [n, t] of this.#params) yield [prefix + n, t];
    for (const [n, m] of this.#children) yield* m.namedParameters(`${prefix}${n}.`);
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, t]) => t);
  }

  /** Parameters that currently require grad (i.e. not frozen). */
  trainableParameters(): [string, Tensor][] {
    return [...this.namedParameters()].filter(([, t]) => t.requiresGrad);
  }

  *namedBuffers(prefix = "", persistentOnly = false): Generator<[string, Tensor]> {
    for (const [n, b] of this.#buffers) if (!persistentOnly || b.persistent) yield [prefix + n, b.t];
    for (const [n, m] of this.#children) yield* m.namedBuffers(`${prefix}${n}.`, persistentOnly);
  }

  *namedModules(prefix = ""): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ""), this];
    for (const [n, m] of this.#children) yield* m.namedModules(`${prefix}${n}.`);
  }

  numParameters(): number {
    let n = 0;
    for (const [, t] of this.namedParameters()) n += t.numel;
    return n;
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Parameters and persistent buffers by dotted name (borrowed references). */
  stateDict(): StateDict {
    return new Map([...this.namedParameters(), ...this.namedBuffers("", true)]);
  }

  /**
   * Copies tensors into the parameters/buffers with the same names. Strict (default): any missing or unexpected
   * key, or a shape/dtype mismatch, is an error listing all of them by name. Non-strict: copies what matches and
   * returns the lists. `castDtype` converts a dtype mismatch instead of refusing it (bf16 checkpoint -> fp32 model).
   */
  loadStateDict(
    sd: StateDict | Record<string, Tensor>,
    opts: { strict?: boolean; castDtype?: boolean } = {},
  ): { missing: string[]; unexpected: string[]; mismatched: string[] } {
    const src = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, dst] of own) {
      const s = src.get(k);
      if (!s) continue;
      if (s.shape.join(",") !== dst.shape.join(","))
        mismatched.push(`${k} (shape [${s.shape}] in checkpoint, [${dst.shape}] in model)`);
      else if (s.dtype !== dst.dtype && !opts.castDtype)
        mismatched.push(`${k} (dtype ${s.dtype} in checkpoint, ${dst.dtype} in model)`);
    }
    const strict = opts.strict ?? true;
    if (strict && (missing.length || unexpected.length || mismatched.length))
      throw new StateDictError(missing, unexpected, mismatched);
    const bad = new Set(mismatched.map((m) => m.split(" ")[0]));
    noGrad(() => {
      for (const [k, dst] of own) {
        const s = src.get(k);
        if (s && !bad.has(k)) dst.copy_(s);
      }
    });
    return { missing, unexpected, mismatched };
  }

  /** Freezes (requires_grad=false) every parameter whose name matches; returns the names frozen. */
  freeze(pattern: string | RegExp = "**"): string[] {
    return this.#setTrainable(pattern, false);
  }

  unfreeze(pattern: string | RegExp = "**"): string[] {
    return this.#setTrainable(pattern, true);
  }

  #setTrainable(pattern: string | RegExp, v: boolean): string[] {
    const re = namePattern(pattern);
    const names: string[] = [];
    for (const [n, t] of this.namedParameters()) {
      if (re.test(n)) {
        t.requiresGrad_(v);
        names.push(n);
      }
    }
    return names;
  }

  /** Casts every floating parameter and buffer to dtype (or moves them to a device), keeping Tensor identities. */
  to(target: DType | { device: string }): this {
    noGrad(() => {
      for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
        if (typeof target === "string" && !isFloatingDType(t.dtype)) continue;
        const rg = t.requiresGrad;
        const nt = t.to(target);
        t.assign(nt);
        if (rg) t.requiresGrad_(true);
      }
    });
    return this;
  }

  /** Sets every parameter's gradient to None (zero_grad with set_to_none=True). */
  zeroGrad(): void {
    for (const [, t] of this.namedParameters()) t.setGrad(null);
  }

  dispose(): void {
    for (const t of this.#params.values()) t.dispose();
    for (const b of this.#buffers.values()) b.t.dispose();
    for (const m of this.#children.values()) m.dispose();
    this.#params.clear();
    this.#buffers.clear();
    this.#children.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function isFloatingDType(d: DType): boolean {
  return d === "float32" || d === "float16" || d === "bfloat16" || d === "float64";
}

/** An ordered list of modules named "0", "1", ... (torch.nn.ModuleList). */
export class ModuleList<M extends Module> extends Module implements Iterable<M> {
  readonly items: M[] = [];
  constructor(items: M[] = []) {
    super();
    for (const m of items) this.push(m);
  }
  push(m: M): void {
    this.module(String(this.items.length), m);
    this.items.push(m);
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new RangeError(`ModuleList index ${i} out of range (${this.items.length})`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
