import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ArtifactReader, Source, SourceContext } from '../core/source.ts';
import { runRestore } from './restore-run.ts';
import type { PlannedRestore, RestoreRunDeps } from './restore-run.ts';

/** A store whose live data is one string; the "application" appends to it when it starts. */
interface Store {
  data: string;
  log: string[];
}

function fakeSource(name: string, store: Store, fail?: 'restore'): Source {
  return {
    name,
    type: 'fake',
    backup: async () => ({ fingerprint: { data: store.data }, commands: [] }),
    async restore(_reader, ctx) {
      store.log.push(`restore ${name}`);
      if (fail === 'restore') throw new Error('disk on fire');
      if (ctx.signal.aborted) throw new Error('cancelled');
      store.data = 'backup';
    },
    async fingerprint() {
      store.log.push(`fingerprint ${name}`);
      return { data: store.data };
    },
  };
}

const ctx = (signal: AbortSignal): SourceContext => ({ signal, log: { info: () => undefined, warn: () => undefined } });

function deps(store: Store, signal: AbortSignal, opts: { failHook?: string; safety?: 'fail'; onHook?: (cmd: string) => void } = {}): RestoreRunDeps & { hookSignals: Array<[string, boolean]> } {
  const hookSignals: Array<[string, boolean]> = [];
  return {
    hookSignals,
    openReader: async () => ({ reader: {} as ArtifactReader, fingerprint: { data: 'backup' } }),
    async runHooks(commands, _what, hookSignal) {
      for (const cmd of commands) {
        hookSignals.push([cmd, hookSignal.aborted]);
        store.log.push(`hook ${cmd}`);
        opts.onHook?.(cmd);
        if (cmd === 'start-app') store.data += '+written-on-start';
        if (cmd === opts.failHook) throw new Error(`hook ${cmd} failed`);
      }
    },
    async takeSafetySnapshot(p) {
      store.log.push(`safety ${p.source.name} of ${store.data}`);
      if (opts.safety === 'fail') throw new Error('repository full');
      return 'f00dfeed12345678';
    },
    context: () => ctx(signal),
    now: () => 0,
  };
}

const plan = (source: Source, extra: Partial<PlannedRestore> = {}): PlannedRestore => ({
  source, snapshotId: 'abc', dependsOn: [], hooks: { before: ['stop-app'], after: ['start-app'] }, ...extra,
});

test('fingerprints are compared before the after-hooks start an application that writes on start', async () => {
  const store: Store = { data: 'live', log: [] };
  const signal = new AbortController().signal;
  const [r] = await runRestore([plan(fakeSource('db', store))], deps(store, signal), { signal });
  assert.equal(r?.status, 'ok', r?.error);
  assert.deepEqual(store.log, ['hook stop-app', 'restore db', 'fingerprint db', 'hook start-app']);
  assert.equal(store.data, 'backup+written-on-start');
});

test('an in-place restore takes a safety snapshot before anything is stopped or replaced, and reports the undo command', async () => {
  const store: Store = { data: 'live', log: [] };
  const signal = new AbortController().signal;
  const [r] = await runRestore([plan(fakeSource('db', store), { safetySnapshot: true })], deps(store, signal), { signal });
  assert.equal(r?.status, 'ok');
  assert.deepEqual(store.log.slice(0, 3), ['safety db of live', 'hook stop-app', 'restore db']);
  assert.equal(r?.safety_snapshot_id, 'f00dfeed12345678');
  assert.equal(r?.undo, 'lifeboat restore --only db --snapshot f00dfeed');
});

test('no safety snapshot for a restore elsewhere (--to)', async () => {
  const store: Store = { data: 'live', log: [] };
  const signal = new AbortController().signal;
  const [r] = await runRestore([plan(fakeSource('db', store), { safetySnapshot: true, to: '/elsewhere' })], deps(store, signal), { signal });
  assert.equal(r?.status, 'ok');
  assert.equal(r?.safety_snapshot_id, undefined);
  assert.ok(!store.log.some((l) => l.startsWith('safety')));
});

test('a failed safety snapshot stops the restore before anything is stopped or touched, and names --no-safety-snapshot', async () => {
  const store: Store = { data: 'live', log: [] };
  const signal = new AbortController().signal;
  const [r] = await runRestore([plan(fakeSource('db', store), { safetySnapshot: true })], deps(store, signal, { safety: 'fail' }), { signal });
  assert.equal(r?.status, 'failed');
  assert.match(r?.error ?? '', /safety snapshot .*repository full.*--no-safety-snapshot/);
  assert.deepEqual(store.log, ['safety db of live']);
});

