/**
 * `lifeboat metrics --textfile FILE` for cron users: after `lifeboat backup` runs (one good,
 * one that fails before any source because the password is wrong), the textfile is valid
 * Prometheus text with the daemon's metric names, counting both runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import { parsePrometheusText } from '../support/prometheus-parser.ts';

test('metrics --textfile writes the runs of cron-driven backups as Prometheus text', async () => {
  const tmp = await tempDir('metrics-textfile');
  try {
    await mkdir(path.join(tmp.path, 'docs'));
    await writeFile(path.join(tmp.path, 'docs', 'a.txt'), 'hello\n');
    const cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  docs: { type: files, paths: [${tmp.path}/docs], schedule: "@daily" }
`);
    const env = { HOME: tmp.path, LB_PW: 'metrics-pw-1' };
    assert.equal((await runCli(['-c', cfg, 'init'], env)).code, 0);
    assert.equal((await runCli(['-c', cfg, 'backup'], env)).code, 0);
    assert.notEqual((await runCli(['-c', cfg, 'backup'], { ...env, LB_PW: 'wrong' })).code, 0);
    const file = path.join(tmp.path, 'lifeboat.prom');
    const r = await runCli(['-c', cfg, 'metrics', '--textfile', file], env);
    assert.equal(r.code, 0, r.stderr);
    const fams = parsePrometheusText(await readFile(file, 'utf8'));
    const runs = fams.get('lifeboat_job_runs_total')?.samples ?? [];
    assert.equal(runs.find((s) => s.labels.job === 'backup:docs' && s.labels.result === 'success')?.value, 1);
    assert.equal(runs.find((s) => s.labels.job === 'backup:docs' && s.labels.result === 'failure')?.value, 1);
    assert.equal(fams.get('lifeboat_job_status')?.samples[0]?.value, 0, 'the last run failed');
    assert.ok((fams.get('lifeboat_job_last_success_timestamp_seconds')?.samples[0]?.value ?? 0) > 0);
    assert.ok((fams.get('lifeboat_job_next_run_timestamp_seconds')?.samples[0]?.value ?? 0) * 1000 > Date.now());
    assert.equal(fams.get('lifeboat_repo_up'), undefined, 'the repository is not probed');
  } finally {
    await tmp.cleanup();
  }
});
