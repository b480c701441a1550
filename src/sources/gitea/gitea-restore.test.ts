/**
 * The restore script on its own (bash, tar and sqlite3 of this machine, no Gitea): a dump
 * replaces data, repositories, database and app.ini, leaving no staging dir; a dump whose
 * database does not load leaves every live path as it was.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { runCommand } from '../../../test/support/run-command.ts';
import { missingBinaries } from '../../../test/support/require.ts';
import { tempDir, type TempDir } from '../../../test/support/tmp.ts';
import { SourceError } from '../../core/errors.ts';
import type { CommandRunner } from '../../core/command-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { RESTORE_SCRIPT, restoreArgs } from './gitea-restore.ts';
import { DUMP_ARTIFACT, giteaType } from './gitea-source.ts';

const skip = missingBinaries('bash', 'tar', 'sqlite3');

describe('gitea restore script', { skip }, () => {
  let tmp: TempDir;
  let live: string;
  beforeEach(async () => {
    tmp = await tempDir('gitea-restore');
    live = path.join(tmp.path, 'gitea');
    await mkdir(path.join(live, 'data', 'avatars'), { recursive: true });
    await mkdir(path.join(live, 'repositories', 'old', 'gone.git'), { recursive: true });
    await mkdir(path.join(live, 'custom', 'conf'), { recursive: true });
    await writeFile(path.join(live, 'data', 'avatars', 'old.png'), 'old');
    await writeFile(path.join(live, 'data', 'gitea.db'), 'live database');
    await writeFile(path.join(live, 'custom', 'conf', 'app.ini'), 'live config\n');
  });
  afterEach(() => tmp?.cleanup());

  async function dump(sql: string): Promise<Buffer> {
    const d = path.join(tmp.path, 'dump');
    await mkdir(path.join(d, 'repos', 'lbadmin', 'app.git', 'refs'), { recursive: true });
    await mkdir(path.join(d, 'data', 'avatars'), { recursive: true });
    await writeFile(path.join(d, 'repos', 'lbadmin', 'app.git', 'HEAD'), 'ref: refs/heads/main\n');
    await writeFile(path.join(d, 'data', 'avatars', 'new.png'), 'new');
    await writeFile(path.join(d, 'data', 'gitea.db'), 'raw copy of the live file');
    await writeFile(path.join(d, 'app.ini'), 'dumped config\n');
    await writeFile(path.join(d, 'gitea-db.sql'), sql);
    return execFileSync('tar', ['-cf', '-', '-C', d, '.']);
  }

  const run = (input: Buffer) => runCommand('bash', ['-c', RESTORE_SCRIPT, 'restore', ...restoreArgs({
    config: path.join(live, 'custom', 'conf', 'app.ini'), data: path.join(live, 'data'), repos: path.join(live, 'repositories'),
    custom: path.join(live, 'custom'), db: path.join(live, 'data', 'gitea.db'), owner: '', loadDb: true, appIni: '',
  })], { input, timeoutMs: 60_000 });

  it('replaces data, repositories, database and app.ini, and leaves no staging dir', async () => {
    const r = await run(await dump('CREATE TABLE repository (id INTEGER, name TEXT);\nINSERT INTO repository VALUES (1, \'app\');\n'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readdir(path.join(live, 'data', 'avatars')), ['new.png']);
    assert.deepEqual(await readdir(path.join(live, 'repositories')), ['lbadmin']);
    assert.equal(await readFile(path.join(live, 'custom', 'conf', 'app.ini'), 'utf8'), 'dumped config\n');
    assert.equal(execFileSync('sqlite3', [path.join(live, 'data', 'gitea.db'), 'SELECT name FROM repository']).toString().trim(), 'app');
    assert.deepEqual((await readdir(live)).filter((n) => n.startsWith('.')), []);
  });

  it('a database dump that does not load leaves every live path as it was', async () => {
    const r = await run(await dump('CREATE TABLE repository (id INTEGER);\nTHIS IS NOT SQL;\n'));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lifeboat: sqlite3 could not load gitea-db\.sql \(the instance is as it was\)/);
    assert.deepEqual(await readdir(path.join(live, 'data', 'avatars')), ['old.png']);
    assert.equal(await readFile(path.join(live, 'data', 'gitea.db'), 'utf8'), 'live database');
    assert.deepEqual(await readdir(path.join(live, 'repositories')), ['old']);
    assert.equal(await readFile(path.join(live, 'custom', 'conf', 'app.ini'), 'utf8'), 'live config\n');
    assert.deepEqual((await readdir(live)).filter((n) => n.startsWith('.')), []);
  });
});

describe('gitea restore of a Gitea on PostgreSQL', { skip: missingBinaries('tar') }, () => {
  it('is refused before any command runs, naming skip_database and a postgres source', async () => {
    const tmp = await tempDir('gitea-pg');
    try {
      await mkdir(path.join(tmp.path, 'd', 'data'), { recursive: true });
      await writeFile(path.join(tmp.path, 'd', 'app.ini'), 'WORK_PATH = /srv/gitea\n[database]\nDB_TYPE = postgres\nHOST = db:5432\n');
      await writeFile(path.join(tmp.path, 'd', 'gitea-db.sql'), 'CREATE TABLE "user" (id BIGSERIAL);\n');
      const arts = await memoryArtifacts();
      await arts.sink.put(DUMP_ARTIFACT, (async function* () {
        yield execFileSync('tar', ['-cf', '-', '-C', path.join(tmp.path, 'd'), '.']);
      })());
      const runs: string[] = [];
      const runner: CommandRunner = { start: (spec) => { runs.push(spec.command); throw new Error('no command may run'); } };
      const source = giteaType.create('code', { config: '/srv/gitea/custom/conf/app.ini', url: 'http://127.0.0.1:9', token: { env: 'T' } }, { runner, secrets: async () => 't', tmpDir: tmp.path });
      await assert.rejects(source.restore(arts.reader(), testContext()), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.match(err.message, /holds a postgres database, which the gitea source does not load \(only SQLite\)/);
        assert.match(err.hint ?? '', /skip_database: true .* postgres or mysql source/);
        return true;
      });
      assert.deepEqual(runs, []);
      await arts.cleanup();
    } finally {
      await tmp.cleanup();
    }
  });
});
