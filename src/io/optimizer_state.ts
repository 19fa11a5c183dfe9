/**
 * AdamW state on disk, for exact resume: one safetensors file whose tensors are `exp_avg.<param name>` and
 * `exp_avg_sq.<param name>`, and whose metadata holds the step and hyper-parameters. Written atomically.
 */
import { AdamW } from "../nn/index.ts";
import { Tensor } from "../tensor/index.ts";
import { loadSafetensors, saveSafetensors } from "./safetensors.ts";

export function saveOptimizerState(path: string, opt: AdamW): void {
  const st = opt.state();
  const tensors = new Map<string, Tensor>();
  for (const [n, t] of st.expAvg) tensors.set(`exp_avg.${n}`, t);
  for (const [n, t] of st.expAvgSq) tensors.set(`exp_avg_sq.${n}`, t);
  saveSafetensors(path, tensors, {
    format: "reason-rft-adamw",
    step: String(st.step),
    lr: String(opt.lr),
    betas: JSON.stringify(opt.betas),
    eps: String(opt.eps),
    weight_decay: String(opt.weightDecay),
  });
}

/**
 * Restores moments and step into `opt` (whose parameters must have the saved names). The learning rate is taken
 * from the file too, since a schedule may have changed it. Errors name the file.
 */
export function loadOptimizerState(path: string, opt: AdamW): void {
  const { tensors, metadata } = loadSafetensors(path);
  try {
    if (metadata.format !== "reason-rft-adamw")
      throw new Error(`${path}: not an AdamW state file (format ${JSON.stringify(metadata.format)})`);
    const step = Number(metadata.step);
    if (!Number.isInteger(step) || step < 0) throw new Error(`${path}: bad step ${JSON.stringify(metadata.step)}`);
    const expAvg = new Map<string, Tensor>();
    const expAvgSq = new Map<string, Tensor>();
    for (const [k, t] of tensors) {
      if (k.startsWith("exp_avg_sq.")) expAvgSq.set(k.slice("exp_avg_sq.".length), t);
      else if (k.startsWith("exp_avg.")) expAvg.set(k.slice("exp_avg.".length), t);
      else throw new Error(`${path}: unexpected tensor '${k}'`);
    }
    try {
      opt.loadState({ step, expAvg, expAvgSq });
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
    const lr = Number(metadata.lr);
    if (Number.isFinite(lr)) opt.lr = lr;
  } finally {
    for (const t of tensors.values()) t.dispose(); // loadState copies what it keeps
  }
}
