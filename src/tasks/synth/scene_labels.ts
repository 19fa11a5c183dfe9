/**
 * Direct scene labels of a CLEVR-style image for pretraining a vision tower (src/train/vision_pretrain.ts): the
 * number of objects, and the number of objects of each colour, shape, size and material of the counting domain.
 * A real Qwen2-VL arrives with a tower that already sees; the demo's tiny model starts random, and counting through
 * the language model alone stays at chance (docs/results.md, attempts 7–9), so the demo teaches the tower these
 * counts first.
 *
 * Tensor-free.
 */
import { COLORS, COUNT_MATERIALS, COUNT_SIZES, SHAPES } from "./scene.ts";

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

/** A labelled image of an instruct file. */
export interface SceneImage {
  image: string;
  labels: number[];
}

/**
 * The distinct counting-style images of instruct records (those with a scene), each with its labels, in file
 * order. Records of other styles (geometry figures, transformation pairs) and repeats of an image are skipped.
 */
export function sceneImages(
  records: readonly { image?: unknown; style?: unknown; scene?: { objects?: readonly LabelledObject[] } }[],
): SceneImage[] {
  const seen = new Set<string>();
  const out: SceneImage[] = [];
  for (const r of records) {
    if (r.style !== "counting" || typeof r.image !== "string" || !Array.isArray(r.scene?.objects)) continue;
    if (seen.has(r.image)) continue;
    seen.add(r.image);
    out.push({ image: r.image, labels: sceneLabels(r.scene.objects) });
  }
  return out;
}
