/**
 * The dashboard end to end in Debian's Chromium (playwright-core drives it; it never downloads
 * a browser): the real HTTP server and the real pages over a scripted daemon, so each step is
 * decided by the test, not by timing. Load the overview, see a failed source turn red, back it
 * up from the page, watch the run's log arrive live over SSE, see the source turn green; send a
 * test notification from the settings, whose webhook URL is never in a page; preview a restore,
 * type its confirmation and watch it run to done.
 *
 * UPDATE_SCREENSHOTS=1 also writes docs/dashboard-*.png (the pictures docs/daemon.md shows).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RunCatalog } from '../../src/daemon/run-catalog.ts';
import type { DaemonEvent } from '../../src/daemon/daemon.ts';
import type { JobStatus } from '../../src/daemon/scheduler.ts';
import type { SourceView } from '../../src/daemon/views.ts';
import type { Condition } from '../../src/daemon/watchdog.ts';
import { createChannels } from '../../src/daemon/notify/notifier.ts';
import { startServer } from '../../src/server/http-server.ts';
import type { DaemonApi } from '../../src/server/http-server.ts';
import { parseSchedule } from '../../src/util/schedule.ts';
import { parseRestoreRequest } from '../../src/daemon/restore-request.ts';
import type { RestoreInput } from '../../src/daemon/restore-request.ts';
import { needBinaries, requireServers } from '../support/require.ts';

const RED = 'rgb(207, 34, 46)';
const GREEN = 'rgb(31, 136, 61)';
const shots = process.env.UPDATE_SCREENSHOTS === '1';
/** Runs in the page (the DOM's getComputedStyle; tsconfig has no DOM lib). */
const background = (e: unknown): string => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(e).backgroundColor;
const docs = path.join(import.meta.dirname, '../../docs');

