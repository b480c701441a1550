import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RunCatalog } from './run-catalog.ts';

test('the catalog records runs with their timings, sizes, errors and report, and survives a reopen', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-catalog-'));
  try {
    const c = RunCatalog.open(dir);
    const a = c.start({ job: 'backup:db', kind: 'backup', target: 'db', trigger: 'schedule', attempt: 1, at: new Date('2026-06-01T01:00:00Z') });
    c.finish(a, { status: 'ok', at: new Date('2026-06-01T01:00:42Z'), bytesRead: 1000, bytesAdded: 10, snapshotId: 'ab'.repeat(32), report: { status: 'ok', sources: [] } });
    const b = c.start({ job: 'backup:db', kind: 'backup', target: 'db', trigger: 'retry', attempt: 2, at: new Date('2026-06-01T02:00:00Z') });
    c.finish(b, { status: 'failed', at: new Date('2026-06-01T02:00:01Z'), error: 'app-db: cannot connect', errorCode: 'source', errorClass: 'failed' });
    c.skipped({ job: 'backup:db', kind: 'backup', target: 'db', reason: 'overlap', at: new Date('2026-06-01T03:00:00Z') });
    const running = c.start({ job: 'prune', kind: 'prune', trigger: 'manual', attempt: 1, at: new Date('2026-06-01T04:00:00Z') });
    c.close();

    assert.equal((await stat(path.join(dir, 'daemon.db'))).mode & 0o777, 0o600);
    const again = RunCatalog.open(dir, new Date('2026-06-01T05:00:00Z'));
    const [last, ...rest] = again.list();
    assert.equal(last?.id, running);
    assert.equal(last?.status, 'failed', 'a run the dead daemon left running is closed as failed');
    assert.equal(last?.error_code, 'interrupted');
    assert.deepEqual(rest.map((r) => [r.status, r.trigger, r.skip_reason]), [['skipped', 'schedule', 'overlap'], ['failed', 'retry', null], ['ok', 'schedule', null]]);
    const ok = again.get(a);
    assert.equal(ok?.duration_ms, 42_000);
    assert.equal(ok?.bytes_added, 10);
    assert.deepEqual(ok?.report, { status: 'ok', sources: [] });
    assert.equal(again.lastSuccess('backup', 'db')?.id, a);
    assert.equal(again.lastFinished('backup:db')?.id, b);
    assert.equal(again.lastScheduledStart('backup:db')?.toISOString(), '2026-06-01T03:00:00.000Z');
    assert.equal(again.list({ job: 'prune' }).length, 1);
    again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a new state directory gets its history from the repository snapshots, once', () => {
  const c = RunCatalog.open(':memory:');
  const n = c.rebuildFromSnapshots([
    { id: '1'.repeat(64), time: new Date('2026-05-30T01:00:00Z'), source: 'db' },
    { id: '2'.repeat(64), time: new Date('2026-05-31T01:00:00Z'), source: 'db' },
    { id: '3'.repeat(64), time: new Date('2026-05-31T02:00:00Z'), source: 'files' },
  ]);
  assert.equal(n, 3);
  assert.equal(c.lastSuccess('backup', 'db')?.snapshot_id, '2'.repeat(64));
  assert.equal(c.lastScheduledStart('backup:files')?.toISOString(), '2026-05-31T02:00:00.000Z');
  assert.equal(c.rebuildFromSnapshots([{ id: '4'.repeat(64), time: new Date(), source: 'db' }]), 0, 'only into an empty catalog');
  c.close();
});

test('old rows are dropped at open: skipped slots after 30 days, runs after 400, rebuilt history kept', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeboat-catalog-'));
  try {
    const c = RunCatalog.open(dir, new Date('2025-01-01T00:00:00Z'));
    c.rebuildFromSnapshots([{ id: '9'.repeat(64), time: new Date('2025-01-01T00:00:00Z'), source: 'db' }]);
    const old = c.start({ job: 'backup:db', kind: 'backup', target: 'db', trigger: 'schedule', attempt: 1, at: new Date('2025-01-02T00:00:00Z') });
    c.finish(old, { status: 'ok', at: new Date('2025-01-02T00:01:00Z') });
    c.skipped({ job: 'backup:db', kind: 'backup', target: 'db', reason: 'overlap', at: new Date('2026-05-01T00:00:00Z') });
    c.skipped({ job: 'backup:db', kind: 'backup', target: 'db', reason: 'overlap', at: new Date('2026-05-25T00:00:00Z') });
    const recent = c.start({ job: 'backup:db', kind: 'backup', target: 'db', trigger: 'schedule', attempt: 1, at: new Date('2026-05-30T00:00:00Z') });
    c.finish(recent, { status: 'ok', at: new Date('2026-05-30T00:01:00Z') });
    c.close();
    const again = RunCatalog.open(dir, new Date('2026-06-01T00:00:00Z'));
    assert.deepEqual(again.list().map((r) => [r.started_at.slice(0, 10), r.trigger, r.status]), [
      ['2026-05-30', 'schedule', 'ok'], ['2026-05-25', 'schedule', 'skipped'], ['2025-01-01', 'rebuild', 'ok'],
    ]);
    again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
