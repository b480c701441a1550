// Opening a repository for a command, against a real local repository: the index loads while
// the lock is taken, and when both fail, the lock is the error reported (with nothing of ours
// left in locks/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyLockedError, LifeboatError } from '../core/errors.ts';
import { Repository } from '../repo/repository.ts';
import { removeLocks } from '../repo/lock/lock.ts';
import { createLocalStorage } from '../storage/local/local-storage.ts';
import { formatDate } from '../util/time.ts';
import { openRepositoryAt } from './open-repository.ts';

const PW = 'open test password';
let tmp = '';

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lifeboat-open-'));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const lockFiles = async (dir: string): Promise<string[]> => (await readdir(join(dir, 'locks'))).sort();

test('opening a repository: the index loads beside the lock, and a lock it cannot have is the error reported', async () => {
  const dir = join(tmp, 'repo');
  await Repository.init(createLocalStorage(dir), PW, { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await Repository.open(createLocalStorage(dir), PW);
  const opened = await openRepositoryAt(dir, PW, { lock: 'exclusive', env: {} });
  assert.ok(opened.lock?.id);
  assert.deepEqual(await lockFiles(dir), [opened.lock.id]);
  await opened.close();
  assert.deepEqual(await lockFiles(dir), []);

  // Another process holds an exclusive lock, and an index file is unreadable.
  const holder = await repo.saveUnpacked('locks', { time: formatDate(new Date()), exclusive: true, hostname: 'elsewhere.example', username: 'someone', pid: 4242 });
  await writeFile(join(dir, 'index', 'ab'.repeat(32)), 'not an index');
  await assert.rejects(openRepositoryAt(dir, PW, { lock: 'shared', env: {} }), (err: unknown) => {
    assert.ok(err instanceof AlreadyLockedError, String(err));
    return true;
  });
  assert.deepEqual(await lockFiles(dir), [holder]);
  // Without the other lock, the damaged index is the error, and no lock of ours is left behind.
  await removeLocks(repo, { all: true });
  await assert.rejects(openRepositoryAt(dir, PW, { lock: 'shared', env: {} }), (err: unknown) => {
    assert.ok(err instanceof LifeboatError && !(err instanceof AlreadyLockedError), String(err));
    assert.match(err.message, /index/);
    return true;
  });
  assert.deepEqual(await lockFiles(dir), []);
});
