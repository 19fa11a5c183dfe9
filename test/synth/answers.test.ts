/**
 * Every answer is recomputed here from the stored scene (and the question text), with code written for the
 * test rather than the generator's own solvers; every training cot must earn full format and accuracy rewards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { accuracyReward, formatReward, onlyFullFuncReward, parseFunctionCalls } from "../../src/rewards/index.ts";
import { readJson, smallData } from "./helpers.ts";

interface Rec {
  id: string;
  image: string | string[];
  problem: string;
  answer: string;
  cot?: string;
  problem_no_prompt?: string;
  split: string;
  scene: Record<string, unknown>;
}
type Obj = { shape: string; size: string; color: string; material: string; x: number; z: number };

const SIZE_WORDS = ["small", "medium", "large"];
const COLOR_WORDS = ["gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow"];
const MATERIAL_WORDS = ["glass", "metal", "rubber"];
const SHAPE_WORDS: Record<string, string> = {
  cube: "cube",
  cubes: "cube",
  sphere: "sphere",
  spheres: "sphere",
  cylinder: "cylinder",
  cylinders: "cylinder",
};

/** "large red metal cubes" -> {size, color, material, shape}; "objects" adds no shape. */
function parseFilter(phrase: string): Record<string, string> {
  const words = phrase.split(" ");
  const noun = words.pop()!;
  const f: Record<string, string> = {};
  if (noun !== "objects" && noun !== "object") {
    assert.ok(SHAPE_WORDS[noun], `unknown noun '${noun}' in '${phrase}'`);
    f.shape = SHAPE_WORDS[noun]!;
  }
  for (const w of words) {
    if (SIZE_WORDS.includes(w)) f.size = w;
    else if (COLOR_WORDS.includes(w)) f.color = w;
    else if (MATERIAL_WORDS.includes(w)) f.material = w;
    else assert.fail(`unknown word '${w}' in '${phrase}'`);
  }
  return f;
}

function fits(o: Record<string, string>, f: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(f)) {
    assert.ok(o[k] !== undefined, `filter attribute ${k} is undefined for an added object`);
    if (o[k] !== v) return false;
  }
  return true;
}

/** Counting: run the question text on the scene's objects. */
function recount(problem: string, objects: Obj[]): number {
  let state: Record<string, string>[] = objects.map((o) => ({
    shape: o.shape,
    size: o.size,
    color: o.color,
    material: o.material,
  }));
  const sentences = problem.split(/(?<=[.?])\s+/);
  const last = sentences.pop()!;
  for (const s of sentences) {
    let m = /^Subtract all (.+)\.$/.exec(s);
    if (m) {
      const f = parseFilter(m[1]!);
      const before = state.length;
      state = state.filter((o) => !fits(o, f));
      assert.ok(state.length < before, `'${s}' removes nothing`);
      continue;
    }
    m = /^Add (\d+) (.+)\.$/.exec(s);
    assert.ok(m, `unparsed sentence '${s}'`);
    const f = parseFilter(m[2]!);
    for (let i = 0; i < Number(m[1]); i++) state.push({ ...f });
  }
  const q = /^How many (.+) are left\?$/.exec(last);
  assert.ok(q, `unparsed question '${last}'`);
  const f = parseFilter(q[1]!);
  return state.filter((o) => fits(o, f)).length;
}

function checkCot(r: Rec): void {
  assert.ok(r.cot, `${r.id}: train record without cot`);
  assert.equal(formatReward(r.cot!), 1, `${r.id}: cot fails the format reward`);
  assert.match(r.cot!, /^<think>\n[\s\S]+\n<\/think>\n<answer>\n[\s\S]+\n<\/answer>$/);
  assert.equal(accuracyReward(r.cot!, r.answer), 1, `${r.id}: cot's answer differs from the answer`);
}

const COUNT_FILES = [
  "train_jsons/A3-Visual-Counting-train-35k-cot.json",
  "test_jsons/Visual-Counting-id-test-1k.json",
  "test_jsons/Visual-Counting-ood-test-1k.json",
  "test_jsons/Visual-Counting-ood-steps-test-1k.json",
];

