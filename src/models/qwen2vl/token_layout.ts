/**
 * Special-token layouts: the ids the config needs from a tokenizer, the real Qwen2 tokenizer's ids, and the layout
 * of the project's tiny tokenizer (its special tokens after the byte-level BPE vocabulary). Tensor-free.
 */

/** Special-token ids of a tokenizer, as the config needs them. */
export interface TokenizerIds {
  vocabSize: number;
  endoftext: number;
  imEnd: number;
  visionStart: number;
  visionEnd: number;
  visionPad: number | null;
  imagePad: number;
  videoPad: number;
}

/** The real Qwen2 tokenizer's ids (spec §2.4). */
export const QWEN_TOKEN_IDS: Omit<TokenizerIds, "vocabSize"> = {
  endoftext: 151643,
  imEnd: 151645,
  visionStart: 151652,
  visionEnd: 151653,
  visionPad: 151654,
  imagePad: 151655,
  videoPad: 151656,
};

/**
 * Special tokens of the project's tiny tokenizer, in id order, appended after the byte-level BPE vocabulary.
 * Same strings as Qwen's, so prompts and templates are identical at both scales.
 */
export const TINY_SPECIAL_TOKENS = [
  "<|endoftext|>",
  "<|im_start|>",
  "<|im_end|>",
  "<|vision_start|>",
  "<|vision_end|>",
  "<|vision_pad|>",
  "<|image_pad|>",
  "<|video_pad|>",
] as const;

/** Default total vocabulary of the tiny tokenizer (BPE tokens + special tokens). */
export const TINY_VOCAB_SIZE = 1024;

/** Ids of the tiny tokenizer's special tokens for a total vocabulary `vocabSize` (specials are the last ids). */
export function tinyTokenizerLayoutIds(vocabSize = TINY_VOCAB_SIZE): TokenizerIds {
  const first = vocabSize - TINY_SPECIAL_TOKENS.length;
  const id = (t: (typeof TINY_SPECIAL_TOKENS)[number]) => first + TINY_SPECIAL_TOKENS.indexOf(t);
  return {
    vocabSize,
    endoftext: id("<|endoftext|>"),
    imEnd: id("<|im_end|>"),
    visionStart: id("<|vision_start|>"),
    visionEnd: id("<|vision_end|>"),
    visionPad: id("<|vision_pad|>"),
    imagePad: id("<|image_pad|>"),
    videoPad: id("<|video_pad|>"),
  };
}
