/**
 * Canvas rendering for the mini benchmark: CLEVR-style objects in a flat 2.5D style, and PNG encoding.
 *
 * Everything is drawn with plain canvas paths at fixed coordinates and no text from system fonts, so the same
 * scene always gives the same bytes. Materials are told apart by shading: rubber is matte, metal has strong
 * contrast and a white specular spot, glass is see-through with a light rim.
 */
import { createCanvas, type Canvas, type SKRSContext2D } from "@napi-rs/canvas";
import {
  BACKGROUND_RGB,
  K,
  KH,
  dims,
  project,
  type Canvas2,
  type Color,
  type RenderStyle,
  type SceneObject,
  type View,
} from "./scene.ts";

export type RGB = [number, number, number];

export const PALETTE: Record<Color, RGB> = {
  gray: [112, 112, 112],
  red: [204, 40, 36],
  blue: [36, 78, 224],
  green: [34, 156, 58],
  brown: [128, 78, 36],
  purple: [128, 44, 180],
  cyan: [40, 206, 214],
  yellow: [238, 206, 30],
};

function clamp255(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v)));
}

export function css(c: RGB, alpha = 1): string {
  return alpha >= 1 ? `rgb(${c[0]},${c[1]},${c[2]})` : `rgba(${c[0]},${c[1]},${c[2]},${alpha})`;
}

/** Mixes towards white (t > 0) or black (t < 0). */
export function shade(c: RGB, t: number): RGB {
  if (t >= 0)
    return [clamp255(c[0] + (255 - c[0]) * t), clamp255(c[1] + (255 - c[1]) * t), clamp255(c[2] + (255 - c[2]) * t)];
  return [clamp255(c[0] * (1 + t)), clamp255(c[1] * (1 + t)), clamp255(c[2] * (1 + t))];
}

export function newCanvas(c: Canvas2, background: RGB = BACKGROUND_RGB): { canvas: Canvas; ctx: SKRSContext2D } {
  const canvas = createCanvas(c.width, c.height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = css(background);
  ctx.fillRect(0, 0, c.width, c.height);
  return { canvas, ctx };
}

/** PNG bytes of a canvas (the canvas library's encoder; same bytes for the same pixels). */
export function encodePng(canvas: Canvas): Promise<Buffer> {
  return canvas.encode("png");
}

interface Look {
  top: RGB;
  front: RGB;
  side: RGB;
  alpha: number;
  rim?: RGB;
  spot: boolean;
  outline?: RGB;
}

function look(o: SceneObject, tint: RGB | undefined, outline: boolean): Look {
  let base = PALETTE[o.color];
  if (tint) base = [clamp255(base[0] + tint[0]), clamp255(base[1] + tint[1]), clamp255(base[2] + tint[2])];
  const out = outline ? shade(base, -0.7) : undefined;
  switch (o.material) {
    case "rubber":
      return { top: shade(base, 0.18), front: base, side: shade(base, -0.18), alpha: 1, spot: false, outline: out };
    case "metal":
      return {
        top: shade(base, 0.45),
        front: shade(base, -0.1),
        side: shade(base, -0.5),
        alpha: 1,
        spot: true,
        outline: out,
      };
    case "glass":
      return {
        top: shade(base, 0.3),
        front: base,
        side: shade(base, -0.15),
        alpha: 0.45,
        rim: shade(base, -0.2),
        spot: false,
        outline: out,
      };
  }
}

function fillPoly(ctx: SKRSContext2D, pts: [number, number][], color: RGB, alpha: number): void {
  ctx.beginPath();
  ctx.moveTo(pts[0]![0], pts[0]![1]);
  for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i]![0], pts[i]![1]);
  ctx.closePath();
  ctx.fillStyle = css(color, alpha);
  ctx.fill();
}

function strokePoly(ctx: SKRSContext2D, pts: [number, number][], color: RGB): void {
  ctx.beginPath();
  ctx.moveTo(pts[0]![0], pts[0]![1]);
  for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i]![0], pts[i]![1]);
  ctx.closePath();
  ctx.strokeStyle = css(color);
  ctx.lineWidth = 1;
  ctx.stroke();
}

