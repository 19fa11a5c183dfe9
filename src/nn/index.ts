/** nn: modules with HF-named parameters, layers, initialisers, optimizers, schedules. */
export { Module, ModuleList, StateDictError, namePattern, type StateDict } from "./module.ts";
export { Linear, Embedding, RMSNorm, LayerNorm, type LayerOptions } from "./layers.ts";
export * from "./init.ts";
export { AdamW, type AdamWOptions, type AdamWState } from "./optim/adamw.ts";
export { clipGradNorm } from "./optim/clip.ts";
export { lrFactor, warmupFromRatio, type Schedule, type ScheduleName } from "./optim/schedule.ts";