test("counting answers equal a recount of the scene by the question text", async () => {
  const { dir } = await smallData();
  let n = 0;
  for (const f of COUNT_FILES) {
    for (const r of readJson<Rec[]>(dir, f)) {
      const objects = r.scene.objects as Obj[];
      assert.equal(String(recount(r.problem, objects)), r.answer, `${r.id}: ${r.problem}`);
      assert.match(r.answer, /^(10|[0-9])$/);
      if (r.split === "train") {
        checkCot(r);
        // The cot's first sentence lists every object in the image.
        assert.match(r.cot!, new RegExp(`There are ${objects.length} objects: `));
      } else assert.equal(r.cot, undefined);
      n++;
    }
  }
  assert.ok(n >= 100);
});

const FUNC_OF: Record<string, string> = {
  size: "change_size",
  color: "change_color",
  material: "change_material",
  shape: "change_shape",
};

/** Transformation: the calls that turn the scene's initial objects into its final objects. */
function diffScene(initial: Obj[], final: Obj[]): string[] {
  const calls: string[] = [];
  initial.forEach((o, i) => {
    const p = final[i]!;
    for (const k of ["size", "color", "material", "shape"] as const)
      if (o[k] !== p[k]) calls.push(`${FUNC_OF[k]}(${i}, ${p[k]})`);
    const dx = p.x - o.x;
    const dz = p.z - o.z;
    if (Math.abs(dx) > 0.5 || Math.abs(dz) > 0.5) {
      const fb = dz > 0.5 ? "front" : dz < -0.5 ? "behind" : "";
      const lr = dx > 0.5 ? "right" : dx < -0.5 ? "left" : "";
      calls.push(`change_position(${i}, ${[fb, lr].filter(Boolean).join("_")})`);
    }
  });
  return calls.sort();
}

const TRANCE_FILES = [
  "train_jsons/A1-Spatial-Transformation-train-60k-cot.json",
  "test_jsons/Spatial-Transformation-id-test-1k.json",
  "test_jsons/Spatial-Transformation-ood-left-test-1k.json",
  "test_jsons/Spatial-Transformation-ood-right-test-1k.json",
];

test("transformation answers equal the difference between the initial and final scene", async () => {
  const { dir } = await smallData();
  for (const f of TRANCE_FILES) {
    for (const r of readJson<Rec[]>(dir, f)) {
      const initial = r.scene.initial as Obj[];
      const final = r.scene.final as Obj[];
      const expected = diffScene(initial, final);
      const calls = parseFunctionCalls(r.answer).map((c) => `${c.func}(${c.object}, ${c.value})`);
      assert.deepEqual(calls.slice().sort(), expected, `${r.id}: ${r.answer}`);
      assert.ok(calls.length >= 1 && calls.length <= 4, `${r.id}: ${calls.length} calls`);
      assert.equal(r.answer, calls.join(", "));
      // The problem lists exactly the initial objects, in id order.
      const tuples = [...r.problem.matchAll(/\('(\d+)', '(\w+)', '(\w+)', '(\w+)', '(\w+)'\)/g)].map((m) =>
        m.slice(1).join(" "),
      );
      assert.deepEqual(
        tuples,
        initial.map((o, i) => `${i} ${o.shape} ${o.size} ${o.color} ${o.material}`),
      );
      assert.equal(
        new Set(tuples.map((t) => t.split(" ").slice(1).join(" "))).size,
        tuples.length,
        "attribute tuples are unique",
      );
      assert.ok(Array.isArray(r.image) && r.image.length === 2);
      if (r.split === "train") {
        checkCot(r);
        assert.equal(onlyFullFuncReward(r.cot!, r.answer), 1, `${r.id}: cot's calls differ from the answer`);
      }
    }
  }
});

type Geo = {
  family: string;
  params: Record<string, number>;
  ask: string;
  choices?: number[];
  labels: { text: string }[];
};

