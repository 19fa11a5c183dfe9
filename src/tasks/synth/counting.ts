/**
 * Visual counting in the style of CLEVR-Math: a scene of objects and a short program of "subtract all …" and
 * "add N …" steps, then "how many … are left?".
 *
 * Splits (what each tests):
 * - train / id:   3–8 objects of the three CLEVR kinds, 1–2 steps, answers 0–10.
 * - ood-domain:   the Super-CLEVR stand-in. Same counts and steps, but scenes hold object kinds never seen in
 *                 training (cones, tori), colours shifted per object and outlined objects. Questions use only
 *                 known words, so every item is answerable; the answers stay in the training range.
 * - ood-steps:    9–12 objects (more than any training scene) and 3–4 steps; answers kept in 0–10, so the model
 *                 never has to produce an output it has not seen, only to perceive and compose more.
 */
import { Rng } from "../../data/rng.ts";
import {
  COLORS,
  COUNT_MATERIALS,
  COUNT_SIZES,
  NEW_SHAPES,
  PLURAL,
  SHAPES,
  describe,
  leftToRight,
  listPhrase,
  place,
  type Attrs,
  type Canvas2,
  type RenderStyle,
  type SceneObject,
  type Shape,
} from "./scene.ts";
import { renderScene } from "./render.ts";
import { pad, thinkAnswer, type MetaRecord, type SynthItem } from "./types.ts";

export const COUNT_CANVAS: Canvas2 = { width: 168, height: 112 };
export const MAX_ANSWER = 10;

export type AttrKey = "size" | "color" | "material" | "shape";
const KEY_ORDER: AttrKey[] = ["size", "color", "material", "shape"];
export type Filter = Partial<Attrs>;

export type Op = { kind: "subtract"; filter: Filter } | { kind: "add"; count: number; spec: Filter };

export interface CountingScene {
  width: number;
  height: number;
  objects: SceneObject[];
  style: RenderStyle;
  ops: Op[];
  /** Attributes of the objects counted at the end ({} = all objects). */
  query: Filter;
}

export type CountingSplit = "train" | "id" | "ood-domain" | "ood-steps";

interface SplitConfig {
  objects: [number, number];
  steps: [number, number];
  newKinds: boolean;
}

const CONFIG: Record<CountingSplit, SplitConfig> = {
  train: { objects: [3, 8], steps: [1, 2], newKinds: false },
  id: { objects: [3, 8], steps: [1, 2], newKinds: false },
  "ood-domain": { objects: [3, 8], steps: [1, 2], newKinds: true },
  "ood-steps": { objects: [9, 12], steps: [3, 4], newKinds: false },
};

export function matches(o: Filter, f: Filter): boolean {
  for (const k of KEY_ORDER) if (f[k] !== undefined && o[k] !== f[k]) return false;
  return true;
}

/** "large red cubes", "metal objects", "objects"; singular form for one added object. */
export function filterPhrase(f: Filter, singular = false): string {
  const words: string[] = [];
  for (const k of ["size", "color", "material"] as const) if (f[k]) words.push(f[k]!);
  if (f.shape) words.push(singular ? f.shape : PLURAL[f.shape as Shape]);
  else words.push(singular ? "object" : "objects");
  return words.join(" ");
}

export function opSentence(op: Op): string {
  if (op.kind === "subtract") return `Subtract all ${filterPhrase(op.filter)}.`;
  return `Add ${op.count} ${filterPhrase(op.spec, op.count === 1)}.`;
}

export function questionText(scene: Pick<CountingScene, "ops" | "query">): string {
  return [...scene.ops.map(opSentence), `How many ${filterPhrase(scene.query)} are left?`].join(" ");
}

/** An object in the running state: a scene object, or one added by step `added` (0-based). */
interface Item {
  attrs: Filter;
  obj?: SceneObject;
  added?: number;
}

function itemsPhrase(items: readonly Item[], ops: readonly Op[]): string {
  const parts: string[] = [];
  const addedCount = new Map<number, number>();
  for (const it of items) {
    if (it.obj) parts.push(describe(it.obj));
    else addedCount.set(it.added!, (addedCount.get(it.added!) ?? 0) + 1);
  }
  for (const [step, n] of [...addedCount.entries()].sort((a, b) => a[0] - b[0])) {
    const op = ops[step] as Extract<Op, { kind: "add" }>;
    parts.push(`${n} added ${filterPhrase(op.spec, n === 1)}`);
  }
  return listPhrase(parts);
}

