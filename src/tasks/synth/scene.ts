/**
 * CLEVR-style scenes shared by visual counting, spatial transformation and the instruct set: the attribute
 * vocabularies, object geometry on a ground plane, the camera views, and collision-free placement.
 *
 * Coordinates: the ground plane is (x, z) in pixels at the image scale, x to the right, z towards the camera
 * ("front"). A view rotates the ground plane about the scene centre by its azimuth, then projects with a fixed
 * elevation: screen u = W/2 + x', v = groundV + z'·K − height·KH. No perspective shrinking, so an object's
 * size class is readable from its pixel size anywhere in the image.
 */
import type { Rng } from "../../data/rng.ts";

export const COLORS = ["gray", "red", "blue", "green", "brown", "purple", "cyan", "yellow"] as const;
export const SHAPES = ["cube", "sphere", "cylinder"] as const;
/** Object kinds that appear only in the visual-counting domain-shift OOD set. */
export const NEW_SHAPES = ["cone", "torus"] as const;
export const SIZES = ["small", "medium", "large"] as const;
export const MATERIALS = ["glass", "metal", "rubber"] as const;
/** CLEVR-Math uses two sizes and two materials. */
export const COUNT_SIZES = ["small", "large"] as const;
export const COUNT_MATERIALS = ["rubber", "metal"] as const;

export type Color = (typeof COLORS)[number];
export type Shape = (typeof SHAPES)[number] | (typeof NEW_SHAPES)[number];
export type Size = (typeof SIZES)[number];
export type Material = (typeof MATERIALS)[number];

export const PLURAL: Record<Shape, string> = {
  cube: "cubes",
  sphere: "spheres",
  cylinder: "cylinders",
  cone: "cones",
  torus: "tori",
};

export interface SceneObject {
  shape: Shape;
  size: Size;
  color: Color;
  material: Material;
  /** Ground position in pixels relative to the scene centre; z grows towards the camera. */
  x: number;
  z: number;
  /** Rotation about the vertical axis in degrees (visible on cubes). */
  yaw: number;
}

/** Rendering options of one image (they change appearance, never the scene's meaning). */
export interface RenderStyle {
  /** Thin dark outline on every object (domain-shift OOD style). */
  outline?: boolean;
  /** Per-object RGB offsets added to the palette colour (domain-shift OOD style), same order as objects. */
  tint?: [number, number, number][];
}

export interface Canvas2 {
  width: number;
  height: number;
}

/** Camera azimuths in degrees: TRANCE's OOD final images are seen from the left and from the right. */
export const VIEWS = { center: 0, left: 40, right: -40 } as const;
export type View = keyof typeof VIEWS;

export const K = 0.5; // vertical squash of the ground plane
export const KH = 0.85; // vertical scale of heights
export const BACKGROUND_RGB: [number, number, number] = [192, 190, 184];

const RADIUS: Record<Size, number> = { small: 5.5, medium: 7.5, large: 9.5 };

export function sizeRadius(size: Size): number {
  return RADIUS[size];
}

export function groundV(c: Canvas2): number {
  return Math.round(c.height * 0.55);
}

