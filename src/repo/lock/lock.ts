/**
 * Repository locks, restic's protocol (design.rst, "Locks"): a lock is an unpacked file in
 * locks/. Many shared (non-exclusive) locks may coexist; an exclusive lock excludes all
 * others. A lock is stale when older than 30 minutes, or when it was made on this host by a
 * process that no longer exists. Holders refresh their lock every 5 minutes by writing a new
 * file and removing the old one.
 */
import { AlreadyLockedError, LifeboatError, errorMessage, isNotFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import type { Clock } from '../../util/clock.ts';
import { nowMs, systemClock } from '../../util/clock.ts';
import { formatDate, parseDate } from '../../util/time.ts';
import type { Repository } from '../repository.ts';
import { currentUser } from '../repository.ts';

export interface LockDoc {
  time: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  uid?: number;
  gid?: number;
}

export const STALE_AFTER_MS = 30 * 60 * 1000;
export const REFRESH_EVERY_MS = 5 * 60 * 1000;

export interface LockOptions {
  clock?: Clock;
  /** How long to wait after writing the lock before re-checking for a race (ms). */
  settleMs?: number;
  signal?: AbortSignal;
  /** Called if a refresh fails (the lock may then go stale under us). */
  onRefreshError?: (err: unknown) => void;
  /**
   * Keep trying this long (ms) while another process holds a conflicting lock, as restic's
   * `--retry-lock`; then the usual AlreadyLockedError, saying how long it waited. 0: no retry.
   */
  retryForMs?: number;
  /** The first wait between tries (default 1 s; it doubles up to a minute, never past the deadline). */
  retryDelayMs?: number;
  /** Called once, when the first try finds the repository locked and a retry follows. */
  onWait?: (err: AlreadyLockedError) => void;
}

export const RETRY_DELAY_MAX_MS = 60_000;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = (): void => {
      signal?.removeEventListener('abort', abort);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const abort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/** `90s`, `5m`, `1h5m` for messages. */
function waited(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${s % 60 ? `${s % 60}s` : ''}` : `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function isStale(lock: LockDoc, now: Date, hostname = currentUser().hostname): boolean {
  const age = now.getTime() - parseDate(lock.time).getTime();
  if (age > STALE_AFTER_MS) return true;
  if (lock.hostname === hostname && !processAlive(lock.pid)) return true;
  return false;
}

export function describeLock(lock: LockDoc, now: Date): string {
  const ageMin = Math.max(0, Math.round((now.getTime() - parseDate(lock.time).getTime()) / 60000));
  const age = ageMin < 60 ? `${ageMin}m` : `${Math.floor(ageMin / 60)}h${ageMin % 60}m`;
  return `${lock.exclusive ? 'exclusively' : 'shared'} by ${lock.username}@${lock.hostname} (pid ${lock.pid}, ${age} ago)`;
}

export async function listLocks(repo: Repository, signal?: AbortSignal): Promise<Array<{ id: string; lock: LockDoc }>> {
  const out: Array<{ id: string; lock: LockDoc }> = [];
  for await (const f of repo.storage.list('locks', { signal })) {
    if (!isId(f.name)) continue;
    try {
      out.push({ id: f.name, lock: (await repo.loadUnpacked('locks', f.name, { signal })) as LockDoc });
    } catch (err) {
      // A lock removed between list and load is gone: fine. Unreadable locks are ignored as
      // restic does, so a damaged lock file cannot block every later run.
      if (isNotFound(err)) continue;
    }
  }
  return out;
}

export class Lock {
  readonly #repo: Repository;
  readonly #doc: Omit<LockDoc, 'time'>;
  readonly #clock: Clock;
  #id: string | undefined;
  /** When the lock file was last written (clock ms). */
  #written = 0;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> = Promise.resolve();

  private constructor(repo: Repository, exclusive: boolean, clock: Clock) {
    const u = currentUser();
    this.#repo = repo;
    this.#clock = clock;
    this.#doc = { exclusive, hostname: u.hostname, username: u.username, pid: process.pid, uid: u.uid, gid: u.gid };
  }

  get id(): string | undefined {
    return this.#id;
  }

  /**
   * Takes a lock or throws AlreadyLockedError naming the holder; with `retryForMs`, tries
   * again (after 1 s, 2 s, 4 s, … up to a minute) until that much time has passed.
   */
  static async acquire(repo: Repository, exclusive: boolean, opts: LockOptions = {}): Promise<Lock> {
    const retryFor = opts.retryForMs ?? 0;
    const deadline = nowMs() + retryFor;
    let delay = Math.min(opts.retryDelayMs ?? 1000, RETRY_DELAY_MAX_MS);
    for (let tries = 0; ; tries++) {
      try {
        return await Lock.#acquireOnce(repo, exclusive, opts);
      } catch (err) {
        if (!(err instanceof AlreadyLockedError) || err.data.lockId === undefined || retryFor <= 0) throw err;
        const left = deadline - nowMs();
        if (left <= 0) {
          throw new AlreadyLockedError(`${err.message} (gave up after waiting ${waited(retryFor)})`, { hint: err.hint, data: err.data, cause: err });
        }
        if (tries === 0) opts.onWait?.(err);
        await sleep(Math.min(delay, left), opts.signal);
        delay = Math.min(delay * 2, RETRY_DELAY_MAX_MS);
      }
    }
  }

  static async #acquireOnce(repo: Repository, exclusive: boolean, opts: LockOptions): Promise<Lock> {
    const lock = new Lock(repo, exclusive, opts.clock ?? systemClock);
    await lock.#checkConflicts(undefined, opts.signal);
    lock.#id = await lock.#write(opts.signal);
    lock.#written = lock.#clock.now().getTime();
    // Two processes may have checked at the same moment: wait, then look again.
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 100));
    try {
      await lock.#checkConflicts(lock.#id, opts.signal);
    } catch (err) {
      await lock.release();
      throw err;
    }
    lock.#timer = setInterval(() => {
      lock.#refreshing = lock.refresh().catch((err) => opts.onRefreshError?.(err));
    }, REFRESH_EVERY_MS);
    lock.#timer.unref();
    return lock;
  }

  async #checkConflicts(ownId: string | undefined, signal?: AbortSignal): Promise<void> {
    const now = this.#clock.now();
    for (const { id, lock } of await listLocks(this.#repo, signal)) {
      if (id === ownId) continue;
      if (!this.#doc.exclusive && !lock.exclusive) continue;
      if (isStale(lock, now)) continue;
      throw new AlreadyLockedError(`repository ${this.#repo.location} is locked ${describeLock(lock, now)}`, {
        hint: 'wait for that run to finish; if that process is gone, run "lifeboat unlock"',
        data: { lockId: id, hostname: lock.hostname, pid: lock.pid, time: lock.time, exclusive: lock.exclusive },
      });
    }
  }

  async #write(signal?: AbortSignal): Promise<string> {
    return this.#repo.saveUnpacked('locks', { time: formatDate(this.#clock.now()), ...this.#doc }, { signal });
  }

  /**
   * Writes a fresh lock file and removes the old one. When that fails (a full disk) and the
   * lock would go stale before the next refresh, the repository takes no more index or
   * snapshot writes: others may then see the lock as stale and prune, and a snapshot written
   * afterwards could refer to data that prune removed.
   */
  async refresh(): Promise<void> {
    if (this.#id === undefined) return;
    const old = this.#id;
    try {
      this.#id = await this.#write();
    } catch (err) {
      const age = this.#clock.now().getTime() - this.#written;
      if (age >= STALE_AFTER_MS - REFRESH_EVERY_MS) {
        this.#repo.stopWrites(new LifeboatError('lock_lost', `the lock on ${this.#repo.location} could not be refreshed for ${Math.round(age / 60000)} min (${errorMessage(err)}); stopped before writing more, as other processes may take it for stale`, {
          cause: err,
          hint: 'fix what keeps the lock from being written (free space on the repository), then run the command again',
        }));
      }
      throw err;
    }
    this.#written = this.#clock.now().getTime();
    await this.#repo.storage.remove({ type: 'locks', name: old }).catch(() => undefined);
  }

  async release(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#refreshing;
    const id = this.#id;
    this.#id = undefined;
    if (id === undefined) return;
    try {
      await this.#repo.storage.remove({ type: 'locks', name: id });
    } catch (err) {
      if (!isNotFound(err)) throw new AlreadyLockedError(`could not remove lock ${id}: ${errorMessage(err)}`, { cause: err, hint: 'run "lifeboat unlock" later' });
    }
  }
}

/** Removes stale locks (or all with `all`); returns the removed IDs. */
export async function removeLocks(repo: Repository, opts: { all?: boolean; clock?: Clock; signal?: AbortSignal } = {}): Promise<string[]> {
  const now = (opts.clock ?? systemClock).now();
  const removed: string[] = [];
  for (const { id, lock } of await listLocks(repo, opts.signal)) {
    if (opts.all || isStale(lock, now)) {
      await repo.storage.remove({ type: 'locks', name: id }).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
      removed.push(id);
    }
  }
  return removed;
}
