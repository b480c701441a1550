/**
 * The daemon over a day of fake time, against a real repository and real sources (a files
 * source and a command source): the expected runs at the expected times, a lock held by
 * another process retried until it is gone, an injected failure alerted once and its recovery
 * once, an rpo breach alerted as overdue and recovered, and nothing alerted for success.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FixedClock } from '../util/clock.ts';
import { initRepositoryAt, openRepositoryAt } from '../app/open-repository.ts';
import type { OpenedRepository } from '../app/open-repository.ts';
import { openStack } from '../app/stack.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { Daemon } from './daemon.ts';

const PW = 'daemon-day-pw';
const MIN = 60_000;

test('a day of fake time: expected runs, a locked retry, one failure and one overdue alert, each with its recovery', async () => {
  const tmp = await tempDir('daemon-day');
  const docs = path.join(tmp.path, 'docs');
  const app = path.join(tmp.path, 'app');
  await mkdir(docs);
  await mkdir(app);
  await writeFile(path.join(docs, 'runbook.md'), '# runbook\n');
  const repo = path.join(tmp.path, 'repo');
  // Cheap key derivation: every run opens the repository.
  await initRepositoryAt(`local:${repo}`, PW, { scrypt: { N: 1024, r: 8, p: 1 } });
  await initRepositoryAt(`local:${tmp.path}/offsite`, PW, { scrypt: { N: 1024, r: 8, p: 1 } });
  const cfg = path.join(tmp.path, 'lifeboat.yml');
  await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
copies:
  - { repository: { url: ./offsite, password: { env: LB_PW } }, schedule: "0 14 * * *" }
sources:
  docs:
    type: files
    paths: [${docs}]
    schedule: "0 */2 * * *"
    retention: { keep_last: 3 }
  app:
    type: command
    backup_command: "test -f ${app}/data.txt && cat ${app}/data.txt"
    restore_command: "cat > /dev/null"
    schedule: "0 */6 * * *"
    rpo: 8h
notifications:
  - { type: webhook, url: "http://hooks.invalid/lifeboat" }
daemon:
  time_zone: UTC
  verify: { schedule: "0 3 * * *" }
  prune: { schedule: "30 4 * * *" }
  check: { schedule: "0 5 * * *", read_data_subset: 50% }
  drill: { schedule: "0 13 * * *" }
