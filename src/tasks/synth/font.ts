/**
 * A 5×7 pixel font drawn with filled rectangles, for the labels of the geometry figures.
 *
 * System fonts differ between machines and their anti-aliasing at 8 px is hard to read for a tiny vision
 * tower; a bitmap font is crisp, identical everywhere, and keeps the rendered PNGs byte-for-byte
 * reproducible. Digit 0 carries a centre dot so it never looks like the letter O.
 */
import type { SKRSContext2D } from "@napi-rs/canvas";

const G: Record<string, string[]> = {
  "0": [" ### ", "#   #", "#   #", "# # #", "#   #", "#   #", " ### "],
  "1": ["  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
  "2": [" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"],
  "3": ["#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "],
  "4": ["   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "],
  "5": ["#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "],
  "6": ["  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "],
  "7": ["#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "],
  "8": [" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "],
  "9": [" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "],
  A: [" ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"],
  B: ["#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### "],
  C: [" ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### "],
  D: ["#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### "],
  E: ["#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####"],
  F: ["#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    "],
  G: [" ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####"],
  H: ["#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #"],
  I: ["###", " # ", " # ", " # ", " # ", " # ", "###"],
  J: ["  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  "],
  K: ["#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #"],
  L: ["#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####"],
  M: ["#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #"],
  N: ["#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #"],
  O: [" ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "],
  P: ["#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    "],
  Q: [" ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #"],
  R: ["#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #"],
  S: [" ####", "#    ", "#    ", " ### ", "    #", "    #", "#### "],
  T: ["#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  "],
  U: ["#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### "],
  V: ["#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  "],
  W: ["#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # "],
  X: ["#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #"],
  Y: ["#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  "],
  Z: ["#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####"],
  x: ["     ", "     ", "#   #", " # # ", "  #  ", " # # ", "#   #"],
  "?": [" ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  "],
  ".": ["  ", "  ", "  ", "  ", "  ", "##", "##"],
  "°": [" # ", "# #", " # ", "   ", "   ", "   ", "   "],
  " ": ["  ", "  ", "  ", "  ", "  ", "  ", "  "],
};

export const GLYPH_HEIGHT = 7;

function glyph(ch: string): string[] {
  const g = G[ch];
  if (!g) throw new Error(`font: no glyph for '${ch}'`);
  return g;
}

/** Width in pixels of `text` at scale 1 (one blank column between glyphs). */
export function textWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += glyph(ch)[0]!.length + 1;
  return Math.max(0, w - 1);
}

/** Draws `text` with its top-left corner at integer (x, y). */
export function drawText(ctx: SKRSContext2D, text: string, x: number, y: number, color: string): void {
  ctx.fillStyle = color;
  let cx = Math.round(x);
  const cy = Math.round(y);
  for (const ch of text) {
    const rows = glyph(ch);
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!;
      for (let c = 0; c < row.length; c++) if (row[c] === "#") ctx.fillRect(cx + c, cy + r, 1, 1);
    }
    cx += rows[0]!.length + 1;
  }
}

/** Draws `text` centred on (x, y), clamped inside a width×height canvas with a 1-px margin. */
export function drawTextCentered(
  ctx: SKRSContext2D,
  text: string,
  x: number,
  y: number,
  color: string,
  width: number,
  height: number,
): { x: number; y: number; w: number; h: number } {
  const w = textWidth(text);
  const left = Math.min(Math.max(1, Math.round(x - w / 2)), width - w - 1);
  const top = Math.min(Math.max(1, Math.round(y - GLYPH_HEIGHT / 2)), height - GLYPH_HEIGHT - 1);
  drawText(ctx, text, left, top, color);
  return { x: left, y: top, w, h: GLYPH_HEIGHT };
}
