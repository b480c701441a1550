/**
 * Pauses survive a restart: a job paused (and every job paused) in one daemon is still paused in
 * the next one on the same state directory, its slots are recorded as skipped, and once resumed
 * it runs at its next slot, with no catch-up run for the slots it slept through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FixedClock } from '../util/clock.ts';
import { openStack } from '../app/stack.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { Daemon } from './daemon.ts';
import type { JobOutcome } from './job-runner.ts';
import { startServer } from '../server/http-server.ts';

const quiet = { info: () => undefined, warn: () => undefined };

test('a paused job stays paused across a restart and, resumed, runs at its next slot', async () => {
  const tmp = await tempDir('daemon-pause');
  const cfg = path.join(tmp.path, 'lifeboat.yml');
  await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  db: { type: command, backup_command: "echo db", restore_command: "cat > /dev/null", schedule: "0 * * * *" }
  cache: { type: command, backup_command: "echo cache", restore_command: "cat > /dev/null", schedule: "30 * * * *" }
daemon: { time_zone: UTC }
`);
  const env = { LB_PW: 'pw', HOME: tmp.path };
  const signal = new AbortController().signal;
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const started: string[] = [];
  const runJob = async (_s: unknown, job: { id: string }): Promise<JobOutcome> => (started.push(`${clock.now().toISOString().slice(11, 16)} ${job.id}`), { status: 'ok' });
  const open = async () => new Daemon({ stack: await openStack({ configFile: cfg, env, signal, log: quiet }), stackOptions: { configFile: cfg, env, signal, log: quiet }, clock, runJob: runJob as never });
  const step = async (d: Daemon, to: string) => {
    while (clock.now().toISOString().slice(11, 16) !== to) {
      clock.advance(60_000);
      d.tick();
      await d.idle();
    }
  };
  const paused = (d: Daemon) => Object.fromEntries(d.jobs().map((j) => [j.job.id, j.paused]));
  try {
    let daemon = await open();
    daemon.pause('backup:db');
    await step(daemon, '01:00');
    assert.deepEqual(started, ['00:30 backup:cache']);
    await daemon.stop();

    daemon = await open();
    assert.deepEqual(paused(daemon), { 'backup:db': true, 'backup:cache': false }, 'the pause outlived the restart');
    assert.equal(daemon.sources().find((s) => s.name === 'db')?.paused, true);
    await step(daemon, '02:20');
    assert.deepEqual(started, ['00:30 backup:cache', '01:30 backup:cache']);
    daemon.resume('backup:db');
    await step(daemon, '03:00');
    assert.deepEqual(started.slice(2), ['02:30 backup:cache', '03:00 backup:db'], 'resumed: no catch-up run, then the next slot');
    const [last] = daemon.runs({ job: 'backup:db', limit: 1 });
    assert.equal(last?.trigger, 'schedule');
    assert.deepEqual(daemon.runs({ job: 'backup:db' }).filter((r) => r.status === 'skipped').map((r) => [r.started_at.slice(11, 16), r.skip_reason]).reverse(),
      [['01:00', 'paused'], ['02:00', 'paused']]);

    // Everything at once (maintenance), also across a restart.
    daemon.pause('*');
    await daemon.stop();
    daemon = await open();
    assert.equal(daemon.allPaused(), true);
    assert.deepEqual(paused(daemon), { 'backup:db': true, 'backup:cache': true });
    await step(daemon, '04:10');
    assert.equal(started.length, 4, 'nothing ran while all was paused');
    daemon.resume('*');
    assert.deepEqual(paused(daemon), { 'backup:db': false, 'backup:cache': false });
    await step(daemon, '05:00');
    assert.deepEqual(started.slice(4), ['04:30 backup:cache', '05:00 backup:db']);
    await daemon.stop();

    daemon = await open();
    assert.equal(daemon.allPaused(), false, 'resumed stays resumed');
    await daemon.stop();
  } finally {
    await tmp.cleanup();
  }
});

test('the API pauses one job or every job, and says so in /api/v1/jobs and /api/v1/sources', async () => {
  const tmp = await tempDir('daemon-pause-api');
  const cfg = path.join(tmp.path, 'lifeboat.yml');
  await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  db: { type: command, backup_command: "echo db", restore_command: "cat > /dev/null", schedule: "@hourly" }
`);
  const env = { LB_PW: 'pw', HOME: tmp.path };
  const signal = new AbortController().signal;
  const daemon = new Daemon({ stack: await openStack({ configFile: cfg, env, signal, log: quiet }), stackOptions: { configFile: cfg, env, signal, log: quiet } });
  const srv = await startServer(daemon, { listen: '127.0.0.1:0' });
  const post = (p: string) => fetch(`${srv.url}/api/v1/${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const get = async <T>(p: string) => (await (await fetch(`${srv.url}/api/v1/${p}`)).json()) as T;
  type Jobs = { all_paused: boolean; jobs: Array<{ id: string; paused: boolean }> };
  try {
    assert.equal((await post('jobs/backup:db/pause')).status, 200);
    assert.deepEqual((await get<Jobs>('jobs')).jobs.map((j) => [j.id, j.paused]), [['backup:db', true]]);
    assert.equal((await get<{ sources: Array<{ paused: boolean }> }>('sources')).sources[0]?.paused, true);
    assert.equal((await post('jobs/backup:db/resume')).status, 200);
    assert.equal((await post('jobs/pause')).status, 200);
    const all = await get<Jobs>('jobs');
    assert.deepEqual([all.all_paused, all.jobs[0]?.paused], [true, true]);
    assert.equal((await get<{ all_paused: boolean }>('status')).all_paused, true);
    assert.deepEqual(daemon.catalog.pauses().map((p) => p.job), ['*']);
    assert.equal((await post('jobs/resume')).status, 200);
    assert.deepEqual(daemon.catalog.pauses(), []);
  } finally {
    await srv.close();
    await daemon.stop();
    await tmp.cleanup();
  }
});