function ellipse(ctx: SKRSContext2D, cx: number, cy: number, rx: number, ry: number): void {
  ctx.beginPath();
  ctx.ellipse(cx, cy, rx, ry, 0, 0, Math.PI * 2);
}

function spot(ctx: SKRSContext2D, x: number, y: number, r: number): void {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
  ctx.fillStyle = "rgb(255,255,255)";
  ctx.fill();
}

function drawCube(ctx: SKRSContext2D, o: SceneObject, u: number, v: number, azimuth: number, L: Look): void {
  const { r: a, h } = dims(o);
  const t = ((o.yaw + azimuth) * Math.PI) / 180;
  const corners: [number, number][] = [
    [-a, -a],
    [a, -a],
    [a, a],
    [-a, a],
  ].map(([x, z]) => [x! * Math.cos(t) - z! * Math.sin(t), x! * Math.sin(t) + z! * Math.cos(t)]);
  const top = corners.map(([x, z]) => [u + x, v + z * K - h * KH] as [number, number]);
  const bot = corners.map(([x, z]) => [u + x, v + z * K] as [number, number]);
  // Side faces whose outward normal points towards the camera (+z), back ones first.
  const faces: { pts: [number, number][]; nz: number; nx: number }[] = [];
  for (let i = 0; i < 4; i++) {
    const j = (i + 1) % 4;
    const mx = (corners[i]![0] + corners[j]![0]) / 2;
    const mz = (corners[i]![1] + corners[j]![1]) / 2;
    if (mz <= 0) continue;
    faces.push({ pts: [top[i]!, top[j]!, bot[j]!, bot[i]!], nz: mz, nx: mx });
  }
  faces.sort((p, q) => p.nz - q.nz);
  for (const f of faces) fillPoly(ctx, f.pts, f.nx < 0 ? L.front : L.side, L.alpha);
  fillPoly(ctx, top, L.top, L.alpha);
  if (L.rim) {
    for (const f of faces) strokePoly(ctx, f.pts, L.rim);
    strokePoly(ctx, top, L.rim);
  }
  if (L.outline) {
    for (const f of faces) strokePoly(ctx, f.pts, L.outline);
    strokePoly(ctx, top, L.outline);
  }
  if (L.spot) spot(ctx, u - a * 0.25, v - h * KH - a * 0.1, Math.max(1.2, a * 0.28));
}

