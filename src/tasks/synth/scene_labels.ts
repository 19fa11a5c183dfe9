/**
 * Direct scene labels of a CLEVR-style image for pretraining a vision tower (src/train/vision_pretrain.ts): the
 * number of objects, and the number of objects of each colour, shape, size and material of the counting domain.
 * A real Qwen2-VL arrives with a tower that already sees; the demo's tiny model starts random, and counting through
 * the language model alone stays at chance (docs/results.md, attempts 7–9), so the demo teaches the tower these
 * counts first.
 *
 * Tensor-free.
 */
import { COLORS, COUNT_MATERIALS, COUNT_SIZES, SHAPES, objectBox, type SceneObject } from "./scene.ts";

/** What a label reads from an object of a scene record (the instruct set's `scene.objects`). */
export interface LabelledObject {
  shape: string;
  size: string;
  color: string;
  material: string;
}

/** One head per entry: the total, then each attribute value (its name is the value). */
export const SCENE_LABELS: readonly { name: string; counts: (o: LabelledObject) => boolean }[] = [
  { name: "total", counts: () => true },
  ...COLORS.map((c) => ({ name: c, counts: (o: LabelledObject) => o.color === c })),
  ...SHAPES.map((s) => ({ name: s, counts: (o: LabelledObject) => o.shape === s })),
  ...COUNT_SIZES.map((s) => ({ name: s, counts: (o: LabelledObject) => o.size === s })),
  ...COUNT_MATERIALS.map((m) => ({ name: m, counts: (o: LabelledObject) => o.material === m })),
];

/** Classes of each head: the counts 0 … SCENE_COUNT_CLASSES − 1 (larger counts are clipped to the last). */
export const SCENE_COUNT_CLASSES = 11;

/** The label vector of a scene: one clipped count per SCENE_LABELS entry. */
export function sceneLabels(objects: readonly LabelledObject[]): number[] {
  return SCENE_LABELS.map(({ counts }) => Math.min(SCENE_COUNT_CLASSES - 1, objects.filter(counts).length));
}

/** Classes of each cell's count (0, 1, 2 or more objects of a kind whose centre lies in the cell). */
export const CELL_COUNT_CLASSES = 3;

/** What cellLabels reads of a scene record: the canvas and the objects with their ground positions. */
export interface PlacedScene {
  width: number;
  height: number;
  objects: readonly (LabelledObject & Pick<SceneObject, "x" | "z">)[];
}

/**
 * Dense labels on a grid of `cols` × `rows` cells over the image (the merged vision tokens, row-major, as the
 * merger emits them): per cell and SCENE_LABELS entry, the number of objects of that kind whose screen box centre
 * (the "center" view the counting images are drawn from) lies in the cell, clipped to CELL_COUNT_CLASSES − 1.
 * Summed over the cells they give sceneLabels (below the clip). Returns cells × labels numbers, cell-major.
 */
export function cellLabels(scene: PlacedScene, cols: number, rows: number): number[] {
  const K = SCENE_LABELS.length;
  const out = new Array<number>(cols * rows * K).fill(0);
  for (const o of scene.objects) {
    const b = objectBox(scene, o as SceneObject, "center");
    const col = Math.min(cols - 1, Math.max(0, Math.floor((((b.x0 + b.x1) / 2) * cols) / scene.width)));
    const row = Math.min(rows - 1, Math.max(0, Math.floor((((b.y0 + b.y1) / 2) * rows) / scene.height)));
    SCENE_LABELS.forEach(({ counts }, k) => {
      const i = (row * cols + col) * K + k;
      if (counts(o)) out[i] = Math.min(CELL_COUNT_CLASSES - 1, out[i]! + 1);
    });
  }
  return out;
}

/** A labelled image of an instruct file. */
export interface SceneImage {
  image: string;
  labels: number[];
  /** The scene, for cellLabels (absent when the record has no canvas size). */
  scene: PlacedScene | null;
}

/**
 * The distinct counting-style images of instruct records (those with a scene), each with its labels, in file
 * order. Records of other styles (geometry figures, transformation pairs) and repeats of an image are skipped.
 */
export function sceneImages(
  records: readonly {
    image?: unknown;
    style?: unknown;
    scene?: { width?: number; height?: number; objects?: readonly LabelledObject[] };
  }[],
): SceneImage[] {
  const seen = new Set<string>();
  const out: SceneImage[] = [];
  for (const r of records) {
    if (r.style !== "counting" || typeof r.image !== "string" || !Array.isArray(r.scene?.objects)) continue;
    if (seen.has(r.image)) continue;
    seen.add(r.image);
    const { width, height, objects } = r.scene;
    const placed =
      typeof width === "number" && typeof height === "number" && objects.every((o) => "x" in o && "z" in o);
    out.push({
      image: r.image,
      labels: sceneLabels(objects),
      scene: placed ? { width, height, objects: objects as PlacedScene["objects"] } : null,
    });
  }
  return out;
}
