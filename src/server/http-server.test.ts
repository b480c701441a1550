import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FixedClock } from '../util/clock.ts';
import { parseSchedule } from '../util/schedule.ts';
import { collectMetrics } from '../daemon/metrics.ts';
import { RunCatalog } from '../daemon/run-catalog.ts';
import type { JobStatus } from '../daemon/scheduler.ts';
import { parsePrometheusText } from '../../test/support/prometheus-parser.ts';
import { startServer } from './http-server.ts';
import type { DaemonApi } from './http-server.ts';

function fakeDaemon(): DaemonApi & { triggered: string[]; emit(e: unknown): void } {
  const clock = new FixedClock('2026-06-01T12:00:00Z');
  const catalog = RunCatalog.open(':memory:');
  const a = catalog.start({ job: 'backup:db', kind: 'backup', target: 'db', trigger: 'schedule', attempt: 1, at: new Date('2026-06-01T11:00:00Z') });
  catalog.finish(a, { status: 'ok', at: new Date('2026-06-01T11:00:03Z'), bytesRead: 5000, bytesAdded: 300 });
  const b = catalog.start({ job: 'backup:db', kind: 'backup', target: 'db', trigger: 'schedule', attempt: 1, at: new Date('2026-06-01T11:30:00Z') });
  catalog.finish(b, { status: 'failed', at: new Date('2026-06-01T11:30:01Z'), error: 'db: cannot connect', errorCode: 'source' });
  catalog.skipped({ job: 'backup:db', kind: 'backup', target: 'db', reason: 'overlap', at: new Date('2026-06-01T11:45:00Z') });
  const jobs: JobStatus[] = [{ job: { id: 'backup:db', kind: 'backup', target: 'db', schedule: parseSchedule('@every 30m'), exclusive: false }, nextRun: new Date('2026-06-01T12:30:00Z'), running: false, queued: false, paused: false }];
  const triggered: string[] = [];
  const listeners = new Set<(e: never) => void>();
  return {
    triggered,
    channels: [],
    snapshots: () => ({ snapshots: [], probed_at: null }),
    restorePreview: () => Promise.reject(new Error('not in this test')),
    subscribe: (l) => (listeners.add(l as never), () => listeners.delete(l as never)),
    emit: (e) => listeners.forEach((l) => l(e as never)),
    sources: () => [],
    jobs: () => jobs,
    runs: (q) => catalog.list(q),
    run: (id) => catalog.get(id),
    conditions: () => [],
    alerts: () => [],
    hasJob: (id) => id === 'backup:db',
    runNow: (id) => (triggered.push(id), triggered.length === 1),
    pause: () => undefined,
    resume: () => undefined,
    allPaused: () => false,
    requestRestore: () => {
      throw new Error('not in this test');
    },
    metrics: () => collectMetrics({
      catalog, jobs, sources: [{ name: 'db', type: 'postgres' }],
      repository: { reachable: true, sizeBytes: 12345, snapshots: 3, lockAgeMs: 0 }, repositoryName: 'local:/srv/repo "main"',
      verify: [{ source: 'db', match: true }], sourceUp: new Map([['db', false]]),
    }),
    ...{ clock },
  };
}

