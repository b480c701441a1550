import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScratchTarget, Source } from '../core/source.ts';
import { createMemorySnapshotStore } from '../../test/support/memory-snapshot-store.ts';
import { drillVerdict, runDrill } from './drill-run.ts';
import type { DrillDeps } from './drill-run.ts';

function drillSource(log: string[], behaviour: { failRestore?: boolean; failCleanup?: boolean; rows?: number }): Source {
  return {
    name: 'db',
    type: 'fake',
    backup: async () => ({ fingerprint: {}, commands: [] }),
    async restore(reader, _ctx, opts) {
      for await (const c of reader.open('app.dump')) log.push(`read ${c.length}`);
      if (behaviour.failRestore) throw new Error('pg_restore failed');
      log.push(`restored into ${opts?.to}`);
    },
    fingerprint: async () => ({ rows: behaviour.rows ?? 3 }),
    async scratchTarget(): Promise<ScratchTarget> {
      log.push('scratch');
      return {
        to: 'scratch-db',
        description: 'database scratch-db',
        async cleanup() {
          log.push('cleanup');
          if (behaviour.failCleanup) throw new Error('DROP DATABASE failed');
        },
      };
    },
  };
}

async function drill(behaviour: Parameters<typeof drillSource>[1]) {
  const store = createMemorySnapshotStore();
  const snap = store.add({ id: 'd'.repeat(64), source: 'db', date: new Date(1000) }, { 'app.dump': 'dump bytes' }, { rows: 3 });
  const log: string[] = [];
  const deps: DrillDeps = {
    async openReader() {
      const reader = await store.openReader(snap);
      return { reader, fingerprint: reader.manifest.fingerprint };
    },
    context: () => ({ signal: new AbortController().signal, log: { info: () => undefined, warn: () => undefined } }),
    now: () => 61_000,
  };
  const [r] = await runDrill([{ source: drillSource(log, behaviour), snapshotId: snap.id, snapshotTime: snap.date, rpoMs: 30_000 }], deps, { signal: new AbortController().signal });
  return { r: r as NonNullable<typeof r>, log };
}

test('a drill restores into the scratch target, compares fingerprints and judges the RPO, then cleans up', async () => {
  const { r, log } = await drill({});
  assert.deepEqual(log, ['scratch', 'read 10', 'restored into scratch-db', 'cleanup']);
  assert.equal(r.status, 'fail');
  assert.equal(r.rpo_ms, 60_000);
  assert.match(r.cause ?? '', /over the RPO target/);
  assert.deepEqual(r.fingerprint_diff, []);
  assert.equal(r.cleanup, 'done');
});

test('a failed restore still removes the scratch target; a failed cleanup fails the drill and says so', async () => {
  const failed = await drill({ failRestore: true });
  assert.deepEqual(failed.log.slice(-1), ['cleanup']);
  assert.equal(failed.r.status, 'fail');
  assert.equal(failed.r.cleanup, 'done');
  assert.match(failed.r.cause ?? '', /pg_restore failed/);
  const dirty = await drill({ failCleanup: true, rows: 4 });
  assert.equal(dirty.r.cleanup, 'failed');
  assert.deepEqual(dirty.r.fingerprint_diff, ['rows: expected 3, got 4']);
  assert.match(dirty.r.cause ?? '', /scratch target not removed: DROP DATABASE failed/);
});

test('a drill passes only when every source passed; a skipped source proved nothing', async () => {
  const { r } = await drill({});
  const pass = { ...r, status: 'pass' as const };
  assert.equal(drillVerdict([pass, pass]), 'pass');
  assert.equal(drillVerdict([pass, { ...r, status: 'skipped' }]), 'fail');
  assert.equal(drillVerdict([pass, r]), 'fail');
});