`);
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const sent: Array<{ at: string; event: string; subject: string }> = [];
  const fakeFetch = (async (_url: string | URL | Request, init?: RequestInit) => {
    const a = JSON.parse(String(init?.body)) as { event: string; subject: string };
    sent.push({ at: clock.now().toISOString().slice(11, 16), event: a.event, subject: a.subject });
    return new Response('ok');
  }) as typeof fetch;
  const log = { info: () => undefined, warn: () => undefined };
  const signal = new AbortController().signal;
  const env = { LB_PW: PW, HOME: tmp.path, PATH: process.env.PATH };
  const stack = await openStack({ configFile: cfg, env, signal, log });
  const daemon = new Daemon({ stack, stackOptions: { configFile: cfg, env, signal, log }, clock, fetch: fakeFetch, probeMs: 60 * MIN });
  let held: OpenedRepository | undefined;
  const events: Array<{ type: string; line?: string }> = [];
  daemon.subscribe((e) => events.push(e as { type: string }));
  try {
    await daemon.watch();
    for (let m = 1; m <= 24 * 60; m++) {
      clock.advance(MIN);
      const hhmm = clock.now().toISOString().slice(11, 16);
      if (hhmm === '09:00') await writeFile(path.join(app, 'data.txt'), 'app data\n'); // the injected failure is fixed
      if (hhmm === '15:30') held = await openRepositoryAt(`local:${repo}`, PW, { lock: 'exclusive', loadIndex: false, env });
      if (hhmm === '16:07') await held?.close();
      daemon.tick();
      await daemon.idle();
      if (m % 5 === 0) await daemon.watch();
    }
    await daemon.idle();
    const runs = daemon.runs({ limit: 1000 }).reverse();
    const of = (job: string) => runs.filter((r) => r.job === job).map((r) => `${r.started_at.slice(11, 16)} ${r.status}${r.trigger === 'schedule' ? '' : ` ${r.trigger}`}`);
    assert.deepEqual(of('backup:app'), ['06:00 failed', '12:00 ok', '18:00 ok', '00:00 ok']);
    assert.deepEqual(of('backup:docs'), [
      '02:00 ok', '04:00 ok', '06:00 ok', '08:00 ok', '10:00 ok', '12:00 ok', '14:00 ok',
      '16:00 failed', '16:05 failed retry', '16:10 ok retry', '18:00 ok', '20:00 ok', '22:00 ok', '00:00 ok',
    ]);
    assert.equal(runs.find((r) => r.job === 'backup:docs' && r.status === 'failed')?.error_class, 'locked');
    assert.deepEqual(of('verify'), ['03:00 ok']);
    // What /api/v1/events streams: every run started and finished, with its log lines between.
    assert.equal(events.filter((e) => e.type === 'run_started').length, runs.length);
    assert.equal(events.filter((e) => e.type === 'run_finished').length, runs.length);
    assert.ok(events.some((e) => e.type === 'run_log' && /docs: ok, \d+ bytes read/.test(e.line ?? '')));
    assert.equal(events.filter((e) => e.type === 'alert').length, 4);
    assert.deepEqual(of('prune'), ['04:30 ok']);
    assert.deepEqual(of('check'), ['05:00 ok']);
    assert.equal((runs.find((r) => r.job === 'check')?.report as { report: { packs_read: number } }).report.packs_read > 0, true, 'the check read data');
    assert.deepEqual(of('drill'), ['13:00 ok']);
    assert.deepEqual(of('copy:0'), ['14:00 ok']);
    assert.ok(daemon.sources().every((s) => s.last_drill?.status === 'pass' && s.last_drill.rto_ms !== null), 'each source\'s drill RTO is shown');
    // Alerts on transitions only; the locked docs backup recovered by retry, so it never alerted.
    assert.deepEqual(sent, [
      { at: '06:00', event: 'failure', subject: 'job:backup:app' },
      { at: '08:05', event: 'overdue', subject: 'rpo:app' },
      { at: '12:00', event: 'recovery', subject: 'job:backup:app' },
      { at: '12:00', event: 'recovery', subject: 'rpo:app' },
    ]);
    const app1 = daemon.sources().find((s) => s.name === 'app');
    assert.equal(app1?.state, 'ok');
    assert.equal(app1?.next_run, '2026-06-02T06:00:00.000Z');
    assert.deepEqual(app1?.history, [{ day: '2026-06-01', status: 'failed' }, { day: '2026-06-02', status: 'ok' }]);
  } finally {
    await held?.close();
    await daemon.stop();
    await tmp.cleanup();
  }
});

test('failures before a job starts alert too: a secret that cannot be read, then recovery once it is there', async () => {
  const tmp = await tempDir('daemon-prejob');
  const repo = path.join(tmp.path, 'repo');
  await initRepositoryAt(`local:${repo}`, PW, { scrypt: { N: 1024, r: 8, p: 1 } });
  const cfg = path.join(tmp.path, 'lifeboat.yml');
  await writeFile(cfg, `
repository: { url: ./repo, password: { file: ./repo-password } }
state_dir: ./state
sources:
  docs: { type: files, paths: [${tmp.path}/docs], schedule: "@every 1h" }
notifications:
  - { type: webhook, url: "http://hooks.invalid/lifeboat" }