/** Runs the program on the scene; returns the answer and the reasoning steps. */
export function solveCounting(c: Canvas2, scene: CountingScene): { answer: number; steps: string[] } {
  let state: Item[] = leftToRight(c, scene.objects).map((o) => ({ attrs: o, obj: o }));
  const steps: string[] = [];
  steps.push(`There are ${state.length} objects: ${itemsPhrase(state, scene.ops)}.`);
  scene.ops.forEach((op, i) => {
    const before = state.length;
    if (op.kind === "subtract") {
      const gone = state.filter((it) => matches(it.attrs, op.filter));
      state = state.filter((it) => !matches(it.attrs, op.filter));
      const what = gone.length === 0 ? "there are none" : `they are ${itemsPhrase(gone, scene.ops)}`;
      steps.push(
        `Step ${i + 1}: subtract all ${filterPhrase(op.filter)}; ${what}. ${before} - ${gone.length} = ${state.length} objects are left.`,
      );
    } else {
      for (let k = 0; k < op.count; k++) state.push({ attrs: op.spec, added: i });
      steps.push(
        `Step ${i + 1}: add ${op.count} ${filterPhrase(op.spec, op.count === 1)}. ${before} + ${op.count} = ${state.length} objects.`,
      );
    }
  });
  const counted = state.filter((it) => matches(it.attrs, scene.query));
  if (Object.keys(scene.query).length === 0) {
    steps.push(`So ${counted.length} objects are left.`);
  } else {
    const which = counted.length === 0 ? "there are none" : `they are ${itemsPhrase(counted, scene.ops)}`;
    steps.push(`The ${filterPhrase(scene.query)} that are left: ${which}. So the answer is ${counted.length}.`);
  }
  return { answer: counted.length, steps };
}

function randomKeys(rng: Rng, min: number, max: number): AttrKey[] {
  const n = rng.int(min, max);
  const keys = rng.sample(KEY_ORDER, n);
  return KEY_ORDER.filter((k) => keys.includes(k));
}