test('/metrics is valid Prometheus text with the documented names and bounded labels', async () => {
  const api = fakeDaemon();
  const srv = await startServer(api, { listen: '127.0.0.1:0' });
  try {
    const res = await fetch(`${srv.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheusText(await res.text());
    const value = (name: string, labels: Record<string, string> = {}) => fams.get(name.replace(/_(bucket|count|sum)$/, ''))?.samples
      .find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    assert.equal(fams.get('lifeboat_build_info')?.type, 'gauge');
    assert.equal(fams.get('lifeboat_job_duration_seconds_bucket'), undefined);
    assert.equal(value('lifeboat_job_last_success_timestamp_seconds', { job: 'backup:db' }), Date.parse('2026-06-01T11:00:03Z') / 1000);
    assert.equal(fams.get('lifeboat_job_runs_total')?.type, 'counter');
    assert.equal(value('lifeboat_job_runs_total', { job: 'backup:db', result: 'failure' }), 1);
    assert.equal(value('lifeboat_job_runs_total', { job: 'backup:db', result: 'skipped' }), 1);
    assert.equal(value('lifeboat_job_missed_runs_total', { job: 'backup:db' }), 1);
    assert.equal(value('lifeboat_job_status', { job: 'backup:db' }), 0);
    assert.equal(value('lifeboat_job_next_run_timestamp_seconds', { job: 'backup:db' }), Date.parse('2026-06-01T12:30:00Z') / 1000);
    assert.equal(fams.get('lifeboat_job_duration_seconds')?.type, 'histogram');
    assert.equal(value('lifeboat_job_duration_seconds_bucket', { job: 'backup:db', le: '4' }), 2);
    assert.equal(value('lifeboat_job_duration_seconds_bucket', { job: 'backup:db', le: '+Inf' }), 2);
    assert.equal(value('lifeboat_job_duration_seconds_count', { job: 'backup:db' }), 2);
    assert.equal(value('lifeboat_backup_bytes_added', { source: 'db', source_kind: 'postgres' }), 300);
    assert.equal(value('lifeboat_source_up', { job: 'backup:db', source_kind: 'postgres' }), 0);
    assert.equal(value('lifeboat_repo_size_bytes', { repo: 'local:/srv/repo "main"' }), 12345, 'label value with a quote escaped and read back');
    assert.equal(value('lifeboat_verify_fingerprint_match', { source: 'db' }), 1);
    for (const f of fams.values()) for (const s of f.samples) for (const v of Object.values(s.labels)) assert.ok(!/^[0-9a-f]{64}$/.test(v), 'no snapshot IDs as labels');
  } finally {
    await srv.close();
  }
});

test('the JSON API is versioned; a backup starts by POST; errors are coded JSON', async () => {
  const api = fakeDaemon();
  const srv = await startServer(api, { listen: '127.0.0.1:0' });
  try {
    const runs = await (await fetch(`${srv.url}/api/v1/runs?limit=2`)).json() as { api_version: number; runs: Array<{ status: string }> };
    assert.equal(runs.api_version, 1);
    assert.deepEqual(runs.runs.map((r) => r.status), ['skipped', 'failed']);
    const one = await (await fetch(`${srv.url}/api/v1/runs/1`)).json() as { run: { bytes_added: number } };
    assert.equal(one.run.bytes_added, 300);
    const post = (path: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => fetch(`${srv.url}${path}`, { method: 'POST', headers, body: '{}' });
    const r1 = await post('/api/v1/sources/db/backup');
    assert.equal(r1.status, 202);
    assert.deepEqual(await r1.json(), { api_version: 1, job: 'backup:db', accepted: true });
    const r2 = await post('/api/v1/sources/db/backup');
    assert.equal(r2.status, 409);
    assert.equal((await r2.json() as { error: { code: string } }).error.code, 'already_running');
    const r3 = await post('/api/v1/sources/nope/backup');
    assert.equal(r3.status, 404);
    assert.match((await r3.json() as { error: { message: string } }).error.message, /no source named "nope"/);
    assert.equal((await fetch(`${srv.url}/api/v1/runs/999`)).status, 404);
  } finally {
    await srv.close();
  }
});

test('CSRF and auth: cross-origin, form-encoded and rebinding requests are refused; a token is required off loopback', async () => {
  const api = fakeDaemon();
  const open = await startServer(api, { listen: '127.0.0.1:0' });
  try {
    const port = new URL(open.url).port;
    const post = (headers: Record<string, string>) => fetch(`${open.url}/api/v1/sources/db/backup`, { method: 'POST', headers, body: 'x=1' });
    assert.equal((await post({ 'content-type': 'application/x-www-form-urlencoded' })).status, 415);
    assert.equal((await post({ 'content-type': 'application/json', origin: 'https://evil.example' })).status, 403);
    assert.equal((await post({ 'content-type': 'application/json', origin: 'null' })).status, 403);
    const rebound = await new Promise<number>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const req = request({ host: '127.0.0.1', port, path: '/api/v1/sources', headers: { host: `evil.example:${port}` } }, (res) => (res.resume(), resolve(res.statusCode ?? 0)));
        req.on('error', reject);
        req.end();
      }, reject);
    });
    assert.equal(rebound, 403, 'a Host that is not the daemon (DNS rebinding) is refused');
    assert.equal((await post({ 'content-type': 'application/json', origin: open.url })).status, 202, 'same origin with JSON');
    assert.equal(api.triggered.length, 1, 'only the allowed request started a backup');
  } finally {
    await open.close();
  }
  const locked = await startServer(api, { listen: '127.0.0.1:0', token: 'tok-5512' });
  try {
    const post = (auth?: string) => fetch(`${locked.url}/api/v1/jobs/backup:db/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body: '{}' });
    const denied = await post();
    assert.equal(denied.status, 401);
    assert.ok(!(await denied.text()).includes('tok-5512'));
    assert.equal((await post('Bearer wrong')).status, 401);
    assert.notEqual((await post('Bearer tok-5512')).status, 401);
    assert.equal((await fetch(`${locked.url}/metrics`)).status, 200, 'reads stay open on loopback');
  } finally {
    await locked.close();
  }
  await assert.rejects(startServer(api, { listen: '0.0.0.0:0' }), (err: Error & { code?: string }) => err.code === 'config' && /refusing to listen on 0\.0\.0\.0:0 without a token/.test(err.message));
});

