/**
 * restic's environment works unchanged: RESTIC_REPOSITORY(_FILE) and RESTIC_PASSWORD(_FILE,
 * _COMMAND) are read where no LIFEBOAT_* of the same kind is set; LIFEBOAT_* wins.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PW = 'restic-env-pw';

describe('RESTIC_* variables as fallbacks', () => {
  let tmp: TempDir;
  let repo: string;
  const env = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({ HOME: tmp.path, PATH: process.env.PATH, ...extra });

  before(async () => {
    tmp = await tempDir('restic-env');
    repo = path.join(tmp.path, 'repo');
    assert.equal((await runCli(['init'], env({ RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PW }))).code, 0);
    await writeFile(path.join(tmp.path, 'pw'), `${PW}\n`);
    await writeFile(path.join(tmp.path, 'repo-file'), `${repo}\n`);
  });
  after(() => tmp.cleanup());

  test('each of restic\'s ways to name the repository and its password opens it', async () => {
    for (const extra of [
      { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PW },
      { RESTIC_REPOSITORY_FILE: path.join(tmp.path, 'repo-file'), RESTIC_PASSWORD_FILE: path.join(tmp.path, 'pw') },
      { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_COMMAND: `cat ${path.join(tmp.path, 'pw')}` },
    ]) {
      const r = await runCli(['snapshots'], env(extra));
      assert.equal(r.code, 0, `${JSON.stringify(extra)}: ${r.stderr}`);
    }
  });

  test('LIFEBOAT_* wins over RESTIC_*, whole', async () => {
    const wrong = await runCli(['snapshots'], env({ LIFEBOAT_REPOSITORY: repo, LIFEBOAT_PASSWORD: 'not-it', RESTIC_PASSWORD_FILE: path.join(tmp.path, 'pw') }));
    assert.equal(wrong.code, 12, wrong.stderr);
    const elsewhere = await runCli(['snapshots'], env({ LIFEBOAT_REPOSITORY: path.join(tmp.path, 'none'), RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PW }));
    assert.equal(elsewhere.code, 10, elsewhere.stderr);
  });

  test('an unreadable RESTIC_REPOSITORY_FILE is a usage error naming it', async () => {
    const r = await runCli(['snapshots'], env({ RESTIC_REPOSITORY_FILE: path.join(tmp.path, 'missing'), RESTIC_PASSWORD: PW }));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot read RESTIC_REPOSITORY_FILE .*missing: ENOENT/);
  });
});
