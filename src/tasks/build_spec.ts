/**
 * Connects the task families to the dataset builder: prompt choice, registry prefix and the Stage-2 rule.
 */
import type { TaskBuildSpec } from "../data/build.ts";
import { type PromptTemplates, trainingPrompt } from "./prompts.ts";
import { type TaskFamily, datasetPrefix } from "./tasks.ts";

/**
 * The build spec of a family. Structure perception is small, so its Stage 2 keeps the full set (spec §1.6).
 *
 * @example
 * taskBuildSpec("visual-counting").prefix; // "clevr_math"
 */
export function taskBuildSpec(family: TaskFamily, templates: PromptTemplates = {}): TaskBuildSpec {
  const spec: TaskBuildSpec = {
    prefix: datasetPrefix(family),
    stage2UsesAll: family === "structure-perception",
    ansSftPrompt: (r) => trainingPrompt(family, "ans-sft", r, templates),
    cotSftPrompt: (r) => trainingPrompt(family, "cot-sft", r, templates),
  };
  if (family === "spatial-transformation")
    spec.captionCotPrompt = (r) => trainingPrompt(family, "caption-cot-sft", r, templates);
  return spec;
}
