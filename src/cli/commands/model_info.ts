import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type CommandSpec, UsageError } from "../args.ts";
import {
  PRESET_NAMES,
  headDim,
  parseConfigText,
  presetConfig,
  visionMlpDim,
  type Qwen2VLConfig,
} from "../../models/qwen2vl/config.ts";
import { paramCounts } from "../../models/qwen2vl/params.ts";

function fmt(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export const command: CommandSpec = {
  name: "model info",
  summary: "config summary and parameter counts (total, vision, text) of a checkpoint directory or preset",
  options: {
    model: { type: "string", help: "checkpoint directory (reads its config.json) or config.json path" },
    preset: { type: "string", help: "a preset instead of a directory", choices: PRESET_NAMES },
    json: { type: "boolean", help: "print JSON" },
  },
  details: ["Examples:", "  rft model info --model runs/tiny", "  rft model info --preset qwen2-vl-2b --json"].join(
    "\n",
  ),
  async run(opts) {
    let cfg: Qwen2VLConfig;
    let source: string;
    let warnings: { field: string; message: string }[] = [];
    if (opts.preset !== undefined) {
      if (opts.model !== undefined) throw new UsageError("give either --model or --preset, not both");
      cfg = presetConfig(String(opts.preset));
      source = `preset ${String(opts.preset)}`;
    } else if (opts.model !== undefined) {
      const m = String(opts.model);
      source = existsSync(m) && statSync(m).isDirectory() ? join(m, "config.json") : m;
      if (!existsSync(source)) throw new UsageError(`--model: ${source} does not exist`);
      const r = parseConfigText(await readFile(source, "utf8"), { source });
      cfg = r.config;
      warnings = r.warnings;
    } else {
      throw new UsageError("missing --model DIR (or --preset NAME)");
    }
    const counts = paramCounts(cfg);
    const v = cfg.vision_config;
    const summary = {
      source,
      model_type: cfg.model_type,
      text: {
        vocab_size: cfg.vocab_size,
        hidden_size: cfg.hidden_size,
        intermediate_size: cfg.intermediate_size,
        num_hidden_layers: cfg.num_hidden_layers,
        num_attention_heads: cfg.num_attention_heads,
        num_key_value_heads: cfg.num_key_value_heads,
        head_dim: headDim(cfg),
        mrope_section: cfg.rope_scaling.mrope_section,
        rope_theta: cfg.rope_theta,
        tie_word_embeddings: cfg.tie_word_embeddings,
      },
      vision: {
        depth: v.depth,
        embed_dim: v.embed_dim,
        num_heads: v.num_heads,
        mlp_dim: visionMlpDim(cfg),
        patch_size: v.patch_size,
        temporal_patch_size: v.temporal_patch_size,
        spatial_merge_size: v.spatial_merge_size,
        out_hidden_size: v.hidden_size,
      },
      token_ids: {
        image: cfg.image_token_id,
        video: cfg.video_token_id,
        vision_start: cfg.vision_start_token_id,
        vision_end: cfg.vision_end_token_id,
        bos: cfg.bos_token_id,
        eos: cfg.eos_token_id,
      },
      parameters: counts,
      warnings,
    };
    if (opts.json) {
      console.log(JSON.stringify(summary, null, 2));
      return 0;
    }
    const t = summary.text;
    console.log(`${source}: qwen2_vl`);
    console.log(
      `  text:   ${t.num_hidden_layers} layers x ${t.hidden_size}, ${t.num_attention_heads} heads (${t.num_key_value_heads} kv, head_dim ${t.head_dim}), ` +
        `mlp ${t.intermediate_size}, vocab ${t.vocab_size}, mrope [${t.mrope_section.join(", ")}], tied ${t.tie_word_embeddings}`,
    );
    console.log(
      `  vision: ${v.depth} blocks x ${v.embed_dim}, ${v.num_heads} heads, mlp ${visionMlpDim(cfg)}, patch ${v.patch_size} (t ${v.temporal_patch_size}), merge ${v.spatial_merge_size} -> ${v.hidden_size}`,
    );
    console.log(
      `  image token ${cfg.image_token_id}, vision start/end ${cfg.vision_start_token_id}/${cfg.vision_end_token_id}, eos ${JSON.stringify(cfg.eos_token_id)}`,
    );
    console.log(
      `  parameters: total ${fmt(counts.total)} (${counts.total}), vision ${fmt(counts.vision)} (${counts.vision}), text ${fmt(counts.text)} (${counts.text})`,
    );
    console.log(
      `    of which embeddings ${fmt(counts.embeddings)} (vocab ${cfg.vocab_size} x hidden ${cfg.hidden_size}` +
        `${cfg.tie_word_embeddings ? ", tied" : ", plus the untied lm_head"}): totals differ with the vocabulary ` +
        "(rft selfcheck trains a 512-token tokenizer)",
    );
    for (const w of warnings) console.log(`  warning: ${w.field}: ${w.message}`);
    return 0;
  },
};
