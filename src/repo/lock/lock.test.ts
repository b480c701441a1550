// Repository locks against a real local repository: shared and exclusive conflicts, the
// holder named in the error, staleness by age and by a dead process on this host, refresh
// and release, `unlock`'s removal, and the race two processes run when they lock at once.
// restic 0.14 is the oracle for the
// lock files themselves: it must refuse to back up while lifeboat holds an exclusive lock
// (skipped without restic, unless REQUIRE_SERVERS=1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyLockedError } from '../../core/errors.ts';
import { createLocalStorage } from '../../storage/local/local-storage.ts';
import { FixedClock } from '../../util/clock.ts';
import { formatDate } from '../../util/time.ts';
import { Repository, currentUser } from '../repository.ts';
import { Lock, REFRESH_EVERY_MS, STALE_AFTER_MS, isStale, listLocks, removeLocks } from './lock.ts';

const PW = 'lock test password';
const haveRestic = spawnSync('restic', ['version'], { encoding: 'utf8' }).status === 0;
const resticSkip = !haveRestic && process.env.REQUIRE_SERVERS !== '1' ? 'restic is not on PATH' : false;

let tmp = '';
let n = 0;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lifeboat-lock-'));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function freshRepo(): Promise<{ dir: string; repo: Repository }> {
  const dir = join(tmp, `r${n++}`);
  await Repository.init(createLocalStorage(dir), PW, { scrypt: { N: 1024, r: 8, p: 1 } });
  return { dir, repo: await Repository.open(createLocalStorage(dir), PW) };
}

/** A lock file as another process would leave it. */
async function plantLock(repo: Repository, doc: { exclusive: boolean; hostname?: string; pid?: number; time?: Date }): Promise<string> {
  return repo.saveUnpacked('locks', {
    time: formatDate(doc.time ?? new Date()),
    exclusive: doc.exclusive,
    hostname: doc.hostname ?? 'elsewhere.example',
    username: 'someone',
    pid: doc.pid ?? 4242,
  });
}

const lockFiles = async (dir: string): Promise<string[]> => (await readdir(join(dir, 'locks'))).sort();

test('shared locks coexist; an exclusive lock excludes and is excluded, naming the holder', async () => {
  const { dir, repo } = await freshRepo();
  const a = await Lock.acquire(repo, false, { settleMs: 0 });
  const b = await Lock.acquire(repo, false, { settleMs: 0 });
  assert.equal((await lockFiles(dir)).length, 2);
  await assert.rejects(Lock.acquire(repo, true, { settleMs: 0 }), (err: unknown) => {
    assert.ok(err instanceof AlreadyLockedError);
    assert.equal(err.code, 'repository_locked');
    const me = currentUser();
    assert.match(err.message, new RegExp(`locked shared by ${me.username}@${me.hostname} \\(pid ${process.pid}, 0m ago\\)`));
    assert.match(err.hint ?? '', /lifeboat unlock/);
    return true;
  });
  // The refused attempt leaves no file behind.
  assert.equal((await lockFiles(dir)).length, 2);
  await a.release();
  await b.release();
  assert.deepEqual(await lockFiles(dir), []);

  const x = await Lock.acquire(repo, true, { settleMs: 0 });
  await assert.rejects(Lock.acquire(repo, false, { settleMs: 0 }), /locked exclusively by /);
  await assert.rejects(Lock.acquire(repo, true, { settleMs: 0 }), AlreadyLockedError);
  await x.release();
  const y = await Lock.acquire(repo, true, { settleMs: 0 });
  await y.release();
});

test('a lock older than 30 minutes, or left by a dead process on this host, is stale; one on another host is not', async () => {
  const { dir, repo } = await freshRepo();
  const now = new Date('2026-03-01T12:00:00Z');
  const clock = new FixedClock(now);
  const host = currentUser().hostname;
  // A pid far above any pid_max in use: no such process.
  const deadPid = 2 ** 30 - 7;
  const old = await plantLock(repo, { exclusive: true, time: new Date(now.getTime() - STALE_AFTER_MS - 60_000) });
  const dead = await plantLock(repo, { exclusive: true, hostname: host, pid: deadPid, time: now });
  const docs = new Map((await listLocks(repo)).map((l) => [l.id, l.lock]));
  assert.equal(isStale(docs.get(old)!, now), true);
  assert.equal(isStale(docs.get(dead)!, now), true);
  // Neither blocks an exclusive lock.
  const mine = await Lock.acquire(repo, true, { settleMs: 0, clock });
  await mine.release();

  // A recent lock of a process on another host: its pid cannot be probed from here.
  const remote = await plantLock(repo, { exclusive: false, pid: deadPid, time: new Date(now.getTime() - 29 * 60_000) });
  await assert.rejects(Lock.acquire(repo, true, { settleMs: 0, clock }), (err: unknown) => {
    assert.ok(err instanceof AlreadyLockedError);
    assert.match(err.message, new RegExp(`locked shared by someone@elsewhere\\.example \\(pid ${deadPid}, 29m ago\\)`));
    assert.equal(err.data?.lockId, remote);
    return true;
  });
  // Two minutes later it is older than 30 minutes.
  clock.advance(2 * 60_000);
  const later = await Lock.acquire(repo, true, { settleMs: 0, clock });
  await later.release();

  // unlock removes the stale ones only; --remove-all removes the rest.
  const live = await plantLock(repo, { exclusive: false, time: clock.now() });
  const removed = await removeLocks(repo, { clock });
  assert.deepEqual(removed.sort(), [dead, old, remote].sort());
  assert.deepEqual(await lockFiles(dir), [live]);
  assert.deepEqual(await removeLocks(repo, { all: true, clock }), [live]);
  assert.deepEqual(await lockFiles(dir), []);
});

