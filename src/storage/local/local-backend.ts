/** `local:/path` (or a plain path): a repository in a directory of this host. */
import path from 'node:path';
import type { StorageBackend } from '../backend.ts';

export const localBackend: StorageBackend = {
  scheme: 'local',
  example: 'local:/path',
  isRemote: false,
  parse: () => undefined,
  redact: (location) => location,
  async open(location) {
    // Loaded when used, so the registry stays light for the CLI's start and the schema.
    const { createLocalStorage } = await import('./local-storage.ts');
    return createLocalStorage(path.resolve(location.startsWith('local:') ? location.slice('local:'.length) : location));
  },
};
