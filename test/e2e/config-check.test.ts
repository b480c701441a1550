/**
 * `lifeboat config check` resolves every secret of lifeboat.yml and names each one that is
 * missing (exit 2); a secret file that group or others can read is warned about, once.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const SECRET = 'top-secret-value-4411';

describe('config check', () => {
  let tmp: TempDir;
  let cfg: string;
  const env = (): NodeJS.ProcessEnv => ({ HOME: tmp.path, XDG_STATE_HOME: path.join(tmp.path, 'state'), PATH: process.env.PATH });

  before(async () => {
    tmp = await tempDir('config-check');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `repository:
  url: local:./repo
  password: { env: REPO_PW }
sources:
  app:
    type: files
    paths: [./data]
  db:
    type: redis
    url: redis://127.0.0.1:6379
    password: { file: ./redis-pw }
copies:
  - repository: { url: local:./offsite, password: { command: "exit 3" } }
`);
  });
  after(() => tmp.cleanup());

  test('names every secret that cannot be resolved, one line each, exit 2', async () => {
    const r = await runCli(['-c', cfg, 'config', 'check'], env());
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /3 secrets cannot be resolved/);
    assert.match(r.stderr, /^repository\.password: environment variable REPO_PW is not set$/m);
    assert.match(r.stderr, /^sources\.db\.password: cannot read secret file .*redis-pw: ENOENT$/m);
    assert.match(r.stderr, /^copies\[0\]\.repository\.password: secret command "exit 3" exited with status 3$/m);
  });

  test('warns once about a secret file others can read, naming it and chmod 600; never prints a value', async () => {
    const pw = path.join(tmp.path, 'redis-pw');
    await writeFile(pw, `${SECRET}\n`);
    await chmod(pw, 0o644);
    await writeFile(cfg, `repository:
  url: local:./repo
  password: { file: ./redis-pw }
sources:
  db: { type: redis, url: "redis://127.0.0.1:6379", password: { file: ./redis-pw } }
`);
    const r = await runCli(['-c', cfg, 'config', 'check'], { ...env(), REPO_PW: SECRET });
    assert.equal(r.code, 0, r.stderr);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
    assert.equal(warnings.length, 1, r.stderr);
    assert.match(warnings[0] as string, new RegExp(`secret file ${pw} can be read by group or others \\(mode 644\\); run chmod 600 ${pw}`));
    assert.ok(!r.stdout.includes(SECRET) && !r.stderr.includes(SECRET));
    // Every command that reads the file says it too, once.
    assert.equal((await runCli(['-c', cfg, 'init'], env())).code, 0);
    const listed = await runCli(['-c', cfg, 'snapshots'], env());
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stderr.split('\n').filter((l) => l.includes(`run chmod 600 ${pw}`)).length, 1, listed.stderr);
    await chmod(pw, 0o600);
    const quiet = await runCli(['-c', cfg, 'config', 'check'], env());
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /warning/);
  });

  test('forget refuses a --keep-within that is not a restic duration before opening anything', async () => {
    const r = await runCli(['-r', path.join(tmp.path, 'absent'), 'forget', '--keep-within', '2w'], { ...env(), LIFEBOAT_PASSWORD: 'x' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--keep-within: "2w" is not a restic duration \(unknown unit "w"\)/);
  });
});
