/**
 * Repository locations → Storage: `local:/path` or a plain path, `rest:http://host:8000/path/`
 * (restic's REST protocol) and `s3:https://host/bucket/prefix`. Remote storages are wrapped
 * in the retrying wrapper (transient errors are retried with backoff and jitter).
 */
import path from 'node:path';
import { UsageError } from '../core/errors.ts';
import type { Storage } from '../storage/storage.ts';
import { createLocalStorage } from '../storage/local/local-storage.ts';
import { createRestStorage } from '../storage/rest/rest-storage.ts';
import { withRetries } from '../storage/wrappers/retrying-storage.ts';
import { withRateLimits } from '../storage/wrappers/rate-limited-storage.ts';

export interface StorageOptions {
  env?: NodeJS.ProcessEnv;
  /** Called when a request is retried (for a warning line). */
  onRetry?: (message: string) => void;
}

async function s3Storage(location: string): Promise<Storage> {
  // Loaded lazily: the AWS SDK takes a few hundred ms to import and only s3: needs it.
  // Credentials come from the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
  // profile files), never from the URL.
  const { createS3Storage, parseS3Url } = await import('../storage/s3/s3-storage.ts');
  return createS3Storage(parseS3Url(location));
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
  const retry = (s: Storage): Storage =>
    withRetries(s, { onRetry: (err, attempt, h) => opts.onRetry?.(`retrying ${h ? `${h.type}/${h.name.slice(0, 12)}` : 'request'} (attempt ${attempt}): ${err.message}`) });
  if (location.startsWith('rest:')) return retry(createRestStorage(location, { env: opts.env }));
  if (location.startsWith('s3:')) return retry(await s3Storage(location));
  if (location.startsWith('local:')) return createLocalStorage(path.resolve(location.slice('local:'.length)));
  if (/^[a-z][a-z0-9+.-]*:/i.test(location)) {
    const scheme = location.slice(0, location.indexOf(':'));
    throw new UsageError(`repository location scheme "${scheme}:" is not supported`, {
      hint: 'use local:/path (or a plain path), rest:http://host:8000/, or s3:https://host/bucket/prefix',
    });
  }
  return createLocalStorage(path.resolve(location));
}
