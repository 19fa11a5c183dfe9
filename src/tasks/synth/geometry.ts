/**
 * Structure perception in the style of GeoMath: labelled geometric figures (angles, lengths, areas,
 * circles) with multiple-choice or numeric questions. The numbers are printed in the figure, not in the
 * question, so the model has to read the figure.
 *
 * Splits (what each tests):
 * - train / id (`geomath` ids): six figure families drawn in one style (thin black lines, base horizontal):
 *   triangle angle sum, angles on a straight line, rectangle area/perimeter, right triangle area/hypotenuse,
 *   circle diameter/circumference/area, parallel lines cut by a transversal.
 * - ood (`geometry3k` ids): five other families (exterior angle of a triangle, angle sum of a quadrilateral,
 *   trapezoid area, inscribed angle, parallelogram area/angles) in another drawing style: coloured thick
 *   strokes, light fills, figures rotated to arbitrary angles.
 */
import type { SKRSContext2D } from "@napi-rs/canvas";
import { Rng } from "../../data/rng.ts";
import { newCanvas, css, type RGB } from "./render.ts";
import { GLYPH_HEIGHT, drawTextCentered, textWidth } from "./font.ts";
import { fmtNum, pad, thinkAnswer, type MetaRecord, type SynthItem } from "./types.ts";
import type { Canvas2 } from "./scene.ts";

export const GEO_CANVAS: Canvas2 = { width: 112, height: 112 };
export const GEO_BACKGROUND: RGB = [250, 250, 246];
export const ID_FAMILIES = [
  "triangle_angle",
  "line_angles",
  "rectangle",
  "right_triangle",
  "circle",
  "parallel_lines",
] as const;
export const OOD_FAMILIES = [
  "exterior_angle",
  "quadrilateral",
  "trapezoid",
  "inscribed_angle",
  "parallelogram",
] as const;
export type Family = (typeof ID_FAMILIES)[number] | (typeof OOD_FAMILIES)[number];
export type GeometrySplit = "train" | "id" | "ood";

type Pt = [number, number];

export interface GeoStyle {
  rotation: number;
  stroke: RGB;
  lineWidth: number;
  fill?: RGB;
}

export interface GeometryScene {
  width: number;
  height: number;
  family: Family;
  /** The numbers that define the figure (all printed in it, except the asked one). */
  params: Record<string, number>;
  /** Which quantity is asked (family specific, e.g. "area"). */
  ask: string;
  letters: string[];
  /** Multiple-choice options in letter order A–D, or absent for a numeric answer. */
  choices?: number[];
  /** The labels printed in the figure, in screen coordinates. */
  labels: { text: string; x: number; y: number }[];
  style: GeoStyle;
}

