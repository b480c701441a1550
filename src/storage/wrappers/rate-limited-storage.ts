/**
 * withRateLimits: a Storage wrapper that paces uploads (save) and downloads (load) to a
 * number of bytes per second each, as restic's --limit-upload and --limit-download (KiB/s).
 * Each transfer books its bytes on a schedule shared by all callers and waits until its turn
 * (an upload before it is sent, a download after it arrived), so the average over any
 * stretch of transfers stays at the limit whatever the concurrency.
 */
import { CancelledError } from '../../core/errors.ts';
import type { CallOptions, FileInfo, FileType, Handle, LoadOptions, Storage } from '../storage.ts';

export interface RateLimits {
  /** Bytes per second for save; undefined or 0: unlimited. */
  uploadBytesPerSec?: number;
  downloadBytesPerSec?: number;
  /** The time source and the wait, replaceable in tests. */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new CancelledError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A pacing schedule: the time at which the bytes booked so far have been allowed through. */
class Pace {
  #next = 0;
  readonly #bytesPerSec: number;
  readonly #now: () => number;
  readonly #sleep: NonNullable<RateLimits['sleep']>;
  constructor(bytesPerSec: number, now: () => number, sleep: NonNullable<RateLimits['sleep']>) {
    this.#bytesPerSec = bytesPerSec;
    this.#now = now;
    this.#sleep = sleep;
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.#now();
    const start = Math.max(now, this.#next);
    this.#next = start + (bytes / this.#bytesPerSec) * 1000;
    const wait = this.#next - now;
    if (wait > 0) await this.#sleep(wait, signal);
  }
}

export function withRateLimits(inner: Storage, limits: RateLimits): Storage {
  const now = limits.now ?? Date.now;
  const sleep = limits.sleep ?? realSleep;
  const up = limits.uploadBytesPerSec ? new Pace(limits.uploadBytesPerSec, now, sleep) : undefined;
  const down = limits.downloadBytesPerSec ? new Pace(limits.downloadBytesPerSec, now, sleep) : undefined;
  if (!up && !down) return inner;
  return {
    properties: inner.properties,
    create: (opts?: CallOptions) => inner.create(opts),
    async save(h: Handle, data: Uint8Array, opts?: CallOptions): Promise<void> {
      await up?.take(data.length, opts?.signal);
      return inner.save(h, data, opts);
    },
    async load(h: Handle, opts?: LoadOptions): Promise<Buffer> {
      const data = await inner.load(h, opts);
      await down?.take(data.length, opts?.signal);
      return data;
    },
    stat: (h: Handle, opts?: CallOptions): Promise<FileInfo> => inner.stat(h, opts),
    remove: (h: Handle, opts?: CallOptions): Promise<void> => inner.remove(h, opts),
    list: (type: FileType, opts?: CallOptions): AsyncIterable<FileInfo> => inner.list(type, opts),
    close: () => inner.close(),
  };
}
