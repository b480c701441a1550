/**
 * How the daemon treats a failed run, decided from the error's class where it was born
 * (LifeboatError code and `retryable`, errno values, and for a source's failure the
 * `error_class` its backup recorded, core/failure-class.ts), never from the daemon's own reading
 * of a message:
 *
 *   fatal      wrong password, no repository, bad config, a secret that cannot be read:
 *              retrying cannot help, so alert at once and wait for the next scheduled run.
 *   auth       a source's store refused its credentials: alert at once, no retry.
 *   config     a dump or restore tool is missing on this host: alert, no retry.
 *   disk_full  no space left (the repository's disk or a dump's): alert, no retry.
 *   locked     another process holds the repository lock: wait, then try again.
 *   transient  the repository or a source's server refused the connection, timed out or went
 *              away (`retryable`, a socket error): retry with backoff.
 *   failed     anything else (a source's dump failed, damage found): alert, no retry.
 */
import { LifeboatError } from '../core/errors.ts';
import { failureClassOf } from '../core/failure-class.ts';
import type { FailureClass } from '../core/failure-class.ts';

export type ErrorClass = 'fatal' | 'auth' | 'config' | 'disk_full' | 'locked' | 'transient' | 'failed';

const FATAL_CODES = new Set(['wrong_password', 'config', 'usage', 'repository_not_found', 'no_repository']);
const FROM_FAILURE: Record<FailureClass, ErrorClass> = { transient: 'transient', auth: 'auth', tool_missing: 'config', disk_full: 'disk_full', other: 'failed' };

export function classifyError(err: unknown): ErrorClass {
  if (err instanceof LifeboatError) {
    if (err.code === 'repository_locked') return 'locked';
    if (FATAL_CODES.has(err.code)) return 'fatal';
    // Repository.open's "no repository at … (config file not found)".
    if (err.code === 'not_found' && /^no repository at /.test(err.message)) return 'fatal';
    // A source's failure inside a backup, classified when it was caught (ops/backup-run.ts).
    const recorded = err.data.failure_class;
    if (typeof recorded === 'string' && recorded in FROM_FAILURE) return FROM_FAILURE[recorded as FailureClass];
  }
  return FROM_FAILURE[failureClassOf(err)];
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