/** The number asked for, computed from the figure's parameters (also re-derived independently in the tests). */
export function geometryValue(family: Family, p: Record<string, number>, ask: string): number {
  switch (family) {
    case "triangle_angle":
      return 180 - p.a! - p.b!;
    case "line_angles":
      return 180 - p.a! - p.b! - p.c! + (ask === "a" ? p.a! : ask === "b" ? p.b! : p.c!);
    case "rectangle":
      return ask === "area" ? p.w! * p.h! : 2 * (p.w! + p.h!);
    case "right_triangle":
      return ask === "area" ? (p.a! * p.b!) / 2 : ask === "leg" ? p.b! : Math.sqrt(p.a! * p.a! + p.b! * p.b!);
    case "circle": {
      const r = p.r ?? p.d! / 2;
      return { radius: r, diameter: 2 * r, circumference: 2 * 3.14 * r, area: 3.14 * r * r }[ask]!;
    }
    case "parallel_lines":
      return ask === "same" ? p.x! : 180 - p.x!;
    case "exterior_angle":
      return p.a! + p.b!;
    case "quadrilateral":
      return 360 - p.a! - p.b! - p.c!;
    case "trapezoid":
      return ((p.a! + p.b!) * p.h!) / 2;
    case "inscribed_angle":
      return (p.a! + p.b!) / 2;
    case "parallelogram":
      return ask === "area" ? p.b! * p.h! : ask === "opposite" ? p.x! : 180 - p.x!;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Drawing helpers (screen coordinates)

const sub = (a: Pt, b: Pt): Pt => [a[0] - b[0], a[1] - b[1]];
const add = (a: Pt, b: Pt): Pt => [a[0] + b[0], a[1] + b[1]];
const mul = (a: Pt, k: number): Pt => [a[0] * k, a[1] * k];
const len = (a: Pt): number => Math.hypot(a[0], a[1]);
const unit = (a: Pt): Pt => mul(a, 1 / (len(a) || 1));
const mid = (a: Pt, b: Pt): Pt => mul(add(a, b), 0.5);

function polar(deg: number, r = 1): Pt {
  const t = (deg * Math.PI) / 180;
  return [r * Math.cos(t), r * Math.sin(t)];
}

interface Painter {
  ctx: SKRSContext2D;
  style: GeoStyle;
  labels: { text: string; x: number; y: number }[];
}

function seg(P: Painter, a: Pt, b: Pt, dashed = false): void {
  const { ctx } = P;
  ctx.beginPath();
  ctx.setLineDash(dashed ? [3, 2] : []);
  ctx.moveTo(a[0], a[1]);
  ctx.lineTo(b[0], b[1]);
  ctx.strokeStyle = css(P.style.stroke);
  ctx.lineWidth = P.style.lineWidth;
  ctx.stroke();
  ctx.setLineDash([]);
}

function poly(P: Painter, pts: Pt[]): void {
  const { ctx } = P;
  ctx.beginPath();
  ctx.moveTo(pts[0]![0], pts[0]![1]);
  for (const p of pts.slice(1)) ctx.lineTo(p[0], p[1]);
  ctx.closePath();
  if (P.style.fill) {
    ctx.fillStyle = css(P.style.fill);
    ctx.fill();
  }
  ctx.strokeStyle = css(P.style.stroke);
  ctx.lineWidth = P.style.lineWidth;
  ctx.stroke();
}

function circle(P: Painter, c: Pt, r: number): void {
  const { ctx } = P;
  ctx.beginPath();
  ctx.arc(c[0], c[1], r, 0, Math.PI * 2);
  if (P.style.fill) {
    ctx.fillStyle = css(P.style.fill);
    ctx.fill();
  }
  ctx.strokeStyle = css(P.style.stroke);
  ctx.lineWidth = P.style.lineWidth;
  ctx.stroke();
}

function dot(P: Painter, p: Pt): void {
  P.ctx.beginPath();
  P.ctx.arc(p[0], p[1], 1.6, 0, Math.PI * 2);
  P.ctx.fillStyle = css(P.style.stroke);
  P.ctx.fill();
}

/** Small arc marking the angle at v between rays to p and q. */
function arcMark(P: Painter, v: Pt, p: Pt, q: Pt, r = 6): void {
  const a1 = Math.atan2(p[1] - v[1], p[0] - v[0]);
  const a2 = Math.atan2(q[1] - v[1], q[0] - v[0]);
  let d = a2 - a1;
  while (d <= -Math.PI) d += 2 * Math.PI;
  while (d > Math.PI) d -= 2 * Math.PI;
  P.ctx.beginPath();
  P.ctx.arc(v[0], v[1], r, a1, a1 + d, d < 0);
  P.ctx.strokeStyle = css(P.style.stroke);
  P.ctx.lineWidth = 1;
  P.ctx.stroke();
}

function rightMark(P: Painter, v: Pt, p: Pt, q: Pt, s = 5): void {
  const a = add(v, mul(unit(sub(p, v)), s));
  const b = add(v, mul(unit(sub(q, v)), s));
  const c = add(a, mul(unit(sub(q, v)), s));
  P.ctx.beginPath();
  P.ctx.moveTo(a[0], a[1]);
  P.ctx.lineTo(c[0], c[1]);
  P.ctx.lineTo(b[0], b[1]);
  P.ctx.strokeStyle = css(P.style.stroke);
  P.ctx.lineWidth = 1;
  P.ctx.stroke();
}

const LABEL_COLOR = "rgb(20,20,20)";

function label(P: Painter, text: string, at: Pt): void {
  const box = drawTextCentered(P.ctx, text, at[0], at[1], LABEL_COLOR, GEO_CANVAS.width, GEO_CANVAS.height);
  P.labels.push({ text, x: Math.round(box.x + box.w / 2), y: Math.round(box.y + box.h / 2) });
}

/** Vertex letter placed away from the figure's centre. */
function vertexLabel(P: Painter, text: string, v: Pt, centre: Pt, d = 8): void {
  label(P, text, add(v, mul(unit(sub(v, centre)), d)));
}

/** Angle value placed inside the angle at v, along its bisector. */
function angleLabel(P: Painter, text: string, v: Pt, p: Pt, q: Pt, cap = 17): void {
  const u1 = unit(sub(p, v));
  const u2 = unit(sub(q, v));
  const bis = unit(add(u1, u2));
  const cosA = u1[0] * u2[0] + u1[1] * u2[1];
  const half = Math.acos(Math.max(-1, Math.min(1, cosA))) / 2;
  const d = Math.min(cap, 10 / Math.max(0.35, Math.sin(half)));
  label(P, text, add(v, mul(bis, d)));
}

/** Length label beside segment ab, on the side away from `centre`. */
function sideLabel(P: Painter, text: string, a: Pt, b: Pt, centre: Pt, d = 7): void {
  const m = mid(a, b);
  const dir = unit(sub(b, a));
  let n: Pt = [-dir[1], dir[0]];
  if ((m[0] - centre[0]) * n[0] + (m[1] - centre[1]) * n[1] < 0) n = mul(n, -1);
  // Far enough that the text box clears the line whatever the line's direction.
  const clear = 2 + Math.abs(n[0]) * (textWidth(text) / 2) + Math.abs(n[1]) * (GLYPH_HEIGHT / 2);
  label(P, text, add(m, mul(n, Math.max(d, clear))));
}

const deg = (x: number): string => `${x}°`;

// ---------------------------------------------------------------------------------------------------------
// Figure families

interface Figure {
  family: Family;
  params: Record<string, number>;
  ask: string;
  letters: string[];
  /** The question without choices. */
  question: string;
  /** Abstract points of the figure (y up); fitted into the canvas after rotation. */
  pts: Pt[];
  /** Extra points that must stay inside the canvas (e.g. the extent of a circle), not passed to draw. */
  extent?: Pt[];
  /** Reasoning before the final sentence. */
  steps: (value: string) => string[];
  draw: (P: Painter, S: Pt[]) => void;
}

const LETTER_SETS = [
  ["A", "B", "C", "D"],
  ["D", "E", "F", "G"],
  ["P", "Q", "R", "S"],
  ["K", "L", "M", "N"],
  ["R", "S", "T", "U"],
  ["E", "F", "G", "H"],
];

function centroid(pts: Pt[]): Pt {
  return mul(
    pts.reduce((s, p) => add(s, p), [0, 0] as Pt),
    1 / pts.length,
  );
}

/** Triangle with base angles a (at the first vertex) and b, apex above; abstract coordinates. */
function triangleFromAngles(a: number, b: number): Pt[] {
  const ta = Math.tan((a * Math.PI) / 180);
  const tb = Math.tan((b * Math.PI) / 180);
  // apex x solves x·ta = (1 − x)·tb on a unit base
  const x = tb / (ta + tb);
  return [
    [0, 0],
    [1, 0],
    [x, x * ta],
  ];
}

function triangleAngle(rng: Rng, L: string[]): Figure {
  const a = rng.int(25, 110);
  const b = rng.int(25, Math.min(110, 155 - a));
  const [A, B, C] = [L[0]!, L[1]!, L[2]!];
  return {
    family: "triangle_angle",
    params: { a, b },
    ask: "apex",
    letters: [A, B, C],
    question: `In triangle ${A}${B}${C}, find the measure of angle ${C} in degrees.`,
    pts: triangleFromAngles(a, b),
    steps: (v) => [
      `The figure shows triangle ${A}${B}${C} with angle ${A} = ${a} degrees and angle ${B} = ${b} degrees.`,
      `The angles of a triangle add up to 180 degrees.`,
      `So angle ${C} = 180 - ${a} - ${b} = ${v}.`,
    ],
    draw: (P, S) => {
      poly(P, S);
      const c = centroid(S);
      [A, B, C].forEach((t, i) => vertexLabel(P, t, S[i]!, c));
      arcMark(P, S[0]!, S[1]!, S[2]!);
      arcMark(P, S[1]!, S[0]!, S[2]!);
      angleLabel(P, deg(a), S[0]!, S[1]!, S[2]!);
      angleLabel(P, deg(b), S[1]!, S[0]!, S[2]!);
      angleLabel(P, "?", S[2]!, S[0]!, S[1]!);
    },
  };
}

function lineAngles(rng: Rng, L: string[]): Figure {
  const a = rng.int(30, 120);
  const b = rng.int(30, Math.min(120, 150 - a));
  const c = 180 - a - b;
  const ask = rng.pick(["a", "b", "c"]);
  const O = L[0]!;
  const vals: Record<string, number> = { a, b, c };
  const known = ["a", "b", "c"].filter((k) => k !== ask).map((k) => vals[k]!);
  return {
    family: "line_angles",
    params: { a, b, c },
    ask,
    letters: [O],
    question: `The three angles at ${O} lie on a straight line. Find the angle marked with a question mark in degrees.`,
    pts: [[0, 0], [-1, 0], [1, 0], polar(180 - a, 1.3), polar(180 - a - b, 1.3)],
    extent: [
      [-1, 1.35],
      [1, 1.35],
    ],
    steps: (v) => [
      `The angles on a straight line add up to 180 degrees.`,
      `The marked angles are ${known[0]} and ${known[1]} degrees.`,
      `So the unknown angle = 180 - ${known[0]} - ${known[1]} = ${v}.`,
    ],
    draw: (P, S) => {
      const [o, l, r, p, q] = S as [Pt, Pt, Pt, Pt, Pt];
      seg(P, l, r);
      seg(P, o, p);
      seg(P, o, q);
      dot(P, o);
      label(P, O, add(o, [0, 7]));
      const text = (k: string) => (k === ask ? "?" : deg(vals[k]!));
      angleLabel(P, text("a"), o, l, p, 28);
      angleLabel(P, text("b"), o, p, q, 28);
      angleLabel(P, text("c"), o, q, r, 28);
    },
  };
}

function rectangle(rng: Rng, L: string[]): Figure {
  const w = rng.int(2, 30);
  const h = rng.int(2, 30);
  const ask = rng.pick(["area", "perimeter"]);
  const ratio = Math.min(2.2, Math.max(1 / 2.2, w / h));
  const name = L.join("");
  return {
    family: "rectangle",
    params: { w, h },
    ask,
    letters: L,
    question: `Find the ${ask} of rectangle ${name}.`,
    pts: [
      [0, 0],
      [ratio, 0],
      [ratio, 1],
      [0, 1],
    ],
    steps: (v) =>
      ask === "area"
        ? [`The rectangle has width ${w} and height ${h}.`, `Area = width x height = ${w} x ${h} = ${v}.`]
        : [`The rectangle has width ${w} and height ${h}.`, `Perimeter = 2 x (${w} + ${h}) = ${v}.`],
    draw: (P, S) => {
      poly(P, S);
      const c = centroid(S);
      S.forEach((p, i) => vertexLabel(P, L[i]!, p, c));
      rightMark(P, S[0]!, S[1]!, S[3]!);
      sideLabel(P, String(w), S[0]!, S[1]!, c);
      sideLabel(P, String(h), S[1]!, S[2]!, c);
    },
  };
}

/** Integer right triangles with legs up to 40, in both leg orders. */
const TRIPLES: [number, number][] = (() => {
  const out: [number, number][] = [];
  for (const [p, q] of [
    [3, 4],
    [5, 12],
    [8, 15],
    [7, 24],
    [20, 21],
    [12, 35],
    [9, 40],
  ] as const) {
    for (let k = 1; p * k <= 40 && q * k <= 40; k++) out.push([p * k, q * k], [q * k, p * k]);
  }
  return out;
})();

function rightTriangle(rng: Rng, L: string[]): Figure {
  let a: number;
  let b: number;
  let ask: string;
  if (rng.chance(0.3)) {
    // Integer sides: the hypotenuse from the legs, or a leg from the hypotenuse and the other leg.
    [a, b] = rng.pick(TRIPLES);
    ask = rng.pick(["hypotenuse", "leg"]);
  } else {
    a = rng.int(2, 30);
    b = rng.int(2, 30);
    ask = "area";
  }
  const c = Math.round(Math.hypot(a, b));
  const ratio = Math.min(2.5, Math.max(0.4, b / a));
  const [A, B, C] = [L[0]!, L[1]!, L[2]!];
  const question = {
    area: `Triangle ${A}${B}${C} has a right angle at ${C}. Find its area.`,
    hypotenuse: `Triangle ${A}${B}${C} has a right angle at ${C}. Find the length of ${A}${B}.`,
    leg: `Triangle ${A}${B}${C} has a right angle at ${C}. Find the length of ${A}${C}.`,
  }[ask]!;
  return {
    family: "right_triangle",
    params: { a, b },
    ask,
    letters: [A, B, C],
    question,
    pts: [
      [0, ratio],
      [1, 0],
      [0, 0],
    ],
    steps: (v) =>
      ask === "area"
        ? [`The legs of the right triangle are ${a} and ${b}.`, `Area = ${a} x ${b} / 2 = ${v}.`]
        : ask === "hypotenuse"
          ? [
              `The legs of the right triangle are ${a} and ${b}.`,
              `By the Pythagorean theorem, ${A}${B} = sqrt(${a * a} + ${b * b}) = sqrt(${a * a + b * b}) = ${v}.`,
            ]
          : [
              `The hypotenuse ${A}${B} is ${c} and the leg ${B}${C} is ${a}.`,
              `By the Pythagorean theorem, ${A}${C} = sqrt(${c * c} - ${a * a}) = sqrt(${c * c - a * a}) = ${v}.`,
            ],
    draw: (P, S) => {
      poly(P, S);
      const m = centroid(S);
      [A, B, C].forEach((t, i) => vertexLabel(P, t, S[i]!, m));
      rightMark(P, S[2]!, S[0]!, S[1]!);
      sideLabel(P, String(a), S[2]!, S[1]!, m);
      sideLabel(P, ask === "leg" ? "?" : String(b), S[0]!, S[2]!, m);
      if (ask === "hypotenuse") sideLabel(P, "?", S[0]!, S[1]!, m);
      if (ask === "leg") sideLabel(P, String(c), S[0]!, S[1]!, m);
    },
  };
}

function circleFigure(rng: Rng, L: string[]): Figure {
  // The radius or the diameter is drawn and labelled; one of the other three quantities is asked.
  const byDiameter = rng.chance(0.5);
  const n = byDiameter ? rng.int(2, 99) : rng.int(1, 99);
  const ask = rng.pick(byDiameter ? ["radius", "circumference", "area"] : ["diameter", "circumference", "area"]);
  const O = L[0]!;
  const ang = rng.int(0, 359);
  const ring: Pt[] = [];
  for (let k = 0; k < 8; k++) ring.push(polar(k * 45, 1));
  const known = byDiameter
    ? `The diameter of circle ${O} is ${n}, so its radius is ${fmtNum(n / 2)}.`
    : `The radius of circle ${O} is ${n}.`;
  const r = byDiameter ? fmtNum(n / 2) : String(n);
  return {
    family: "circle",
    params: byDiameter ? { d: n } : { r: n },
    ask,
    letters: [O],
    question:
      ask === "diameter" || ask === "radius"
        ? `Find the ${ask} of circle ${O}.`
        : `Find the ${ask} of circle ${O}. Use 3.14 for pi.`,
    pts: [[0, 0], polar(ang, 1)],
    extent: ring,
    steps: (v) => [
      known,
      ask === "diameter"
        ? `Diameter = 2 x ${r} = ${v}.`
        : ask === "radius"
          ? `So the radius is ${v}.`
          : ask === "circumference"
            ? `Circumference = 2 x 3.14 x ${r} = ${v}.`
            : `Area = 3.14 x ${r} x ${r} = ${v}.`,
    ],
    draw: (P, S) => {
      const [c, p] = S as [Pt, Pt];
      circle(P, c, len(sub(p, c)));
      dot(P, c);
      if (byDiameter) {
        const q = sub(mul(c, 2), p);
        seg(P, q, p);
        const dir = unit(sub(p, c));
        const perp: Pt = [-dir[1], dir[0]];
        label(P, O, add(c, mul(perp, -7)));
        sideLabel(P, String(n), c, p, add(c, mul(perp, -1)), 6);
      } else {
        seg(P, c, p);
        label(P, O, add(c, mul(unit(sub(c, p)), 7)));
        sideLabel(P, String(n), c, p, add(c, [0, 0.01]), 6);
      }
    },
  };
}

function parallelLines(rng: Rng, L: string[]): Figure {
  const x = rng.int(25, 155);
  // Four angles at each crossing: 0 upper-right, 1 upper-left, 2 lower-left, 3 lower-right.
  const p1 = rng.int(0, 3);
  const p2 = rng.int(0, 3);
  // The angle at position k equals x when it has the same parity as the labelled one.
  const same = (p1 + p2) % 2 === 0;
  const tilt = p1 % 2 === 0 ? x : 180 - x; // direction of the transversal's upper ray
  const d = polar(tilt, 1);
  const [A, B] = [L[0]!, L[1]!];
  return {
    family: "parallel_lines",
    params: { x, p1, p2 },
    ask: same ? "same" : "supplement",
    letters: [A, B],
    question: `Lines ${A} and ${B} are parallel. Find the angle marked with a question mark in degrees.`,
    pts: [
      [-1.6, 0.5],
      [1.6, 0.5],
      [-1.6, -0.5],
      [1.6, -0.5],
      [(0.5 * d[0]) / d[1], 0.5],
      [(-0.5 * d[0]) / d[1], -0.5],
    ],
    steps: (v) => [
      `Lines ${A} and ${B} are parallel and the transversal crosses both.`,
      same
        ? `The marked angle and the ${x} degree angle are corresponding or vertical angles, so they are equal: ${v}.`
        : `The marked angle and the ${x} degree angle are on the same side of a straight line, so they add up to 180 degrees: 180 - ${x} = ${v}.`,
    ],
    draw: (P, S) => {
      const [l1, r1, l2, r2, c1, c2] = S as [Pt, Pt, Pt, Pt, Pt, Pt];
      seg(P, l1, r1);
      seg(P, l2, r2);
      // transversal through the two crossings
      const dir = unit(sub(c1, c2));
      seg(P, add(c2, mul(dir, -14)), add(c1, mul(dir, 14)));
      // Line names at the end farther from the crossing, clear of the angle labels.
      const far = (l: Pt, r: Pt, c: Pt): Pt => (len(sub(l, c)) > len(sub(r, c)) ? add(l, [4, -6]) : add(r, [-4, -6]));
      label(P, A, far(l1, r1, c1));
      label(P, B, far(l2, r2, c2));
      const rays = (c: Pt): Pt[] => [
        add(c, mul(unit(sub(r1, l1)), 10)),
        add(c, mul(dir, 10)),
        add(c, mul(unit(sub(r1, l1)), -10)),
        add(c, mul(dir, -10)),
      ];
      // positions: 0 between right and up ray, 1 up and left, 2 left and down, 3 down and right
      const wedge = (c: Pt, pos: number): [Pt, Pt] => {
        const R = rays(c);
        return [R[pos]!, R[(pos + 1) % 4]!];
      };
      const [a1, b1] = wedge(c1, p1);
      angleLabel(P, deg(x), c1, a1, b1);
      const [a2, b2] = wedge(c2, p2);
      angleLabel(P, "?", c2, a2, b2);
    },
  };
}

function exteriorAngle(rng: Rng, L: string[]): Figure {
  const a = rng.int(25, 100);
  const b = rng.int(25, Math.min(100, 150 - a));
  const [A, B, C, D] = [L[0]!, L[1]!, L[2]!, L[3]!];
  // base angles: a at A, 180 − a − b at B, apex angle b at C; the base is extended beyond B to D
  const tri = triangleFromAngles(a, 180 - a - b);
  return {
    family: "exterior_angle",
    params: { a, b },
    ask: "exterior",
    letters: [A, B, C, D],
    question: `In triangle ${A}${B}${C}, side ${A}${B} is extended to ${D}. Find the measure of angle ${C}${B}${D} in degrees.`,
    pts: [...tri, [1.45, 0]],
    steps: (v) => [
      `The exterior angle ${C}${B}${D} equals the sum of the two opposite interior angles.`,
      `The interior angles at ${A} and ${C} are ${a} and ${b} degrees.`,
      `So angle ${C}${B}${D} = ${a} + ${b} = ${v}.`,
    ],
    draw: (P, S) => {
      const [p, q, r, e] = S as [Pt, Pt, Pt, Pt];
      poly(P, [p, q, r]);
      seg(P, q, e);
      const c = centroid([p, q, r]);
      vertexLabel(P, A, p, c);
      vertexLabel(P, B, q, c);
      vertexLabel(P, C, r, c);
      vertexLabel(P, D, e, c, 6);
      angleLabel(P, deg(a), p, q, r);
      angleLabel(P, deg(b), r, p, q);
      angleLabel(P, "?", q, e, r);
    },
  };
}

function quadrilateral(rng: Rng, L: string[]): Figure {
  // A convex quadrilateral from four points on an ellipse; its true angles are printed.
  let pts: Pt[] = [];
  let angles: number[] = [];
  for (let t = 0; t < 50; t++) {
    const base = [rng.int(200, 250), rng.int(290, 340), rng.int(20, 70), rng.int(110, 160)];
    pts = base.map((d) => polar(d, 1)).map((p) => [p[0] * 1.3, p[1]] as Pt);
    angles = pts.map((v, i) => {
      const p = pts[(i + 3) % 4]!;
      const q = pts[(i + 1) % 4]!;
      const u1 = unit(sub(p, v));
      const u2 = unit(sub(q, v));
      return Math.round((Math.acos(u1[0] * u2[0] + u1[1] * u2[1]) * 180) / Math.PI);
    });
    const drift = 360 - angles.reduce((s, x) => s + x, 0);
    angles[3] = angles[3]! + drift;
    if (angles.every((x) => x >= 45 && x <= 150)) break;
  }
  const [a, b, c] = [angles[0]!, angles[1]!, angles[2]!];
  const name = L.join("");
  return {
    family: "quadrilateral",
    params: { a, b, c },
    ask: "fourth",
    letters: L,
    question: `Find the measure of angle ${L[3]} in quadrilateral ${name} in degrees.`,
    pts,
    steps: (v) => [
      `The angles of a quadrilateral add up to 360 degrees.`,
      `The angles at ${L[0]}, ${L[1]} and ${L[2]} are ${a}, ${b} and ${c} degrees.`,
      `So angle ${L[3]} = 360 - ${a} - ${b} - ${c} = ${v}.`,
    ],
    draw: (P, S) => {
      poly(P, S);
      const cc = centroid(S);
      S.forEach((p, i) => vertexLabel(P, L[i]!, p, cc));
      [a, b, c].forEach((x, i) => angleLabel(P, deg(x), S[i]!, S[(i + 3) % 4]!, S[(i + 1) % 4]!));
      angleLabel(P, "?", S[3]!, S[2]!, S[0]!);
    },
  };
}

function trapezoid(rng: Rng, L: string[]): Figure {
  const a = rng.int(4, 30);
  const b = rng.int(2, a - 1);
  const h = rng.int(2, 24);
  const top = b / a;
  const off = rng.float(0, 1 - top);
  const height = Math.min(1, Math.max(0.35, h / a));
  return {
    family: "trapezoid",
    params: { a, b, h },
    ask: "area",
    letters: L,
    question: `Find the area of trapezoid ${L.join("")}.`,
    pts: [
      [0, 0],
      [1, 0],
      [off + top, height],
      [off, height],
    ],
    steps: (v) => [
      `The parallel sides are ${a} and ${b} and the height is ${h}.`,
      `Area = (${a} + ${b}) x ${h} / 2 = ${v}.`,
    ],
    draw: (P, S) => {
      poly(P, S);
      const c = centroid(S);
      S.forEach((p, i) => vertexLabel(P, L[i]!, p, c));
      sideLabel(P, String(a), S[0]!, S[1]!, c);
      sideLabel(P, String(b), S[2]!, S[3]!, c);
      // height: dashed from the top-left vertex down to the base
      const base = sub(S[1]!, S[0]!);
      const u = unit(base);
      const t = (S[3]![0] - S[0]![0]) * u[0] + (S[3]![1] - S[0]![1]) * u[1];
      const foot = add(S[0]!, mul(u, t));
      seg(P, S[3]!, foot, true);
      rightMark(P, foot, S[1]!, S[3]!, 4);
      const m = mid(S[3]!, foot);
      label(P, String(h), add(m, mul(u, 8)));
    },
  };
}

function inscribedAngle(rng: Rng, L: string[]): Figure {
  // Two adjacent central angles are printed; the inscribed angle on their joint arc is asked.
  const a = rng.int(20, 140);
  let b = rng.int(20, Math.min(140, 280 - a));
  if ((a + b) % 2 === 1) b += b < 140 && a + b < 280 ? 1 : -1;
  const [A, B, C, D] = [L[0]!, L[1]!, L[2]!, L[3]!];
  const O = "O";
  const start = rng.int(0, 359);
  const pa = polar(start, 1);
  const pb = polar(start + a, 1);
  const pc = polar(start + a + b, 1);
  const pd = polar(start + a + b + (360 - a - b) / 2 + rng.int(-15, 15), 1);
  const ring: Pt[] = [];
  for (let k = 0; k < 8; k++) ring.push(polar(k * 45, 1));
  return {
    family: "inscribed_angle",
    params: { a, b },
    ask: "inscribed",
    letters: [O, A, B, C, D],
    question: `${O} is the centre of the circle. Find the measure of angle ${A}${D}${C} in degrees.`,
    pts: [[0, 0], pa, pb, pc, pd],
    extent: ring,
    steps: (v) => [
      `Angles ${A}${O}${B} and ${B}${O}${C} are central angles of ${a} and ${b} degrees, so arc ${A}${C} has a central angle of ${a} + ${b} = ${a + b} degrees.`,
      `The inscribed angle ${A}${D}${C} stands on the same arc, so it is half of the central angle.`,
      `So angle ${A}${D}${C} = ${a + b} / 2 = ${v}.`,
    ],
    draw: (P, S) => {
      const [o, pA, pB, pC, pD] = S as [Pt, Pt, Pt, Pt, Pt];
      circle(P, o, len(sub(pA, o)));
      seg(P, o, pA);
      seg(P, o, pB);
      seg(P, o, pC);
      seg(P, pD, pA);
      seg(P, pD, pC);
      dot(P, o);
      vertexLabel(P, A, pA, o, 7);
      vertexLabel(P, B, pB, o, 7);
      vertexLabel(P, C, pC, o, 7);
      vertexLabel(P, D, pD, o, 7);
      label(P, O, add(o, mul(unit(sub(o, pB)), 7)));
      angleLabel(P, deg(a), o, pA, pB);
      angleLabel(P, deg(b), o, pB, pC);
      angleLabel(P, "?", pD, pA, pC);
    },
  };
}

function parallelogram(rng: Rng, L: string[]): Figure {
  const ask = rng.pick(["area", "adjacent", "opposite"]);
  const b = rng.int(3, 30);
  const h = rng.int(2, 24);
  const x = rng.pick([...Array(121).keys()].map((k) => k + 30).filter((k) => k !== 90));
  const height = Math.min(0.9, Math.max(0.4, h / b));
  const shift = height / Math.tan((x * Math.PI) / 180);
  const params: Record<string, number> = ask === "area" ? { b, h } : { x };
  return {
    family: "parallelogram",
    params,
    ask,
    letters: L,
    question:
      ask === "area"
        ? `Find the area of parallelogram ${L.join("")}.`
        : `Find the measure of angle ${ask === "adjacent" ? L[1] : L[2]} in parallelogram ${L.join("")} in degrees.`,
    pts: [
      [0, 0],
      [1, 0],
      [1 + shift, height],
      [shift, height],
    ],
    steps: (v) =>
      ask === "area"
        ? [
            `The base of the parallelogram is ${b} and its height is ${h}.`,
            `Area = base x height = ${b} x ${h} = ${v}.`,
          ]
        : ask === "adjacent"
          ? [
              `Adjacent angles of a parallelogram add up to 180 degrees.`,
              `Angle ${L[0]} is ${x} degrees, so angle ${L[1]} = 180 - ${x} = ${v}.`,
            ]
          : [
              `Opposite angles of a parallelogram are equal.`,
              `Angle ${L[0]} is ${x} degrees, so angle ${L[2]} = ${v}.`,
            ],
    draw: (P, S) => {
      poly(P, S);
      const c = centroid(S);
      S.forEach((p, i) => vertexLabel(P, L[i]!, p, c));
      if (ask === "area") {
        sideLabel(P, String(b), S[0]!, S[1]!, c);
        const u = unit(sub(S[1]!, S[0]!));
        const t = (S[3]![0] - S[0]![0]) * u[0] + (S[3]![1] - S[0]![1]) * u[1];
        const foot = add(S[0]!, mul(u, t));
        seg(P, S[3]!, foot, true);
        label(P, String(h), add(mid(S[3]!, foot), mul(u, 7)));
      } else {
        angleLabel(P, deg(x), S[0]!, S[1]!, S[3]!);
        if (ask === "adjacent") angleLabel(P, "?", S[1]!, S[2]!, S[0]!);
        else angleLabel(P, "?", S[2]!, S[3]!, S[1]!);
      }
    },
  };
}

const BUILDERS: Record<Family, (rng: Rng, L: string[]) => Figure> = {
  triangle_angle: triangleAngle,
  line_angles: lineAngles,
  rectangle,
  right_triangle: rightTriangle,
  circle: circleFigure,
  parallel_lines: parallelLines,
  exterior_angle: exteriorAngle,
  quadrilateral,
  trapezoid,
  inscribed_angle: inscribedAngle,
  parallelogram,
};

// ---------------------------------------------------------------------------------------------------------

/** Rotates, scales and centres abstract points (y up) into screen coordinates (y down). */
function fit(pts: Pt[], extent: Pt[], rotation: number, c: Canvas2, margin: number, lineWidth: number): Pt[] {
  const t = (rotation * Math.PI) / 180;
  const rot = (p: Pt): Pt => [p[0] * Math.cos(t) - p[1] * Math.sin(t), -(p[0] * Math.sin(t) + p[1] * Math.cos(t))];
  const all = [...pts, ...extent].map(rot);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const s = Math.min(
    (c.width - 2 * margin) / Math.max(1e-6, x1 - x0),
    (c.height - 2 * margin) / Math.max(1e-6, y1 - y0),
  );
  const ox = c.width / 2 - ((x0 + x1) / 2) * s;
  const oy = c.height / 2 - ((y0 + y1) / 2) * s;
  // Odd line widths are crisp on pixel centres, even ones on pixel edges.
  const off = lineWidth % 2 === 1 ? 0.5 : 0;
  return pts.map(rot).map((p) => [Math.round(p[0] * s + ox) + off, Math.round(p[1] * s + oy) + off]);
}

/** Three wrong options near the right one, all positive and distinct. */
function distractors(rng: Rng, value: number, family: Family, ask: string): number[] {
  const angle =
    !["rectangle", "right_triangle", "circle", "trapezoid"].includes(family) &&
    !(family === "parallelogram" && ask === "area");
  const cands = new Set<number>();
  const step = angle ? rng.pick([5, 10, 15, 20]) : Math.max(1, Math.round(value * rng.pick([0.1, 0.2, 0.25, 0.5])));
  for (const d of [-2, -1, 1, 2, 3]) cands.add(Math.round((value + d * step) * 100) / 100);
  if (angle && value < 180) cands.add(180 - value);
  cands.add(Math.round(value * 2 * 100) / 100);
  cands.add(Math.round((value / 2) * 100) / 100);
  const ok = [...cands].filter((x) => x > 0 && Math.abs(x - value) > 1e-9 && (!angle || x < 360));
  return rng.sample(ok, 3);
}

const STROKES: RGB[] = [
  [30, 60, 150],
  [20, 110, 60],
  [140, 30, 40],
  [90, 40, 130],
];

export function drawGeometry(
  rng: Rng,
  split: GeometrySplit,
  family: Family = rng.pick(split === "ood" ? OOD_FAMILIES : ID_FAMILIES),
): { fig: Figure; scene: Omit<GeometryScene, "labels">; value: number } {
  const letters = rng.pick(LETTER_SETS);
  const fig = BUILDERS[family](rng, letters);
  const style: GeoStyle =
    split === "ood"
      ? { rotation: rng.int(20, 340), stroke: rng.pick(STROKES), lineWidth: 2, fill: [232, 236, 250] }
      : { rotation: 0, stroke: [20, 20, 20], lineWidth: 1 };
  if (split === "ood") {
    const s = style.stroke;
    style.fill = [
      Math.round(250 - (250 - s[0]) * 0.12),
      Math.round(250 - (250 - s[1]) * 0.12),
      Math.round(246 - (246 - s[2]) * 0.12),
    ];
  }
  const value = geometryValue(family, fig.params, fig.ask);
  const choice = rng.chance(0.5);
  const scene: Omit<GeometryScene, "labels"> = {
    width: GEO_CANVAS.width,
    height: GEO_CANVAS.height,
    family,
    params: fig.params,
    ask: fig.ask,
    letters: fig.letters,
    style,
  };
  if (choice) {
    const opts = [...distractors(rng, value, family, fig.ask), Math.round(value * 100) / 100].sort((a, b) => a - b);
    scene.choices = opts;
  }
  return { fig, scene, value };
}

export const CHOICE_LETTERS = ["A", "B", "C", "D"] as const;

export function geometryProblem(question: string, choices?: number[]): string {
  if (!choices) return question;
  return `${question}\nChoices:\n${choices.map((v, i) => `${CHOICE_LETTERS[i]}: ${fmtNum(v)}`).join("\n")}`;
}

export function geometryAnswer(value: number, choices?: number[]): string {
  if (!choices) return fmtNum(value);
  const i = choices.findIndex((v) => fmtNum(v) === fmtNum(value));
  return CHOICE_LETTERS[i]!;
}

/** Renders a figure; returns the canvas and the labels it printed. */
export function renderGeometry(fig: Figure, style: GeoStyle) {
  const { canvas, ctx } = newCanvas(GEO_CANVAS, GEO_BACKGROUND);
  const S = fit(fig.pts, fig.extent ?? [], style.rotation, GEO_CANVAS, 16, style.lineWidth);
  const P: Painter = { ctx, style, labels: [] };
  fig.draw(P, S);
  return { canvas, labels: P.labels };
}

export function geometryKey(scene: Pick<GeometryScene, "family" | "params" | "ask">): string {
  const params = Object.keys(scene.params)
    .sort()
    .map((k) => `${k}=${scene.params[k]}`)
    .join(",");
  return `geometry|${scene.family}|${params}|${scene.ask}`;
}

const SPLIT_DIR: Record<GeometrySplit, string> = {
  train: "train_images/geomath",
  id: "test_images/geomath",
  ood: "test_images/geometry3k",
};
const ID_PREFIX: Record<GeometrySplit, string> = {
  train: "geomath_train",
  id: "geomath_test",
  ood: "geometry3k_test",
};

export function makeGeometryItem(seed: number, split: GeometrySplit, index: number, attempt: number): SynthItem | null {
  // The family depends on the item only, not on the attempt, so rejections cannot tilt the family mix
  // towards the families with more parameter values.
  const family = Rng.stream(seed, "geometry-family", split, index).pick(split === "ood" ? OOD_FAMILIES : ID_FAMILIES);
  const rng = Rng.stream(seed, "geometry", split, index, attempt);
  const { fig, scene: partial, value } = drawGeometry(rng, split, family);
  // The labels are only known after drawing; drawing is cheap next to PNG encoding, so draw once here.
  const { canvas, labels } = renderGeometry(fig, partial.style);
  const scene: GeometryScene = { ...partial, labels };
  const answer = geometryAnswer(value, scene.choices);
  const problem = geometryProblem(fig.question, scene.choices);
  const steps = fig.steps(fmtNum(value));
  if (scene.choices) steps.push(`The value ${fmtNum(value)} is choice ${answer}.`);
  const path = `${SPLIT_DIR[split]}/${pad(index)}.png`;
  const record: MetaRecord = {
    id: `${ID_PREFIX[split]}_${pad(index)}`,
    image: path,
    problem,
    ...(split === "train" ? { cot: thinkAnswer(steps, answer) } : {}),
    answer,
    ...(split !== "train" ? { problem_no_prompt: problem } : {}),
    task: "geometry",
    split,
    scene,
  };
  return { record, images: [{ path, render: () => canvas }], key: geometryKey(scene) };
}
