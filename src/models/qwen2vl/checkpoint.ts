/**
 * Hugging Face checkpoint directories for Qwen2-VL:
 *   config.json, model.safetensors (or model-0000k-of-0000n.safetensors + model.safetensors.index.json),
 *   generation_config.json, preprocessor_config.json, tokenizer files (tokenizer.json, tokenizer_config.json, ...)
 *   and the chat template (chat_template.json / chat_template.jinja) when present.
 *
 * Loading checks every key and shape against the config before reading any weight (params.ts; both the classic
 * `model.*`/`visual.*` layout and the newer `model.language_model.*`/`model.visual.*` are read), builds the model
 * on the meta device and moves each tensor straight from the file into its parameter, so peak memory is about one
 * copy of the weights. Saving writes the classic layout into a temporary sibling directory, then renames it into
 * place: a crash never leaves a half-written checkpoint.
 */
import { existsSync, renameSync, rmSync, mkdirSync } from "node:fs";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { Tensor, noGrad, tidy, isFloating, type DType } from "../../tensor/index.ts";
import {
  readHeader,
  loadSafetensors,
  saveCheckpointTensors,
  writeJsonAtomic,
  INDEX_FILE,
  SINGLE_FILE,
} from "../../io/safetensors.ts";
import { type Qwen2VLConfig, parseConfigText, configToJsonText } from "./config.ts";
import { type TrainerState, saveTrainerState } from "../../io/trainer_state.ts";
import type { AdamW } from "../../nn/index.ts";
import { type KeyCheck, checkCheckpointKeys } from "./params.ts";
import {
  type PreprocessorConfig,
  defaultPreprocessorConfig,
  readCheckpointPreprocessor,
  writePreprocessorConfig,
} from "./processor_config.ts";
import { readChatTemplate } from "./chat_template.ts";
import { readShardIndex } from "../../io/shard_index.ts";
import { Qwen2VLForConditionalGeneration } from "./model.ts";
import { QwenTokenizer } from "./tokenizer.ts";

/** Files copied along with a checkpoint when present (tokenizer and chat template). */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "vocab.json",
  "merges.txt",
  "special_tokens_map.json",
  "added_tokens.json",
  "chat_template.json",
  "chat_template.jinja",
] as const;

export interface GenerationConfig {
  bos_token_id?: number | null;
  eos_token_id?: number | number[] | null;
  pad_token_id?: number | null;
  do_sample?: boolean;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  [k: string]: unknown;
}

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

export interface LoadProgress {
  done: number;
  total: number;
  /** Name of the tensor just loaded. */
  name: string;
}

export interface LoadOptions {
  /** Weight dtype of the model; default: the checkpoint's floating dtype. */
  dtype?: DType;
  onProgress?: (p: LoadProgress) => void;
  /**
   * Refuse weights holding NaN or ±Inf (default true): such a model generates garbage without any other sign.
   * One pass over the loaded weights.
   */
  checkFinite?: boolean;
}

export interface LoadedCheckpoint {
  model: Qwen2VLForConditionalGeneration;
  config: Qwen2VLConfig;
  preprocessor: PreprocessorConfig;
  generationConfig: GenerationConfig;
  /** The checkpoint's tokenizer (tokenizer.json, tokenizer_config.json, chat template), when it has one. */
  tokenizer: QwenTokenizer | null;
  /** Config warnings (unknown fields), by name. */
  warnings: { field: string; message: string }[];
}

function shardFiles(dir: string): string[] {
  // Shard names come from the checkpoint: confined to its directory (src/io/shard_index.ts).
  let shardIndex;
  try {
    shardIndex = readShardIndex(dir);
  } catch (e) {
    throw new CheckpointError((e as Error).message);
  }
  if (shardIndex) return shardIndex.paths;
  const single = join(dir, SINGLE_FILE);
  if (!existsSync(single)) throw new CheckpointError(`${dir}: no ${SINGLE_FILE} or ${INDEX_FILE}`);
  return [single];
}

function listNames(xs: string[]): string {
  return xs.slice(0, 12).join(", ") + (xs.length > 12 ? `, ... (${xs.length} in all)` : "");
}

/** Throws a CheckpointError listing every missing, unexpected and wrongly shaped key. */
function assertKeysMatch(check: KeyCheck, where: string): void {
  if (!check.missing.length && !check.unexpected.length && !check.wrongShape.length) return;
  const parts: string[] = [];
  if (check.missing.length) parts.push(`missing: ${listNames(check.missing)}`);
  if (check.unexpected.length) parts.push(`unexpected: ${listNames(check.unexpected)}`);
  if (check.wrongShape.length)
    parts.push(
      `wrong shape: ${listNames(check.wrongShape.map((w) => `${w.name} [${w.got}] (config needs [${w.expected}])`))}`,
    );
  throw new CheckpointError(`${where}: weights do not match config.json: ${parts.join("; ")}`);
}

