// A lock that cannot be refreshed (a full disk): the run goes on while the lock is fresh, and
// once it would go stale before the next refresh, the repository writes no more index or
// snapshot files, since another process may take the lock for stale and prune.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LifeboatError } from '../../core/errors.ts';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { withFaults } from '../../storage/wrappers/faulty-storage.ts';
import { FixedClock } from '../../util/clock.ts';
import { Repository } from '../repository.ts';
import { Lock, REFRESH_EVERY_MS, STALE_AFTER_MS, listLocks } from './lock.ts';

test('a lock refresh that fails until the lock would go stale stops index and snapshot writes', async () => {
  const inner = createMemoryStorage();
  await Repository.init(inner, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  let full = false;
  const storage = withFaults(inner, {
    rules: [{ op: 'save', match: (h) => full && h.type === 'locks', fault: { kind: 'fail', retryable: false, code: 'storage_full' } }],
  });
  const repo = await Repository.open(storage, 'pw');
  const clock = new FixedClock('2026-01-01T00:00:00Z');
  const lock = await Lock.acquire(repo, false, { clock, settleMs: 0 });
  const first = lock.id;
  full = true;

  // One failed refresh: the lock is still fresh, writing goes on; the old lock file stays.
  clock.advance(REFRESH_EVERY_MS);
  await assert.rejects(lock.refresh(), (err: LifeboatError) => err.code === 'storage_full');
  assert.equal(lock.id, first);
  await repo.saveBlob('data', Buffer.from('still fine'));
  await repo.flush();

  // Refreshes keep failing until the lock would be stale before the next one.
  clock.advance(STALE_AFTER_MS - 2 * REFRESH_EVERY_MS);
  await assert.rejects(lock.refresh());
  const lost = (err: LifeboatError): boolean => err.code === 'lock_lost' && /could not be refreshed for 25 min/.test(err.message);
  await assert.rejects(repo.saveUnpacked('snapshots', { tree: 'x' }), lost);
  await assert.rejects(repo.saveBlob('data', Buffer.from('too late')), lost);

  // Release still removes the lock file.
  full = false;
  await lock.release();
  assert.deepEqual(await listLocks(repo), []);
});
