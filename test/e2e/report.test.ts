/**
 * `lifeboat report` lists every source of lifeboat.yml with its last backup even after
 * `backup --only` runs, reads the repository when the state directory has no history (a DR
 * host), compares ages with `rpo` and exits 4 when a source needs attention; a run that fails
 * before opening the repository still leaves a report that `report` shows.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PW = 'report-pw-1';
const ZONED = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/;

interface Status {
  sources: Array<{ source: string; backup?: { status: string; from: string; at: string }; overdue: boolean; attention: string[] }>;
  failed_runs: Array<{ kind: string; error: string }>;
}

describe('report', () => {
  let tmp: TempDir;
  let cfg: string;
  let strict: string;
  const env = (state = 'state', extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv =>
    ({ HOME: tmp.path, XDG_STATE_HOME: path.join(tmp.path, state), PATH: process.env.PATH, REPO_PW: PW, ...extra });
  const status = (stdout: string): Status => JSON.parse(stdout) as Status;

  before(async () => {
    tmp = await tempDir('report');
    for (const d of ['a', 'b']) {
      await mkdir(path.join(tmp.path, d));
      await writeFile(path.join(tmp.path, d, 'f.txt'), `${d}\n`);
    }
    const body = `sources:
  a: { type: files, paths: [./a] }
  b: { type: files, paths: [./b] }
`;
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `repository: { url: local:./repo, password: { env: REPO_PW } }\ndefaults: { rpo: 1h }\n${body}`);
    strict = path.join(tmp.path, 'strict.yml');
    await writeFile(strict, `repository: { url: local:./repo, password: { env: REPO_PW } }\ndefaults: { rpo: 1ms }\n${body}`);
    assert.equal((await runCli(['-c', cfg, 'init'], env())).code, 0);
  });
  after(() => tmp.cleanup());

  test('never backed up: exit 4 naming every source', async () => {
    const r = await runCli(['-c', cfg, 'report', '--no-repository'], env());
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /needs attention: a \(never backed up\), b \(never backed up\)$/m);
  });

  test('every source stays listed with its last backup after backup --only; times carry their zone', async () => {
    assert.equal((await runCli(['-c', cfg, 'backup'], env())).code, 0);
    assert.equal((await runCli(['-c', cfg, 'backup', '--only', 'a'], env())).code, 0);
    const r = await runCli(['-c', cfg, 'report'], env());
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`^b +ok ${ZONED.source}`, 'm'));
    const j = status((await runCli(['-c', cfg, 'report', '--json'], env())).stdout);
    assert.deepEqual(j.sources.map((s) => [s.source, s.backup?.status, s.backup?.from, s.attention]), [['a', 'ok', 'state_dir', []], ['b', 'ok', 'state_dir', []]]);
  });

  test('on a host without history the repository tells the last backups', async () => {
    const r = await runCli(['-c', cfg, 'report', '--json'], env('dr-state'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(status(r.stdout).sources.map((s) => [s.source, s.backup?.status, s.backup?.from]), [['a', 'ok', 'repository'], ['b', 'ok', 'repository']]);
  });

  test('a backup older than its rpo is overdue: exit 4', async () => {
    const r = await runCli(['-c', strict, 'report', '--json'], env());
    assert.equal(r.code, 4, r.stderr);
    assert.ok(status(r.stdout).sources.every((s) => s.overdue && s.attention.includes('overdue: the last good backup is older than its rpo')));
    assert.match(r.stderr, /needs attention: a \(overdue/);
  });

  test('a backup that fails before opening the repository leaves a report, and report shows it', async () => {
    const wrong = await runCli(['-c', cfg, 'backup'], env('state', { REPO_PW: 'not-the-password' }));
    assert.equal(wrong.code, 12, wrong.stderr);
    const saved = JSON.parse(await readFile(path.join(tmp.path, 'state', 'lifeboat', 'reports', 'latest-backup.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(saved.status, 'failed');
    assert.equal(saved.error_code, 'wrong_password');
    assert.match(String(saved.finished_at), ZONED);
    assert.ok(!JSON.stringify(saved).includes('not-the-password'));
    const r = await runCli(['-c', cfg, 'report'], env());
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stdout, /the last backup run \(.*\) FAILED: wrong password/);

    const unset = await runCli(['-c', cfg, 'backup'], env('state', { REPO_PW: undefined }));
    assert.equal(unset.code, 2, unset.stderr);
    const again = JSON.parse(await readFile(path.join(tmp.path, 'state', 'lifeboat', 'reports', 'latest-backup.json'), 'utf8')) as Record<string, unknown>;
    assert.match(String(again.error), /repository\.password: environment variable REPO_PW is not set/);

    assert.equal((await runCli(['-c', cfg, 'backup'], env())).code, 0);
    assert.equal((await runCli(['-c', cfg, 'report'], env())).code, 0, 'a good run clears it');
  });
});