/** Rotates ground coordinates by a view's azimuth. */
export function viewXZ(x: number, z: number, view: View): [number, number] {
  const t = (VIEWS[view] * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [x * c + z * s, z * c - x * s];
}

/** Screen position of the ground point under an object (its footprint centre). */
export function project(c: Canvas2, x: number, z: number, view: View): { u: number; v: number; depth: number } {
  const [xr, zr] = viewXZ(x, z, view);
  return { u: c.width / 2 + xr, v: groundV(c) + zr * K, depth: zr };
}

/** Dimensions of an object in pixels. */
export function dims(o: Pick<SceneObject, "shape" | "size">): { r: number; h: number } {
  const r = RADIUS[o.size];
  switch (o.shape) {
    case "cube":
      return { r: r * 0.78, h: r * 1.56 };
    case "sphere":
      return { r: r * 0.92, h: r * 1.84 };
    case "cylinder":
      return { r: r * 0.82, h: r * 1.5 };
    case "cone":
      return { r: r * 0.88, h: r * 1.9 };
    case "torus":
      return { r: r * 1.0, h: r * 0.6 };
  }
}

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Screen bounding box of an object in a view (conservative). */
export function objectBox(c: Canvas2, o: SceneObject, view: View): Box {
  const { u, v } = project(c, o.x, o.z, view);
  const { r, h } = dims(o);
  if (o.shape === "cube") {
    // Half-diagonal of the square footprint covers every yaw.
    const hd = r * Math.SQRT2;
    return { x0: u - hd, x1: u + hd, y0: v - hd * K - h * KH, y1: v + hd * K };
  }
  if (o.shape === "sphere") {
    const cy = v - (h / 2) * KH;
    return { x0: u - h / 2, x1: u + h / 2, y0: cy - h / 2, y1: cy + h / 2 };
  }
  return { x0: u - r, x1: u + r, y0: v - r * K - h * KH, y1: v + r * K };
}

function boxesOverlap(a: Box, b: Box, gap: number): boolean {
  return a.x0 - gap < b.x1 && b.x0 - gap < a.x1 && a.y0 - gap < b.y1 && b.y0 - gap < a.y1;
}

function inside(c: Canvas2, b: Box, margin: number): boolean {
  return b.x0 >= margin && b.y0 >= margin && b.x1 <= c.width - margin && b.y1 <= c.height - margin;
}

/** True when `o` is inside the canvas and clear of every object in `others` in all given views. */
export function fits(
  c: Canvas2,
  o: SceneObject,
  others: readonly SceneObject[],
  views: readonly View[],
  gap = 2,
): boolean {
  for (const view of views) {
    const b = objectBox(c, o, view);
    if (!inside(c, b, 2)) return false;
    for (const p of others) if (p !== o && boxesOverlap(b, objectBox(c, p, view), gap)) return false;
  }
  return true;
}

export type Attrs = Pick<SceneObject, "shape" | "size" | "color" | "material">;

/**
 * Gives each object a random ground position (inside a disk of `radius` px when views rotate, else the
 * whole ground) so that no two objects overlap in any of `views`. Returns null if the objects do not fit.
 */
export function place(
  rng: Rng,
  c: Canvas2,
  attrs: readonly Attrs[],
  views: readonly View[],
  radius?: number,
): SceneObject[] | null {
  for (let restart = 0; restart < 20; restart++) {
    const placed: SceneObject[] = [];
    // Boxes of the placed objects per view, so each try costs one box per view plus comparisons.
    const boxes: Box[][] = views.map(() => []);
    let ok = true;
    for (const a of attrs) {
      let done = false;
      for (let t = 0; t < 200 && !done; t++) {
        let x: number;
        let z: number;
        if (radius !== undefined) {
          const ang = rng.float(0, Math.PI * 2);
          const rr = radius * Math.sqrt(rng.next());
          x = rr * Math.cos(ang);
          z = rr * Math.sin(ang);
        } else {
          x = rng.float(-c.width / 2, c.width / 2);
          z = rng.float(-c.height / K / 2, c.height / K / 2);
        }
        const o: SceneObject = { ...a, x: round1(x), z: round1(z), yaw: rng.int(0, 89) };
        const mine: Box[] = [];
        let clear = true;
        for (let v = 0; v < views.length && clear; v++) {
          const b = objectBox(c, o, views[v]!);
          clear = inside(c, b, 2) && boxes[v]!.every((p) => !boxesOverlap(b, p, 2));
          mine.push(b);
        }
        if (clear) {
          placed.push(o);
          mine.forEach((b, v) => boxes[v]!.push(b));
          done = true;
        }
      }
      if (!done) {
        ok = false;
        break;
      }
    }
    if (ok) return placed;
  }
  return null;
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Objects ordered left to right in a view (ties broken front to back), as descriptions list them. */
export function leftToRight(c: Canvas2, objs: readonly SceneObject[], view: View = "center"): SceneObject[] {
  return objs
    .map((o) => ({ o, p: project(c, o.x, o.z, view) }))
    .sort((a, b) => a.p.u - b.p.u || b.p.depth - a.p.depth)
    .map((e) => e.o);
}

/** "a small red rubber cube" */
export function describe(o: Attrs, article = true): string {
  const words = `${o.size} ${o.color} ${o.material} ${o.shape}`;
  return article ? `a ${words}` : words;
}

/** "a, b and c" */
export function listPhrase(items: readonly string[]): string {
  if (items.length === 0) return "none";
  if (items.length === 1) return items[0]!;
  return items.slice(0, -1).join(", ") + " and " + items[items.length - 1]!;
}
