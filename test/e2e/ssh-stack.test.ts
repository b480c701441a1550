/**
 * Stores on another host end to end through the CLI, over the ssh transport: a test sshd on a
 * loopback port stands for the remote host (which is this machine), so PostgreSQL, SQLite and
 * a command source are backed up, wiped, restored (pg_restore -j staged on the remote host)
 * and drilled with fingerprints equal while lifeboat's own PATH has no PostgreSQL or SQLite
 * tool: only the ssh session's PATH has them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { startPostgres } from '../support/postgres.ts';
import type { PostgresServer } from '../support/postgres.ts';
import { needBinaries } from '../support/require.ts';
import { SERVER_BINARIES } from '../support/binaries.ts';
import { startSshd } from '../support/sshd.ts';
import type { SshServer } from '../support/sshd.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'ssh-repo-pw-6120';
const TOOLS = ['pg_dump', 'pg_dumpall', 'pg_restore', 'psql', 'sqlite3'];


/** The remote side's stage dirs in this machine's /tmp. */
const stageDirs = (): string[] => readdirSync('/tmp').filter((n) => n.startsWith('lifeboat-stage.'));

describe('stores on a host reached over ssh, no dump tool on lifeboat\'s PATH', () => {
  let sshd: SshServer | undefined;
  let pg: PostgresServer | undefined;
  let tmp: TempDir;
  let cfg: string;
  let hostPath: string;

  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => lifeboat(['-c', cfg, ...args], {
    cwd: tmp.path, env: { PATH: hostPath, LB_PW, PG_PW: (pg as PostgresServer).password, ...extra },
  });
  const shopDigest = async () => (await (pg as PostgresServer).psql("SELECT md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM items", 'shop')).trim();
  const sqlite = (q: string) => {
    const r = spawnSync('sqlite3', [path.join(tmp.path, 'remote', 'app.db'), q], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };

  before(async (t) => {
    if (!needBinaries(t as never, ...SERVER_BINARIES.postgres, 'sqlite3', 'ssh')) return;
    sshd = await startSshd(t as never, { path: '/usr/local/bin:/usr/bin:/bin' });
    if (!sshd) return;
    pg = await startPostgres();
    tmp = await tempDir('ssh-stack');
    // lifeboat's PATH: no directory with a PostgreSQL or SQLite tool, only the ssh client.
    const bin = path.join(tmp.path, 'bin');
    await mkdir(bin);
    await symlink('/usr/bin/ssh', path.join(bin, 'ssh'));
    hostPath = [bin, ...(process.env.PATH ?? '').split(':').filter((d) => d !== '' && !TOOLS.some((x) => existsSync(path.join(d, x))))].join(':');
    await pg.psql('CREATE DATABASE shop');
    await pg.psql("CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 3000) g;", 'shop');
    await mkdir(path.join(tmp.path, 'remote'));
    await writeFile(path.join(tmp.path, 'remote', 'notes.txt'), 'runbook v1\n');
    sqlite("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2000) INSERT INTO notes SELECT n, 'note ' || n FROM g;");
    const ssh = `{ host: ${sshd.host}, port: ${sshd.port}, user: ${sshd.user}, identity_file: ${sshd.identityFile}, known_hosts: ${sshd.knownHosts} }`;
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  shop:
    type: postgres
    ssh: ${ssh}
    connection: { host: 127.0.0.1, port: ${pg.port}, user: ${pg.user}, password: { env: PG_PW } }
    databases: [shop]
    jobs: 2
  notes:
    type: command
    ssh: ${ssh}
    backup_command: cat ${tmp.path}/remote/notes.txt
    restore_command: cat > ${tmp.path}/remote/notes.txt
  app:
    type: sqlite
    ssh: ${ssh}
    path: ${tmp.path}/remote/app.db
`);
  });
  after(async () => {
    await pg?.stop();
    await sshd?.stop();
    await tmp?.cleanup();
  });

  test('the PATH given to lifeboat has no PostgreSQL or SQLite tool', (t) => {
    if (!sshd) return t.skip('no sshd');
    for (const dir of hostPath.split(':')) for (const tool of TOOLS) assert.ok(!existsSync(path.join(dir, tool)), `${dir}/${tool}`);
  });

  test('backup, wipe, restore and drill over ssh, fingerprints equal, nothing left on the remote host', async (t) => {
    if (!sshd || !pg) return t.skip('no sshd');
    assert.equal((await run(['init'])).code, 0);
    const digest = await shopDigest();
    const notesDigest = sqlite("SELECT count(*) || ':' || max(body) FROM notes");
    const stagesBefore = stageDirs();
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['app', 'ok'], ['notes', 'ok'], ['shop', 'ok']]);
    assert.ok(!(b.stdout + b.stderr).includes(pg.password), 'a secret was printed');

    await pg.psql('DROP DATABASE shop');
    await writeFile(path.join(tmp.path, 'remote', 'notes.txt'), 'wiped\n');
    sqlite('DROP TABLE notes; CREATE TABLE other (x);');

    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    for (const s of rr.sources) assert.deepEqual(s.fingerprint_diff, [], s.source);
    assert.equal(await shopDigest(), digest);
    assert.equal(await readFile(path.join(tmp.path, 'remote', 'notes.txt'), 'utf8'), 'runbook v1\n');
    assert.equal(sqlite("SELECT count(*) || ':' || max(body) FROM notes"), notesDigest);
    // The archive pg_restore -j read was staged on the remote host and removed.
    assert.deepEqual(stageDirs().filter((d) => !stagesBefore.includes(d)), []);

    const d = await run(['drill', '--only', 'shop', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['shop', 'pass', 'done']]);
    assert.equal((await pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_%'")).trim(), '0');
  });

  test('an unknown host key fails the source with its coded error naming the host and the fix', async (t) => {
    if (!sshd) return t.skip('no sshd');
    const empty = path.join(tmp.path, 'empty_known_hosts');
    await writeFile(empty, '');
    const other = path.join(tmp.path, 'unknown.yml');
    await writeFile(other, (await readFile(cfg, 'utf8')).replaceAll(sshd.knownHosts, empty));
    const b = await lifeboat(['-c', other, 'backup', '--only', 'notes', '--json'], { cwd: tmp.path, env: { PATH: hostPath, LB_PW, PG_PW: 'x' } });
    assert.notEqual(b.code, 0);
    const out = b.stdout + b.stderr;
    assert.match(out, /ssh host key of host [^ ]*127\.0\.0\.1:\d+ is not in/);
    assert.ok(out.includes(`ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ${empty}`), out);
  });
});
