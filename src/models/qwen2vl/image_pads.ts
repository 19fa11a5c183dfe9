/**
 * `<|image_pad|>` bookkeeping: tokens per image, expansion of the placeholders, and the per-sample check that the
 * pad count equals the merged patch count (the most common failure across GRPO frameworks). Pure.
 */
export function imageTokenCount(gridThw: readonly [number, number, number], mergeSize: number): number {
  return (gridThw[0] * gridThw[1] * gridThw[2]) / (mergeSize * mergeSize);
}

/**
 * Expands the i-th `<|image_pad|>` token into imageTokenCount(gridThws[i]) copies. Throws when the number of pad
 * tokens differs from the number of images.
 */
export function expandImagePads(
  ids: readonly number[],
  gridThws: readonly (readonly [number, number, number])[],
  imagePadId: number,
  mergeSize: number,
): number[] {
  const out: number[] = [];
  let k = 0;
  for (const id of ids) {
    if (id !== imagePadId) {
      out.push(id);
      continue;
    }
    const g = gridThws[k++];
    if (!g) throw new Error(`expandImagePads: more image pad tokens than images (${gridThws.length})`);
    for (let j = imageTokenCount(g, mergeSize); j > 0; j--) out.push(id);
  }
  if (k !== gridThws.length) throw new Error(`expandImagePads: ${k} image pad tokens for ${gridThws.length} images`);
  return out;
}

/** The same on text: each occurrence of `padToken` becomes the right number of copies (what HF's processor does). */
export function expandImagePadsInText(
  text: string,
  gridThws: readonly (readonly [number, number, number])[],
  mergeSize: number,
  padToken = "<|image_pad|>",
): string {
  const parts = text.split(padToken);
  if (parts.length - 1 !== gridThws.length) {
    throw new Error(`expandImagePadsInText: ${parts.length - 1} ${padToken} in the text for ${gridThws.length} images`);
  }
  return parts
    .map((p, i) => (i === 0 ? p : padToken.repeat(imageTokenCount(gridThws[i - 1]!, mergeSize)) + p))
    .join("");
}

export interface PadCheckSample {
  /** Name used in the error (sample id, file and record...). */
  id: string;
  inputIds: readonly number[];
  imageGridThw: readonly (readonly [number, number, number])[];
}

/**
 * Asserts, per sample, that the number of `<|image_pad|>` tokens equals the merged patch count of its images
 * (the most common failure across GRPO frameworks). Throws an error naming the sample.
 */
export function checkImagePadCounts(samples: readonly PadCheckSample[], imagePadId: number, mergeSize: number): void {
  for (const s of samples) {
    let pads = 0;
    for (const id of s.inputIds) if (id === imagePadId) pads++;
    const want = s.imageGridThw.reduce((a, g) => a + imageTokenCount(g, mergeSize), 0);
    if (pads !== want) {
      const grids = s.imageGridThw.map((g) => `[${g.join(",")}]`).join(" ");
      throw new Error(
        `sample ${s.id}: ${pads} <|image_pad|> tokens (id ${imagePadId}) but its ${s.imageGridThw.length} image(s) ` +
          `with image_grid_thw ${grids || "(none)"} need ${want} (t·h·w/${mergeSize * mergeSize} each)`,
      );
    }
  }
}

/**
 * transformers' `mm_token_type_ids` for token ids: 0 text, 1 image (`<|image_pad|>`), 2 video (`<|video_pad|>`).
 * Newer transformers processors return it and some forwards read it to find the multimodal positions; our model
 * finds them from the ids themselves (the pad id is reserved), so it never needs this array. It is provided for
 * batches handed to transformers-based code.
 */
export function mmTokenTypeIds(ids: readonly number[], imagePadId: number, videoPadId: number): number[] {
  return ids.map((id) => (id === imagePadId ? 1 : id === videoPadId ? 2 : 0));
}