/** Old exports may carry the rotary inv_freq buffers; they are recomputed from the config (HF ignores them too). */
const isRotaryBuffer = (name: string) => name.endsWith("rotary_emb.inv_freq");

/** Reads the shards' headers and checks every key and shape against the config before any weight is read. */
function checkShards(config: Qwen2VLConfig, files: string[], dir: string) {
  const infos = files.flatMap((f) => readHeader(f).tensors).filter((t) => !isRotaryBuffer(t.name));
  const check = checkCheckpointKeys(
    config,
    infos.map((t) => [t.name, t.shape] as [string, number[]]),
  );
  assertKeysMatch(check, dir);
  return { infos, check };
}

/**
 * Names (and counts) of parameters holding NaN or ±Inf, for a clear error instead of a model that silently
 * generates garbage. One reduction per parameter.
 */
export function nonFiniteParameters(model: { namedParameters(): Iterable<[string, Tensor]> }): string[] {
  const bad: string[] = [];
  noGrad(() => {
    for (const [name, p] of model.namedParameters()) {
      if (!isFloating(p.dtype)) continue;
      const n = tidy(() => p.isfinite().logicalNot().sum().item());
      if (n > 0) bad.push(`${name} (${n} of ${p.numel} values)`);
    }
  });
  return bad;
}

function assertFiniteWeights(model: { namedParameters(): Iterable<[string, Tensor]> }, where: string): void {
  const bad = nonFiniteParameters(model);
  if (bad.length)
    throw new CheckpointError(
      `${where}: the weights hold NaN or Inf values, so the model cannot produce meaningful output: ${listNames(bad)}` +
        " (a diverged or corrupted checkpoint; pass checkFinite: false to load it anyway)",
    );
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CheckpointError(`${path}: ${(e as Error).message}`);
  }
}

/** Reads config.json of a checkpoint directory. */
export async function readModelConfig(
  dir: string,
): Promise<{ config: Qwen2VLConfig; warnings: { field: string; message: string }[] }> {
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new CheckpointError(`${dir}: no config.json (not a checkpoint directory?)`);
  return parseConfigText(await readFile(path, "utf8"), { source: path });
}

