/**
 * The one content reader: a file's data blobs in order, each verified (MAC, then SHA-256),
 * with a few loads in flight ahead of the one being consumed. The restorer, `dump` and the
 * stack reader all read through it, so an artifact restores at the speed `dump` reads it
 * (docs/performance.md, "stack restore").
 */
import { createHash } from 'node:crypto';
import { CodecPool } from './codec/codec-pool.ts';
import type { StreamDigest } from './codec/codec-pool.ts';
import type { Repository } from './repository.ts';

export type { StreamDigest };

/** Blobs loaded ahead of the one being consumed: enough to keep a codec thread and the storage busy. */
export const READ_AHEAD = 4;

export interface ContentReadOptions {
  signal?: AbortSignal;
  /** Loads in flight (default READ_AHEAD). */
  readAhead?: number;
  /** Called before each blob is handed out (a caller's cancellation check). */
  beforeEach?: () => void;
}

export async function* readContent(repo: Repository, ids: readonly string[], opts: ContentReadOptions = {}): AsyncGenerator<Buffer> {
  const depth = Math.max(1, opts.readAhead ?? READ_AHEAD);
  const inFlight: Array<Promise<Buffer>> = [];
  let next = 0;
  const fill = (): void => {
    while (next < ids.length && inFlight.length < depth) {
      // The codec thread has the most of a large file's work: this thread helps when it is full.
      const p = repo.loadBlob('data', ids[next++] as string, { signal: opts.signal, helpInline: true });
      p.catch(() => undefined); // awaited in order below; an early failure is not unhandled
      inFlight.push(p);
    }
  };
  fill();
  while (inFlight.length > 0) {
    opts.beforeEach?.();
    const data = await (inFlight.shift() as Promise<Buffer>);
    fill();
    yield data;
  }
}

/**
 * Content below this size is hashed on the reading thread: its hash takes a few milliseconds,
 * less than the thread's ring (8 MiB) and round trips cost, and a source of many small
 * artifacts (the objects of a bucket) would allocate a ring for each.
 */
const DIGEST_ON_THREAD_BYTES = 8 * 1024 * 1024;

/**
 * A SHA-256 of `bytes` of content read through `readContent`, for an end-to-end check (a
 * stack artifact against its manifest): for large content on a codec thread when one runs,
 * so the reading thread keeps writing and helping decode, else here.
 */
export function contentDigest(bytes: number): StreamDigest {
  const onThread = bytes >= DIGEST_ON_THREAD_BYTES ? CodecPool.shared().digestStream() : undefined;
  if (onThread) return onThread;
  const hash = createHash('sha256');
  return {
    update: (data) => {
      hash.update(data);
      return Promise.resolve();
    },
    digest: () => Promise.resolve(hash.digest('hex')),
    close: () => undefined,
  };
}