/** Draws one scene and program for a split, or null when the draw breaks a constraint (the caller retries). */
export function drawCountingScene(rng: Rng, split: CountingSplit): CountingScene | null {
  const cfg = CONFIG[split];
  const c = COUNT_CANVAS;
  const n = rng.int(cfg.objects[0], cfg.objects[1]);
  const attrs: Attrs[] = [];
  for (let i = 0; i < n; i++) {
    const shape: Shape = cfg.newKinds && rng.chance(0.4) ? rng.pick(NEW_SHAPES) : rng.pick(SHAPES);
    attrs.push({ shape, size: rng.pick(COUNT_SIZES), color: rng.pick(COLORS), material: rng.pick(COUNT_MATERIALS) });
  }
  if (cfg.newKinds && !attrs.some((a) => (NEW_SHAPES as readonly string[]).includes(a.shape))) {
    attrs[rng.int(0, n - 1)]!.shape = rng.pick(NEW_SHAPES);
  }
  const objects = place(rng, c, attrs, ["center"]);
  if (!objects) return null;

  const nSteps = rng.int(cfg.steps[0], cfg.steps[1]);
  const kinds: Op["kind"][] = [];
  for (let i = 0; i < nSteps; i++) kinds.push(rng.chance(0.75) ? "subtract" : "add");
  const filterKeys = kinds.map(() => randomKeys(rng, 1, 2));
  const queryKeys: AttrKey[] = rng.chance(0.7) ? [] : randomKeys(rng, 1, 1);

  let state: Item[] = objects.map((o) => ({ attrs: o, obj: o }));
  const ops: Op[] = [];
  for (let i = 0; i < nSteps; i++) {
    if (kinds[i] === "subtract") {
      // Copy the attributes of an existing object, so at least one object is removed; never name a new kind.
      const keys = filterKeys[i]!;
      const candidates = state.filter(
        (it) =>
          keys.every((k) => it.attrs[k] !== undefined) &&
          !(keys.includes("shape") && !(SHAPES as readonly string[]).includes(it.attrs.shape!)),
      );
      if (candidates.length === 0) return null;
      const src = rng.pick(candidates).attrs;
      const filter: Filter = {};
      for (const k of keys) (filter as Record<string, string>)[k] = src[k]!;
      ops.push({ kind: "subtract", filter });
      state = state.filter((it) => !matches(it.attrs, filter));
    } else {
      // An added group names every attribute a later step or the question looks at (so counts are defined).
      const need = new Set<AttrKey>(["shape", ...queryKeys]);
      for (let j = i + 1; j < nSteps; j++) for (const k of filterKeys[j]!) need.add(k);
      if (rng.chance(0.4)) need.add(rng.pick(KEY_ORDER));
      const spec: Filter = {};
      for (const k of KEY_ORDER) {
        if (!need.has(k)) continue;
        if (k === "shape") spec.shape = rng.pick(SHAPES);
        if (k === "size") spec.size = rng.pick(COUNT_SIZES);
        if (k === "color") spec.color = rng.pick(COLORS);
        if (k === "material") spec.material = rng.pick(COUNT_MATERIALS);
      }
      const count = rng.int(1, 3);
      ops.push({ kind: "add", count, spec });
      for (let k = 0; k < count; k++) state.push({ attrs: spec, added: i });
    }
  }
  const query: Filter = {};
  if (queryKeys.length) {
    const k = queryKeys[0]!;
    const pool = state.filter(
      (it) => it.attrs[k] !== undefined && !(k === "shape" && !(SHAPES as readonly string[]).includes(it.attrs.shape!)),
    );
    if (pool.length && rng.chance(0.85)) (query as Record<string, string>)[k] = rng.pick(pool).attrs[k]!;
    else if (k === "shape") query.shape = rng.pick(SHAPES);
    else if (k === "size") query.size = rng.pick(COUNT_SIZES);
    else if (k === "color") query.color = rng.pick(COLORS);
    else query.material = rng.pick(COUNT_MATERIALS);
  }
  const style: RenderStyle = {};
  if (cfg.newKinds) {
    style.outline = true;
    // A brightness shift plus a little per-channel hue noise: visibly off-palette, still the same colour name.
    style.tint = objects.map(() => {
      const b = rng.int(-24, 24);
      return [b + rng.int(-8, 8), b + rng.int(-8, 8), b + rng.int(-8, 8)];
    });
  }
  const scene: CountingScene = { width: c.width, height: c.height, objects, style, ops, query };
  const { answer } = solveCounting(c, scene);
  if (answer > MAX_ANSWER) return null;
  return scene;
}

export function countingKey(scene: CountingScene): string {
  const objs = scene.objects.map((o) => `${o.size} ${o.color} ${o.material} ${o.shape}`).sort();
  return `counting|${objs.join(",")}|${questionText(scene)}`;
}

const SPLIT_DIR: Record<CountingSplit, string> = {
  train: "train_images/clevr_math",
  id: "test_images/clevr_math",
  "ood-domain": "test_images/super_clevr",
  "ood-steps": "test_images/clevr_math_steps",
};

const ID_PREFIX: Record<CountingSplit, string> = {
  train: "clevr_math_train",
  id: "clevr_math_test",
  "ood-domain": "super_clevr_test",
  "ood-steps": "clevr_math_steps_test",
};

/** Makes item `index` of a split (attempt counts retries after constraint or train/test-side rejections). */
export function makeCountingItem(seed: number, split: CountingSplit, index: number, attempt: number): SynthItem | null {
  const rng = Rng.stream(seed, "counting", split, index, attempt);
  const scene = drawCountingScene(rng, split);
  if (!scene) return null;
  const c = COUNT_CANVAS;
  const { answer, steps } = solveCounting(c, scene);
  const path = `${SPLIT_DIR[split]}/${pad(index)}.png`;
  const record: MetaRecord = {
    id: `${ID_PREFIX[split]}_${pad(index)}`,
    image: path,
    problem: questionText(scene),
    ...(split === "train" ? { cot: thinkAnswer(steps, String(answer)) } : {}),
    answer: String(answer),
    task: "counting",
    split,
    scene,
  };
  return {
    record,
    images: [{ path, render: () => renderScene(c, scene.objects, "center", scene.style) }],
    key: countingKey(scene),
  };
}