test('a failed restore still runs the after-hooks and says the data was replaced, with the undo command', async () => {
  const store: Store = { data: 'live', log: [] };
  const signal = new AbortController().signal;
  const results = await runRestore(
    [plan(fakeSource('db', store, 'restore'), { safetySnapshot: true }), { ...plan(fakeSource('app', store)), dependsOn: ['db'] }],
    deps(store, signal),
    { signal },
  );
  assert.equal(results[0]?.status, 'failed');
  assert.match(results[0]?.error ?? '', /disk on fire; the live data may already be changed; to undo, run "lifeboat restore --only db --snapshot f00dfeed"/);
  assert.equal(store.log.at(-1), 'hook start-app');
  assert.equal(results[1]?.status, 'skipped');
  assert.match(results[1]?.error ?? '', /depends on db/);
});

test('a failing before-hook still runs every after-hook, even when one of them fails', async () => {
  const store: Store = { data: 'live', log: [] };
  const signal = new AbortController().signal;
  const p = plan(fakeSource('db', store), { hooks: { before: ['stop-worker', 'stop-app'], after: ['start-app', 'start-worker'] } });
  const [r] = await runRestore([p], deps(store, signal, { failHook: 'stop-app' }), { signal });
  assert.equal(r?.status, 'failed');
  assert.deepEqual(store.log, ['hook stop-worker', 'hook stop-app', 'hook start-app', 'hook start-worker']);
  const [r2] = await runRestore([p], deps({ data: 'live', log: [] }, signal, { failHook: 'start-app' }), { signal });
  assert.equal(r2?.status, 'failed');
  assert.match(r2?.error ?? '', /restored and verified, but hook start-app failed/);
});

test('a cancellation during the restore still runs the after-hooks, with a signal that is not aborted', async () => {
  const store: Store = { data: 'live', log: [] };
  const ac = new AbortController();
  const d = deps(store, ac.signal, { onHook: (cmd) => cmd === 'stop-app' && ac.abort() });
  // The abort comes while the before-hook runs, after the safety snapshot.
  const results = await runRestore([plan(fakeSource('db', store), { safetySnapshot: true }), plan(fakeSource('cache', store))], d, { signal: ac.signal });
  assert.deepEqual(d.hookSignals, [['stop-app', false], ['start-app', false]]);
  assert.equal(results[0]?.status, 'skipped');
  assert.equal(results[1]?.status, 'skipped');
  assert.ok(!store.log.includes('restore db'));
});

/** A source whose restore waits until the test releases it, recording when it started and ended. */
function gatedSource(name: string, events: string[]): { source: Source; release: () => void; started: Promise<void> } {
  let release!: () => void;
  let markStarted!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const started = new Promise<void>((r) => (markStarted = r));
  const source: Source = {
    name,
    type: 'fake',
    backup: async () => ({ fingerprint: {}, commands: [] }),
    async restore() {
      events.push(`start ${name}`);
      markStarted();
      await gate;
      events.push(`end ${name}`);
    },
    fingerprint: async () => ({ data: 'backup' }),
  };
  return { source, release, started };
}

test('independent sources restore at the same time; a dependent starts only after its dependency finished', async () => {
  const events: string[] = [];
  const a = gatedSource('a', events);
  const b = gatedSource('b', events);
  const c = gatedSource('c', events);
  const ac = new AbortController();
  const d: RestoreRunDeps = { ...deps({ data: '', log: [] }, ac.signal), openReader: async () => ({ reader: {} as ArtifactReader, fingerprint: { data: 'backup' } }) };
  const run = runRestore([
    { source: a.source, snapshotId: 's1', dependsOn: [] },
    { source: b.source, snapshotId: 's2', dependsOn: [] },
    { source: c.source, snapshotId: 's3', dependsOn: ['a'] },
  ], d, { signal: ac.signal, concurrency: 2 });
  // Both independent sources are under way before either finishes.
  await Promise.all([a.started, b.started]);
  assert.deepEqual(events, ['start a', 'start b']);
  b.release();
  // b's slot is free, but c waits for a.
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(events, ['start a', 'start b', 'end b']);
  a.release();
  await c.started;
  c.release();
  const results = await run;
  assert.deepEqual(events, ['start a', 'start b', 'end b', 'end a', 'start c', 'end c']);
  assert.deepEqual(results.map((r) => [r.source, r.status]), [['a', 'ok'], ['b', 'ok'], ['c', 'ok']]);
});

test('concurrency 1 restores one source at a time, in plan order', async () => {
  const events: string[] = [];
  const a = gatedSource('a', events);
  const b = gatedSource('b', events);
  const ac = new AbortController();
  const run = runRestore([
    { source: a.source, snapshotId: 's1', dependsOn: [] },
    { source: b.source, snapshotId: 's2', dependsOn: [] },
  ], deps({ data: '', log: [] }, ac.signal), { signal: ac.signal, concurrency: 1 });
  await a.started;
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(events, ['start a']);
  a.release();
  await b.started;
  b.release();
  assert.deepEqual((await run).map((r) => r.status), ['ok', 'ok']);
  assert.deepEqual(events, ['start a', 'end a', 'start b', 'end b']);
});
