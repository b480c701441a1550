import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemorySnapshotStore } from '../../test/support/memory-snapshot-store.ts';
import { runRetention } from './retention.ts';

const id = (s: string, n: number): string => `${s}${n}`.padEnd(64, '0');
const day = (d: number): Date => new Date(Date.UTC(2026, 0, d, 12));

function fixture() {
  const store = createMemorySnapshotStore();
  for (let d = 1; d <= 4; d++) {
    store.add({ id: id('a', d), source: 'db', date: day(d), hostname: 'h1' });
    store.add({ id: id('b', d), source: 'db', date: day(d), hostname: 'h2' });
    store.add({ id: id('c', d), source: 'cache', date: day(d), hostname: 'h1' });
  }
  return store;
}

test('each source\'s retention applies to its own snapshots, per host; a source without retention keeps all', async () => {
  const store = fixture();
  const r = await runRetention(store, [{ name: 'db', retention: { keep_last: 2 } }, { name: 'cache' }], { now: day(5) });
  assert.deepEqual(r.removed.sort(), [id('a', 1), id('a', 2), id('b', 1), id('b', 2)]);
  assert.deepEqual(r.decisions.map((d) => [d.source, d.keep.length, d.remove.length, d.policy === null]), [
    ['db', 2, 2, false], ['db', 2, 2, false], ['cache', 4, 0, true],
  ]);
  assert.deepEqual(store.snapshots.map((s) => s.id).sort(), [id('a', 3), id('a', 4), id('b', 3), id('b', 4), ...[1, 2, 3, 4].map((d) => id('c', d))].sort());
});

test('a dry run removes nothing', async () => {
  const store = fixture();
  const r = await runRetention(store, [{ name: 'db', retention: { keep_last: 1 } }], { now: day(5), dryRun: true });
  assert.equal(r.removed.length, 6);
  assert.equal(store.snapshots.length, 12);
});
