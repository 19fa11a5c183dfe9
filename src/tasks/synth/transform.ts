/**
 * Spatial transformation in the style of TRANCE: an initial image, a final image, and the attribute tuples
 * of the initial objects; the answer is the sequence of 1–4 calls `func(object_id, value)` that turns one
 * state into the other, drawn from the five functions and value sets of spec §2.2.
 *
 * Splits: train and id render both images from the same (centre) camera. ood-left / ood-right render the final
 * image from a camera moved 40° to the left / right around the scene: same objects, same transformations, and
 * positions still named in the initial view's frame, so only the viewpoint differs.
 *
 * Constraints that keep every answer unique and readable from the two images: the initial objects have
 * pairwise different attribute tuples; each (object, function) pair occurs at most once and always changes the
 * value; at most one object moves; no two objects overlap in any of the three views, before or after.
 */
import { Rng } from "../../data/rng.ts";
import {
  COLORS,
  MATERIALS,
  SHAPES,
  SIZES,
  describe,
  fits,
  place,
  round1,
  type Attrs,
  type Canvas2,
  type SceneObject,
  type View,
} from "./scene.ts";
import { renderScene } from "./render.ts";
import { pad, thinkAnswer, type MetaRecord, type SynthItem } from "./types.ts";

export const TRANSFORM_CANVAS: Canvas2 = { width: 140, height: 112 };
export const FUNCTIONS = ["change_size", "change_color", "change_material", "change_shape", "change_position"] as const;
export type Func = (typeof FUNCTIONS)[number];
export const DIRECTIONS = [
  "front",
  "behind",
  "left",
  "right",
  "front_left",
  "front_right",
  "behind_left",
  "behind_right",
] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** Ground displacement of a move, in pixels (x to the right, z to the front). */
export const MOVE: Record<Direction, [number, number]> = {
  front: [0, 24],
  behind: [0, -24],
  left: [-24, 0],
  right: [24, 0],
  front_left: [-18, 18],
  front_right: [18, 18],
  behind_left: [-18, -18],
  behind_right: [18, -18],
};

const ALL_VIEWS: View[] = ["center", "left", "right"];
const PLACE_RADIUS = 54;

export interface Transformation {
  func: Func;
  obj: number;
  value: string;
}

export interface TransformScene {
  width: number;
  height: number;
  initial: SceneObject[];
  final: SceneObject[];
  transformations: Transformation[];
  /** Camera of the final image (the initial image is always seen from the centre). */
  finalView: View;
}

export type TransformSplit = "train" | "id" | "ood-left" | "ood-right";

export function tupleText(id: number, o: Attrs): string {
  return `('${id}', '${o.shape}', '${o.size}', '${o.color}', '${o.material}')`;
}

export function problemText(initial: readonly Attrs[]): string {
  return `Initial objects: [${initial.map((o, i) => tupleText(i, o)).join(", ")}].`;
}

export function callText(t: Transformation): string {
  return `${t.func}(${t.obj}, ${t.value})`;
}

export function answerText(ts: readonly Transformation[]): string {
  return ts.map(callText).join(", ");
}

function sortTransformations(ts: Transformation[]): Transformation[] {
  return ts.slice().sort((a, b) => a.obj - b.obj || FUNCTIONS.indexOf(a.func) - FUNCTIONS.indexOf(b.func));
}

const ATTR_OF: Record<Exclude<Func, "change_position">, keyof Attrs> = {
  change_size: "size",
  change_color: "color",
  change_material: "material",
  change_shape: "shape",
};

const VALUES: Record<Exclude<Func, "change_position">, readonly string[]> = {
  change_size: SIZES,
  change_color: COLORS,
  change_material: MATERIALS,
  change_shape: SHAPES,
};

/** Applies transformations to a copy of the objects. */
export function applyTransformations(initial: readonly SceneObject[], ts: readonly Transformation[]): SceneObject[] {
  const out = initial.map((o) => ({ ...o }));
  for (const t of ts) {
    const o = out[t.obj]!;
    if (t.func === "change_position") {
      const [dx, dz] = MOVE[t.value as Direction];
      o.x = round1(o.x + dx);
      o.z = round1(o.z + dz);
    } else {
      (o as unknown as Record<string, string>)[ATTR_OF[t.func]] = t.value;
    }
  }
  return out;
}

function tupleKey(o: Attrs): string {
  return `${o.shape} ${o.size} ${o.color} ${o.material}`;
}

