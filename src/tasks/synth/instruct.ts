/**
 * The instruct set: our stand-in for the general skills of Qwen2-VL-Instruct, which the paper starts from.
 *
 * A tiny model trained from scratch first has to see (objects, attributes, counts, positions, printed labels)
 * and to follow the answer format. Each instruct image gets two questions: a dense description or an
 * attribute question, answered either plainly or in the `<think>…</think><answer>…</answer>` format with the
 * same output-format sentences the task prompts use. About 30% of the transformation-style items show two
 * unrelated scenes and ask about the first or the second image, as the two-image task prompts need.
 *
 * Only in-distribution material is used: CLEVR-Math style scenes with the training object kinds and counts,
 * TRANCE-style single images from the centre camera, and the in-domain geometry families in the in-domain
 * style. Nothing here shows the OOD object kinds, views, figure families or drawing styles.
 */
import { Rng } from "../../data/rng.ts";
import {
  COLORS,
  COUNT_MATERIALS,
  COUNT_SIZES,
  MATERIALS,
  SHAPES,
  SIZES,
  describe,
  leftToRight,
  listPhrase,
  place,
  project,
  type Attrs,
  type Canvas2,
  type SceneObject,
} from "./scene.ts";
import { renderScene } from "./render.ts";
import { COUNT_CANVAS, filterPhrase, matches, type Filter } from "./counting.ts";
import { TRANSFORM_CANVAS } from "./transform.ts";
import { drawGeometry, renderGeometry, type GeometryScene } from "./geometry.ts";
import { pad, type InstructRecord, type SynthItem } from "./types.ts";

/** Output-format sentences, verbatim from spec §2.3 (S2 for numbers, S1 otherwise). */
export const FORMAT_NUMBER =
  "Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.";
export const FORMAT_GENERAL =
  "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.";

export type InstructQuestion =
  | { kind: "describe" }
  | { kind: "count"; filter: Filter }
  | { kind: "attribute"; which: "leftmost" | "rightmost"; attr: keyof Attrs }
  | { kind: "exists"; target: Attrs }
  | { kind: "tuples" }
  | { kind: "relation"; a: number; b: number; axis: "x" | "z" }
  | { kind: "labels" }
  | { kind: "figure" }
  | { kind: "pair-describe" | "pair-count" | "pair-tuples"; image: 0 | 1 };

interface QA {
  question: InstructQuestion;
  problem: string;
  answer: string;
  numeric: boolean;
  reasoning: string[];
}

function countQA(
  c: Canvas2,
  objs: SceneObject[],
  rng: Rng,
  vocab: { sizes: readonly string[]; materials: readonly string[] },
): QA {
  const keys = rng.sample(["size", "color", "material", "shape"] as const, rng.int(1, 2));
  const src = rng.chance(0.8) ? rng.pick(objs) : undefined;
  const filter: Filter = {};
  for (const k of ["size", "color", "material", "shape"] as const) {
    if (!keys.includes(k)) continue;
    const v = src
      ? src[k]
      : k === "size"
        ? rng.pick(vocab.sizes)
        : k === "color"
          ? rng.pick(COLORS)
          : k === "material"
            ? rng.pick(vocab.materials)
            : rng.pick(SHAPES);
    (filter as Record<string, string>)[k] = v;
  }
  const hits = leftToRight(c, objs).filter((o) => matches(o, filter));
  const what = filterPhrase(filter);
  return {
    question: { kind: "count", filter },
    problem: `How many ${what} are there?`,
    answer: String(hits.length),
    numeric: true,
    reasoning: [
      hits.length ? `The ${what} are ${listPhrase(hits.map((o) => describe(o)))}.` : `There are no ${what}.`,
      `That makes ${hits.length}.`,
    ],
  };
}

