#!/usr/bin/env node
// Entry point of the `rft` command: runs the TypeScript CLI through tsx's loader (no separate build step).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
