/**
 * Prompt templates per task family × mode (spec §2).
 *
 * The long TRANCE rules are our own wording. The short output-format sentences (S1–S10 of spec §2.3) are kept
 * verbatim because the rewards and scorers parse the answers they ask for. Every template has one `{Question}` slot
 * (system prompts have none); a JSON file mapping prompt keys to templates can replace any of them, e.g. with the
 * reference's original wording.
 */
import { type Benchmark, BENCHMARKS, RL_TASKS, type RlTask, type TaskFamily, isChoiceAnswer } from "./tasks.ts";
import { readJsonFile } from "../data/json.ts";

// ---- verbatim output-format sentences (spec §2.3) -----------------------------------------------------------------

/** S1: TRANCE CoT/RL suffix. */
export const S1_THINK_ANSWER =
  "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.";
/** S2: counting CoT/RL. */
export const S2_COUNTING =
  "{Question} Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.";
/** S3: structure perception, multiple choice, CoT/RL. */
export const S3_CHOICE =
  "{Question} Please select the correct answer by writing the letter (A, B, C or D) that precedes your choice.\nOutput the thinking process in <think> </think> and final answer (chosen letter) in <answer> </answer> tags.";
/** S4: structure perception, numeric, CoT/RL. */
export const S4_NON_CHOICE =
  "{Question} Output the thinking process in <think> </think> and final answer (float number or int number) in <answer> </answer> tags.";
/** S5: geometry3k evaluation, cot-sft. */
export const S5_GEOMETRY3K =
  "{Question} Output the thinking process in <think> </think> and final answer (number or choice) in <answer> </answer> tags.";
/** S6: TRANCE zero-shot evaluation suffix. */
export const S6_TRANCE_ZERO_SHOT = "Please output the answer only with a sequence of functions for transformation.";
/** S7: TRANCE closed-source suffix (with its trailing space). */
export const S7_TRANCE_CLOSED = "Output the final answer (sequence of functions only) within `<answer>...</answer>` ";
/** S8: counting zero-shot prefix. */
export const S8_COUNTING_ZERO_SHOT =
  "Please answer in Arabic numerals. For example, if the answer is 3, please respond with 3. {Question}";
/** S9: structure perception zero-shot prefix. */
export const S9_SP_ZERO_SHOT =
  "Please answer the question with only numbers (either integer or float, such as 1, 2, 5.2, etc.) or options (such as A, B, C, or D). If it is an option, please provide your answer as a single letter (A, B, C, or D). For example, if the answer is A, just respond with A. Do not include any explanations or additional text. {Question}";
/** S10: caption-CoT suffix. */
export const S10_CAPTION =
  "Output the summary process in <summary> </summary>, caption process in <caption>...</caption>, thinking process in <think> </think> and final answer in <answer> </answer> tags.";

// ---- our wording of the TRANCE rules (spec §2.2 lists what they must say) --------------------------------------------

const TRANCE_FUNCTIONS = [
  "- change_size(object_id, value): value is one of small, medium, large",
  "- change_color(object_id, value): value is one of yellow, gray, cyan, blue, brown, green, red, purple",
  "- change_material(object_id, value): value is one of glass, metal, rubber",
  "- change_shape(object_id, value): value is one of cube, sphere, cylinder",
  "- change_position(object_id, value): value is one of front, behind, left, right, front_left, front_right, behind_left, behind_right",
];

const TRANCE_POSITIONS = [
  "Directions for change_position, as seen by the camera of the initial-state image:",
  "- front: the object moves towards the camera.",
  "- behind: the object moves away from the camera.",
  "- left: the object moves to the camera's left.",
  "- right: the object moves to the camera's right.",
  "- front_left: towards the camera and to its left.",
  "- front_right: towards the camera and to its right.",
  "- behind_left: away from the camera and to its left.",
  "- behind_right: away from the camera and to its right.",
];