/** Loads a Qwen2-VL checkpoint directory (see the module comment). */
export async function loadCheckpoint(dir: string, opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
  const { config, warnings } = await readModelConfig(dir);
  const files = shardFiles(dir);
  const { infos, check } = checkShards(config, files, dir);
  const ckptDtype = infos.find((t) => isFloating(t.dtype))?.dtype ?? "float32";
  const dtype = opts.dtype ?? ckptDtype;
  const model = new Qwen2VLForConditionalGeneration(config, { dtype, device: "meta" });
  try {
    const params = new Map(model.namedParameters());
    const total = check.mapping.size;
    let done = 0;
    for (const f of files) {
      const { tensors } = loadSafetensors(f, (k) => check.mapping.has(k));
      for (const [key, t] of tensors) {
        const name = check.mapping.get(key)!;
        const p = params.get(name)!;
        // The parameter object keeps its identity (modules hold it); it takes over the loaded storage.
        const v = t.dtype === dtype ? t : noGrad(() => t.to(dtype));
        if (v !== t) t.dispose();
        p.assign(v);
        p.requiresGrad_(true);
        opts.onProgress?.({ done: ++done, total, name });
      }
    }
    for (const [name, p] of params)
      if (p.device === "meta") throw new CheckpointError(`${dir}: parameter ${name} was not loaded`);
    if (opts.checkFinite ?? true) assertFiniteWeights(model, dir);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  const pp = await readCheckpointPreprocessor(dir);
  const preprocessor = pp.config;
  if (pp.warning) warnings.push({ field: "preprocessor_config.json", message: pp.warning });
  const genPath = join(dir, "generation_config.json");
  const generationConfig = ((await readJson(genPath)) ?? defaultGenerationConfig(config)) as GenerationConfig;
  const genIssues = validateGenerationConfig(generationConfig, config);
  if (genIssues.length) {
    model.dispose();
    throw new CheckpointError(`${genPath}: ` + genIssues.map((i) => `${i.field}: ${i.message}`).join("; "));
  }
  const tokenizer = existsSync(join(dir, "tokenizer.json")) ? await QwenTokenizer.fromDir(dir) : null;
  return { model, config, preprocessor, generationConfig, tokenizer, warnings };
}

/** What loadWeightsInto needs from a model: its config and its parameters by classic HF name. */
export interface WeightTarget {
  readonly config: Qwen2VLConfig;
  namedParameters(): Iterable<[string, Tensor]>;
}

export interface LoadIntoOptions {
  /** Refuse NaN/Inf in the loaded weights (default true; checked after copying, the model is then left as is). */
  checkFinite?: boolean;
  onProgress?: (p: LoadProgress) => void;
}

/**
 * Loads weights into an existing model (reference-model refresh, a rank receiving rank 0's weights): from a
 * checkpoint directory, or from a state dict (classic or newer HF names, e.g. another model's `stateDict()`).
 * Every key and shape is checked against the model's config before anything is copied, as loadCheckpoint does.
 * Parameters keep their identity, dtype, device and requires_grad (values are cast and copied in place), so
 * optimizers and modules holding them see the new values. Returns the number of tensors copied.
 */
export function loadWeightsInto(
  model: WeightTarget,
  source: string | ReadonlyMap<string, Tensor> | Record<string, Tensor>,
  opts: LoadIntoOptions = {},
): number {
  const params = new Map(model.namedParameters());
  const copyInto = (name: string, t: Tensor) => {
    const p = params.get(name)!;
    noGrad(() => p.copy_(t)); // copy_ casts dtype and moves across devices
  };
  let done = 0;
  if (typeof source === "string") {
    const files = shardFiles(source);
    const { check } = checkShards(model.config, files, source);
    const total = check.mapping.size;
    for (const f of files) {
      const { tensors } = loadSafetensors(f, (k) => check.mapping.has(k));
      try {
        for (const [key, t] of tensors) {
          const name = check.mapping.get(key)!;
          copyInto(name, t);
          done++;
          opts.onProgress?.({ done, total, name });
        }
      } finally {
        for (const t of tensors.values()) t.dispose();
      }
    }
  } else {
    const entries = (source instanceof Map ? [...source] : Object.entries(source)).filter(
      ([k]) => !isRotaryBuffer(k) && !k.startsWith("rotary_"),
    );
    const check = checkCheckpointKeys(
      model.config,
      entries.map(([k, t]) => [k, t.shape] as [string, number[]]),
    );
    assertKeysMatch(check, "state dict");
    for (const [key, t] of entries) {
      const name = check.mapping.get(key);
      if (name === undefined) continue; // a tied lm_head.weight
      copyInto(name, t);
      done++;
      opts.onProgress?.({ done, total: check.mapping.size, name });
    }
  }
  if (opts.checkFinite ?? true) assertFiniteWeights(model, typeof source === "string" ? source : "state dict");
  return done;
}

/**
 * Checks the fields of a generation config that generation uses: sampling settings in range, token ids inside the
 * vocabulary. Returns one issue per bad field (empty when usable).
 */
export function validateGenerationConfig(
  gen: GenerationConfig,
  c: Qwen2VLConfig,
): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  const num = (k: string) => gen[k] !== undefined && gen[k] !== null;
  if (typeof gen !== "object" || gen === null || Array.isArray(gen))
    return [{ field: "(root)", message: "expected an object" }];
  if (
    num("temperature") &&
    !(typeof gen.temperature === "number" && gen.temperature >= 0 && Number.isFinite(gen.temperature))
  )
    out.push({
      field: "temperature",
      message: `${JSON.stringify(gen.temperature)} must be a number >= 0 (0 = greedy)`,
    });
  if (num("top_p") && !(typeof gen.top_p === "number" && gen.top_p > 0 && gen.top_p <= 1))
    out.push({ field: "top_p", message: `${JSON.stringify(gen.top_p)} must be in (0, 1]` });
  if (num("top_k") && !(Number.isInteger(gen.top_k) && (gen.top_k as number) >= 0))
    out.push({ field: "top_k", message: `${JSON.stringify(gen.top_k)} must be an integer >= 0` });
  if (num("do_sample") && typeof gen.do_sample !== "boolean")
    out.push({ field: "do_sample", message: `${JSON.stringify(gen.do_sample)} must be true or false` });
  const checkId = (field: string, id: unknown) => {
    if (!(Number.isInteger(id) && (id as number) >= 0 && (id as number) < c.vocab_size))
      out.push({
        field,
        message: `${JSON.stringify(id)} is not a token id of the vocabulary (0..${c.vocab_size - 1})`,
      });
  };
  for (const k of ["bos_token_id", "pad_token_id"] as const) if (num(k)) checkId(k, gen[k]);
  if (num("eos_token_id")) {
    const e = gen.eos_token_id;
    if (Array.isArray(e)) e.forEach((x, i) => checkId(`eos_token_id[${i}]`, x));
    else checkId("eos_token_id", e);
  }
  return out;
}

/** generation_config.json for a model: stop on <|im_end|> and <|endoftext|>, pad with <|endoftext|>, greedy. */
export function defaultGenerationConfig(c: Qwen2VLConfig): GenerationConfig {
  const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id : c.eos_token_id !== null ? [c.eos_token_id] : [];
  const endoftext = c.bos_token_id;
  const stops = endoftext !== null && !eos.includes(endoftext) ? [...eos, endoftext] : eos;
  return {
    bos_token_id: c.bos_token_id,
    eos_token_id: stops,
    pad_token_id: c.pad_token_id ?? endoftext,
    do_sample: false,
  };
}