function objectQA(c: Canvas2, objs: SceneObject[], rng: Rng, trance: boolean): QA {
  const ordered = leftToRight(c, objs);
  const vocab = trance ? { sizes: SIZES, materials: MATERIALS } : { sizes: COUNT_SIZES, materials: COUNT_MATERIALS };
  const kind = rng.pick(
    trance
      ? ["describe", "tuples", "count", "attribute", "exists", "relation"]
      : ["describe", "describe", "count", "count", "attribute", "exists"],
  );
  if (kind === "describe") {
    return {
      question: { kind: "describe" },
      problem: "Describe the objects in the image from left to right.",
      answer: `There are ${objs.length} objects: ${listPhrase(ordered.map((o) => describe(o)))}.`,
      numeric: false,
      reasoning: [`I look at the objects from left to right and name the size, color, material and shape of each.`],
    };
  }
  if (kind === "tuples") {
    return {
      question: { kind: "tuples" },
      problem: "List the objects from left to right as (shape, size, color, material) tuples.",
      answer: ordered.map((o) => `('${o.shape}', '${o.size}', '${o.color}', '${o.material}')`).join(", "),
      numeric: false,
      reasoning: [`From left to right the objects are ${listPhrase(ordered.map((o) => describe(o)))}.`],
    };
  }
  if (kind === "count") {
    if (rng.chance(0.3)) {
      return {
        question: { kind: "count", filter: {} },
        problem: "How many objects are there?",
        answer: String(objs.length),
        numeric: true,
        reasoning: [`The objects are ${listPhrase(ordered.map((o) => describe(o)))}.`, `That makes ${objs.length}.`],
      };
    }
    return countQA(c, objs, rng, vocab);
  }
  if (kind === "attribute") {
    const which = rng.pick(["leftmost", "rightmost"] as const);
    const attr = rng.pick(["size", "color", "material", "shape"] as const);
    const o = which === "leftmost" ? ordered[0]! : ordered[ordered.length - 1]!;
    const noun = attr === "color" ? "color" : attr;
    return {
      question: { kind: "attribute", which, attr },
      problem: `What ${noun} is the ${which} object?`,
      answer: o[attr],
      numeric: false,
      reasoning: [`The ${which} object is ${describe(o)}.`, `Its ${noun} is ${o[attr]}.`],
    };
  }
  if (kind === "exists") {
    const target: Attrs = rng.chance(0.5)
      ? {
          shape: rng.pick(objs).shape,
          size: rng.pick(objs).size,
          color: rng.pick(objs).color,
          material: rng.pick(objs).material,
        }
      : (() => {
          const o = rng.pick(objs);
          return { shape: o.shape, size: o.size, color: o.color, material: o.material };
        })();
    const hit = objs.some((o) => matches(o, target));
    return {
      question: { kind: "exists", target },
      problem: `Is there ${describe(target)}?`,
      answer: hit ? "yes" : "no",
      numeric: false,
      reasoning: [hit ? `I can see ${describe(target)}.` : `None of the objects is ${describe(target)}.`],
    };
  }
  // relation: left/right or front/behind between two objects whose descriptions are unique
  const a = rng.int(0, objs.length - 1);
  let b = rng.int(0, objs.length - 2);
  if (b >= a) b++;
  const axis = rng.pick(["x", "z"] as const);
  const pa = project(c, objs[a]!.x, objs[a]!.z, "center");
  const pb = project(c, objs[b]!.x, objs[b]!.z, "center");
  const A = describe(objs[a]!, false);
  const B = describe(objs[b]!, false);
  const rel = axis === "x" ? (pa.u < pb.u ? "left" : "right") : pa.depth > pb.depth ? "front" : "behind";
  return {
    question: { kind: "relation", a, b, axis },
    problem:
      axis === "x"
        ? `Is the ${A} to the left or to the right of the ${B}?`
        : `Is the ${A} in front of or behind the ${B}?`,
    answer: rel,
    numeric: false,
    reasoning: [
      axis === "x"
        ? `The ${A} is ${rel === "left" ? "further left" : "further right"} in the image than the ${B}.`
        : `The ${A} is ${rel === "front" ? "lower in the image, closer to the camera," : "higher in the image, further from the camera,"} than the ${B}.`,
      `So it is ${rel === "front" ? "in front" : rel}.`,
    ],
  };
}

const FIGURE_NAME: Record<string, string> = {
  triangle_angle: "a triangle",
  line_angles: "a straight line with two rays",
  rectangle: "a rectangle",
  right_triangle: "a right triangle",
  circle: "a circle with a radius",
  parallel_lines: "two parallel lines and a transversal",
};

function geometryQA(scene: GeometryScene, rng: Rng): QA {
  const kind = rng.pick(["labels", "labels", "figure"] as const);
  if (kind === "figure") {
    return {
      question: { kind: "figure" },
      problem: "What figure is shown?",
      answer: FIGURE_NAME[scene.family]!,
      numeric: false,
      reasoning: [`The drawing shows ${FIGURE_NAME[scene.family]!}.`],
    };
  }
  // Reading order: top to bottom in rows of 8 px, then left to right.
  const labels = scene.labels.slice().sort((p, q) => Math.floor(p.y / 8) - Math.floor(q.y / 8) || p.x - q.x);
  const text = labels.map((l) => l.text).join(", ");
  return {
    question: { kind: "labels" },
    problem: "Read the labels in the figure from top to bottom.",
    answer: text,
    numeric: false,
    reasoning: [`The figure shows ${FIGURE_NAME[scene.family]!}.`, `Its labels from top to bottom are ${text}.`],
  };
}

const ORDINAL = ["first", "second"] as const;

/** Questions about one image of a pair: the two-image prompts of spatial transformation address images by order. */
function pairQA(c: Canvas2, scenes: SceneObject[][], rng: Rng): QA {
  const image = rng.int(0, 1) as 0 | 1;
  const objs = scenes[image]!;
  const ordered = leftToRight(c, objs);
  const which = ORDINAL[image];
  const list = listPhrase(ordered.map((o) => describe(o)));
  const kind = rng.pick(["pair-describe", "pair-count", "pair-tuples"] as const);
  if (kind === "pair-count") {
    return {
      question: { kind, image },
      problem: `How many objects are in the ${which} image?`,
      answer: String(objs.length),
      numeric: true,
      reasoning: [`The ${which} image shows ${list}.`, `That makes ${objs.length}.`],
    };
  }
  if (kind === "pair-tuples") {
    return {
      question: { kind, image },
      problem: `List the objects in the ${which} image from left to right as (shape, size, color, material) tuples.`,
      answer: ordered.map((o) => `('${o.shape}', '${o.size}', '${o.color}', '${o.material}')`).join(", "),
      numeric: false,
      reasoning: [`From left to right the ${which} image shows ${list}.`],
    };
  }
  return {
    question: { kind, image },
    problem: `Describe the objects in the ${which} image from left to right.`,
    answer: `There are ${objs.length} objects: ${list}.`,
    numeric: false,
    reasoning: [
      `I look at the ${which} image and name the size, color, material and shape of each object from left to right.`,
    ],
  };
}