/** Structure perception: the asked value from the figure's parameters. */
function geoValue(s: Geo): number {
  const p = s.params;
  const angleSum = (n: number) => (n - 2) * 180;
  switch (s.family) {
    case "triangle_angle":
      return angleSum(3) - p.a! - p.b!;
    case "line_angles":
      assert.equal(p.a! + p.b! + p.c!, 180);
      return p[s.ask]!;
    case "rectangle":
      return s.ask === "area" ? p.w! * p.h! : p.w! + p.h! + p.w! + p.h!;
    case "right_triangle": {
      const c = Math.hypot(p.a!, p.b!);
      return s.ask === "area" ? 0.5 * p.a! * p.b! : s.ask === "leg" ? Math.sqrt(c * c - p.a! * p.a!) : c;
    }
    case "circle": {
      const d = p.d ?? 2 * p.r!;
      return { radius: d / 2, diameter: d, circumference: d * 3.14, area: (d / 2) ** 2 * 3.14 }[s.ask]!;
    }
    case "parallel_lines":
      // same parity of the two wedge positions: equal angles, otherwise supplementary
      assert.equal(s.ask, (p.p1! + p.p2!) % 2 === 0 ? "same" : "supplement");
      return s.ask === "same" ? p.x! : 180 - p.x!;
    case "exterior_angle":
      return 180 - (angleSum(3) - p.a! - p.b!);
    case "quadrilateral":
      return angleSum(4) - p.a! - p.b! - p.c!;
    case "trapezoid":
      return (p.h! * (p.a! + p.b!)) / 2;
    case "inscribed_angle":
      return (p.a! + p.b!) / 2;
    case "parallelogram":
      return s.ask === "area" ? p.b! * p.h! : s.ask === "opposite" ? p.x! : 180 - p.x!;
  }
  throw new Error(`unknown family ${s.family}`);
}

/** The numbers a figure must print (the unknown is drawn as "?"). */
function printed(s: Geo): string[] {
  const p = s.params;
  const d = (x: number) => `${x}°`;
  switch (s.family) {
    case "triangle_angle":
    case "exterior_angle":
      return [d(p.a!), d(p.b!), "?"];
    case "line_angles":
      return [...["a", "b", "c"].filter((k) => k !== s.ask).map((k) => d(p[k]!)), "?"];
    case "rectangle":
      return [String(p.w), String(p.h)];
    case "right_triangle":
      return s.ask === "leg"
        ? [String(p.a), String(Math.hypot(p.a!, p.b!)), "?"]
        : [String(p.a), String(p.b), ...(s.ask === "hypotenuse" ? ["?"] : [])];
    case "circle":
      return [String(p.r ?? p.d)];
    case "parallel_lines":
      return [d(p.x!), "?"];
    case "quadrilateral":
      return [d(p.a!), d(p.b!), d(p.c!), "?"];
    case "trapezoid":
      return [String(p.a), String(p.b), String(p.h)];
    case "inscribed_angle":
      return [d(p.a!), d(p.b!), "?"];
    case "parallelogram":
      return s.ask === "area" ? [String(p.b), String(p.h)] : [d(p.x!), "?"];
  }
  return [];
}

const fmt = (x: number) => String(Math.round(x * 100) / 100);

test("structure-perception answers follow from the printed figure parameters", async () => {
  const { dir } = await smallData();
  const files = [
    "train_jsons/A2-Structure-Perception-train-4k5-cot.json",
    "test_jsons/Structure-Perception-id-test-820.json",
    "test_jsons/Structure-Perception-ood-test-800.json",
  ];
  let choice = 0;
  let numeric = 0;
  for (const f of files) {
    for (const r of readJson<Rec[]>(dir, f)) {
      const s = r.scene as unknown as Geo;
      const v = fmt(geoValue(s));
      if (s.choices) {
        choice++;
        assert.equal(s.choices.length, 4);
        assert.equal(new Set(s.choices.map(fmt)).size, 4, `${r.id}: repeated option`);
        const letter = "ABCD"[s.choices.map(fmt).indexOf(v)];
        assert.ok(letter, `${r.id}: the right value ${v} is not an option`);
        assert.equal(r.answer, letter);
        for (const [i, c] of s.choices.entries())
          assert.ok(r.problem.includes(`${"ABCD"[i]}: ${fmt(c)}`), `${r.id}: option ${i} not in the problem`);
      } else {
        numeric++;
        assert.equal(r.answer, v, `${r.id}`);
      }
      const labels = s.labels.map((l) => l.text).sort();
      for (const t of printed(s))
        assert.ok(labels.includes(t), `${r.id}: label '${t}' not printed (labels ${labels.join(" ")})`);
      // The answer is never printed, unless it equals a given value (equal angles of parallel lines, opposite angles).
      const answerShown = labels.includes(v) || labels.includes(`${v}°`);
      const givenEqualsAnswer = printed(s).includes(v) || printed(s).includes(`${v}°`);
      assert.ok(!answerShown || givenEqualsAnswer, `${r.id}: the answer ${v} is printed in the figure`);
      assert.equal(r.id.includes("geomath"), r.split !== "ood");
      if (r.split === "train") checkCot(r);
      else assert.equal(r.problem_no_prompt, r.problem);
    }
  }
  assert.ok(choice > 10 && numeric > 10, `${choice} choice / ${numeric} numeric`);
});