/** Stop ids from a generation config (eos_token_id as number or list), or the config's eos + <|endoftext|>. */
export function stopTokenIds(gen: GenerationConfig, c: Qwen2VLConfig): number[] {
  const e = gen.eos_token_id ?? defaultGenerationConfig(c).eos_token_id;
  return Array.isArray(e) ? e : e === null || e === undefined ? [] : [e];
}

export function padTokenId(gen: GenerationConfig, c: Qwen2VLConfig): number {
  const p = gen.pad_token_id ?? c.pad_token_id ?? c.bos_token_id;
  if (p === null || p === undefined)
    throw new CheckpointError("no pad token id in generation_config.json or config.json");
  return p;
}

export interface SaveOptions {
  /** Cast weights to this dtype when writing (default: the model's). */
  dtype?: DType;
  /** Copy tokenizer and chat-template files from this directory. */
  tokenizerDir?: string;
  /** Or write these files (name → JSON object or text) — e.g. a freshly trained tiny tokenizer. */
  extraFiles?: Record<string, unknown>;
  preprocessor?: PreprocessorConfig;
  generationConfig?: GenerationConfig;
  /** Shard above this many bytes (default 5 GB as transformers). */
  maxShardBytes?: number;
  /**
   * Trainer state (and optimizer) written beside the weights (io/trainer_state.ts), inside the same temporary
   * directory, so a checkpoint and its resume state appear together or not at all.
   */
  trainerState?: { state: TrainerState; optimizer?: AdamW };
}

/**
 * What saveCheckpoint needs from a model: its config, its parameters by classic HF name, and its weight dtype.
 * Qwen2VLForConditionalGeneration satisfies it; so does a wrapper (a DDP replica, a model with adapters merged).
 */
export interface SaveableModel {
  readonly config: Qwen2VLConfig;
  readonly dtype: DType;
  namedParameters(): Iterable<[string, Tensor]>;
}

/**
 * Writes `model` as a HF checkpoint directory at `dir` (atomically replaced). Returns the files written.
 * When the tokenizer files carry a chat template, it is also written as `chat_template.jinja`, where
 * transformers' processors look for it (processor.apply_chat_template).
 */
export async function saveCheckpoint(model: SaveableModel, dir: string, opts: SaveOptions = {}): Promise<string[]> {
  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now()}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    const dtype = opts.dtype ?? model.dtype;
    const sd = new Map<string, Tensor>();
    const casts: Tensor[] = [];
    let files: string[];
    try {
      for (const [name, t] of model.namedParameters()) {
        if (t.dtype === dtype || !isFloating(t.dtype)) sd.set(name, t);
        else {
          const c = noGrad(() => t.to(dtype));
          casts.push(c);
          sd.set(name, c);
        }
      }
      files = saveCheckpointTensors(tmp, sd, { maxShardBytes: opts.maxShardBytes, metadata: { format: "pt" } });
    } finally {
      for (const c of casts) c.dispose();
    }
    const cfg: Qwen2VLConfig = { ...model.config, torch_dtype: dtype };
    await writeFile(join(tmp, "config.json"), configToJsonText(cfg));
    writeJsonAtomic(join(tmp, "generation_config.json"), opts.generationConfig ?? defaultGenerationConfig(cfg));
    await writePreprocessorConfig(
      join(tmp, "preprocessor_config.json"),
      opts.preprocessor ?? defaultPreprocessorConfig(),
    );
    files.push("config.json", "generation_config.json", "preprocessor_config.json");
    if (opts.tokenizerDir) {
      for (const f of TOKENIZER_FILES) {
        const src = join(opts.tokenizerDir, f);
        if (existsSync(src)) {
          await copyFile(src, join(tmp, f));
          files.push(f);
        }
      }
    }
    for (const [name, value] of Object.entries(opts.extraFiles ?? {})) {
      await writeFile(join(tmp, name), typeof value === "string" ? value : JSON.stringify(value, null, 2) + "\n");
      files.push(name);
    }
    if (opts.trainerState) files.push(...saveTrainerState(tmp, opts.trainerState.state, opts.trainerState.optimizer));
    if (!files.includes("chat_template.jinja")) {
      const template = await readChatTemplate(tmp);
      if (template !== undefined) {
        await writeFile(join(tmp, "chat_template.jinja"), template);
        files.push("chat_template.jinja");
      }
    }
    // Swap into place: old directory aside, new one in, old one removed.
    const old = `${tmp}.old`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(tmp, target);
    rmSync(old, { recursive: true, force: true });
    return files;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
