/**
 * Repository locations → Storage, through the storage registry (storage/registry.ts: `local:`
 * or a plain path, `rest:`, `s3:`). Remote storages are wrapped in the retrying wrapper
 * (transient errors are retried with backoff and jitter).
 */
import { UsageError } from '../core/errors.ts';
import type { Storage } from '../storage/storage.ts';
import { backendFor } from '../storage/registry.ts';
import { withRetries } from '../storage/wrappers/retrying-storage.ts';
import { withRateLimits } from '../storage/wrappers/rate-limited-storage.ts';

export interface StorageOptions {
  env?: NodeJS.ProcessEnv;
  /** Called when a request is retried (for a warning line). */
  onRetry?: (message: string) => void;
}

export async function openStorage(location: string, opts: StorageOptions = {}): Promise<Storage> {
  return limited(await openPlainStorage(location, opts), opts.env);
}

/** LIFEBOAT_LIMIT_UPLOAD/_DOWNLOAD (KiB/s; the CLI's --limit-upload/--limit-download), as restic. */
function limited(s: Storage, env: NodeJS.ProcessEnv | undefined): Storage {
  const kib = (v: string | undefined): number | undefined => {
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`${JSON.stringify(v)} is not a rate in KiB/s`, { hint: 'give --limit-upload/--limit-download a whole number of KiB/s' });
    return n * 1024;
  };
  return withRateLimits(s, { uploadBytesPerSec: kib(env?.LIFEBOAT_LIMIT_UPLOAD), downloadBytesPerSec: kib(env?.LIFEBOAT_LIMIT_DOWNLOAD) });
}

async function openPlainStorage(location: string, opts: StorageOptions): Promise<Storage> {
  const backend = backendFor(location);
  const storage = await backend.open(location, { env: opts.env });
  if (!backend.isRemote) return storage;
  return withRetries(storage, { onRetry: (err, attempt, h) => opts.onRetry?.(`retrying ${h ? `${h.type}/${h.name.slice(0, 12)}` : 'request'} (attempt ${attempt}): ${err.message}`) });
}