function toRecords(
  index: number,
  image: string | string[],
  style: InstructRecord["style"],
  scene: unknown,
  qas: QA[],
  rng: Rng,
): InstructRecord[] {
  const placeholders = (Array.isArray(image) ? image : [image]).map(() => "<image>\n").join("");
  return qas.map((qa, k) => {
    const think = rng.chance(0.5);
    const problem = think ? `${qa.problem} ${qa.numeric ? FORMAT_NUMBER : FORMAT_GENERAL}` : qa.problem;
    const response = think
      ? `<think>\n${qa.reasoning.join("\n")}\n</think>\n<answer>\n${qa.answer}\n</answer>`
      : qa.answer;
    return {
      id: `instruct_${style}_${pad(index)}_${k}`,
      image,
      problem,
      answer: qa.answer,
      response,
      format: think ? "think" : "plain",
      style,
      messages: [
        { role: "user", content: `${placeholders}${problem}` },
        { role: "assistant", content: response },
      ],
      task: "instruct",
      split: "train",
      scene: { ...(scene as object), question: qa.question },
    };
  });
}

export type InstructStyle = InstructRecord["style"];

/**
 * One instruct image of a style (for the transformation style sometimes a pair of images) and its one or two
 * question records; null when the scene did not fit.
 */
export function makeInstructItems(
  seed: number,
  style: InstructStyle,
  index: number,
  attempt: number,
): SynthItem<InstructRecord[]> | null {
  const rng = Rng.stream(seed, "instruct", style, index, attempt);
  const path = `train_images/instruct/${style}_${pad(index)}.png`;
  if (style === "geometry") {
    const { fig, scene: partial } = drawGeometry(rng, "train");
    const { canvas, labels } = renderGeometry(fig, partial.style);
    const scene: GeometryScene = { ...partial, labels };
    delete scene.choices;
    const qas = [geometryQA(scene, rng), geometryQA(scene, rng)];
    if (qas[0]!.question.kind === qas[1]!.question.kind) qas.pop();
    return {
      record: toRecords(index, path, style, scene, qas, rng),
      images: [{ path, render: () => canvas }],
      key: `instruct|${path}`,
    };
  }
  const trance = style === "transformation";
  const c = trance ? TRANSFORM_CANVAS : COUNT_CANVAS;
  const drawObjects = (): SceneObject[] | null => {
    const n = trance ? rng.int(3, 6) : rng.int(3, 8);
    const attrs: Attrs[] = [];
    const seen = new Set<string>();
    while (attrs.length < n) {
      const a: Attrs = {
        shape: rng.pick(SHAPES),
        size: rng.pick(trance ? SIZES : COUNT_SIZES),
        color: rng.pick(COLORS),
        material: rng.pick(trance ? MATERIALS : COUNT_MATERIALS),
      };
      // TRANCE-style scenes never repeat an attribute tuple (the relation questions name objects by it).
      const key = describe(a);
      if (trance && seen.has(key)) continue;
      seen.add(key);
      attrs.push(a);
    }
    return trance ? place(rng, c, attrs, ["center", "left", "right"], 54) : place(rng, c, attrs, ["center"]);
  };
  if (trance && rng.chance(0.3)) {
    // Two unrelated scenes side by side in the prompt, as spatial transformation shows two images.
    const a = drawObjects();
    const b = drawObjects();
    if (!a || !b) return null;
    const paths = [0, 1].map((k) => `train_images/instruct/${style}_${pad(index)}_${k}.png`);
    const scene = { width: c.width, height: c.height, images: [{ objects: a }, { objects: b }] };
    const qas = [pairQA(c, [a, b], rng), pairQA(c, [a, b], rng)];
    if (qas[0]!.problem === qas[1]!.problem) qas.pop();
    return {
      record: toRecords(index, paths, style, scene, qas, rng),
      images: [
        { path: paths[0]!, render: () => renderScene(c, a, "center") },
        { path: paths[1]!, render: () => renderScene(c, b, "center") },
      ],
      key: `instruct|${paths[0]}`,
    };
  }
  const objects = drawObjects();
  if (!objects) return null;
  const scene = { width: c.width, height: c.height, objects };
  const qas = [objectQA(c, objects, rng, trance), objectQA(c, objects, rng, trance)];
  return {
    record: toRecords(index, path, style, scene, qas, rng),
    images: [{ path, render: () => renderScene(c, objects, "center") }],
    key: `instruct|${path}`,
  };
}
