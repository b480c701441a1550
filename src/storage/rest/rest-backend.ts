/** `rest:http://host:8000/path/`: restic's REST server protocol. */
import type { StorageBackend } from '../backend.ts';
import { parseRestUrl, redact } from './rest-url.ts';

export const restBackend: StorageBackend = {
  scheme: 'rest',
  example: 'rest:http://host:8000/',
  isRemote: true,
  parse: (location) => void parseRestUrl(location),
  redact,
  async open(location, opts) {
    const { createRestStorage } = await import('./rest-storage.ts');
    return createRestStorage(location, { env: opts.env });
  },
};