/** A daemon whose runs the test starts and finishes by hand, over a real run catalog. */
function scriptedDaemon(hookUrl: string) {
  const catalog = RunCatalog.open(':memory:');
  const listeners = new Set<(e: DaemonEvent) => void>();
  const emit = (e: DaemonEvent) => listeners.forEach((l) => l(e));
  const ago = (ms: number) => new Date(Date.now() - ms);
  const state = { running: undefined as number | undefined, triggered: [] as string[], previewed: [] as string[], conditions: [] as Condition[], restores: [] as RestoreInput[], restoring: undefined as number | undefined, allPaused: false };
  for (const [name, h] of [['db', 26], ['cache', 3]] as const) {
    for (let d = 20; d >= 1; d--) {
      const id = catalog.start({ job: `backup:${name}`, kind: 'backup', target: name, trigger: 'schedule', attempt: 1, at: ago(d * 86_400_000 + h * 3_600_000) });
      catalog.finish(id, { status: d === 7 && name === 'db' ? 'failed' : 'ok', at: ago(d * 86_400_000 + h * 3_600_000 - 4000), bytesRead: 48 << 20, bytesAdded: 3 << 20, snapshotId: `${d}`.padStart(64, 'a'), error: d === 7 && name === 'db' ? 'db: "pg_dump" exited with 1' : undefined });
    }
    const id = catalog.start({ job: `backup:${name}`, kind: 'backup', target: name, trigger: 'schedule', attempt: 1, at: ago(h * 3_600_000) });
    catalog.finish(id, { status: 'ok', at: ago(h * 3_600_000 - 4000), bytesRead: 48 << 20, bytesAdded: 3 << 20, snapshotId: 'c0ffee'.padEnd(64, '0') });
  }
  const job = (id: string, every: string): JobStatus => ({ job: { id, kind: 'backup', target: id.split(':')[1], schedule: parseSchedule(every), exclusive: false }, nextRun: new Date(Date.now() + 3_600_000), running: false, queued: false, paused: false });
  const jobs = [job('backup:db', '@every 24h'), job('backup:cache', '@every 6h'), { job: { id: 'restore', kind: 'restore', exclusive: true, noRetry: true }, running: false, queued: false, paused: false } as JobStatus];
  const view = (name: string, type: string, rpo: number): SourceView => {
    const jobId = `backup:${name}`;
    const ok = catalog.lastSuccess('backup', name);
    const last = catalog.lastFinished(jobId);
    const age = ok ? Math.round((Date.now() - Date.parse(ok.started_at)) / 1000) : 0;
    const running = state.running !== undefined && name === 'db';
    return {
      name, type, schedule: name === 'db' ? '@every 24h' : '@every 6h', rpo_seconds: rpo, rto_seconds: 600,
      state: running ? 'running' : last?.status === 'failed' ? 'failed' : age > rpo ? 'overdue' : 'ok',
      last_backup: ok ? { at: ok.started_at, snapshot_id: ok.snapshot_id, run_id: ok.id, age_seconds: age } : null,
      last_run: last ? { id: last.id, status: last.status, started_at: last.started_at, error: last.error } : null,
      next_run: new Date(Date.now() + 3_600_000).toISOString(), running, restoring: false, paused: false,
      last_drill: { run_id: 1, at: ago(86_400_000 * 2).toISOString(), status: 'ok', rto_ms: 95_000, rpo_ms: 3_600_000 },
      history: catalog.days(jobId, ago(30 * 86_400_000)),
    };
  };
  const channels = createChannels([{ type: 'webhook', name: 'ops-hook', url: hookUrl, on: ['failure', 'recovery'] }], {
    secrets: () => Promise.reject(new Error('no secret references here')),
  });
  const api: DaemonApi = {
    channels,
    snapshots: (source) => ({ snapshots: source === 'db' ? [{ id: 'c0ffee'.padEnd(64, '0'), time: ago(26 * 3_600_000).toISOString(), safety: false }, { id: '2'.padStart(64, 'a'), time: ago(50 * 3_600_000).toISOString(), safety: true }] : [], probed_at: new Date().toISOString() }),
    restorePreview: (source, snapshot) => {
      state.previewed.push(`${source}@${snapshot}`);
      return Promise.resolve({
        source, snapshot_id: snapshot.padEnd(64, '0'), time: ago(26 * 3_600_000).toISOString(), host: 'db1', to: null, safety_snapshot: true,
        depends_on: [], hooks: { before: 1, after: 1 }, artifacts: [{ name: 'globals.sql', size: 2048 }, { name: 'shop.dump', size: 48 << 20 }], files: null,
        command: `lifeboat restore --only ${source} --snapshot ${snapshot.slice(0, 8)}`,
      });
    },
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    sources: () => [view('db', 'postgres', 30 * 3600), view('cache', 'redis', 6 * 3600)],
    jobs: () => jobs,
    runs: (q) => catalog.list(q),
    run: (id) => catalog.get(id),
    conditions: () => state.conditions,
    alerts: () => [],
    hasJob: (id) => jobs.some((j) => j.job.id === id),
    runNow: (id) => {
      if (state.running !== undefined) return false;
      state.triggered.push(id);
      state.running = catalog.start({ job: id, kind: 'backup', target: 'db', trigger: 'manual', attempt: 1, at: new Date() });
      emit({ type: 'run_started', run_id: state.running, job: id, trigger: 'manual', attempt: 1, at: new Date().toISOString() });
      return true;
    },
    pause: (id) => {
      if (id === '*') state.allPaused = true;
    },
    resume: (id) => {
      if (id === '*') state.allPaused = false;
    },
    allPaused: () => state.allPaused,
    requestRestore: (body) => {
      const input = parseRestoreRequest(body);
      state.restores.push(input);
      state.restoring = catalog.start({ job: 'restore', kind: 'restore', target: input.sources.join(','), trigger: 'manual', attempt: 1, at: new Date() });
      emit({ type: 'run_started', run_id: state.restoring, job: 'restore', trigger: 'manual', attempt: 1, at: new Date().toISOString() });
      return { job: 'restore', sources: input.sources, snapshot: input.snapshot };
    },
    metrics: () => [],
  };
  return {
    api, state,
    fail(error: string) {
      const id = catalog.start({ job: 'backup:db', kind: 'backup', target: 'db', trigger: 'schedule', attempt: 1, at: new Date() });
      catalog.finish(id, { status: 'failed', at: new Date(), error, errorCode: 'source' });
      emit({ type: 'run_finished', run_id: id, job: 'backup:db', status: 'failed', error, retry_at: null, at: new Date().toISOString() });
    },
    progress(bytes: number, total: number) {
      emit({ type: 'run_progress', run_id: state.running as number, job: 'backup:db', progress: { message_type: 'progress', phase: 'backup', source: 'db', bytes, bytes_added: 1 << 20, total, percent: Math.round((1000 * bytes) / total) / 10, elapsed_ms: 3000, bytes_per_second: Math.round(bytes / 3), eta_seconds: 9 } });
    },
    log(line: string) {
      emit({ type: 'run_log', run_id: state.running as number, job: 'backup:db', line });
    },
    restoreProgress(bytes: number, total: number) {
      emit({ type: 'run_progress', run_id: state.restoring as number, job: 'restore', progress: { message_type: 'progress', phase: 'restore', source: 'db', bytes, total, percent: Math.round((1000 * bytes) / total) / 10, elapsed_ms: 4000, bytes_per_second: Math.round(bytes / 4), eta_seconds: 12 } });
      emit({ type: 'run_log', run_id: state.restoring as number, job: 'restore', line: 'db: safety snapshot of the live data before the restore' });
    },
    finishRestore() {
      const id = state.restoring as number;
      catalog.finish(id, { status: 'ok', at: new Date(), snapshotId: 'c0ffee'.padEnd(64, '0') });
      emit({ type: 'run_finished', run_id: id, job: 'restore', status: 'ok', error: null, retry_at: null, at: new Date().toISOString() });
    },
    finish() {
      const id = state.running as number;
      state.running = undefined;
      catalog.finish(id, { status: 'ok', at: new Date(), bytesRead: 50 << 20, bytesAdded: 1 << 20, snapshotId: 'beef'.padEnd(64, '1') });
      emit({ type: 'run_finished', run_id: id, job: 'backup:db', status: 'ok', error: null, retry_at: null, at: new Date().toISOString() });
    },
  };
}

