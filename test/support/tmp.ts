/**
 * Temp directories for tests, removed by `cleanup()` or, if a test forgets or is interrupted,
 * by the cleanup registry when the test process ends.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register, unregister } from './cleanup.ts';

export interface TempDir {
  readonly path: string;
  cleanup(): Promise<void>;
}

export async function tempDir(prefix = 'test'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `lifeboat-${prefix}-`));
  const entry = register({ label: `temp dir ${path}`, dir: path });
  return {
    path,
    async cleanup() {
      unregister(entry);
      await rm(path, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
