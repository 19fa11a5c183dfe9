/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay and bias correction, as torch.optim.AdamW.
 *   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps)
 * The optimizer owns its state tensors (dispose() frees them); parameters are borrowed from the model.
 */
import { Tensor, noGrad, tidy, zerosLike, keep } from "../../tensor/index.ts";

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Parameter names that get no weight decay (e.g. biases and norms); default: none excluded, as torch. */
  noDecay?: (name: string) => boolean;
}

export interface AdamWState {
  step: number;
  /** Per parameter name: first and second moments. */
  expAvg: Map<string, Tensor>;
  expAvgSq: Map<string, Tensor>;
}

export class AdamW implements Disposable {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  step = 0;
  readonly #params: [string, Tensor][];
  readonly #noDecay: (name: string) => boolean;
  readonly #m = new Map<string, Tensor>();
  readonly #v = new Map<string, Tensor>();

  constructor(params: Iterable<[string, Tensor]>, opts: AdamWOptions = {}) {
    this.#params = [...params];
    this.lr = opts.lr ?? 1e-3;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.#noDecay = opts.noDecay ?? (() => false);
    if (!(this.lr >= 0)) throw new Error(`AdamW: invalid lr ${this.lr}`);
    if (!(this.betas[0] >= 0 && this.betas[0] < 1 && this.betas[1] >= 0 && this.betas[1] < 1))
      throw new Error(`AdamW: invalid betas ${this.betas}`);
  }

  get paramNames(): string[] {
    return this.#params.map(([n]) => n);
  }

  /** One update from the accumulated .grad of each parameter (parameters without grad are skipped). */
  stepUpdate(): void {
    this.step += 1;
    const [b1, b2] = this.betas;
    const bc1 = 1 - b1 ** this.step;
    const bc2Sqrt = Math.sqrt(1 - b2 ** this.step);
    noGrad(() => {
      for (const [name, p] of this.#params) {
        const g = p.grad;
        if (g === null) continue;
        tidy(() => {
          let m = this.#m.get(name);
          let v = this.#v.get(name);
          if (!m || !v) {
            m = keep(zerosLike(p));
            v = keep(zerosLike(p));
            this.#m.set(name, m);
            this.#v.set(name, v);
          }
          const wd = this.#noDecay(name) ? 0 : this.weightDecay;
          if (wd !== 0) p.mul_(1 - this.lr * wd);
          m.lerp_(g, 1 - b1);
          v.mul_(b2).addcmul_(g, g, 1 - b2);
          const denom = v.sqrt().div(bc2Sqrt).add(this.eps);
          p.addcdiv_(m, denom, -this.lr / bc1);
          g.dispose();
        });
      }
    });
  }

  /** Sets every parameter's gradient to None. */
  zeroGrad(): void {
    for (const [, p] of this.#params) p.setGrad(null);
  }

  /** Moments by parameter name (borrowed), for checkpoints. */
  state(): AdamWState {
    return { step: this.step, expAvg: this.#m, expAvgSq: this.#v };
  }

  /** Restores moments (copied) and the step count. Names must belong to this optimizer's parameters. */
  loadState(s: { step: number; expAvg: Map<string, Tensor>; expAvgSq: Map<string, Tensor> }): void {
    const known = new Set(this.paramNames);
    for (const name of [...s.expAvg.keys(), ...s.expAvgSq.keys()])
      if (!known.has(name)) throw new Error(`optimizer state has unknown parameter '${name}'`);
    this.#clear();
    for (const [name, t] of s.expAvg) this.#m.set(name, keep(t.clone()));
    for (const [name, t] of s.expAvgSq) this.#v.set(name, keep(t.clone()));
    this.step = s.step;
  }

  #clear(): void {
    for (const t of [...this.#m.values(), ...this.#v.values()]) t.dispose();
    this.#m.clear();
    this.#v.clear();
  }

  dispose(): void {
    this.#clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
