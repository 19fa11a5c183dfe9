/**
 * A Hugging Face `tokenizer.json` (+ tokenizer_config.json) loaded through @huggingface/tokenizers (pure JS), with
 * the Qwen special tokens resolved by name. Used for the real Qwen2 vocabulary and for the project's tiny one.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import type { TokenizerIds } from "./token_layout.ts";
import { type ChatMessage, type ChatTemplateOptions, applyChatTemplate, readChatTemplate } from "./chat_template.ts";

export interface AddedTokenInfo {
  id: number;
  content: string;
  special: boolean;
}

/** Special tokens the model code needs, by their Qwen strings. */
export const QWEN_SPECIAL = {
  endoftext: "<|endoftext|>",
  imStart: "<|im_start|>",
  imEnd: "<|im_end|>",
  visionStart: "<|vision_start|>",
  visionEnd: "<|vision_end|>",
  visionPad: "<|vision_pad|>",
  imagePad: "<|image_pad|>",
  videoPad: "<|video_pad|>",
} as const;

export type SpecialName = keyof typeof QWEN_SPECIAL;

export class QwenTokenizer {
  private readonly tok: Tokenizer;
  readonly addedTokens: AddedTokenInfo[];
  /** Number of ids: max id + 1 over the model vocabulary and the added tokens. */
  readonly size: number;
  readonly eosToken: string | undefined;
  readonly padToken: string | undefined;

  constructor(
    readonly tokenizerJson: Record<string, unknown>,
    readonly tokenizerConfig: Record<string, unknown> = {},
    /** The chat template to render with; undefined → the built-in Qwen2-VL template. */
    readonly chatTemplate?: string,
    readonly source = "tokenizer.json",
  ) {
    try {
      this.tok = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (e) {
      throw new Error(`${source}: cannot load tokenizer: ${(e as Error).message}`);
    }
    const added = (tokenizerJson.added_tokens ?? []) as { id: number; content: string; special?: boolean }[];
    this.addedTokens = added.map((a) => ({ id: a.id, content: a.content, special: a.special ?? false }));
    let max = -1;
    for (const id of this.tok.get_vocab(true).values()) if (id > max) max = id;
    this.size = max + 1;
    const tokName = (v: unknown) =>
      typeof v === "string"
        ? v
        : typeof v === "object" && v && "content" in v
          ? String((v as { content: unknown }).content)
          : undefined;
    this.eosToken = tokName(tokenizerConfig.eos_token);
    this.padToken = tokName(tokenizerConfig.pad_token);
  }

  /** Loads tokenizer.json, tokenizer_config.json (optional) and the chat template from a checkpoint directory. */
  static async fromDir(dir: string): Promise<QwenTokenizer> {
    const path = join(dir, "tokenizer.json");
    let tj: Record<string, unknown>;
    try {
      tj = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`cannot read ${path}: ${(e as Error).message}`);
    }
    let tc: Record<string, unknown> = {};
    try {
      tc = JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    } catch {
      // optional
    }
    return new QwenTokenizer(tj, tc, await readChatTemplate(dir), path);
  }

  /** Token ids of `text`. Special-token strings in the text become their ids (as transformers does). */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  /** Token strings of `text` (byte-level forms, e.g. "Ġmany"). */
  tokenize(text: string): string[] {
    return this.tok.encode(text, { add_special_tokens: false }).tokens;
  }

  /** Text of `ids`; "" for no ids (an empty completion: the first generated token was a stop token). */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return ""; // @huggingface/tokenizers throws on an empty list
    return this.tok.decode([...ids], {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  /** Id of a token that must exist; the error names the token and the tokenizer file. */
  requireId(token: string): number {
    const id = this.tokenToId(token);
    if (id === undefined) throw new Error(`${this.source}: the tokenizer has no token ${token}`);
    return id;
  }

  /** Ids of the Qwen special tokens; a missing one is undefined. */
  specialIds(): Record<SpecialName, number | undefined> {
    return Object.fromEntries(Object.entries(QWEN_SPECIAL).map(([k, s]) => [k, this.tokenToId(s)])) as Record<
      SpecialName,
      number | undefined
    >;
  }

  /** Ids of every added token marked special (what skipSpecialTokens removes). */
  specialTokenIds(): number[] {
    return this.addedTokens.filter((a) => a.special).map((a) => a.id);
  }

  eosTokenId(): number {
    return this.requireId(this.eosToken ?? QWEN_SPECIAL.imEnd);
  }

  padTokenId(): number {
    return this.requireId(this.padToken ?? QWEN_SPECIAL.endoftext);
  }

  /** Vocabulary size and special ids as the model config needs them (config.withTokenizerIds). */
  configIds(vocabSize = this.size): TokenizerIds {
    return {
      vocabSize,
      endoftext: this.requireId(QWEN_SPECIAL.endoftext),
      imEnd: this.requireId(QWEN_SPECIAL.imEnd),
      visionStart: this.requireId(QWEN_SPECIAL.visionStart),
      visionEnd: this.requireId(QWEN_SPECIAL.visionEnd),
      visionPad: this.tokenToId(QWEN_SPECIAL.visionPad) ?? null,
      imagePad: this.requireId(QWEN_SPECIAL.imagePad),
      videoPad: this.requireId(QWEN_SPECIAL.videoPad),
    };
  }

  /** Renders a conversation with this checkpoint's template (or the built-in Qwen2-VL one). */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    return applyChatTemplate(messages, { ...opts, template: this.chatTemplate });
  }
}

/** Loads a tokenizer.json file (and tokenizer_config.json beside it, when present). */
export async function loadTokenizer(dirOrFile: string): Promise<QwenTokenizer> {
  if (dirOrFile.endsWith(".json")) {
    const dir = dirname(dirOrFile);
    const tj = JSON.parse(await readFile(dirOrFile, "utf8")) as Record<string, unknown>;
    let tc: Record<string, unknown> = {};
    try {
      tc = JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    } catch {
      // optional
    }
    return new QwenTokenizer(tj, tc, await readChatTemplate(dir), dirOrFile);
  }
  return QwenTokenizer.fromDir(dirOrFile);
}
