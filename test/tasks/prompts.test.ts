import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEFAULT_TEMPLATES,
  PROMPT_KEYS,
  evalPrompt,
  evalPromptKey,
  fillTemplate,
  loadPromptTemplates,
  parsePromptTemplates,
  rlPrompt,
  systemPrompt,
  trainingPrompt,
  trainingPromptKey,
} from "../../src/tasks/prompts.ts";
import { RL_TASKS } from "../../src/tasks/tasks.ts";
import { REWARD_TASKS } from "../../src/rewards/registry.ts";

const Q = "QUESTION";

test("output-format sentences are verbatim (spec §2.3)", () => {
  assert.equal(
    trainingPrompt("visual-counting", "rl", { problem: Q, answer: "3" }),
    "QUESTION Output the thinking process in <think> </think> and final answer (number) in <answer> </answer> tags.",
  );
  assert.equal(
    trainingPrompt("structure-perception", "rl", { problem: Q, answer: "B" }),
    "QUESTION Please select the correct answer by writing the letter (A, B, C or D) that precedes your choice.\nOutput the thinking process in <think> </think> and final answer (chosen letter) in <answer> </answer> tags.",
  );
  assert.equal(
    trainingPrompt("structure-perception", "cot-sft", { problem: Q, answer: "2.5" }),
    "QUESTION Output the thinking process in <think> </think> and final answer (float number or int number) in <answer> </answer> tags.",
  );
  assert.equal(
    evalPrompt("geometry3k", "cot-sft", { problem: Q, answer: "B" }),
    "QUESTION Output the thinking process in <think> </think> and final answer (number or choice) in <answer> </answer> tags.",
  );
  assert.equal(
    evalPrompt("clevr-math", "zero-shot", { problem: Q, answer: "3" }),
    "Please answer in Arabic numerals. For example, if the answer is 3, please respond with 3. QUESTION",
  );
  assert.ok(
    evalPrompt("geomath", "zero-shot", { problem: Q, answer: "A" }).startsWith(
      "Please answer the question with only numbers (either integer or float, such as 1, 2, 5.2, etc.) or options",
    ),
  );
  assert.ok(
    evalPrompt("geomath", "zero-shot", { problem: Q, answer: "A" }).endsWith(
      "Do not include any explanations or additional text. QUESTION",
    ),
  );
  const cot = trainingPrompt("spatial-transformation", "cot-sft", { problem: Q, answer: "f(1,x)" });
  assert.ok(
    cot.endsWith(
      "QUESTION\nOutput the thinking process in <think> </think> and final answer in <answer> </answer> tags.\n",
    ),
  );
  assert.ok(
    evalPrompt("trance-left", "zero-shot", { problem: Q, answer: "" }).endsWith(
      "QUESTION\nPlease output the answer only with a sequence of functions for transformation.\n",
    ),
  );
  assert.ok(
    evalPrompt("trance", "closed-source", { problem: Q, answer: "" }).endsWith(
      "Output the final answer (sequence of functions only) within `<answer>...</answer>` \n",
    ),
  );
  assert.ok(
    evalPrompt("trance", "caption-cot", { problem: Q, answer: "" }).endsWith(
      "QUESTION\nOutput the summary process in <summary> </summary>, caption process in <caption>...</caption>, thinking process in <think> </think> and final answer in <answer> </answer> tags.\n",
    ),
  );
});

test("the structure-perception choice rule: exactly A-D is a choice", () => {
  for (const a of ["A", "B", "C", "D"])
    assert.equal(trainingPromptKey("structure-perception", "rl", a), "structure-perception.cot-choice");
  for (const a of ["E", "a", "(A)", "A.", "12", "AB", ""])
    assert.equal(trainingPromptKey("structure-perception", "rl", a), "structure-perception.cot-non-choice", a);
  assert.equal(evalPromptKey("geomath", "cot-sft", "C"), "structure-perception.cot-choice");
  assert.equal(evalPromptKey("geomath", "cot-sft", "7"), "structure-perception.cot-non-choice");
  assert.equal(evalPromptKey("geometry3k", "cot-sft", "C"), "structure-perception.cot-geometry3k");
});

test("task × mode table (spec §2.3)", () => {
  assert.equal(
    trainingPrompt("visual-counting", "ans-sft", { problem: Q, answer: "3" }),
    Q,
    "VC ANS-SFT is the bare problem",
  );
  assert.equal(trainingPrompt("structure-perception", "ans-sft", { problem: Q, answer: "A" }), Q);
  assert.equal(
    evalPrompt("super-clevr", "sft", { problem: Q, answer: "3" }),
    Q,
    "super-clevr sft has a prompt (the reference lacks one)",
  );
  assert.equal(evalPrompt("geomath", "sft", { problem: Q, answer: "3" }), Q);
  assert.equal(
    trainingPromptKey("spatial-transformation", "rl", "x"),
    trainingPromptKey("spatial-transformation", "cot-sft", "x"),
    "TRANCE RL = CoT-SFT prompt",
  );
  const ans = trainingPrompt("spatial-transformation", "ans-sft", { problem: Q, answer: "x" });
  assert.ok(
    ans.endsWith("QUESTION\n") && !ans.includes("<think>"),
    "TRANCE ANS-SFT: rules + problem, no output format",
  );
  assert.equal(evalPrompt("trance", "sft", { problem: Q, answer: "" }), ans, "eval sft = ANS-SFT prompt");
  assert.throws(() => trainingPromptKey("visual-counting", "caption-cot-sft", "3"), /only for spatial-transformation/);
  assert.throws(() => evalPromptKey("geomath", "caption-cot", "3"), /only defined for TRANCE/);
});

