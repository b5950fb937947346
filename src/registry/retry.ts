/**
 * Retry policy: which failures are transient, how long to wait (exponential backoff with jitter,
 * `Retry-After` in seconds or as an HTTP date), and an abortable sleep.
 *
 * Defaults: 4 retries (5 tries in all), first wait 500 ms doubling up to 10 s, each wait jittered to
 * 50–100 % of its value; a `Retry-After` is honoured as given (up to 120 s) instead of the backoff.
 */
import { TcraneError } from "../errors.js";

/** Default number of retries after the first try. */
export const DEFAULT_RETRIES = 4;

/** Backoff tuning (tests shorten it). */
export interface BackoffOptions {
  /** First wait in ms (default 500). */
  baseMs?: number;
  /** Largest computed wait in ms (default 10 000). */
  maxMs?: number;
  /** Largest honoured Retry-After in ms (default 120 000). */
  maxRetryAfterMs?: number;
}

/** HTTP statuses worth retrying (ggcr's list: 408, 429, 499, 5xx gateway errors, 522). */
export const RETRYABLE_STATUS = new Set([408, 429, 499, 500, 502, 503, 504, 522]);

/** Network error codes worth retrying. */
const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
]);

/** True for a thrown network error that a retry may cure (never for an abort). */
export function isRetryableError(err: unknown): boolean {
  if (!err || typeof err !== "object") return false;
  const e = err as { code?: unknown; name?: unknown; cause?: unknown };
  if (e.name === "AbortError" || e.code === "ABORT_ERR") return false;
  if (typeof e.code === "string" && RETRYABLE_CODES.has(e.code)) return true;
  if (e instanceof TcraneError) return e.code === "NETWORK";
  if (e.cause && e.cause !== err) return isRetryableError(e.cause);
  return false;
}

/** Parse `Retry-After` (delta seconds or HTTP date) into ms from `now`; undefined when absent/bad. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const date = Date.parse(t);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The wait before retry number `attempt` (0-based), with jitter, or the Retry-After when given. */
export function backoffDelay(attempt: number, retryAfterMs: number | undefined, opts: BackoffOptions = {}): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, opts.maxRetryAfterMs ?? 120_000);
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 10_000;
  const raw = Math.min(max, base * 2 ** attempt);
  return Math.round(raw * (0.5 + Math.random() * 0.5));
}

/** The error thrown when a caller's AbortSignal fired: always ABORTED (exit 1), keeping the reason. */
export function abortError(signal: AbortSignal | undefined, cause?: unknown): TcraneError {
  const reason = signal?.reason ?? cause;
  if (reason instanceof TcraneError && reason.code === "ABORTED") return reason;
  return new TcraneError("ABORTED", "interrupted", { cause: reason });
}

/** Sleep `ms`, rejecting with an ABORTED error when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Suffix added to the final error when retries were exhausted. */
export function gaveUp(tries: number): string {
  return ` (gave up after ${tries} ${tries === 1 ? "try" : "tries"})`;
}