function tranceRules(opts: { system?: boolean; positions?: boolean; countClause?: boolean }): string {
  const lines = [
    opts.system
      ? "You are an assistant for spatial visual reasoning about how a scene of objects was transformed."
      : "Solve the following spatial visual reasoning task about how a scene of objects was transformed.",
    "",
    "You are shown two images of the same scene: the initial state first, then the final state. You are also given the attributes of every object in the initial state. Find the transformation that turns the initial state into the final state.",
    "",
    "The initial attributes are a list of tuples ('object_id', 'shape', 'size', 'color', 'material'), one tuple per object.",
    "",
    opts.countClause === false
      ? "Write the transformation as a sequence of functions, each in the form func(object_id, value)."
      : "Write the transformation as a sequence of 1 to 4 functions, each in the form func(object_id, value).",
    "",
    "Available functions and their values:",
    ...TRANCE_FUNCTIONS,
  ];
  if (opts.positions ?? true) lines.push("", ...TRANCE_POSITIONS);
  return lines.join("\n");
}

const OUTPUT_THINK_ANSWER = [
  "Output format:",
  "First reason step by step, then give the answer. Put the reasoning inside <think> </think> and the answer, the sequence of functions only, inside <answer> </answer>.",
].join("\n");

const OUTPUT_CAPTION = [
  "Output format, four parts, each in its own tags:",
  "1. <summary> </summary>: a short plan of how you will solve the task.",
  "2. <caption> </caption>: a description of both images, object by object.",
  "3. <think> </think>: step-by-step reasoning that compares the two states.",
  "4. <answer> </answer>: the sequence of functions only.",
].join("\n");

const YOUR_TURN = "The task:\n\n{Question}";

function trancePrompt(parts: string[]): string {
  return parts.join("\n\n") + "\n";
}

// ---- the template table -------------------------------------------------------------------------------------------

/** Keys of every prompt; a template file may set any subset of them. */
export const DEFAULT_TEMPLATES = {
  "visual-counting.answer": "{Question}",
  "visual-counting.cot": S2_COUNTING,
  "visual-counting.zero-shot": S8_COUNTING_ZERO_SHOT,
  "structure-perception.answer": "{Question}",
  "structure-perception.cot-choice": S3_CHOICE,
  "structure-perception.cot-non-choice": S4_NON_CHOICE,
  "structure-perception.cot-geometry3k": S5_GEOMETRY3K,
  "structure-perception.zero-shot": S9_SP_ZERO_SHOT,
  "spatial-transformation.answer": trancePrompt([tranceRules({}), YOUR_TURN]),
  "spatial-transformation.cot": trancePrompt([
    tranceRules({}),
    OUTPUT_THINK_ANSWER,
    `${YOUR_TURN}\n${S1_THINK_ANSWER}`,
  ]),
  "spatial-transformation.caption-cot": trancePrompt([tranceRules({}), OUTPUT_CAPTION, `${YOUR_TURN}\n${S10_CAPTION}`]),
  "spatial-transformation.zero-shot": trancePrompt([tranceRules({}), `${YOUR_TURN}\n${S6_TRANCE_ZERO_SHOT}`]),
  "spatial-transformation.closed-source": trancePrompt([
    tranceRules({ positions: false }),
    `${YOUR_TURN}\n${S7_TRANCE_CLOSED}`,
  ]),
  "system.general":
    "A conversation between a user and an assistant. The user asks a question; the assistant first reasons about it and then answers. The reasoning goes inside <think> </think> tags and the answer inside <answer> </answer> tags, for example <think> reasoning process here </think><answer> answer here </answer>",
  "system.spatial-transformation": trancePrompt([tranceRules({ system: true }), OUTPUT_THINK_ANSWER]),
  "system.spatial-transformation-caption": trancePrompt([tranceRules({ system: true }), OUTPUT_CAPTION]),
} as const;

export type PromptKey = keyof typeof DEFAULT_TEMPLATES;
export const PROMPT_KEYS = Object.keys(DEFAULT_TEMPLATES) as PromptKey[];

/** Templates keyed by prompt key; missing keys fall back to DEFAULT_TEMPLATES. */
export type PromptTemplates = Partial<Record<PromptKey, string>>;