test("TRANCE rules name every function and value, the 1-4 clause and the directions", () => {
  const t = DEFAULT_TEMPLATES["spatial-transformation.cot"];
  for (const w of [
    "change_size",
    "change_color",
    "change_material",
    "change_shape",
    "change_position",
    "1 to 4",
    "func(object_id, value)",
    "('object_id', 'shape', 'size', 'color', 'material')",
  ]) {
    assert.ok(t.includes(w), w);
  }
  for (const v of [
    "small",
    "medium",
    "large",
    "yellow",
    "gray",
    "cyan",
    "blue",
    "brown",
    "green",
    "red",
    "purple",
    "glass",
    "metal",
    "rubber",
    "cube",
    "sphere",
    "cylinder",
    "front_left",
    "behind_right",
  ]) {
    assert.ok(t.includes(v), v);
  }
  assert.ok(
    !DEFAULT_TEMPLATES["spatial-transformation.closed-source"].includes("Directions for change_position"),
    "closed-source rules omit directions",
  );
  for (const k of PROMPT_KEYS.filter((k) => k.startsWith("spatial-transformation.")))
    assert.ok(DEFAULT_TEMPLATES[k].endsWith("\n"), `${k} ends with a newline`);
  assert.ok(
    systemPrompt("visual-counting").includes("<think> reasoning process here </think><answer> answer here </answer>"),
  );
  assert.ok(systemPrompt("spatial-transformation", true).includes("<caption>"));
});

test("template filling follows Python str.format escapes; {Problem} is an alias", () => {
  assert.equal(fillTemplate("a {Question} b", "Q"), "a Q b");
  assert.equal(fillTemplate("{{x}} {Problem}", "Q"), "{x} Q");
  assert.throws(() => fillTemplate("{Other}", "Q"), /unknown placeholder \{Other\}/);
  assert.throws(() => fillTemplate("a } b", "Q"), /single '}'/);
  assert.throws(() => fillTemplate("{Question", "Q"), /unclosed/);
});

test("a template file replaces prompts; bad files are refused with the key named", () => {
  const t = parsePromptTemplates({ "visual-counting.cot": "Count: {Question} <answer></answer>" }, "p.json");
  assert.equal(
    trainingPrompt("visual-counting", "rl", { problem: Q, answer: "3" }, t),
    "Count: QUESTION <answer></answer>",
  );
  assert.equal(
    trainingPrompt("visual-counting", "ans-sft", { problem: Q, answer: "3" }, t),
    Q,
    "other keys keep their default",
  );
  assert.throws(
    () => parsePromptTemplates({ "vc.cot": "{Question}" }, "p.json"),
    /p.json: unknown prompt key "vc.cot"/,
  );
  assert.throws(
    () => parsePromptTemplates({ "visual-counting.cot": 3 }, "p.json"),
    /key "visual-counting.cot": expected a string/,
  );
  assert.throws(
    () => parsePromptTemplates({ "visual-counting.cot": "no slot" }, "p.json"),
    /expected 1 \{Question\} placeholder\(s\), found 0/,
  );
  assert.throws(() => parsePromptTemplates({ "system.general": "{Question}" }, "p.json"), /expected 0/);
  assert.throws(
    () => parsePromptTemplates({ "visual-counting.cot": "{Foo}" }, "p.json"),
    /key "visual-counting.cot": unknown placeholder/,
  );
  assert.throws(() => parsePromptTemplates([], "p.json"), /expected a JSON object/);
  const dir = mkdtempSync(join(tmpdir(), "prompts-"));
  const f = join(dir, "t.json");
  writeFileSync(f, JSON.stringify({ "spatial-transformation.cot": "RULES\n{Question}\n" }));
  assert.equal(
    trainingPrompt("spatial-transformation", "rl", { problem: Q, answer: "" }, loadPromptTemplates(f)),
    "RULES\nQUESTION\n",
  );
  writeFileSync(f, "{");
  assert.throws(() => loadPromptTemplates(f), /t.json: not valid JSON/);
});

test("every default template is valid by the same rules as a user file", () => {
  assert.deepEqual(parsePromptTemplates({ ...DEFAULT_TEMPLATES }, "defaults"), { ...DEFAULT_TEMPLATES });
});

test("rlPrompt: the question template of each GRPO task name", () => {
  const rec = { problem: Q, answer: "B" };
  assert.equal(rlPrompt("clevr-math", rec), trainingPrompt("visual-counting", "rl", rec));
  assert.ok(rlPrompt("geomath", rec).includes("(chosen letter)"));
  assert.ok(rlPrompt("geomath", { problem: Q, answer: "4.5" }).includes("(float number or int number)"));
  for (const t of ["trance", "trance-only-full", "trance-penalty"] as const)
    assert.equal(rlPrompt(t, rec), DEFAULT_TEMPLATES["spatial-transformation.cot"].replace("{Question}", Q));
  assert.equal(
    rlPrompt("trance-full-caption", rec),
    DEFAULT_TEMPLATES["spatial-transformation.caption-cot"].replace("{Question}", Q),
  );
});

test("the prompt side and the reward side know the same GRPO task names", () => {
  assert.deepEqual(Object.keys(RL_TASKS).sort(), [...REWARD_TASKS].sort());
});