async function loadPlaywright(t: { skip(m: string): void }) {
  try {
    return (await import('playwright-core')).chromium;
  } catch {
    if (requireServers) throw new Error('REQUIRE_SERVERS=1 but playwright-core is not installed; run npm ci');
    t.skip('playwright-core is not installed (npm ci installs it)');
    return undefined;
  }
}

test('the overview turns a failed source red, backs it up from the page and shows it green again', async (t) => {
  if (!needBinaries(t, 'chromium')) return;
  const chromium = await loadPlaywright(t);
  if (!chromium) return;
  const hooked: string[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => (hooked.push(body), res.writeHead(204).end()));
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const daemon = scriptedDaemon(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook/secret-path-5531`);
  const srv = await startServer(daemon.api, { listen: '127.0.0.1:0' });
  const profile = await mkdtemp(path.join(tmpdir(), 'lifeboat-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${srv.url}/`);
    const db = page.locator('tr[data-source="db"]');
    const dbState = db.locator('td:nth-child(2) .state');
    await dbState.getByText('ok').waitFor();
    assert.equal(await dbState.evaluate(background), GREEN);
    assert.match(await page.locator('#verdict').innerText(), /^Yes/);
    await page.locator('#live.on').waitFor();
    if (shots) await page.screenshot({ path: path.join(docs, 'dashboard-overview.png'), fullPage: true });

    // A failure, pushed by the daemon over SSE: no reload, the row turns red with the error.
    daemon.fail('db: could not connect to 127.0.0.1:5432 (connection refused)');
    await dbState.getByText('failed').waitFor();
    assert.equal(await dbState.evaluate(background), RED);
    assert.match(await db.innerText(), /connection refused/);
    assert.match(await page.locator('#verdict').innerText(), /^No: db is failed/);
    if (shots) await page.screenshot({ path: path.join(docs, 'dashboard-failed.png'), fullPage: true });

    // Back up now: a same-origin JSON POST (the server's CSRF rule), then the run goes live.
    await db.getByRole('button', { name: 'Back up now' }).click();
    await dbState.getByText('running').waitFor();
    assert.deepEqual(daemon.state.triggered, ['backup:db']);
    daemon.progress(6 << 20, 48 << 20);
    assert.equal(await db.locator('.live-progress').getByText('12.5%').innerText(), 'db: 6.0 MiB · 12.5% · 2.0 MiB/s · +1.0 MiB added · ETA 9s');
    const runId = daemon.state.running as number;
    await page.goto(`${srv.url}/#/runs/${runId}`);
    await page.locator('#run-log').waitFor();
    await page.locator('#live.on').waitFor();
    daemon.log('db: 12.0 MiB read, 1.0 MiB added, 4.0 MiB/s, ETA 9s');
    await page.locator('#run-log').getByText('ETA 9s').waitFor();
    daemon.progress(12 << 20, 48 << 20);
    await page.locator('#run-progress [data-source="db"]').getByText('25%').waitFor();
    assert.equal(await page.locator('#run-progress [data-source="db"]').innerText(), 'db: 12.0 MiB · 25% · 4.0 MiB/s · +1.0 MiB added · ETA 9s');
    if (shots) await page.screenshot({ path: path.join(docs, 'dashboard-run.png'), fullPage: true });
    daemon.finish();
    await page.locator('.state-ok').first().waitFor();
    assert.match(await page.locator('h1').innerText(), new RegExp(`Run #${runId}: backup:db`));

    await page.goto(`${srv.url}/`);
    await dbState.getByText('ok').waitFor();
    assert.equal(await dbState.evaluate(background), GREEN);

    // A source's snapshots and the preview of a restore (a dry run; nothing is restored).
    await page.goto(`${srv.url}/`);
    await db.getByRole('link', { name: 'db' }).click();
    const rows = page.locator('#snapshots tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 2);
    assert.match(await rows.nth(1).innerText(), /pre-restore \(safety\)/);
    assert.doesNotMatch(await rows.nth(0).innerText(), /safety/);
    await rows.first().getByRole('button', { name: 'Preview restore' }).click();
    await page.locator('#restore-command').waitFor();
    assert.deepEqual(daemon.state.previewed, [`db@${'c0ffee'.padEnd(64, '0')}`]);
    const plan = await page.locator('#restore-plan').innerText();
    assert.match(plan, /restored in place: the live data is replaced/);
    assert.match(plan, /a safety snapshot of the live data is taken first/);
    assert.match(plan, /shop\.dump: 48\.0 MiB/);
    assert.equal(await page.locator('#restore-command').innerText(), 'lifeboat restore --only db --snapshot c0ffee00');

    // The guarded restore: the button waits for the typed confirmation, then the run goes live under the plan.
    const start = page.locator('#restore-start');
    assert.equal(await start.isDisabled(), true);
    await page.locator('#restore-confirm').fill('db');
    assert.equal(await start.isDisabled(), true, 'a partial confirmation does not enable it');
    await page.locator('#restore-confirm').fill('db c0ffee00');
    await start.click();
    await page.locator('#restore-status').getByText('running').waitFor();
    assert.deepEqual(daemon.state.restores, [{ sources: ['db'], snapshot: 'c0ffee'.padEnd(64, '0') }]);
    daemon.restoreProgress(12 << 20, 48 << 20);
    await page.locator('#restore-progress').getByText('25%').waitFor();
    assert.equal(await page.locator('#restore-progress').innerText(), 'db: 12.0 MiB · 25% · 3.0 MiB/s · ETA 12s');
    await page.locator('#restore-log').getByText('safety snapshot').waitFor();
    if (shots) await page.screenshot({ path: path.join(docs, 'dashboard-restore-preview.png'), fullPage: true });
    daemon.finishRestore();
    await page.locator('#restore-status').getByText('restored and verified').waitFor();
    assert.equal(await page.locator('#restore-status .state').innerText(), 'ok');

    // Pause everything (maintenance): the runs page and the overview say so; a restore has no Run now.
    await page.goto(`${srv.url}/#/runs`);
    await page.locator('#pause-all').getByText('Pause all').click();
    await page.locator('#all-paused').waitFor();
    assert.equal(daemon.state.allPaused, true);
    assert.equal(await page.locator('tr[data-job="restore"] button').count(), 0);
    await page.goto(`${srv.url}/`);
    await page.locator('#paused-banner').waitFor();
    await page.goto(`${srv.url}/#/runs`);
    await page.locator('#pause-all').getByText('Resume all').click();
    await page.locator('#pause-all').getByText('Pause all').waitFor();
    assert.equal(daemon.state.allPaused, false);

    // Notification settings: names and events, never the URL; the test button reaches the hook.
    await page.goto(`${srv.url}/#/health`);
    await page.locator('#notifications').getByText('ops-hook').waitFor();
    await page.locator('#notify-test').click();
    await page.locator('[data-channel="ops-hook"]').getByText('ops-hook: sent').waitFor();
    assert.equal(hooked.length, 1);
    assert.match(JSON.parse(hooked[0] as string).title, /test notification/);
    if (shots) await page.screenshot({ path: path.join(docs, 'dashboard-health.png'), fullPage: true });
    for (const p of ['#/', '#/runs', '#/checks', '#/health']) {
      await page.goto(`${srv.url}/${p}`);
      await page.locator('main h1').first().waitFor();
      assert.doesNotMatch(await page.content(), /secret-path-5531/);
    }
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
    await srv.close();
    receiver.close();
    await rm(profile, { recursive: true, force: true });
  }
});
