/**
 * Repository locations → Storage, through the storage registry (storage/registry.ts: `local:`
 * or a plain path, `rest:`, `s3:`). Remote storages are wrapped in the retrying wrapper
 * (transient errors are retried with backoff and jitter).
 */
import type { Storage } from '../storage/storage.ts';
import { backendFor } from '../storage/registry.ts';
import { withRetries } from '../storage/wrappers/retrying-storage.ts';

export interface StorageOptions {
  env?: NodeJS.ProcessEnv;
  /** Called when a request is retried (for a warning line). */
  onRetry?: (message: string) => void;
}

export async function openStorage(location: string, opts: StorageOptions = {}): Promise<Storage> {
  const backend = backendFor(location);
  const storage = await backend.open(location, { env: opts.env });
  if (!backend.isRemote) return storage;
  return withRetries(storage, { onRetry: (err, attempt, h) => opts.onRetry?.(`retrying ${h ? `${h.type}/${h.name.slice(0, 12)}` : 'request'} (attempt ${attempt}): ${err.message}`) });
}
