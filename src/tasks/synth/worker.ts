/** Worker-thread side of `synthesize`: runs the units it is sent and reports results and log lines. */
import type { MessagePort } from "node:worker_threads";
import { runUnit, type UnitName, type UnitOptions } from "./generate.ts";

export function serve(port: MessagePort): void {
  port.on("message", (m: { unit: UnitName; opts: UnitOptions }) => {
    runUnit(m.unit, m.opts, (line) => port.postMessage({ log: line })).then(
      (result) => port.postMessage({ result }),
      (e: Error) => port.postMessage({ error: `${m.unit}: ${e.message}` }),
    );
  });
}