test('/api/v1/events streams run events as Server-Sent Events', async () => {
  const api = fakeDaemon();
  const srv = await startServer(api, { listen: '127.0.0.1:0' });
  try {
    const res = await fetch(`${srv.url}/api/v1/events`);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const readUntil = async (re: RegExp): Promise<void> => {
      while (!re.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${re}`);
        text += Buffer.from(value).toString('utf8');
      }
    };
    await readUntil(/retry: 2000/);
    api.emit({ type: 'run_finished', run_id: 3, job: 'backup:db', status: 'ok', error: null, retry_at: null, at: '2026-06-01T00:00:00.000Z' });
    await readUntil(/event: run_finished[^]*\n\n$/);
    assert.match(text, /event: run_finished\ndata: \{"type":"run_finished","run_id":3,"job":"backup:db","status":"ok"/);
    await reader.cancel();
  } finally {
    await srv.close();
  }
});

test('the dashboard is served under / with a strict CSP, to this daemon\'s Host only; its data still needs the token', async () => {
  const api = fakeDaemon();
  const srv = await startServer(api, { listen: '127.0.0.1:0', token: 'dash-token-8812' });
  try {
    const page = await fetch(`${srv.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'.*frame-ancestors 'none'/);
    assert.match(await page.text(), /<script type="module" src="app.js"><\/script>/);
    assert.match((await fetch(`${srv.url}/app.js`)).headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(`${srv.url}/style.css`)).status, 200);
    // DNS rebinding: a page fetched under another name gets nothing.
    const port = new URL(srv.url).port;
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/', headers: { host: `evil.example:${port}` } }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject).end();
    });
    assert.equal(status, 403);
    // The pages carry no data; an action still needs the token.
    assert.equal((await fetch(`${srv.url}/api/v1/notifications/test`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 401);
    const ok = await fetch(`${srv.url}/api/v1/sources/db/snapshots`, { headers: { authorization: 'Bearer dash-token-8812' } });
    assert.deepEqual(await ok.json(), { api_version: 1, snapshots: [], probed_at: null });
    const bad = await fetch(`${srv.url}/api/v1/sources/db/restore-plan?snapshot=../x`, { headers: { authorization: 'Bearer dash-token-8812' } });
    assert.equal(bad.status, 400);
  } finally {
    await srv.close();
  }
});
