import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ArtifactSink, Source, SourceContext } from '../core/source.ts';
import { runBackup } from './backup-run.ts';
import type { BackupRunDeps } from './backup-run.ts';

function fakeSource(name: string, onBackup: () => Promise<void> = async () => undefined): Source {
  return {
    name,
    type: 'fake',
    async backup() {
      await onBackup();
      return { fingerprint: {}, commands: [] };
    },
    restore: async () => undefined,
    fingerprint: async () => ({}),
  };
}

function deps(log: string[], signal: AbortSignal, failHook?: string): BackupRunDeps {
  return {
    openSession: () => ({ sink: {} as ArtifactSink, commit: async () => ({ snapshotId: 'abcdef0123', bytesRead: 10, bytesAdded: 5 }) }),
    async runHooks(commands, _what, hookSignal) {
      for (const cmd of commands) {
        log.push(`${cmd}${hookSignal.aborted ? ' (aborted signal)' : ''}`);
        if (cmd === failHook) throw new Error(`${cmd} failed`);
      }
    },
    context: (): SourceContext => ({ signal, log: { info: () => undefined, warn: () => undefined } }),
    now: () => 0,
  };
}

const hooks = { before: ['stop-a', 'stop-b'], after: ['start-b', 'start-a'] };

test('a failing before-hook still runs every after-hook', async () => {
  const log: string[] = [];
  const signal = new AbortController().signal;
  const [r] = await runBackup([{ source: fakeSource('db'), hooks }], deps(log, signal, 'stop-b'), { concurrency: 1, signal });
  assert.equal(r?.status, 'failed');
  assert.deepEqual(log, ['stop-a', 'stop-b', 'start-b', 'start-a']);
});

test('a cancelled backup runs the after-hooks with a live signal and counts unfinished sources as skipped', async () => {
  const log: string[] = [];
  const ac = new AbortController();
  const slow = fakeSource('db', async () => {
    ac.abort();
    throw new Error('dump killed');
  });
  const results = await runBackup([{ source: slow, hooks }, { source: fakeSource('cache') }], deps(log, ac.signal), { concurrency: 1, signal: ac.signal });
  assert.deepEqual(results.map((r) => r.status), ['skipped', 'skipped']);
  assert.deepEqual(log, ['stop-a', 'stop-b', 'start-b', 'start-a']);
});

test('a saved snapshot whose after-hook fails keeps its snapshot ID in the result', async () => {
  const log: string[] = [];
  const signal = new AbortController().signal;
  const [r] = await runBackup([{ source: fakeSource('db'), hooks }], deps(log, signal, 'start-b'), { concurrency: 1, signal });
  assert.equal(r?.status, 'failed');
  assert.equal(r?.snapshot_id, 'abcdef0123');
  assert.match(r?.error ?? '', /snapshot abcdef01 saved, but start-b failed/);
  assert.deepEqual(log, ['stop-a', 'stop-b', 'start-b', 'start-a']);
});
