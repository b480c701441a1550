/**
 * A restore through the API of a real `lifeboat daemon`: a command source is backed up, its live
 * data then changes; POST /api/v1/restores (with the token and the typed confirmation) puts the
 * backup back, after a pre-restore safety snapshot that holds what it replaced. The run is in
 * the catalog, a webhook hears one `restore` alert, and no secret is printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';

const PW = 'daemon-restore-pw-8812';
const TOKEN = 'daemon-restore-token-4471';

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(100);
  }
}

test('POST /api/v1/restores restores a source from a snapshot, after a safety snapshot of the live data', async () => {
  const tmp = await tempDir('daemon-restore');
  const alerts: Array<{ event: string; title: string }> = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => (alerts.push(JSON.parse(body)), res.end('ok')));
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const data = path.join(tmp.path, 'notes.txt');
  const cfg = path.join(tmp.path, 'lifeboat.yml');
  await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  notes: { type: command, backup_command: "cat ${data}", restore_command: "cat > ${data}" }
notifications:
  - { type: webhook, url: "http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook" }
daemon: { listen: 127.0.0.1:0, token: { env: LB_TOKEN }, allow_restore: true }
`);
  const env = { LB_PW: PW, LB_TOKEN: TOKEN, HOME: tmp.path };
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], { env, cwd: tmp.path });
  try {
    assert.equal((await run(['init'])).code, 0);
    await writeFile(data, 'notes v1\n');
    const backup = await run(['backup', '--json']);
    assert.equal(backup.code, 0, backup.stderr);
    const snapshot = (JSON.parse(backup.stdout) as { sources: Array<{ snapshot_id: string }> }).sources[0]?.snapshot_id as string;
    await writeFile(data, 'notes v2, live\n');

    const child = spawnLifeboat(['-c', cfg, 'daemon'], { env, cwd: tmp.path });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
    try {
      const base = await until('the API address', () => /API and metrics on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]);
      const post = (body: unknown, token?: string) => fetch(`${base}/api/v1/restores`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      const body = { sources: ['notes'], snapshot, confirm: `notes ${snapshot.slice(0, 8)}` };
      assert.equal((await post(body)).status, 401, 'the token is needed on 127.0.0.1 too');
      assert.equal((await post({ ...body, confirm: 'notes' }, TOKEN)).status, 400);
      assert.equal(await readFile(data, 'utf8'), 'notes v2, live\n', 'nothing was restored by refused requests');
      const accepted = await post(body, TOKEN);
      assert.equal(accepted.status, 202, await accepted.clone().text());

      const runs = async () => (await (await fetch(`${base}/api/v1/runs?kind=restore`)).json() as { runs: Array<{ id: number; status: string; target: string; snapshot_id: string }> }).runs;
      const done = await until('the restore run', async () => (await runs()).find((r) => r.status !== 'running'));
      assert.deepEqual([done.status, done.target, done.snapshot_id], ['ok', 'notes', snapshot]);
      assert.equal(await readFile(data, 'utf8'), 'notes v1\n', 'the live data is the snapshot\'s again');
      const detail = await (await fetch(`${base}/api/v1/runs/${done.id}`)).json() as { run: { report: { report: { sources: Array<{ safety_snapshot_id: string }> }; log: string[] } } };
      const safety = detail.run.report.report.sources[0]?.safety_snapshot_id as string;
      assert.match(safety, /^[0-9a-f]{64}$/);
      assert.ok(detail.run.report.log.some((l) => l.includes(`safety snapshot ${safety.slice(0, 8)}`)), 'the log names the safety snapshot');
      const alert = await until('the restore alert', () => alerts.find((a) => a.event === 'restore'));
      assert.equal(alert.title, `restore of notes from ${snapshot.slice(0, 8)} done`);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out);
    for (const secret of [PW, TOKEN]) assert.ok(!out.includes(secret), 'no secret in the output');
    assert.deepEqual(await readdir(path.join(tmp.path, 'repo', 'locks')), []);

    // The safety snapshot holds what the restore replaced: restoring it brings the live data back.
    const pre = JSON.parse((await run(['snapshots', '--tag', 'pre-restore', '--json'])).stdout) as Array<{ id: string }>;
    assert.equal(pre.length, 1);
    const undo = await run(['restore', '--only', 'notes', '--snapshot', (pre[0] as { id: string }).id.slice(0, 8), '--yes']);
    assert.equal(undo.code, 0, undo.stderr);
    assert.equal(await readFile(data, 'utf8'), 'notes v2, live\n');
  } finally {
    receiver.closeAllConnections();
    receiver.close();
    await tmp.cleanup();
  }
});
