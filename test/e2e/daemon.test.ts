/**
 * `lifeboat daemon` for real, a few seconds: `@every 1s` schedules back up a files source and a
 * command source; the command source fails until its data appears (an injected failure), so a
 * webhook receiver gets one failure alert and, once it is fixed, one recovery alert; /metrics
 * and the JSON API show the runs; a POST starts a backup; SIGTERM stops it cleanly (exit 0, no
 * lock left, no secret printed).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { parsePrometheusText } from '../support/prometheus-parser.ts';

const PW = 'daemon-e2e-pw-3318';
const HOOK = 'hook-token-7719';

/** Polls `probe` until it returns a value (the daemon runs in real time); fails after `ms`. */
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

describe('lifeboat daemon', () => {
  let tmp: TempDir;
  const alerts: Array<{ event: string; subject: string; title: string; message: string; auth?: string }> = [];
  let receiver: http.Server;
  let hookUrl: string;

  before(async () => {
    tmp = await tempDir('daemon');
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        alerts.push({ ...JSON.parse(Buffer.concat(chunks).toString('utf8')), auth: req.headers.authorization });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
  });
  after(async () => {
    receiver.closeAllConnections();
    await new Promise((r) => receiver.close(r));
    await tmp.cleanup();
  });

  test('runs @every schedules, alerts on an injected failure and on recovery, and shows it in /metrics and the API', async () => {
    const docs = path.join(tmp.path, 'docs');
    await mkdir(docs);
    await writeFile(path.join(docs, 'runbook.md'), '# restore the stack\n');
    const app = path.join(tmp.path, 'app');
    await mkdir(app);
    const cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  docs:
    type: files
    paths: [${docs}]
    schedule: "@every 1s"
    rpo: 1h
  app:
    type: command
    backup_command: "test -f ${app}/data.txt && cat ${app}/data.txt"
    restore_command: "cat > /dev/null"
    schedule: "@every 1s"
notifications:
  - type: webhook
    url: ${hookUrl}
    headers: { authorization: { env: HOOK_TOKEN } }
    on: [failure, recovery]
daemon:
  listen: 127.0.0.1:0
`);
    const env = { LB_PW: PW, HOOK_TOKEN: HOOK, HOME: tmp.path };
    const init = await lifeboat(['-c', cfg, 'init'], { env, cwd: tmp.path });
    assert.equal(init.code, 0, init.stderr);

    const child = spawnLifeboat(['-c', cfg, 'daemon'], { env, cwd: tmp.path });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
    try {
      const base = await until('the API address', () => /API and metrics on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1]);
      const second = await lifeboat(['-c', cfg, 'daemon'], { env, cwd: tmp.path });
      assert.equal(second.code, 1);
      assert.match(second.stderr, /another lifeboat daemon \(pid \d+\) is using the state directory .*state/);
      const failure = await until('the failure alert', () => alerts.find((a) => a.event === 'failure' && a.subject === 'job:backup:app'));
      assert.equal(failure.title, 'backup of app failed');
      assert.equal(failure.auth, HOOK);
      // The failure is fixed: the next scheduled run recovers, and the receiver hears of it once.
      await writeFile(path.join(app, 'data.txt'), 'app data\n');
      const recovery = await until('the recovery alert', () => alerts.find((a) => a.event === 'recovery' && a.subject === 'job:backup:app'));
      assert.equal(recovery.title, 'backup of app is ok again');
      await sleep(1500);
      assert.equal(alerts.filter((a) => a.subject === 'job:backup:app' && a.event === 'failure').length, 1, 'one failure alert, however many failed runs');
      assert.equal(alerts.filter((a) => a.subject === 'job:backup:docs').length, 0, 'no alert for a source that never failed');

      // On a loaded machine a run can take longer than its 1 s cadence: wait for the second one.
      const scrape = async () => parsePrometheusText(await (await fetch(`${base}/metrics`)).text());
      const countIn = (m: Awaited<ReturnType<typeof scrape>>, job: string, result: string) => (m.get('lifeboat_job_runs_total')?.samples ?? []).find((s) => s.labels.job === job && s.labels.result === result)?.value ?? 0;
      await until('a second backup of docs', async () => (countIn(await scrape(), 'backup:docs', 'success') >= 2 ? true : undefined));
      const metrics = await scrape();
      const count = (job: string, result: string) => countIn(metrics, job, result);
      assert.ok(count('backup:docs', 'success') >= 2, 'docs backed up repeatedly');
      assert.ok(count('backup:app', 'failure') >= 1 && count('backup:app', 'success') >= 1);
      assert.ok((metrics.get('lifeboat_job_last_success_timestamp_seconds')?.samples ?? []).some((s) => s.labels.job === 'backup:app'));
      assert.equal(metrics.get('lifeboat_repo_up')?.samples[0]?.value, 1);

      const sources = await (await fetch(`${base}/api/v1/sources`)).json() as { api_version: number; sources: Array<{ name: string; state: string; last_backup: { snapshot_id: string } | null }> };
      assert.equal(sources.api_version, 1);
      assert.match(sources.sources.find((s) => s.name === 'docs')?.last_backup?.snapshot_id ?? '', /^[0-9a-f]{64}$/);
      const failedRuns = await (await fetch(`${base}/api/v1/runs?job=backup:app&limit=1000`)).json() as { runs: Array<{ id: number; status: string; error: string | null }> };
      const failedRun = failedRuns.runs.find((r) => r.status === 'failed');
      assert.match(failedRun?.error ?? '', /app/);
      const detail = await (await fetch(`${base}/api/v1/runs/${failedRun?.id}`)).json() as { run: { report: { report: { status: string } } } };
      assert.equal(detail.run.report.report.status, 'failed');

      const post = await fetch(`${base}/api/v1/sources/docs/backup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.ok(post.status === 202 || post.status === 409, `backup now: ${post.status}`);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /stopped/);
    assert.deepEqual(await readdir(path.join(tmp.path, 'repo', 'locks')), [], 'no lock left behind');
    assert.ok(!(await readdir(path.join(tmp.path, 'state'))).includes('daemon.pid'), 'the state dir is released');
    for (const secret of [PW, HOOK]) assert.ok(!stdout.includes(secret) && !stderr.includes(secret), 'no secret in the output');
  });

  test('SIGTERM during a backup cancels it: its after-hook runs, the lock is released, exit 0', async () => {
    const dir = path.join(tmp.path, 'slow');
    await mkdir(dir);
    const cfg = path.join(dir, 'lifeboat.yml');
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  slow:
    type: command
    backup_command: "echo started > ${dir}/running; sleep 30; echo data"
    restore_command: "cat > /dev/null"
    schedule: "@every 1s"
    backup:
      hooks: { after: ["echo after-hook-ran > ${dir}/after"] }
daemon: { listen: 127.0.0.1:0 }
`);
    const env = { LB_PW: PW, HOME: tmp.path };
    assert.equal((await lifeboat(['-c', cfg, 'init'], { env, cwd: dir })).code, 0);
    const child = spawnLifeboat(['-c', cfg, 'daemon'], { env, cwd: dir });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
    await until('the backup to be running', async () => (await readdir(dir)).includes('running') || undefined);
    assert.deepEqual(await readdir(path.join(dir, 'repo', 'locks')).then((l) => l.length), 1, 'the running backup holds a lock');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    assert.ok((await readdir(dir)).includes('after'), 'the after-hook ran');
    assert.deepEqual(await readdir(path.join(dir, 'repo', 'locks')), [], 'the lock was released');
  });
});
