/**
 * POST /api/v1/restores over the real server and a real Daemon whose job runner is a fake (the
 * restore itself is test/e2e/daemon-restore.test.ts): the guards (disabled by default, the
 * token, the typed confirmation, a backup of the source running, a second restore), then a
 * restore that queues behind a backup like prune, runs alone, streams its progress over SSE,
 * lands in the run catalog and sends one `restore` notification.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStack } from '../app/stack.ts';
import { Daemon } from '../daemon/daemon.ts';
import type { JobOutcome } from '../daemon/job-runner.ts';
import type { RestoreInput } from '../daemon/restore-request.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { startServer } from './http-server.ts';

const SNAP = 'c0ffee12'.padEnd(64, '3');
const quiet = { info: () => undefined, warn: () => undefined };

async function setup(daemonYaml: string, token?: string) {
  const tmp = await tempDir('restore-api');
  const cfg = path.join(tmp.path, 'lifeboat.yml');
  await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  db: { type: command, backup_command: "echo db", restore_command: "cat > /dev/null" }
  cache: { type: command, backup_command: "echo cache", restore_command: "cat > /dev/null" }
notifications:
  - { type: webhook, url: "http://hooks.invalid/lifeboat" }
daemon: ${daemonYaml}
`);
  const env = { LB_PW: 'pw', HOME: tmp.path };
  const signal = new AbortController().signal;
  const alerts: Array<{ event: string; subject: string; title: string; message: string }> = [];
  const fakeFetch = (async (_u: string | URL | Request, init?: RequestInit) => (alerts.push(JSON.parse(String(init?.body))), new Response('ok'))) as typeof fetch;
  const calls: Array<{ job: string; input?: unknown }> = [];
  /** What the overview said of the restored sources while the restore ran. */
  const during: string[] = [];
  const ref: { daemon?: Daemon } = {};
  let releaseBackup = (): void => undefined;
  const backupGate = new Promise<void>((r) => (releaseBackup = r));
  const runJob = async (_s: unknown, job: { id: string; kind: string }, opts: { onSourceProgress?: (p: never) => void }, input?: unknown): Promise<JobOutcome> => {
    calls.push({ job: job.id, input });
    if (job.kind === 'backup') {
      await backupGate;
      return { status: 'ok' };
    }
    // A run's progress events go out at most once a second (ops/progress-meter.ts): the second is due.
    const progress = (bytes: number) => opts.onSourceProgress?.({ source: (input as RestoreInput).sources[0], phase: 'restore', bytes, total: 200 } as never);
    for (const s of ref.daemon?.sources() ?? []) during.push(`${s.name}: ${s.state}${s.restoring ? ', restoring' : ''}`);
    progress(40);
    await sleep(1100);
    progress(100);
    return { status: 'ok', snapshotId: SNAP };
  };
  const stack = await openStack({ configFile: cfg, env, signal, log: quiet });
  const daemon = new Daemon({ stack, stackOptions: { configFile: cfg, env, signal, log: quiet }, fetch: fakeFetch, runJob: runJob as never });
  ref.daemon = daemon;
  const srv = await startServer(daemon, { listen: '127.0.0.1:0', token });
  const post = (p: string, body: unknown, auth?: string) => fetch(`${srv.url}/api/v1/${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() as { error?: { code: string; message: string }; accepted?: boolean } }));
  return {
    daemon, srv, post, calls, alerts, releaseBackup, during,
    async close() {
      await srv.close();
      releaseBackup();
      await daemon.stop();
      await tmp.cleanup();
    },
  };
}

test('restores are refused unless daemon.allow_restore is set', async () => {
  const t = await setup('{ listen: "127.0.0.1:0" }');
  try {
    const r = await t.post('restores', { sources: ['db'], snapshot: SNAP, confirm: 'db c0ffee12' });
    assert.equal(r.status, 403);
    assert.equal(r.body.error?.code, 'restore_disabled');
    assert.match(r.body.error?.message ?? '', /daemon\.allow_restore/);
    assert.deepEqual(t.calls, []);
  } finally {
    await t.close();
  }
});

test('a restore needs the token (also on 127.0.0.1) and the typed confirmation', async () => {
  const t = await setup('{ allow_restore: true }', 'tok-5521');
  try {
    const body = { sources: ['db'], snapshot: SNAP, confirm: 'db c0ffee12' };
    assert.equal((await t.post('restores', body)).status, 401);
    for (const confirm of [undefined, 'db', 'db c0ffee13', 'cache c0ffee12', 'yes']) {
      const r = await t.post('restores', { ...body, confirm }, 'tok-5521');
      assert.equal(r.status, 400, String(confirm));
      assert.equal(r.body.error?.code, 'confirmation_mismatch');
      assert.match(r.body.error?.message ?? '', /"confirm" must be "db c0ffee12"/);
    }
    const several = await t.post('restores', { sources: ['db', 'cache'], snapshot: SNAP, confirm: 'db,cache c0ffee12' }, 'tok-5521');
    assert.equal(several.status, 400, 'a snapshot ID is one source\'s');
    assert.equal((await t.post('restores', { sources: ['nope'], snapshot: 'latest', confirm: 'nope latest' }, 'tok-5521')).status, 404);
    assert.equal((await t.post('jobs/restore/run', {}, 'tok-5521')).status, 400, 'not without its confirmation');
    assert.deepEqual(t.calls, []);
  } finally {
    await t.close();
  }
});

test('a restore is refused while a backup of its source runs, queues behind another, and is recorded, streamed and notified', async () => {
  const t = await setup('{ allow_restore: true }');
  const events: Array<{ type: string; job?: string; progress?: { bytes: number; phase: string } }> = [];
  const sse = await fetch(`${t.srv.url}/api/v1/events`);
  const reader = (sse.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader();
  const reading = (async () => {
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      for (const m of buf.matchAll(/^data: (.*)$/gm)) events.push(JSON.parse(m[1] as string));
      buf = buf.slice(buf.lastIndexOf('\n\n') + 2);
      if (events.some((e) => e.type === 'run_finished' && e.job === 'restore')) return;
    }
  })();
  try {
    assert.equal((await t.post('sources/db/backup', {})).status, 202);
    const refused = await t.post('restores', { sources: ['db'], snapshot: SNAP, confirm: 'db c0ffee12' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error?.code, 'backup_running');
    // Another source's restore is accepted and waits for the backup: it runs alone.
    const ok = await t.post('restores', { source: 'cache', snapshot: 'latest', confirm: 'cache latest' });
    assert.equal(ok.status, 202);
    assert.equal(ok.body.accepted, true);
    assert.equal((await t.post('restores', { source: 'cache', snapshot: 'latest', confirm: 'cache latest' })).body.error?.code, 'restore_running');
    assert.deepEqual(t.calls.map((c) => c.job), ['backup:db'], 'the restore waits while the backup runs');
    assert.equal(t.daemon.jobs().find((j) => j.job.id === 'restore')?.queued, true);
    t.releaseBackup();
    await t.daemon.idle();
    assert.deepEqual(t.calls.at(-1), { job: 'restore', input: { sources: ['cache'], snapshot: 'latest' } });
    assert.deepEqual([...t.during].sort(), ['cache: running, restoring', 'db: ok'], 'the overview shows the restore');
    await reading;
    const [run] = t.daemon.runs({ kind: 'restore' });
    assert.deepEqual([run?.job, run?.target, run?.trigger, run?.status, run?.snapshot_id], ['restore', 'cache', 'manual', 'ok', SNAP]);
    assert.deepEqual(events.filter((e) => e.type === 'run_progress' && e.job === 'restore').map((e) => [e.progress?.phase, e.progress?.bytes, (e.progress as { percent?: number }).percent]), [['restore', 100, 50]],
      'progress is streamed (at most once a second per source)');
    await t.daemon.idle();
    const restoreAlerts = t.alerts.filter((a) => a.event === 'restore');
    assert.deepEqual(restoreAlerts.map((a) => [a.subject, a.title]), [['restore', 'restore of cache from c0ffee12 done']]);

    // Several sources at once, each from its latest backup: the confirmation names them all.
    assert.equal((await t.post('restores', { sources: ['db', 'cache'], snapshot: 'latest', confirm: 'db latest' })).body.error?.code, 'confirmation_mismatch');
    assert.equal((await t.post('restores', { sources: ['db', 'cache'], snapshot: 'latest', confirm: 'db,cache latest' })).status, 202);
    await t.daemon.idle();
    assert.deepEqual(t.calls.at(-1), { job: 'restore', input: { sources: ['db', 'cache'], snapshot: 'latest' } });
    assert.equal(t.daemon.runs({ kind: 'restore', limit: 1 })[0]?.target, 'db,cache');
  } finally {
    await reader.cancel().catch(() => undefined);
    await t.close();
  }
});
