/**
 * The storage backends lifeboat knows, by URL scheme. A new backend is its folder
 * (`storage/<x>/`: the Storage, its errors, its URL, and `<x>-backend.ts`) plus one line in
 * `storageBackends`; the config schema, `--help` and the hints derive the list from here.
 */
import { UsageError } from '../core/errors.ts';
import type { StorageBackend } from './backend.ts';
import { localBackend } from './local/local-backend.ts';
import { restBackend } from './rest/rest-backend.ts';
import { s3Backend } from './s3/s3-backend.ts';

export const storageBackends: readonly StorageBackend[] = [localBackend, s3Backend, restBackend];

/** "local:/path, s3:https://host/bucket/prefix or rest:http://host:8000/" */
export function locationExamples(): string {
  const ex = storageBackends.map((b) => b.example);
  return ex.length > 1 ? `${ex.slice(0, -1).join(', ')} or ${ex.at(-1)}` : (ex[0] ?? '');
}

/**
 * The backend of a location. A location without a scheme is a local path (as restic); one
 * with a scheme no backend has is a UsageError listing the ones that exist.
 */
export function backendFor(location: string): StorageBackend {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(location);
  if (!m) return localBackend;
  const backend = storageBackends.find((b) => b.scheme === m[1]);
  if (!backend) {
    throw new UsageError(`repository location scheme "${m[1]}:" is not supported`, {
      hint: `use ${locationExamples()} (a plain path is local)`,
    });
  }
  return backend;
}

/** A location fit for messages and reports: credentials in a URL are hidden. */
export function redactLocation(location: string): string {
  try {
    return backendFor(location).redact(location);
  } catch {
    // An unknown scheme: show nothing that could hold a secret beyond the scheme itself.
    return `${location.slice(0, location.indexOf(':'))}:…`;
  }
}