test('refresh writes a new lock file with the current time and removes the old one', async () => {
  const { dir, repo } = await freshRepo();
  const clock = new FixedClock('2026-03-01T12:00:00Z');
  const lock = await Lock.acquire(repo, false, { settleMs: 0, clock });
  const first = lock.id;
  assert.deepEqual(await lockFiles(dir), [first]);
  clock.advance(REFRESH_EVERY_MS);
  await lock.refresh();
  assert.notEqual(lock.id, first);
  assert.deepEqual(await lockFiles(dir), [lock.id]);
  const [{ lock: doc }] = await listLocks(repo);
  assert.equal(doc?.time, formatDate(clock.now()));
  assert.equal(doc?.pid, process.pid);
  await lock.release();
  assert.deepEqual(await lockFiles(dir), []);
  // Releasing twice is harmless.
  await lock.release();
});

test('two processes locking exclusively at the same moment: at most one gets the lock', async () => {
  const { dir, repo: a } = await freshRepo();
  const b = await Repository.open(createLocalStorage(dir), PW);
  // Both see no lock, both write theirs, and each then sees the other's after the settle time.
  const settled = await Promise.allSettled([Lock.acquire(a, true, { settleMs: 50 }), Lock.acquire(b, true, { settleMs: 50 })]);
  const won = settled.filter((s) => s.status === 'fulfilled');
  assert.ok(won.length <= 1, 'two exclusive locks were granted');
  for (const s of settled) if (s.status === 'rejected') assert.ok(s.reason instanceof AlreadyLockedError);
  for (const s of won) await (s as PromiseFulfilledResult<Lock>).value.release();
  assert.deepEqual(await lockFiles(dir), []);
});

test('restic refuses to back up while lifeboat holds an exclusive lock', { skip: resticSkip }, async () => {
  const { dir, repo } = await freshRepo();
  const src = join(tmp, `src${n++}`);
  await writeFile(src, 'some bytes\n');
  const restic = (): ReturnType<typeof spawnSync> =>
    spawnSync('restic', ['-r', dir, '--no-cache', 'backup', src], { encoding: 'utf8', env: { ...process.env, RESTIC_PASSWORD: PW } });
  const lock = await Lock.acquire(repo, true, { settleMs: 0 });
  const refused = restic();
  assert.notEqual(refused.status, 0);
  assert.match(String(refused.stderr), /locked exclusively/);
  await lock.release();
  const ok = restic();
  assert.equal(ok.status, 0, String(ok.stderr));
});

test('retryForMs waits for a held lock to be released, then takes it (restic --retry-lock)', async () => {
  const { repo } = await freshRepo();
  const held = await Lock.acquire(repo, true, { settleMs: 0 });
  const waits: string[] = [];
  setTimeout(() => void held.release(), 300);
  const started = Date.now();
  const lock = await Lock.acquire(repo, true, { settleMs: 0, retryForMs: 10_000, retryDelayMs: 50, onWait: (e) => waits.push(e.message) });
  assert.ok(Date.now() - started >= 250, 'it took the lock before the holder released it');
  assert.equal(waits.length, 1);
  assert.match(waits[0] as string, /is locked exclusively by/);
  await lock.release();
  assert.deepEqual(await listLocks(repo), []);
});

test('retryForMs gives up with the locked error, saying how long it waited; without it there is no retry', async () => {
  const { repo } = await freshRepo();
  const held = await Lock.acquire(repo, true, { settleMs: 0 });
  try {
    await assert.rejects(Lock.acquire(repo, false, { settleMs: 0, retryForMs: 1000, retryDelayMs: 50 }), (e: unknown) =>
      e instanceof AlreadyLockedError && / \(gave up after waiting 1s\)$/.test(e.message) && e.data.pid === process.pid);
    let waited = false;
    await assert.rejects(Lock.acquire(repo, false, { settleMs: 0, onWait: () => (waited = true) }), (e: unknown) => e instanceof AlreadyLockedError && !/gave up/.test(e.message));
    assert.equal(waited, false);
    assert.equal((await listLocks(repo)).length, 1, 'the failed tries left no lock behind');
  } finally {
    await held.release();
  }
});
