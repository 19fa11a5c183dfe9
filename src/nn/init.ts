/** Parameter initialisers (in place, under noGrad). Random ones use the global generator (manualSeed). */
import { Tensor, noGrad } from "../tensor/index.ts";

export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  noGrad(() => t.normal_(mean, std));
  return t;
}

export function uniform_(t: Tensor, low: number, high: number): Tensor {
  noGrad(() => t.uniform_(low, high));
  return t;
}

export function zeros_(t: Tensor): Tensor {
  noGrad(() => t.zero_());
  return t;
}

export function ones_(t: Tensor): Tensor {
  noGrad(() => t.fill_(1));
  return t;
}

/** fan_in of a weight [out, in, ...]: in × receptive field. */
export function fanIn(shape: number[]): number {
  return shape.slice(1).reduce((a, b) => a * b, 1);
}

/** torch.nn.Linear's default: kaiming_uniform(a=√5), i.e. U(-1/√fan_in, 1/√fan_in). */
export function kaimingUniformDefault_(t: Tensor): Tensor {
  const bound = 1 / Math.sqrt(fanIn(t.shape));
  return uniform_(t, -bound, bound);
}