export function drawTransformScene(rng: Rng, split: TransformSplit): TransformScene | null {
  const c = TRANSFORM_CANVAS;
  const n = rng.int(3, 6);
  const attrs: Attrs[] = [];
  const seen = new Set<string>();
  while (attrs.length < n) {
    const a: Attrs = {
      shape: rng.pick(SHAPES),
      size: rng.pick(SIZES),
      color: rng.pick(COLORS),
      material: rng.pick(MATERIALS),
    };
    if (seen.has(tupleKey(a))) continue;
    seen.add(tupleKey(a));
    attrs.push(a);
  }
  const initial = place(rng, c, attrs, ALL_VIEWS, PLACE_RADIUS);
  if (!initial) return null;

  const nT = rng.int(1, 4);
  const used = new Set<string>();
  const ts: Transformation[] = [];
  let moved = false;
  for (let guard = 0; ts.length < nT && guard < 50; guard++) {
    const func = rng.pick(FUNCTIONS);
    const obj = rng.int(0, n - 1);
    if (used.has(`${obj}/${func}`)) continue;
    if (func === "change_position") {
      if (moved) continue;
      ts.push({ func, obj, value: rng.pick(DIRECTIONS) });
      moved = true;
    } else {
      const current = initial[obj]![ATTR_OF[func]];
      ts.push({ func, obj, value: rng.pick(VALUES[func].filter((v) => v !== current)) });
    }
    used.add(`${obj}/${func}`);
  }
  if (ts.length !== nT) return null;
  const transformations = sortTransformations(ts);
  const final = applyTransformations(initial, transformations);
  for (const o of final) if (!fits(c, o, final, ALL_VIEWS)) return null;
  const finalView: View = split === "ood-left" ? "left" : split === "ood-right" ? "right" : "center";
  return { width: c.width, height: c.height, initial, final, transformations, finalView };
}

const ATTR_WORD: Record<Exclude<Func, "change_position">, string> = {
  change_size: "size",
  change_color: "color",
  change_material: "material",
  change_shape: "shape",
};

/** Step-by-step comparison of every object, ending with the answer. */
export function transformCot(scene: TransformScene): string {
  const steps: string[] = [];
  steps.push(`The initial state has ${scene.initial.length} objects. Compare each object with the final image.`);
  scene.initial.forEach((o, i) => {
    const mine = scene.transformations.filter((t) => t.obj === i);
    const head = `Object ${i} (${describe(o, false)}):`;
    if (mine.length === 0) {
      steps.push(`${head} unchanged.`);
      return;
    }
    const what = mine.map((t) =>
      t.func === "change_position"
        ? `it moved ${t.value.replace("_", " ")}`
        : `its ${ATTR_WORD[t.func]} is now ${t.value}`,
    );
    steps.push(`${head} ${what.join(" and ")}, so ${mine.map(callText).join(", ")}.`);
  });
  steps.push(`So the transformations are ${answerText(scene.transformations)}.`);
  return thinkAnswer(steps, answerText(scene.transformations));
}

export function transformKey(scene: TransformScene): string {
  return `transformation|${scene.initial.map((o, i) => tupleText(i, o)).join(",")}|${answerText(scene.transformations)}`;
}

const SPLIT_DIR: Record<TransformSplit, string> = {
  train: "train_images/trance",
  id: "test_images/trance",
  "ood-left": "test_images/trance_left",
  "ood-right": "test_images/trance_right",
};

const ID_PREFIX: Record<TransformSplit, string> = {
  train: "trance_train",
  id: "trance_test",
  "ood-left": "trance_left_test",
  "ood-right": "trance_right_test",
};

export function makeTransformItem(
  seed: number,
  split: TransformSplit,
  index: number,
  attempt: number,
): SynthItem | null {
  const rng = Rng.stream(seed, "transformation", split, index, attempt);
  const scene = drawTransformScene(rng, split);
  if (!scene) return null;
  const c = TRANSFORM_CANVAS;
  const p0 = `${SPLIT_DIR[split]}/${pad(index)}_0.png`;
  const p1 = `${SPLIT_DIR[split]}/${pad(index)}_1.png`;
  const answer = answerText(scene.transformations);
  const record: MetaRecord = {
    id: `${ID_PREFIX[split]}_${pad(index)}`,
    image: [p0, p1],
    problem: problemText(scene.initial),
    ...(split === "train" ? { cot: transformCot(scene) } : {}),
    answer,
    task: "transformation",
    split,
    scene,
  };
  return {
    record,
    images: [
      { path: p0, render: () => renderScene(c, scene.initial, "center") },
      { path: p1, render: () => renderScene(c, scene.final, scene.finalView) },
    ],
    key: transformKey(scene),
  };
}
