import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Source } from '../core/source.ts';
import { createMemorySnapshotStore } from '../../test/support/memory-snapshot-store.ts';
import { runVerify } from './verify-run.ts';
import type { RepositoryCheckSummary, VerifyDeps } from './verify-run.ts';

const cleanCheck: RepositoryCheckSummary = { ok: true, errors: 0, warnings: 0, packs_read: 1, messages: [] };

function source(name: string, calls: string[]): Source {
  return {
    name,
    type: 'fake',
    backup: async () => ({ fingerprint: {}, commands: [] }),
    restore: async () => undefined,
    fingerprint: async () => ({}),
    async verify() {
      calls.push(name);
      return { checks: [`${name}: parses`], problems: [] };
    },
  };
}

function setup() {
  const store = createMemorySnapshotStore();
  const good = store.add({ id: 'a'.repeat(64), source: 'db', date: new Date(1) }, { 'db.dump': 'rows' });
  const bad = store.add({ id: 'b'.repeat(64), source: 'cache', date: new Date(2) }, { 'dump.rdb': 'keys' });
  store.corrupt(bad.id, 'dump.rdb');
  const deps: VerifyDeps = {
    openReader: (p) => store.openReader(p.snapshotId === good.id ? good : bad),
    context: () => ({ signal: new AbortController().signal, log: { info: () => undefined, warn: () => undefined } }),
    now: () => 0,
  };
  return { good, bad, deps };
}

test('a damaged artifact fails its source, names the artifact, and skips the source\'s own checks; the others still run', async () => {
  const { good, bad, deps } = setup();
  const calls: string[] = [];
  const done: string[] = [];
  const r = await runVerify([{ source: source('db', calls), snapshotId: good.id }, { source: source('cache', calls), snapshotId: bad.id }], cleanCheck, deps, { onSourceDone: (s) => done.push(s.source) });
  assert.equal(r.status, 'failed');
  assert.deepEqual(done, ['db', 'cache']);
  assert.deepEqual(calls, ['db']);
  assert.deepEqual(r.sources.map((s) => s.status), ['ok', 'failed']);
  assert.match(r.sources[1]?.problems[0] ?? '', /^dump\.rdb: /);
});

test('a repository check with errors fails the run even when every source is sound', async () => {
  const { good, deps } = setup();
  const r = await runVerify([{ source: source('db', []), snapshotId: good.id }], { ...cleanCheck, ok: false, errors: 1 }, deps);
  assert.deepEqual([r.status, r.sources[0]?.status], ['failed', 'ok']);
});