function isPromptKey(k: string): k is PromptKey {
  return Object.prototype.hasOwnProperty.call(DEFAULT_TEMPLATES, k);
}

const isSystemKey = (k: PromptKey): boolean => k.startsWith("system.");

// ---- rendering ----------------------------------------------------------------------------------------------------

type Piece = { text: string } | { slot: true };

/**
 * Splits a template into literal text and `{Question}` slots with Python str.format escaping (`{{` → `{`,
 * `}}` → `}`), so templates copied from the reference work unchanged. `{Problem}` is accepted as an alias.
 */
function parseTemplate(t: string): Piece[] {
  const pieces: Piece[] = [];
  let buf = "";
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if ((c === "{" || c === "}") && t[i + 1] === c) {
      buf += c;
      i++;
    } else if (c === "{") {
      const end = t.indexOf("}", i);
      const name = end < 0 ? "" : t.slice(i + 1, end);
      if (name !== "Question" && name !== "Problem") {
        throw new Error(
          `unknown placeholder ${end < 0 ? "(unclosed '{')" : `{${name}}`} at character ${i}; use {Question} (write {{ and }} for literal braces)`,
        );
      }
      pieces.push({ text: buf }, { slot: true });
      buf = "";
      i = end;
    } else if (c === "}") {
      throw new Error(`single '}' at character ${i}; write }} for a literal brace`);
    } else {
      buf += c;
    }
  }
  pieces.push({ text: buf });
  return pieces;
}

function slotCount(t: string): number {
  return parseTemplate(t).filter((p) => "slot" in p).length;
}

/** Fills a template's `{Question}` slot(s). */
export function fillTemplate(template: string, question: string): string {
  return parseTemplate(template)
    .map((p) => ("slot" in p ? question : p.text))
    .join("");
}

/** The template for a key, taking a user override when present. */
export function templateFor(key: PromptKey, templates: PromptTemplates = {}): string {
  return templates[key] ?? DEFAULT_TEMPLATES[key];
}

/**
 * Validates a parsed template mapping: known keys, string values, exactly one `{Question}` in question
 * templates and none in system prompts. `source` names the file in messages.
 */
export function parsePromptTemplates(data: unknown, source: string): PromptTemplates {
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new Error(`${source}: expected a JSON object mapping prompt keys to templates`);
  }
  const out: PromptTemplates = {};
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
    if (!isPromptKey(k))
      throw new Error(`${source}: unknown prompt key "${k}" (known keys: ${PROMPT_KEYS.join(", ")})`);
    if (typeof v !== "string") throw new Error(`${source}: key "${k}": expected a string template, got ${typeof v}`);
    let n: number;
    try {
      n = slotCount(v);
    } catch (e) {
      throw new Error(`${source}: key "${k}": ${(e as Error).message}`);
    }
    const want = isSystemKey(k) ? 0 : 1;
    if (n !== want) throw new Error(`${source}: key "${k}": expected ${want} {Question} placeholder(s), found ${n}`);
    out[k] = v;
  }
  return out;
}

/** Reads a JSON template file (see parsePromptTemplates). */
export function loadPromptTemplates(path: string): PromptTemplates {
  const data = readJsonFile(path);
  return parsePromptTemplates(data, path);
}

// ---- which prompt for which purpose (spec §2.3 table) ----------------------------------------------------------------

/** Training data modes: ANS-SFT, CoT-SFT, GRPO question template, and the caption variants of TRANCE. */
export type TrainingMode = "ans-sft" | "cot-sft" | "rl" | "caption-cot-sft" | "rl-caption";

/** Evaluation strategies of the reference's evaluators (spec §6.1), plus the closed-source prompts (§6.3). */
export type EvalStrategy = "zero-shot" | "sft" | "cot-sft" | "caption-cot" | "closed-source";
export const EVAL_STRATEGIES: readonly EvalStrategy[] = ["zero-shot", "sft", "cot-sft", "caption-cot", "closed-source"];

