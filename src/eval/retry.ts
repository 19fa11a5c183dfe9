/**
 * Retries with exponential backoff and jitter for calls to remote endpoints (spec §6.3: the reference sleeps
 * 3·2^k + U(0, 0.3·2^k) seconds after failure k and gives up after 5 attempts). Pure and tensor-free; the clock,
 * the random source and the sleep are injectable for tests.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included (≥ 1). */
  maxAttempts: number;
  /** Backoff before the second attempt, in ms; doubled after every further failure. */
  baseDelayMs: number;
  /** Upper bound of one backoff (Retry-After included), in ms. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 3000, maxDelayMs: 120_000 };

/** What to do after a failed attempt. */
export type FailureKind =
  /** Try again after a backoff (429, 5xx, timeouts, dropped connections, malformed replies). */
  | "retry"
  /** This item cannot succeed (e.g. 400: the request itself is refused); record it as failed. */
  | "permanent"
  /** No item can succeed (wrong key, unknown model or URL); stop the whole run. */
  | "fatal";

export interface Failure {
  kind: FailureKind;
  /** One line for logs and errors.jsonl. */
  message: string;
  /** HTTP status, when the failure was an HTTP reply. */
  status?: number;
  /** The server's Retry-After, in ms. */
  retryAfterMs?: number;
}

/**
 * Milliseconds to wait after failure number `failures` (1 = the first failure):
 * base·2^(failures−1) plus a uniform jitter of up to half that, at least the server's Retry-After, at most maxDelayMs.
 */
export function backoffMs(failures: number, policy: RetryPolicy, retryAfterMs?: number, rand = Math.random): number {
  const exp = policy.baseDelayMs * 2 ** Math.max(0, failures - 1);
  const withJitter = exp + rand() * 0.5 * exp;
  return Math.min(policy.maxDelayMs, Math.max(withJitter, retryAfterMs ?? 0));
}

/**
 * Parses the retry hints of an HTTP reply: `retry-after-ms` (milliseconds, as OpenAI's servers send), else
 * `Retry-After` as delta-seconds or an HTTP date. Undefined when absent or unparsable.
 */
export function parseRetryAfter(
  get: (name: string) => string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  const ms = get("retry-after-ms");
  if (ms != null && ms.trim() !== "" && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const v = get("retry-after");
  if (v == null || v.trim() === "") return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Raised when a failure is fatal for the whole run. */
export class FatalEndpointError extends Error {
  override name = "FatalEndpointError";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export type RetryResult<T> =
  { ok: true; value: T; attempts: number } | { ok: false; failure: Failure; attempts: number; history: string[] };

export interface RetryHooks {
  /** Called before each backoff sleep. */
  onRetry?: (info: { attempt: number; failure: Failure; delayMs: number }) => void;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  rand?: () => number;
  signal?: AbortSignal;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error("aborted"));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason ?? new Error("aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `attempt(n)` (n = 1, 2, ...) until it succeeds, a failure is permanent, or maxAttempts is reached.
 * `classify` turns a thrown error into a Failure; a fatal one is thrown as FatalEndpointError. An abort of
 * `hooks.signal` rejects with the abort reason.
 */
export async function withRetries<T>(
  attempt: (n: number) => Promise<T>,
  classify: (e: unknown) => Failure,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): Promise<RetryResult<T>> {
  const history: string[] = [];
  const doSleep = hooks.sleep ?? sleep;
  for (let n = 1; ; n++) {
    if (hooks.signal?.aborted) throw hooks.signal.reason ?? new Error("aborted");
    try {
      return { ok: true, value: await attempt(n), attempts: n };
    } catch (e) {
      if (hooks.signal?.aborted) throw hooks.signal.reason ?? e;
      const failure = classify(e);
      history.push(failure.message);
      if (failure.kind === "fatal") throw new FatalEndpointError(failure.message, failure.status);
      if (failure.kind === "permanent" || n >= policy.maxAttempts) {
        return { ok: false, failure, attempts: n, history };
      }
      const delayMs = backoffMs(n, policy, failure.retryAfterMs, hooks.rand);
      hooks.onRetry?.({ attempt: n, failure, delayMs });
      await doSleep(delayMs, hooks.signal);
    }
  }
}