function drawSphere(ctx: SKRSContext2D, o: SceneObject, u: number, v: number, L: Look): void {
  const { h } = dims(o);
  const rs = h / 2;
  const cy = v - rs * KH;
  const g = ctx.createRadialGradient(u - rs * 0.35, cy - rs * 0.35, rs * 0.1, u, cy, rs);
  g.addColorStop(0, css(L.top, L.alpha));
  g.addColorStop(0.55, css(L.front, L.alpha));
  g.addColorStop(1, css(L.side, L.alpha));
  ctx.beginPath();
  ctx.arc(u, cy, rs, 0, Math.PI * 2);
  ctx.fillStyle = g;
  ctx.fill();
  if (L.rim || L.outline) {
    ctx.strokeStyle = css((L.outline ?? L.rim)!);
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  if (L.spot) spot(ctx, u - rs * 0.35, cy - rs * 0.35, Math.max(1.2, rs * 0.28));
}

function drawCylinder(ctx: SKRSContext2D, o: SceneObject, u: number, v: number, L: Look): void {
  const { r, h } = dims(o);
  const ry = r * K;
  const topY = v - h * KH;
  // Body: bottom half-ellipse plus the rectangle up to the top ellipse.
  const g = ctx.createLinearGradient(u - r, 0, u + r, 0);
  g.addColorStop(0, css(L.front, L.alpha));
  g.addColorStop(1, css(L.side, L.alpha));
  ctx.beginPath();
  ctx.moveTo(u - r, topY);
  ctx.lineTo(u - r, v);
  ctx.ellipse(u, v, r, ry, 0, Math.PI, 0, true);
  ctx.lineTo(u + r, topY);
  ctx.closePath();
  ctx.fillStyle = g;
  ctx.fill();
  if (L.rim || L.outline) {
    ctx.strokeStyle = css((L.outline ?? L.rim)!);
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  ellipse(ctx, u, topY, r, ry);
  ctx.fillStyle = css(L.top, L.alpha);
  ctx.fill();
  if (L.rim || L.outline) ctx.stroke();
  if (L.spot) spot(ctx, u - r * 0.45, topY + ry * 0.1 + h * KH * 0.35, Math.max(1.2, r * 0.26));
}

function drawCone(ctx: SKRSContext2D, o: SceneObject, u: number, v: number, L: Look): void {
  const { r, h } = dims(o);
  const ry = r * K;
  const apexY = v - h * KH;
  const g = ctx.createLinearGradient(u - r, 0, u + r, 0);
  g.addColorStop(0, css(L.top, L.alpha));
  g.addColorStop(0.5, css(L.front, L.alpha));
  g.addColorStop(1, css(L.side, L.alpha));
  ctx.beginPath();
  ctx.moveTo(u, apexY);
  ctx.lineTo(u - r, v);
  ctx.ellipse(u, v, r, ry, 0, Math.PI, 0, true);
  ctx.closePath();
  ctx.fillStyle = g;
  ctx.fill();
  if (L.rim || L.outline) {
    ctx.strokeStyle = css((L.outline ?? L.rim)!);
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  if (L.spot) spot(ctx, u - r * 0.3, v - h * KH * 0.45, Math.max(1.2, r * 0.24));
}

function drawTorus(ctx: SKRSContext2D, o: SceneObject, u: number, v: number, L: Look): void {
  const { r, h } = dims(o);
  const cy = v - (h / 2) * KH;
  const tube = r * 0.28;
  // A flat ring: outer ellipse minus the hole (even-odd), a darker lower band suggests thickness.
  ctx.beginPath();
  ctx.ellipse(u, cy + tube * 0.35, r, r * K + tube * 0.35, 0, 0, Math.PI * 2);
  ctx.ellipse(u, cy, r - 2 * tube, Math.max(0.5, (r - 2 * tube) * K), 0, 0, Math.PI * 2);
  ctx.fillStyle = css(L.side, L.alpha);
  ctx.fill("evenodd");
  ctx.beginPath();
  ctx.ellipse(u, cy, r, r * K, 0, 0, Math.PI * 2);
  ctx.ellipse(u, cy, r - 2 * tube, Math.max(0.5, (r - 2 * tube) * K), 0, 0, Math.PI * 2);
  ctx.fillStyle = css(L.top, L.alpha);
  ctx.fill("evenodd");
  if (L.rim || L.outline) {
    ctx.strokeStyle = css((L.outline ?? L.rim)!);
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  if (L.spot) spot(ctx, u - r * 0.6, cy - r * K * 0.3, Math.max(1.2, tube * 0.6));
}

/** Draws the objects of a scene in a view, back to front. */
export function drawObjects(
  ctx: SKRSContext2D,
  c: Canvas2,
  objs: readonly SceneObject[],
  view: View,
  style: RenderStyle = {},
): void {
  const azimuth = view === "center" ? 0 : view === "left" ? -40 : 40;
  const order = objs
    .map((o, i) => ({ o, i, p: project(c, o.x, o.z, view) }))
    .sort((a, b) => a.p.depth - b.p.depth || a.i - b.i);
  for (const { o, i, p } of order) {
    const L = look(o, style.tint?.[i], style.outline === true);
    switch (o.shape) {
      case "cube":
        drawCube(ctx, o, p.u, p.v, azimuth, L);
        break;
      case "sphere":
        drawSphere(ctx, o, p.u, p.v, L);
        break;
      case "cylinder":
        drawCylinder(ctx, o, p.u, p.v, L);
        break;
      case "cone":
        drawCone(ctx, o, p.u, p.v, L);
        break;
      case "torus":
        drawTorus(ctx, o, p.u, p.v, L);
        break;
    }
  }
}

/** Renders a whole CLEVR-style image. */
export function renderScene(
  c: Canvas2,
  objs: readonly SceneObject[],
  view: View = "center",
  style: RenderStyle = {},
): Canvas {
  const { canvas, ctx } = newCanvas(c);
  drawObjects(ctx, c, objs, view, style);
  return canvas;
}
