/**
 * Secrets on disk: a `lifeboat backup` of a MariaDB source SIGKILLed while mariadb-dump runs
 * leaves no file under the state dir that holds the database password, and the next run
 * removes what killed runs left in the state dir's tmp/ (an older version's option file too).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import { missingBinaries } from '../support/require.ts';
import { SERVER_BINARIES, startMariadb } from '../support/servers.ts';
import type { MariadbServer } from '../support/servers.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const REPO_PW = 'secrets-repo-pw-4410';

/** Every file below `dir` (recursively), with its content. */
async function files(dir: string): Promise<Array<{ file: string; text: string }>> {
  const out: Array<{ file: string; text: string }> = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    out.push({ file, text: (await readFile(file)).toString('latin1') });
  }
  return out;
}

/** The pids of the children of `pid` whose command line contains `name` (from /proc). */
async function childrenNamed(pid: number, name: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (ppid === pid && cmd.includes(name)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

describe('secrets on disk (MariaDB)', { skip: missingBinaries(...SERVER_BINARIES.mariadb, 'mariadb-dump') }, () => {
  let my: MariadbServer;
  let tmp: TempDir;
  const password = `kill-me-${Date.now().toString(36)}-Zq9`;

  before(async () => {
    [my, tmp] = await Promise.all([startMariadb({ password }), tempDir('mysql-secrets')]);
    // ~80 MB of rows, so the dump still runs when the kill lands.
    await my.sql(`CREATE DATABASE big; USE big; CREATE TABLE big (id INT PRIMARY KEY, payload TEXT) ENGINE=MyISAM;
      INSERT INTO big SELECT seq, REPEAT(MD5(seq), 12) FROM seq_1_to_200000;`);
    await writeFile(path.join(tmp.path, 'lifeboat.yml'), `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  crm:
    type: mysql
    connection: { host: 127.0.0.1, port: ${my.port}, user: root, password: { env: MY_PW } }
    databases: [big]
`);
  });
  after(async () => {
    await my?.stop();
    await tmp?.cleanup();
  });

  it('a backup killed during the dump leaves no file with the password, and the next run cleans tmp/', async () => {
    const env = { LB_PW: REPO_PW, MY_PW: password };
    const cfg = ['-c', path.join(tmp.path, 'lifeboat.yml')];
    const init = await lifeboat([...cfg, 'init'], { env, cwd: tmp.path });
    assert.equal(init.code, 0, init.stderr);

    const child = spawnLifeboat([...cfg, 'backup'], { env, cwd: tmp.path });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    let dump: number[] = [];
    for (let i = 0; i < 600 && dump.length === 0; i++) {
      dump = await childrenNamed(child.pid as number, 'mariadb-dump');
      if (dump.length === 0) await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(dump.length > 0, 'mariadb-dump was seen running');
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    for (const pid of dump) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone (its stdout closed with lifeboat).
      }
    }

    const state = path.join(tmp.path, 'state');
    const leaks = (await files(state)).filter((f) => f.text.includes(password)).map((f) => f.file);
    assert.deepEqual(leaks, [], 'no file under the state dir holds the password');

    // What a killed run of an older version left (its option file), and a killed run's dir.
    await mkdir(path.join(state, 'tmp', 'mysql-AbCdEf'), { recursive: true });
    await writeFile(path.join(state, 'tmp', 'mysql-AbCdEf', 'client.cnf'), `[client]\npassword="${password}"\n`, { mode: 0o600 });
    await mkdir(path.join(state, 'tmp', 'run-999999999-0badc0de', 'pg-restore-x'), { recursive: true });
    const rerun = await lifeboat([...cfg, 'backup'], { env, cwd: tmp.path });
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual((await files(state)).filter((f) => f.text.includes(password)).map((f) => f.file), []);
    assert.deepEqual(await readdir(path.join(state, 'tmp')), [], 'leftovers removed, and the run removed its own dir at exit');
  });
});
