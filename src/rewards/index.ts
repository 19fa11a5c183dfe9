/** Public surface of the reward functions (spec §3); all pure, synchronous and tensor-free. */
export { accuracyReward, mathAccuracyReward, cosineBand, MATH_TOLERANCE } from "./accuracy.ts";
export {
  formatReward,
  captionFormatReward,
  reasoningStepsReward,
  lengthReward,
  LENGTH_REWARD_START_STEP,
} from "./format.ts";
export {
  parseFunctionCalls,
  onlyFullFuncReward,
  funcReward,
  penaltyFuncReward,
  tranceScore,
  type FunctionCall,
} from "./functions.ts";
export { parseMath, verifyMath, mathEqual } from "./math_verify.ts";
export { extractAnswer, hasAnswerTag, pyStrip, pyFloat, MAX_COMPLETION_CHARS } from "./text.ts";
export { MAX_MATH_CHARS } from "./math_verify.ts";
export {
  rewardSet,
  scoreBatch,
  REWARD_TASKS,
  REWARD_NAMES,
  DEFAULT_REWARDS,
  type RewardSpec,
  type RewardValue,
  type RewardContext,
  type ScoreBatchOptions,
  type OnNull,
  type RewardTask,
  type ScoredBatch,
} from "./registry.ts";
