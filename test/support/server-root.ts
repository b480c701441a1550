/**
 * The temp directory a throwaway server lives in (data, config, socket, log), registered for
 * cleanup from the moment it exists, so a failed start-up leaves nothing behind either.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register, unregister, type CleanupEntry } from './cleanup.ts';
import type { ManagedProcess } from './managed-process.ts';

export class ServerRoot {
  readonly dir: string;
  readonly entry: CleanupEntry;
  #stopping: Promise<void> | undefined;

  private constructor(dir: string, entry: CleanupEntry) {
    this.dir = dir;
    this.entry = entry;
  }

  static async create(kind: string): Promise<ServerRoot> {
    const dir = await mkdtemp(join(tmpdir(), `lifeboat-${kind}-`));
    return new ServerRoot(dir, register({ label: `${kind} server in ${dir}`, dir }));
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Writes a file only its owner can read: passwords and configs that contain them. */
  async writeSecret(name: string, content: string): Promise<string> {
    const file = this.path(name);
    await writeFile(file, content, { mode: 0o600 });
    return file;
  }

  /** From now on the exit hook also kills this process group. */
  adopt(proc: ManagedProcess): void {
    if (proc.pid > 0) this.entry.pgid = proc.pid;
  }

  /**
   * Stops the process (if any) and removes the directory. Idempotent: every caller gets the
   * same promise, so `after()` hooks and explicit stops can both call it.
   */
  stop(proc: ManagedProcess | undefined, signal: NodeJS.Signals, graceMs: number): Promise<void> {
    this.#stopping ??= (async () => {
      try {
        if (proc !== undefined) await proc.stop(signal, graceMs);
        this.entry.afterDeathSync?.();
      } finally {
        await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
        unregister(this.entry);
      }
    })();
    return this.#stopping;
  }
}

/** A random password without quotes or backslashes, safe in every config syntax used here. */
export function randomPassword(): string {
  return `pw-${randomBytes(16).toString('hex')}`;
}