function cotKey(family: TaskFamily, answer: string): PromptKey {
  if (family === "visual-counting") return "visual-counting.cot";
  if (family === "structure-perception") {
    // Choice rule (spec §1.4): the CHOICE prompt iff the answer is exactly one of A–D. The reference applies it in
    // RL only to ids containing "geomath" (and crashes otherwise); we apply it to every record.
    return isChoiceAnswer(answer) ? "structure-perception.cot-choice" : "structure-perception.cot-non-choice";
  }
  return "spatial-transformation.cot";
}

/** The prompt key used to build training records of `family` in `mode`. */
export function trainingPromptKey(family: TaskFamily, mode: TrainingMode, answer: string): PromptKey {
  switch (mode) {
    case "ans-sft":
      return `${family}.answer`;
    case "cot-sft":
    case "rl":
      return cotKey(family, answer);
    case "caption-cot-sft":
    case "rl-caption":
      if (family !== "spatial-transformation")
        throw new Error(`${mode} prompts exist only for spatial-transformation, not ${family}`);
      return "spatial-transformation.caption-cot";
  }
}

/** The prompt key the evaluator uses for `benchmark` with `strategy` (answer: the item's ground truth). */
export function evalPromptKey(benchmark: Benchmark, strategy: EvalStrategy, answer: string): PromptKey {
  const family = BENCHMARKS[benchmark];
  switch (strategy) {
    case "zero-shot":
      return `${family}.zero-shot`;
    case "closed-source":
      return family === "spatial-transformation" ? "spatial-transformation.closed-source" : `${family}.zero-shot`;
    case "sft":
      // The reference has no sft prompt for super-clevr (it reuses the previous benchmark's); it is "{Question}".
      return `${family}.answer`;
    case "cot-sft":
      if (benchmark === "geometry3k") return "structure-perception.cot-geometry3k";
      return cotKey(family, answer);
    case "caption-cot":
      if (family !== "spatial-transformation")
        throw new Error(`caption-cot is only defined for TRANCE benchmarks, not ${benchmark}`);
      return "spatial-transformation.caption-cot";
  }
}

/**
 * The user text of a training record: the template filled with the problem (no image placeholders; the
 * converters add them).
 *
 * @example
 * trainingPrompt("visual-counting", "rl", { problem: "How many cubes?", answer: "3" });
 * // "How many cubes? Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags."
 */
export function trainingPrompt(
  family: TaskFamily,
  mode: TrainingMode,
  rec: { problem: string; answer: string },
  templates: PromptTemplates = {},
): string {
  return fillTemplate(templateFor(trainingPromptKey(family, mode, rec.answer), templates), rec.problem);
}

/** The user text for evaluating one item of `benchmark` with `strategy`. */
export function evalPrompt(
  benchmark: Benchmark,
  strategy: EvalStrategy,
  item: { problem: string; answer: string },
  templates: PromptTemplates = {},
): string {
  return fillTemplate(templateFor(evalPromptKey(benchmark, strategy, item.answer), templates), item.problem);
}

/** The system prompt for the reference's `use_system_prompt=true` mode (unused by its scripts). */
export function systemPrompt(family: TaskFamily, caption = false, templates: PromptTemplates = {}): string {
  if (family !== "spatial-transformation") return templateFor("system.general", templates);
  return templateFor(caption ? "system.spatial-transformation-caption" : "system.spatial-transformation", templates);
}

/**
 * The GRPO question text of one record for a reward task name (spec §3.1, §4.2): the task's RL template with the
 * problem filled in; `trance-full-caption` uses the caption-CoT template.
 *
 * @example
 * rlPrompt("geomath", { problem: "Find x.", answer: "B" }); // "Find x. Please select the correct answer by writing the letter ..."
 */
export function rlPrompt(
  task: RlTask,
  rec: { problem: string; answer: string },
  templates: PromptTemplates = {},
): string {
  const { family, caption } = RL_TASKS[task];
  return trainingPrompt(family, caption ? "rl-caption" : "rl", rec, templates);
}
