/**
 * Which snapshots a stack restore and a drill choose on a repository several hosts share:
 * the plan shows each snapshot's host and zoned time, `--host` narrows to one host, a choice
 * spanning hosts is warned about, and `--at` takes zones and relative times.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { openRepositoryAt } from '../../src/app/open-repository.ts';
import { listSnapshots, saveSnapshot } from '../../src/repo/snapshot/snapshot.ts';
import { formatDate } from '../../src/util/time.ts';

const PW = 'choice-pw-1';

interface Plan { plan: Array<{ source: string; snapshot_id: string; host: string | null; time: string | null }> }

describe('stack restore and drill choose snapshots by host and time', () => {
  let tmp: TempDir;
  let env: NodeJS.ProcessEnv;
  let cfg: string;
  const ids: Record<string, string> = {};
  const run = (args: string[]) => runCli(['-c', cfg, ...args], env);

  before(async () => {
    tmp = await tempDir('choice');
    env = { HOME: tmp.path, XDG_STATE_HOME: path.join(tmp.path, 'state'), PATH: process.env.PATH, REPO_PW: PW };
    cfg = path.join(tmp.path, 'lifeboat.yml');
    for (const d of ['app', 'more']) {
      await mkdir(path.join(tmp.path, d));
      await writeFile(path.join(tmp.path, d, 'f.txt'), `${d}\n`);
    }
    await writeFile(cfg, `repository: { url: local:./repo, password: { env: REPO_PW } }
sources:
  app: { type: files, paths: [./app] }
  more: { type: files, paths: [./more] }
`);
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup']);
    assert.equal(b.code, 0, b.stderr);
    // Another host's backups of "app" in the same repository: one newer, one 3 hours old.
    const opened = await openRepositoryAt(`local:${path.join(tmp.path, 'repo')}`, PW, { loadIndex: false });
    try {
      const mine = (await listSnapshots(opened.repo)).find((s) => s.tags?.includes('source:app'));
      assert.ok(mine);
      ids.mine = mine.id;
      const { id: _id, date: _date, ...doc } = mine;
      ids.newer = await saveSnapshot(opened.repo, { ...doc, hostname: 'other-host', time: formatDate(new Date(Date.now() + 60_000)) });
      ids.older = await saveSnapshot(opened.repo, { ...doc, hostname: 'old-host', time: formatDate(new Date(Date.now() - 3 * 3_600_000)) });
    } finally {
      await opened.close();
    }
  });
  after(() => tmp.cleanup());

  const planOf = (stdout: string): Plan => JSON.parse(stdout) as Plan;

  test('by default the latest of any host, with the host shown and a warning that hosts are mixed', async () => {
    const r = await run(['restore', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Host/);
    assert.match(r.stdout, new RegExp(`app .*${ids.newer?.slice(0, 8)} .*other-host`));
    assert.match(r.stdout, /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)/, 'the time carries its zone');
    const hosts = [hostname(), 'other-host'].sort().join(', ');
    assert.ok(r.stderr.includes(`warning: the chosen snapshots come from 2 hosts (${hosts}); pass --host NAME`), r.stderr);
    const j = planOf((await run(['restore', '--dry-run', '--json'])).stdout);
    assert.deepEqual(j.plan.find((p) => p.source === 'app'), { source: 'app', snapshot_id: ids.newer, host: 'other-host', time: j.plan.find((p) => p.source === 'app')?.time, to: null, safety_snapshot: true, depends_on: [] });
  });

  test('--host picks the latest of that host and the warning goes away', async () => {
    const r = await run(['restore', '--dry-run', '--json', '--host', hostname()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(planOf(r.stdout).plan.find((p) => p.source === 'app')?.snapshot_id, ids.mine);
    assert.doesNotMatch(r.stderr, /come from 2 hosts/);
  });

  test('--at takes relative times and zones', async () => {
    const r = await run(['restore', '--dry-run', '--json', '--at', '2h ago']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(planOf(r.stdout).plan.map((p) => [p.source, p.snapshot_id]), [['app', ids.older]]);
    const zoned = new Date(Date.now() - 2 * 3_600_000).toISOString().slice(0, 16).replace('Z', '') + '+00:00';
    const z = await run(['restore', '--dry-run', '--json', '--at', zoned]);
    assert.equal(z.code, 0, z.stderr);
    assert.deepEqual(planOf(z.stdout).plan.map((p) => p.snapshot_id), [ids.older]);
    const bad = await run(['restore', '--dry-run', '--at', 'yesterday']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--at "yesterday" is not a time; use .*2h ago/);
  });

  test('verify takes --host and --at too', async () => {
    const r = await run(['verify', '--json', '--host', 'old-host', '--at', '1h ago']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { sources: Array<{ snapshot_id: string }> }).sources.map((s) => s.snapshot_id), [ids.older]);
  });

  test('drill shows the host of each snapshot and takes --host', async () => {
    const r = await run(['drill', '--host', 'other-host', '--only', 'app']);
    assert.match(r.stdout, new RegExp(`app: snapshot ${ids.newer?.slice(0, 8)} of other-host, taken \\d{4}-`));
    assert.equal(r.code, 0, r.stderr + r.stdout);
  });
});
