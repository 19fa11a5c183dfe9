/**
 * The Qwen2-VL chat template: rendered from a checkpoint's own Jinja template when it has one (through
 * @huggingface/jinja), or by a built-in TypeScript equivalent of the Qwen2-VL-Instruct template otherwise.
 * Tests check that both give identical strings.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";

export type ContentPart =
  { type: "text"; text: string } | { type: "image"; image?: string } | { type: "video"; video?: string };

export interface ChatMessage {
  role: "system" | "user" | "assistant" | string;
  content: string | ContentPart[];
}

export interface ChatTemplateOptions {
  /** Append `<|im_start|>assistant\n` (what rollouts and evaluation use). */
  addGenerationPrompt?: boolean;
  /** Prefix each image with "Picture N: " (and videos with "Video N: "), as the template's add_vision_id does. */
  addVisionId?: boolean;
}

export const DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant.";

/**
 * The chat template shipped in Qwen2-VL-{2B,7B}-Instruct's chat_template.json (we write it into the tokenizer
 * config of checkpoints we create, so transformers and vLLM render prompts exactly as we do).
 */
export const QWEN2VL_CHAT_TEMPLATE =
  "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}" +
  "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}" +
  "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n" +
  "{% else %}{% for content in message['content'] %}" +
  "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}" +
  "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}" +
  "<|vision_start|><|image_pad|><|vision_end|>" +
  "{% elif content['type'] == 'video' or 'video' in content %}" +
  "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}" +
  "<|vision_start|><|video_pad|><|vision_end|>" +
  "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/** Built-in rendering, equal to QWEN2VL_CHAT_TEMPLATE's output for every input. */
export function renderQwen2VLChat(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
  let out = "";
  let images = 0;
  let videos = 0;
  messages.forEach((m, i) => {
    if (i === 0 && m.role !== "system") out += `<|im_start|>system\n${DEFAULT_SYSTEM_PROMPT}<|im_end|>\n`;
    out += `<|im_start|>${m.role}\n`;
    if (typeof m.content === "string") {
      out += `${m.content}<|im_end|>\n`;
      return;
    }
    for (const part of m.content) {
      const p = part as Record<string, unknown>;
      if (p.type === "image" || "image" in p || "image_url" in p) {
        images++;
        if (opts.addVisionId) out += `Picture ${images}: `;
        out += "<|vision_start|><|image_pad|><|vision_end|>";
      } else if (p.type === "video" || "video" in p) {
        videos++;
        if (opts.addVisionId) out += `Video ${videos}: `;
        out += "<|vision_start|><|video_pad|><|vision_end|>";
      } else if ("text" in p) {
        out += String(p.text);
      }
    }
    out += "<|im_end|>\n";
  });
  if (opts.addGenerationPrompt) out += "<|im_start|>assistant\n";
  return out;
}

const compiled = new Map<string, Template>();

/** Renders a Jinja chat template (a checkpoint's) with the variables transformers passes. */
export function renderJinjaChatTemplate(
  template: string,
  messages: readonly ChatMessage[],
  opts: ChatTemplateOptions & { bosToken?: string; eosToken?: string } = {},
): string {
  let t = compiled.get(template);
  if (!t) {
    t = new Template(template);
    compiled.set(template, t);
  }
  return t.render({
    messages: messages as unknown as Record<string, unknown>[],
    add_generation_prompt: opts.addGenerationPrompt ?? false,
    add_vision_id: opts.addVisionId ?? false,
    bos_token: opts.bosToken ?? "",
    eos_token: opts.eosToken ?? "<|im_end|>",
  });
}

/** Renders with `template` when given (the checkpoint's), else with the built-in Qwen2-VL template. */
export function applyChatTemplate(
  messages: readonly ChatMessage[],
  opts: ChatTemplateOptions & { template?: string } = {},
): string {
  return opts.template ? renderJinjaChatTemplate(opts.template, messages, opts) : renderQwen2VLChat(messages, opts);
}

/**
 * Content parts for a text with `<image>` placeholders (the ShareGPT/LLaMA-Factory convention of the SFT data,
 * spec §2.4): each placeholder becomes an image part at its position, so rendering puts
 * `<|vision_start|><|image_pad|><|vision_end|>` exactly there (RL/eval prompts put images first instead).
 */
export function contentFromPlaceholders(text: string, placeholder = "<image>"): ContentPart[] {
  const parts: ContentPart[] = [];
  text.split(placeholder).forEach((seg, i) => {
    if (i > 0) parts.push({ type: "image" });
    if (seg) parts.push({ type: "text", text: seg });
  });
  return parts;
}

/** Number of images a conversation refers to (one `<|image_pad|>` each after rendering). */
export function countImages(messages: readonly ChatMessage[]): number {
  let n = 0;
  for (const m of messages) {
    if (typeof m.content === "string") continue;
    for (const p of m.content) {
      const r = p as Record<string, unknown>;
      if (r.type === "image" || "image" in r || "image_url" in r) n++;
    }
  }
  return n;
}

/**
 * A checkpoint directory's chat template, looked up where transformers keeps it: chat_template.jinja,
 * chat_template.json ({"chat_template": ...}), then tokenizer_config.json's chat_template. Undefined when none.
 */
export async function readChatTemplate(dir: string): Promise<string | undefined> {
  const tryRead = async (name: string) => {
    try {
      return await readFile(join(dir, name), "utf8");
    } catch {
      return undefined;
    }
  };
  const jinja = await tryRead("chat_template.jinja");
  if (jinja !== undefined) return jinja;
  for (const name of ["chat_template.json", "tokenizer_config.json"]) {
    const text = await tryRead(name);
    if (text === undefined) continue;
    const ct = (JSON.parse(text) as { chat_template?: unknown }).chat_template;
    if (typeof ct === "string") return ct;
    if (Array.isArray(ct)) {
      // A list of named templates: use "default".
      const d = ct.find((x: { name?: string }) => x.name === "default") as { template?: string } | undefined;
      if (d?.template) return d.template;
    }
  }
  return undefined;
}
