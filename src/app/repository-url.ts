/**
 * Repository locations: `local:/path`, a plain path, and (later) `s3:` and `rest:` URLs.
 * Maps a location to a Storage with the right wrappers.
 */
import path from 'node:path';
import { UsageError } from '../core/errors.ts';
import type { Storage } from '../storage/storage.ts';
import { createLocalStorage } from '../storage/local/local-storage.ts';

export function openStorage(location: string): Storage {
  if (location.startsWith('local:')) return createLocalStorage(path.resolve(location.slice('local:'.length)));
  if (/^[a-z0-9]+:/i.test(location) && !location.startsWith('/')) {
    const scheme = location.slice(0, location.indexOf(':'));
    throw new UsageError(`repository location scheme "${scheme}:" is not supported yet`, {
      hint: 'use local:/path or a plain directory path',
    });
  }
  return createLocalStorage(path.resolve(location));
}
