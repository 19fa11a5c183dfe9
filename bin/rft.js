#!/usr/bin/env -S node --single-threaded-gc --v8-pool-size=1
// The V8 flags keep V8's background GC and compiler threads from competing with libtorch's OpenMP workers for the
// cores (measured on 2 cores: decode +10%, training +7%; docs/engine.md). `npm start` and `npm run bench` pass the same.
// Entry point of the `rft` command: runs the TypeScript CLI through tsx's loader (no separate build step).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../src/cli/main.ts");
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  // A bad engine setting in the environment (e.g. RFT_NUM_THREADS=abc) is refused when a command loads the engine.
  if (e?.code !== "RFT_CONFIG") throw e;
  console.error(`rft: ${e.message}`);
  process.exitCode = 2;
}
