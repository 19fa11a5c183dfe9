import type { CommandSpec } from "../args.ts";

export const command: CommandSpec = {
  name: "selfcheck",
  summary: "build check: load the native engine and train a tiny model for a few steps",
  options: {},
  run() {
    console.log("selfcheck: engine not built yet");
    return 1;
  },
};