`);
  await mkdir(path.join(tmp.path, 'docs'));
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const sent: Array<{ event: string; subject: string; title: string; message: string }> = [];
  const fakeFetch = (async (_u: string | URL | Request, init?: RequestInit) => (sent.push(JSON.parse(String(init?.body))), new Response('ok'))) as typeof fetch;
  const log = { info: () => undefined, warn: () => undefined };
  const signal = new AbortController().signal;
  const env = { HOME: tmp.path, PATH: process.env.PATH };
  const stack = await openStack({ configFile: cfg, env, signal, log });
  const daemon = new Daemon({ stack, stackOptions: { configFile: cfg, env, signal, log }, clock, fetch: fakeFetch, probeMs: MIN });
  try {
    await daemon.watch();
    assert.deepEqual(sent.map((a) => [a.event, a.subject, a.title]), [['failure', 'repository', `repository local:${repo} cannot be opened`]]);
    assert.match(sent[0]?.message ?? '', /repository\.password: cannot read secret file .*repo-password: ENOENT/);
    clock.advance(60 * MIN);
    daemon.tick();
    await daemon.idle();
    const [run] = daemon.runs({ job: 'backup:docs' });
    assert.equal(run?.status, 'failed');
    assert.equal(run?.error_class, 'fatal', 'a missing secret is not retried');
    assert.equal(daemon.jobs().find((j) => j.job.id === 'backup:docs')?.retryAt, undefined);
    assert.deepEqual(sent.slice(1).map((a) => [a.event, a.subject]), [['failure', 'job:backup:docs']]);
    await writeFile(path.join(tmp.path, 'repo-password'), `${PW}\n`, { mode: 0o600 });
    clock.advance(MIN);
    await daemon.watch();
    assert.deepEqual(sent.slice(2).map((a) => [a.event, a.subject]), [['recovery', 'repository']]);
    assert.ok(!JSON.stringify(sent).includes(PW));
  } finally {
    await daemon.stop();
    await tmp.cleanup();
  }
});

test('a new state directory (a DR host) gets its history from the repository\'s backups at start (not from safety snapshots)', async () => {
  const tmp = await tempDir('daemon-rebuild');
  const repo = path.join(tmp.path, 'repo');
  await initRepositoryAt(`local:${repo}`, PW, { scrypt: { N: 1024, r: 8, p: 1 } });
  await mkdir(path.join(tmp.path, 'docs'));
  await writeFile(path.join(tmp.path, 'docs', 'a.txt'), 'a\n');
  const write = (stateDir: string) => writeFile(path.join(tmp.path, 'lifeboat.yml'), `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./${stateDir}
sources:
  docs: { type: files, paths: [${tmp.path}/docs], schedule: "@daily", rpo: 2d }
`);
  const log = { info: () => undefined, warn: () => undefined };
  const signal = new AbortController().signal;
  const env = { LB_PW: PW, HOME: tmp.path, PATH: process.env.PATH };
  const opts = { configFile: path.join(tmp.path, 'lifeboat.yml'), env, signal, log };
  try {
    await write('state-old');
    const { backupStack } = await import('../app/stack.ts');
    const first = await backupStack(await openStack(opts), opts);
    // A restore in place leaves a pre-restore safety snapshot: what it replaced, not a backup.
    await writeFile(path.join(tmp.path, 'docs', 'a.txt'), 'a, changed\n');
    const { planStackRestore, restoreStack } = await import('../app/stack.ts');
    const restoring = await openStack(opts);
    const opened = await restoring.openRepository('shared');
    const restored = await restoreStack(restoring, opened, await planStackRestore(restoring, opened, {}), opts).finally(() => opened.close());
    const safety = restored.sources[0]?.safety_snapshot_id;
    assert.match(safety ?? '', /^[0-9a-f]{64}$/);
    await write('state-new');
    const daemon = new Daemon({ stack: await openStack(opts), stackOptions: opts, watchMs: 3_600_000 });
    try {
      await daemon.start();
      const rebuilt = daemon.runs({ job: 'backup:docs' });
      assert.deepEqual(rebuilt.map((r) => [r.trigger, r.snapshot_id]), [['rebuild', first.sources[0]?.snapshot_id]], 'the safety snapshot is not a backup');
      assert.deepEqual(daemon.snapshots('docs').snapshots.map((x) => [x.id, x.safety]), [[safety, true], [first.sources[0]?.snapshot_id, false]]);
      const docs = daemon.sources()[0];
      assert.equal(docs?.state, 'ok');
      assert.equal(docs?.last_backup?.snapshot_id, first.sources[0]?.snapshot_id);
    } finally {
      await daemon.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});
