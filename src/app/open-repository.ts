/**
 * Opening a repository for a command: storage from the location, password from its sources,
 * index loaded, and the lock the command needs (released by `close`).
 */
import { UsageError } from '../core/errors.ts';
import { Repository } from '../repo/repository.ts';
import type { OpenOptions } from '../repo/repository.ts';
import { Lock } from '../repo/lock/lock.ts';
import { openStorage } from './repository-url.ts';
import { resolvePassword } from './password.ts';
import type { PasswordSources } from './password.ts';

export interface RepoTarget extends PasswordSources {
  repo?: string;
}

export type LockMode = 'none' | 'shared' | 'exclusive';

/** How long to keep trying for a lock another process holds (`--retry-lock`), and who hears that it waits. */
export interface LockWait {
  retryLockMs?: number;
  onLockWait?: (message: string) => void;
}

export interface OpenedRepository {
  repo: Repository;
  lock?: Lock;
  close(): Promise<void>;
}

export function repositoryLocation(t: RepoTarget): string {
  const loc = t.repo ?? t.env.LIFEBOAT_REPOSITORY;
  if (!loc) throw new UsageError('no repository given', { hint: 'use -r/--repo LOCATION or set LIFEBOAT_REPOSITORY' });
  return loc;
}

export async function openRepository(
  t: RepoTarget,
  opts: OpenOptions & LockWait & { lock?: LockMode; loadIndex?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<OpenedRepository> {
  const location = repositoryLocation(t);
  return openRepositoryAt(location, await resolvePassword(t), { env: t.env, ...opts });
}

/** Opens the repository at a location with a password already resolved. */
export async function openRepositoryAt(
  location: string,
  password: string,
  opts: OpenOptions & LockWait & { lock?: LockMode; loadIndex?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<OpenedRepository> {
  const storage = await openStorage(location, { env: opts.env });
  let repo: Repository;
  try {
    repo = await Repository.open(storage, password, opts);
  } catch (err) {
    await storage.close();
    throw err;
  }
  // The index loads while the lock is taken (which waits a moment to see whether another
  // process locked at the same time): it only reads, and a lock that cannot be had is the
  // error reported, whatever the index load found.
  const stopLoading = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stopLoading.signal]) : stopLoading.signal;
  const retryForMs = opts.retryLockMs ?? 0;
  const onWait = (err: Error): void => opts.onLockWait?.(`${err.message}; waiting up to ${Math.round(retryForMs / 1000)}s for the lock`);
  const locking = opts.lock && opts.lock !== 'none' ? Lock.acquire(repo, opts.lock === 'exclusive', { signal: opts.signal, retryForMs, onWait }) : undefined;
  locking?.catch(() => stopLoading.abort());
  const loading = opts.loadIndex !== false ? repo.loadIndex({ signal }) : undefined;
  const [locked, loaded] = await Promise.allSettled([locking, loading]);
  const lock = locked.status === 'fulfilled' ? locked.value : undefined;
  if (locked.status === 'rejected' || loaded.status === 'rejected') {
    await lock?.release().catch(() => undefined);
    await storage.close();
    throw locked.status === 'rejected' ? locked.reason : (loaded as PromiseRejectedResult).reason;
  }
  return {
    repo,
    lock,
    async close() {
      try {
        await lock?.release();
      } finally {
        await storage.close();
      }
    },
  };
}

export interface InitResult {
  id: string;
  location: string;
  keyId: string;
  version: number;
  chunkerPolynomial: string;
}

export async function initRepository(t: RepoTarget, opts: { signal?: AbortSignal; scrypt?: { N: number; r: number; p: number } } = {}): Promise<InitResult> {
  return initRepositoryAt(repositoryLocation(t), await resolvePassword(t), { ...opts, env: t.env });
}

export async function initRepositoryAt(
  location: string,
  password: string,
  opts: { signal?: AbortSignal; scrypt?: { N: number; r: number; p: number }; env?: NodeJS.ProcessEnv } = {},
): Promise<InitResult> {
  const storage = await openStorage(location, { env: opts.env });
  try {
    const repo = await Repository.init(storage, password, { signal: opts.signal, scrypt: opts.scrypt });
    return { id: repo.config.id, location: repo.location, keyId: repo.keyId, version: repo.config.version, chunkerPolynomial: repo.config.chunker_polynomial };
  } finally {
    await storage.close();
  }
}
