/**
 * The runner's backend for an OpenAI-compatible endpoint: one request per item, `concurrency` requests in flight,
 * retries inside EndpointClient.chat. Tensor-free.
 */
import { EndpointClient, type EndpointOptions, type EndpointSampling } from "./endpoint.ts";
import type { EvalBackend, EvalOutcome } from "./runner.ts";

export interface EndpointBackendOptions extends EndpointOptions {
  sampling: EndpointSampling;
  concurrency: number;
}

export function endpointBackend(opts: EndpointBackendOptions): EvalBackend {
  if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1))
    throw new Error(`--concurrency must be a positive integer, got ${opts.concurrency}`);
  const client = new EndpointClient(opts);
  return {
    kind: "endpoint",
    model: opts.model,
    batchSize: 1,
    concurrency: opts.concurrency,
    settings: { sampling: opts.sampling },
    // A server may move (another host or port) between a run and its resumption; the model name stays.
    info: { endpoint: client.baseURL },
    async run(batch, ctx): Promise<EvalOutcome[]> {
      return Promise.all(
        batch.map(async (item): Promise<EvalOutcome> => {
          const r = await client.chat({ images: item.images, text: item.text }, opts.sampling, {
            signal: ctx.signal,
            onRetry: ({ attempt, failure, delayMs }) =>
              ctx.onRetry({ id: item.id, attempt, message: failure.message, delayMs }),
          });
          if (r.ok) return { ok: true, pred: r.value.text };
          const o: EvalOutcome = { ok: false, error: r.failure.message, attempts: r.attempts, history: r.history };
          if (r.failure.status !== undefined) o.status = r.failure.status;
          return o;
        }),
      );
    },
  };
}
