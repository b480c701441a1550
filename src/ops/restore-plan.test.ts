import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError, UsageError } from '../core/errors.ts';
import type { Source } from '../core/source.ts';
import { createMemorySnapshotStore } from '../../test/support/memory-snapshot-store.ts';
import { planRestore } from './restore-plan.ts';
import type { RestoreCandidate } from './restore-plan.ts';

const fake = (name: string): Source => ({ name, type: 'fake', backup: async () => ({ fingerprint: {}, commands: [] }), restore: async () => undefined, fingerprint: async () => ({}) });
const id = (n: number): string => `c${n}`.padEnd(64, '0');
const day = (d: number): Date => new Date(Date.UTC(2026, 0, d));

function fixture() {
  const store = createMemorySnapshotStore();
  store.add({ id: id(1), source: 'db', date: day(1), hostname: 'h1' });
  store.add({ id: id(2), source: 'db', date: day(2), hostname: 'h2' });
  store.add({ id: id(3), source: 'db', date: day(3), hostname: 'h1', isSafety: true });
  store.add({ id: id(4), source: 'cache', date: day(2), hostname: 'h1' });
  const candidates: RestoreCandidate[] = [
    { source: fake('db'), dependsOn: [] },
    { source: fake('cache'), dependsOn: ['db'], to: '/srv/cache-copy' },
    { source: fake('files'), dependsOn: [] },
  ];
  return { store, candidates };
}

test('the plan takes each source\'s latest backup, never a safety snapshot, in the given order, and names sources without one', async () => {
  const { store, candidates } = fixture();
  const plan = await planRestore(store, candidates, {});
  assert.deepEqual(plan.items.map((p) => [p.source.name, p.snapshotId, p.to, p.safetySnapshot, p.dependsOn]), [
    ['db', id(2), undefined, true, []],
    ['cache', id(4), '/srv/cache-copy', false, ['db']],
  ]);
  assert.deepEqual(plan.missing, ['files']);
  assert.equal(plan.snapshots.get(id(2))?.hostname, 'h2');
});

test('--at, --host and --no-safety-snapshot narrow the plan', async () => {
  const { store, candidates } = fixture();
  assert.equal((await planRestore(store, candidates, { at: day(1) })).items[0]?.snapshotId, id(1));
  assert.equal((await planRestore(store, candidates, { hosts: ['h1'] })).items[0]?.snapshotId, id(1));
  assert.equal((await planRestore(store, candidates, { noSafetySnapshot: true })).items[0]?.safetySnapshot, false);
});

test('a safety snapshot is restored only by its ID, and an unknown or ambiguous ID is a coded error', async () => {
  const { store, candidates } = fixture();
  const plan = await planRestore(store, candidates, { snapshot: 'c3' });
  assert.deepEqual(plan.items.map((p) => p.snapshotId), [id(3)]);
  assert.deepEqual(plan.missing, []);
  await assert.rejects(planRestore(store, candidates, { snapshot: 'ffff' }), NotFoundError);
  await assert.rejects(planRestore(store, candidates, { snapshot: 'c' }), (e: unknown) => e instanceof NotFoundError && /ambiguous/.test(e.message));
  await assert.rejects(planRestore(store, candidates.slice(1), { snapshot: id(1) }), UsageError);
});

test('--to needs exactly one source', async () => {
  const { store, candidates } = fixture();
  await assert.rejects(planRestore(store, candidates, { to: '/tmp/x' }), (e: unknown) => e instanceof UsageError && e.hint === 'add --only NAME');
  const plan = await planRestore(store, candidates.slice(0, 1), { to: '/tmp/x' });
  assert.deepEqual(plan.items.map((p) => [p.to, p.safetySnapshot]), [['/tmp/x', false]]);
});
