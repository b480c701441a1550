/**
 * withRetries: a Storage wrapper that retries transient failures with exponential backoff
 * and full jitter (delay = random(0, min(max, base * 2^attempt))), so many clients that
 * failed together do not come back together.
 *
 * Only errors marked retryable where they were born are retried; NotFoundError and
 * `already_exists` never are, and an aborted signal stops the loop at once. Two answers
 * after a failed attempt are ambiguous, because that attempt may have landed though its
 * reply was lost:
 * - save then sees `already_exists`: if the stored file has the size we wrote, it is ours
 *   (names are content addresses) and the save succeeded;
 * - remove then sees `not_found`: the earlier attempt removed it.
 * A list that fails midway is restarted and names already yielded are skipped.
 */
import { CancelledError, LifeboatError, NotFoundError } from '../../core/errors.ts';
import { describeHandle, checkSignal } from '../storage.ts';
import type { CallOptions, FileInfo, FileType, Handle, LoadOptions, Storage } from '../storage.ts';

export type StorageOp = 'create' | 'save' | 'load' | 'stat' | 'remove' | 'list';

export interface RetryInfo {
  readonly op: StorageOp;
  /** The file type, also for `list` and `create` (`config`), which have no handle. */
  readonly type: FileType;
  /** How long the wrapper waits before the next attempt. */
  readonly delayMs: number;
}

export interface RetryOptions {
  /** Retries after the first attempt (default 8). */
  readonly retries?: number;
  /** Cap of the first backoff (default 250 ms); doubles each retry. */
  readonly baseDelayMs?: number;
  /** Largest backoff cap (default 30 s). */
  readonly maxDelayMs?: number;
  /** Told of every failure that will be retried; `attempt` is 1 for the first failure. */
  readonly onRetry?: (err: LifeboatError, attempt: number, h: Handle | undefined, info: RetryInfo) => void;
  /** Waits `ms`; tests pass one that returns at once. Must reject when `signal` aborts. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Source of randomness for the jitter, in [0, 1) (default Math.random). */
  readonly random?: () => number;
}

const DEFAULTS = { retries: 8, baseDelayMs: 250, maxDelayMs: 30_000 };

/** Whether an error is worth another attempt: marked retryable, and not a definite answer. */
export function isRetryable(err: unknown): err is LifeboatError {
  if (!(err instanceof LifeboatError) || err instanceof NotFoundError) return false;
  if (err.code === 'already_exists' || err.code === 'cancelled') return false;
  return err.retryable;
}

/** The backoff before retry number `attempt` (1-based), with full jitter. */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * cap);
}

export function withRetries(inner: Storage, opts: RetryOptions = {}): Storage {
  return new RetryingStorage(inner, opts);
}

class RetryingStorage implements Storage {
  readonly #inner: Storage;
  readonly #retries: number;
  readonly #base: number;
  readonly #max: number;
  readonly #opts: RetryOptions;

  constructor(inner: Storage, opts: RetryOptions) {
    this.#inner = inner;
    this.#opts = opts;
    this.#retries = opts.retries ?? DEFAULTS.retries;
    this.#base = opts.baseDelayMs ?? DEFAULTS.baseDelayMs;
    this.#max = opts.maxDelayMs ?? DEFAULTS.maxDelayMs;
  }

  get properties() {
    return this.#inner.properties;
  }

  create(opts: CallOptions = {}): Promise<void> {
    return this.#run('create', { type: 'config', name: '' }, undefined, opts.signal, () => this.#inner.create(opts));
  }

  save(h: Handle, data: Uint8Array, opts: CallOptions = {}): Promise<void> {
    let failedBefore = false;
    return this.#run('save', h, h, opts.signal, async () => {
      try {
        await this.#inner.save(h, data, opts);
      } catch (err) {
        if (failedBefore && err instanceof LifeboatError && err.code === 'already_exists' && (await this.#sameSize(h, data.length, opts))) return;
        failedBefore = true;
        throw err;
      }
    });
  }

  async #sameSize(h: Handle, size: number, opts: CallOptions): Promise<boolean> {
    try {
      return (await this.#inner.stat(h, opts)).size === size;
    } catch {
      return false; // cannot confirm: the caller sees the original already_exists
    }
  }

  load(h: Handle, opts: LoadOptions = {}): Promise<Buffer> {
    return this.#run('load', h, h, opts.signal, () => this.#inner.load(h, opts));
  }

  stat(h: Handle, opts: CallOptions = {}): Promise<FileInfo> {
    return this.#run('stat', h, h, opts.signal, () => this.#inner.stat(h, opts));
  }

  remove(h: Handle, opts: CallOptions = {}): Promise<void> {
    let failedBefore = false;
    return this.#run('remove', h, h, opts.signal, async () => {
      try {
        await this.#inner.remove(h, opts);
      } catch (err) {
        if (failedBefore && err instanceof NotFoundError) return;
        failedBefore = true;
        throw err;
      }
    });
  }

  async *list(type: FileType, opts: CallOptions = {}): AsyncGenerator<FileInfo> {
    const seen = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      checkSignal(opts.signal, `list ${type}`);
      try {
        for await (const fi of this.#inner.list(type, opts)) {
          if (seen.has(fi.name)) continue;
          seen.add(fi.name);
          yield fi;
        }
        return;
      } catch (err) {
        await this.#backoff(err, attempt, 'list', type, undefined, opts.signal);
      }
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async #run<T>(op: StorageOp, h: Handle, reported: Handle | undefined, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      checkSignal(signal, `${op} ${describeHandle(h)}`);
      try {
        return await fn();
      } catch (err) {
        await this.#backoff(err, attempt, op, h.type, reported, signal);
      }
    }
  }

  /** Rethrows `err` unless another attempt is due, else reports it and waits. */
  async #backoff(err: unknown, attempt: number, op: StorageOp, type: FileType, h: Handle | undefined, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) {
      throw err instanceof CancelledError ? err : new CancelledError(`${op} cancelled`, { cause: err });
    }
    if (!isRetryable(err) || attempt > this.#retries) throw err;
    const delayMs = backoffDelay(attempt, this.#base, this.#max, this.#opts.random);
    this.#opts.onRetry?.(err, attempt, h, { op, type, delayMs });
    try {
      await (this.#opts.sleep ?? sleep)(delayMs, signal);
    } catch (sleepErr) {
      throw new CancelledError(`${op} cancelled while waiting to retry`, { cause: sleepErr });
    }
  }
}


function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
