/** Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_). */
import { Tensor, noGrad, stack, tidy } from "../../tensor/index.ts";

/**
 * Scales all gradients by min(1, maxNorm / (total + 1e-6)) where total is the 2-norm over all of them.
 * Returns the total norm before clipping (a host sync point). Parameters without grad are ignored.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): number {
  return noGrad(() =>
    tidy(() => {
      const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return 0;
      const total = stack(grads.map((g) => g.norm(2)))
        .norm(2)
        .item();
      const scale = maxNorm / (total + 1e-6);
      if (scale < 1) for (const g of grads) g.mul_(scale);
      return total;
    }),
  );
}