interface Instr {
  id: string;
  image: string | string[];
  problem: string;
  answer: string;
  response: string;
  format: string;
  style: string;
  messages: { role: string; content: string }[];
  scene: {
    objects?: Obj[];
    images?: { objects: Obj[] }[];
    question: {
      kind: string;
      filter?: Record<string, string>;
      target?: Record<string, string>;
      which?: string;
      attr?: string;
      a?: number;
      b?: number;
      axis?: string;
      image?: number;
    };
  };
}

test("instruct answers are computed from the scene and both answer formats occur", async () => {
  const { dir } = await smallData();
  const recs = readJson<Instr[]>(dir, "train_jsons/A0-Instruct-train.json");
  const formats = new Set<string>();
  const styles = new Set<string>();
  let pairs = 0;
  for (const r of recs) {
    formats.add(r.format);
    styles.add(r.style);
    if (r.format === "think") {
      assert.equal(formatReward(r.response), 1);
      assert.equal(accuracyReward(r.response, r.answer), 1);
      assert.match(
        r.problem,
        /Output the thinking process in <think> <\/think> and final answer (\(number\) )?in <answer> <\/answer> tags\.$/,
      );
    } else {
      assert.equal(r.response, r.answer);
      assert.doesNotMatch(r.problem, /<think>/);
    }
    const nImages = Array.isArray(r.image) ? r.image.length : 1;
    assert.deepEqual(r.messages, [
      { role: "user", content: `${"<image>\n".repeat(nImages)}${r.problem}` },
      { role: "assistant", content: r.response },
    ]);
    const q = r.scene.question;
    if (q.kind.startsWith("pair-")) {
      assert.equal(nImages, 2);
      assert.equal(r.style, "transformation");
      const objs = r.scene.images![q.image!]!.objects;
      assert.ok(r.problem.includes(q.image === 0 ? "first image" : "second image"));
      if (q.kind === "pair-count") assert.equal(r.answer, String(objs.length));
      if (q.kind === "pair-describe") assert.match(r.answer, new RegExp(`^There are ${objs.length} objects: `));
      if (q.kind === "pair-tuples") {
        const sorted = objs.slice().sort((a, b) => a.x - b.x);
        assert.equal(
          r.answer,
          sorted.map((o) => `('${o.shape}', '${o.size}', '${o.color}', '${o.material}')`).join(", "),
        );
      }
      pairs++;
      continue;
    }
    const objs = r.scene.objects;
    if (q.kind === "count")
      assert.equal(
        r.answer,
        String(
          objs!.filter((o) =>
            Object.entries(q.filter!).every(([k, v]) => (o as unknown as Record<string, string>)[k] === v),
          ).length,
        ),
      );
    if (q.kind === "exists")
      assert.equal(
        r.answer,
        objs!.some((o) =>
          Object.entries(q.target!).every(([k, v]) => (o as unknown as Record<string, string>)[k] === v),
        )
          ? "yes"
          : "no",
      );
    if (q.kind === "attribute") {
      const xs = objs!.map((o) => o.x);
      const o = objs![xs.indexOf(q.which === "leftmost" ? Math.min(...xs) : Math.max(...xs))]!;
      assert.equal(r.answer, (o as unknown as Record<string, string>)[q.attr!]);
    }
    if (q.kind === "describe") assert.match(r.answer, new RegExp(`^There are ${objs!.length} objects: `));
    if (q.kind === "tuples") {
      const sorted = objs!.slice().sort((a, b) => a.x - b.x);
      assert.equal(
        r.answer,
        sorted.map((o) => `('${o.shape}', '${o.size}', '${o.color}', '${o.material}')`).join(", "),
      );
    }
    if (q.kind === "relation") {
      const a = objs![q.a!]!;
      const b = objs![q.b!]!;
      assert.equal(r.answer, q.axis === "x" ? (a.x < b.x ? "left" : "right") : a.z > b.z ? "front" : "behind");
      assert.ok(
        r.problem.includes(`${a.size} ${a.color} ${a.material} ${a.shape}`) &&
          r.problem.includes(`${b.size} ${b.color} ${b.material} ${b.shape}`),
      );
    }
  }
  assert.deepEqual([...formats].sort(), ["plain", "think"]);
  assert.deepEqual([...styles].sort(), ["counting", "geometry", "transformation"]);
  assert.ok(pairs > 0, "some instruct items show two images");
});
