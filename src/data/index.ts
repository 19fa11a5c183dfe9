/** Public surface of the tensor-free data layer: the meta-JSON format, converters, stage split and the seeded RNG. */
export {
  type MetaRecord,
  type MetaFile,
  type SkippedRecord,
  MetaRecordError,
  readMetaFile,
  parseMetaArray,
  parseMetaRecord,
  recordImages,
} from "./meta.ts";
export { Rng } from "./rng.ts";
export { ImagePathError, checkRelativeImagePath, resolveImagePath } from "./images.ts";
export {
  type ShareGptRecord,
  type RlRecord,
  IMAGE_PLACEHOLDER,
  sftUserContent,
  cotTarget,
  toAnsSft,
  toCotSft,
  toCaptionCotSft,
  toRl,
  splitStages,
  sizeTag,
} from "./convert.ts";
export { type TaskBuildSpec, type BuiltFile, buildTaskData, checkImages, writeBuild, registryEntry } from "./build.ts";
