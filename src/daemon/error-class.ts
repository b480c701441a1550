/**
 * How the daemon treats a failed run, decided from the error's class where it was born
 * (LifeboatError code and `retryable`), never from its message text:
 *
 *   fatal      wrong password, no repository, bad config, a secret that cannot be read:
 *              retrying cannot help, so alert at once and wait for the next scheduled run.
 *   locked     another process holds the repository lock: wait, then try again.
 *   transient  network and server hiccups (`retryable`, or a socket error): retry with backoff.
 *   failed     anything else (a source's dump failed, damage found): alert, no retry.
 */
import { LifeboatError } from '../core/errors.ts';

export type ErrorClass = 'fatal' | 'locked' | 'transient' | 'failed';

const FATAL_CODES = new Set(['wrong_password', 'config', 'usage', 'repository_not_found', 'no_repository']);
const NETWORK_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

export function classifyError(err: unknown): ErrorClass {
  if (err instanceof LifeboatError) {
    if (err.code === 'repository_locked') return 'locked';
    if (FATAL_CODES.has(err.code)) return 'fatal';
    // Repository.open's "no repository at … (config file not found)".
    if (err.code === 'not_found' && /^no repository at /.test(err.message)) return 'fatal';
    if (err.retryable) return 'transient';
  }
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && NETWORK_ERRNO.has(code)) return 'transient';
  }
  return 'failed';
}

/** When the next attempt runs, or undefined for none; `attempt` is the one that just failed (1…). */
export interface RetryPolicy {
  /** Waits before each retry of a transient failure (its length is the number of retries). */
  readonly transientDelaysMs: readonly number[];
  readonly lockedDelayMs: number;
  readonly lockedAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { transientDelaysMs: [30_000, 120_000, 480_000], lockedDelayMs: 300_000, lockedAttempts: 6 };

export function retryDelay(cls: ErrorClass, attempt: number, policy: RetryPolicy = DEFAULT_RETRY): number | undefined {
  if (cls === 'transient') return policy.transientDelaysMs[attempt - 1];
  if (cls === 'locked') return attempt < policy.lockedAttempts ? policy.lockedDelayMs : undefined;
  return undefined;
}
