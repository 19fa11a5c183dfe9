/**
 * The GRPO trainer's rewards: the task's built-in set (src/rewards/registry.ts, spec §3) plus reward plug-ins — a
 * user's TypeScript or JavaScript module (`reward_module`) whose exported functions are named in `reward_funcs`:
 *
 *   // my_rewards.ts
 *   export function short(completions: string[], solutions: string[], ctx: RewardPluginContext): number[] {
 *     return completions.map((c) => (c.length < 200 ? 1 : 0));
 *   }
 *
 * A plug-in may be async; it has `reward_timeout` seconds per batch. A plug-in that throws, times out or returns
 * the wrong number of values stops the run with an error naming it (`reward_on_error: raise`), or scores the
 * batch 0 with a warning (`zero`). A value of `null` means "cannot judge this item" and counts as 0 in the total, as
 * a built-in's null does.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { REWARD_NAMES, rewardSet, scoreBatch } from "../rewards/registry.ts";
import type { GRPOConfig } from "./config.ts";
import { rewardWeights } from "./config.ts";

/** What a plug-in receives besides completions and solutions. */
export interface RewardPluginContext {
  step: number;
  /** Completions per prompt (consecutive). */
  groupSize: number;
  ids: string[];
  problems: string[];
  answers: string[];
}

export type RewardPlugin = (
  completions: string[],
  solutions: string[],
  ctx: RewardPluginContext,
) => (number | null)[] | Promise<(number | null)[]>;

export interface ScoredRollouts {
  /** Per reward name, one value per completion (null: could not judge). */
  rewards: Record<string, (number | null)[]>;
  /** Weighted sum per completion (nulls count 0). */
  totals: number[];
}

export interface LoadedRewards {
  names: string[];
  score(
    texts: string[],
    examples: { id: string; solution: string; problem: string; answer: string }[],
    step: number,
    groupSize: number,
  ): Promise<ScoredRollouts>;
}

/** Runs `p` with a deadline; rejects naming `what`. */
function withTimeout<T>(p: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(
      () => rej(new Error(`${what} did not finish within reward_timeout (${seconds} s)`)),
      seconds * 1000,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Loads the built-in rewards of `task` and the plug-ins of `reward_module` named in `reward_funcs`. */
export async function loadRewards(
  task: string,
  cfg: Pick<GRPOConfig, "reward_funcs" | "reward_weights" | "reward_module" | "reward_timeout" | "reward_on_error">,
): Promise<LoadedRewards> {
  const weights = rewardWeights(cfg);
  const names = cfg.reward_funcs;
  const builtin = names.filter((n) => (REWARD_NAMES as readonly string[]).includes(n));
  const plugins = new Map<string, RewardPlugin>();
  const custom = names.filter((n) => !builtin.includes(n));
  if (custom.length) {
    if (!cfg.reward_module)
      throw new Error(
        `reward_funcs: ${custom.join(", ")} ${custom.length > 1 ? "are" : "is"} not a built-in reward (${REWARD_NAMES.join(", ")}) and no reward_module is set`,
      );
    let mod: Record<string, unknown>;
    try {
      const path = resolve(cfg.reward_module);
      // TypeScript plug-ins go through tsx's loader (ESM whatever the package type of the file's directory).
      mod = (
        /\.[cm]?ts$/.test(path)
          ? await (await import("tsx/esm/api")).tsImport(pathToFileURL(path).href, import.meta.url)
          : await import(pathToFileURL(path).href)
      ) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`reward_module ${cfg.reward_module}: cannot load it: ${(e as Error).message}`);
    }
    for (const n of custom) {
      const f = mod[n];
      if (typeof f !== "function")
        throw new Error(
          `reward_module ${cfg.reward_module} has no exported function "${n}" (exports: ${Object.keys(mod).join(", ") || "none"})`,
        );
      plugins.set(n, f as RewardPlugin);
    }
  }
  const set = builtin.length
    ? rewardSet(task, {
        funcs: builtin as (typeof REWARD_NAMES)[number][],
        weights: Object.fromEntries(builtin.map((n) => [n, weights[names.indexOf(n)]!])),
      })
    : [];
  return {
    names,
    async score(texts, examples, step, groupSize) {
      const solutions = examples.map((e) => e.solution);
      const rewards: Record<string, (number | null)[]> = {};
      const totals = texts.map(() => 0);
      if (set.length) {
        const s = scoreBatch(set, texts, solutions, { step, groupSize, onNull: "zero" });
        for (const r of set) {
          rewards[r.name] = s.rewards[r.name]!;
          s.rewards[r.name]!.forEach((v, i) => (totals[i]! += v === null ? 0 : r.weight * v));
        }
      }
      for (const [name, f] of plugins) {
        const w = weights[names.indexOf(name)]!;
        const ctx: RewardPluginContext = {
          step,
          groupSize,
          ids: examples.map((e) => e.id),
          problems: examples.map((e) => e.problem),
          answers: examples.map((e) => e.answer),
        };
        let values: (number | null)[];
        try {
          values = await withTimeout(
            Promise.resolve().then(() => f([...texts], [...solutions], ctx)),
            cfg.reward_timeout,
            `reward "${name}"`,
          );
          if (!Array.isArray(values) || values.length !== texts.length)
            throw new Error(
              `reward "${name}" returned ${Array.isArray(values) ? values.length : typeof values} values for ${texts.length} completions`,
            );
          values.forEach((v, i) => {
            if (v !== null && !Number.isFinite(v))
              throw new Error(`reward "${name}" returned ${String(v)} for completion ${i} (numbers or null only)`);
          });
        } catch (e) {
          const msg = (e as Error).message.startsWith("reward")
            ? (e as Error).message
            : `reward "${name}" threw: ${(e as Error).message}`;
          if (cfg.reward_on_error === "raise")
            throw new Error(`${msg} (set reward_on_error=zero to score such batches 0)`);
          process.stderr.write(`warning: ${msg}; scoring this batch 0 (reward_on_error=zero)\n`);
          values = texts.map(() => 0);
        }
        rewards[name] = values;
        values.forEach((v, i) => (totals[i]! += v === null ? 0 : w * v));
      }
      return { rewards, totals };
    },
  };
}
