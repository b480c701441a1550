/**
 * Stores in containers end to end through the CLI, against a real Docker engine: PostgreSQL,
 * MariaDB and a command source in a container (by name, or as a compose service found by its
 * labels) are backed up, wiped, restored (pg_restore -j staged inside the container) and
 * drilled with fingerprints equal, while lifeboat's PATH has no PostgreSQL or MariaDB tool.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { lifeboat, spawnLifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { freePort, pollUntil } from '../support/ports.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'container-repo-pw-4417';
const PG_PW = 'container-pg-pw-9032';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');
const MY_PW = 'container-my-pw-5820';
/** Dump and client tools that must run in the containers, never from the host. */
const PG_TOOLS = ['pg_dump', 'pg_dumpall', 'pg_restore', 'psql', 'mariadb-dump', 'mysqldump', 'mariadb', 'mysql', 'sqlite3'];


/** This PATH without any directory holding a PostgreSQL or MariaDB tool: the tools can only run in the container. */
function pathWithoutPgTools(): string {
  return (process.env.PATH ?? '').split(':').filter((d) => d !== '' && !PG_TOOLS.some((t) => existsSync(path.join(d, t)))).join(':');
}

describe('stores in containers, no dump tool on the host', () => {
  let engine: DockerEngine | undefined;
  let tmp: TempDir;
  let cfg: string;
  let port: number;
  const pgName = `lb-e2e-pg-${process.pid}`;
  const appName = `lb-e2e-app-${process.pid}`;
  const webName = `lb-e2e-web-${process.pid}`;
  const myName = `lb-e2e-my-${process.pid}`;
  let myPort: number;
  const hostPath = pathWithoutPgTools();

  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => lifeboat(['-c', cfg, ...args], {
    cwd: tmp.path,
    env: { PATH: hostPath, DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW, PG_PW, MY_PW, ...extra },
  });
  /** When the container last started, and whether it runs. */
  const started = async (name: string) => dockerOk(['inspect', '--format', '{{.State.StartedAt}} {{.State.Running}}', name]);
  const dockerOk = async (args: string[]): Promise<string> => {
    const r = await (engine as DockerEngine).docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const psql = (sql: string, db = 'postgres') => dockerOk(['exec', pgName, 'psql', '-X', '-qAt', '-h', '/tmp', '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql]);
  const mysql = (sql: string) => dockerOk(['exec', '-i', myName, 'mariadb', '--socket=/tmp/my.sock', '-uroot', '--batch', '--skip-column-names', '-e', sql]);
  const ordersDigest = () => mysql("SELECT md5(group_concat(id, ':', note ORDER BY id)) FROM orders.lines");
  const shopDigest = () => psql("SELECT md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM items", 'shop');

  before(async (t) => {
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('containers');
    port = await freePort();
    // Host network, loopback only; password auth over TCP (the secret reaches exec through env).
    const r = await engine.docker(['run', '-d', '--network', 'host', '--name', pgName, '--user', 'postgres', '-e', 'PGPW',
      '--label', 'com.docker.compose.project=omni', '--label', 'com.docker.compose.service=postgres',
      IMAGE, 'bash', '-c',
      'set -e; echo "$PGPW" > /tmp/pw; B=/usr/lib/postgresql/15/bin; $B/initdb -D /tmp/pg -U postgres --pwfile=/tmp/pw --auth-host=scram-sha-256 --auth-local=trust >/dev/null; rm /tmp/pw; '
      + `exec $B/postgres -D /tmp/pg -p ${port} -k /tmp -c listen_addresses=127.0.0.1`], { env: { PGPW: PG_PW } });
    assert.equal(r.code, 0, r.stderr);
    await dockerOk(['run', '-d', '--network', 'none', '--name', webName, IMAGE, 'sh', '-c', 'trap "exit 0" TERM; sleep infinity & wait']);
    await dockerOk(['run', '-d', '--network', 'none', '--name', appName, IMAGE, 'bash', '-c', 'mkdir -p /srv && echo "runbook v1" > /srv/notes.txt && trap "exit 0" TERM; sleep infinity & wait']);
    myPort = await freePort();
    // MariaDB the same way: root over TCP needs the password (set below over the socket).
    await dockerOk(['run', '-d', '--network', 'host', '--name', myName, IMAGE, 'bash', '-c',
      'set -e; mariadb-install-db --user=mysql --datadir=/tmp/my --auth-root-authentication-method=normal --skip-test-db >/dev/null; '
      + `exec mariadbd --user=mysql --datadir=/tmp/my --socket=/tmp/my.sock --pid-file=/tmp/my/my.pid --port=${myPort} --bind-address=127.0.0.1 --skip-name-resolve --innodb-buffer-pool-size=32M`]);
    await pollUntil(async () => (await engine?.docker(['exec', pgName, 'pg_isready', '-q', '-h', '127.0.0.1', '-p', String(port)]))?.code === 0, { timeoutMs: 60_000, what: 'postgres in its container' });
    await psql('CREATE DATABASE shop');
    await psql("CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 3000) g;", 'shop');
    await pollUntil(async () => (await engine?.docker(['exec', myName, 'mariadb-admin', '--socket=/tmp/my.sock', '-uroot', 'ping']))?.code === 0, { timeoutMs: 60_000, what: 'mariadb in its container' });
    const pw = await engine.docker(['exec', '-i', myName, 'mariadb', '--socket=/tmp/my.sock', '-uroot'], {
      input: `ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '${MY_PW}';`,
    });
    assert.equal(pw.code, 0, pw.stderr);
    await mysql("CREATE DATABASE orders; CREATE TABLE orders.lines (id int primary key, note text); INSERT INTO orders.lines SELECT seq, concat('line ', seq) FROM orders.seq_1_to_2000;");
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  shop:
    type: postgres
    compose: { project: omni, service: postgres }
    connection: { host: 127.0.0.1, port: ${port}, user: postgres, password: { env: PG_PW } }
    databases: [shop]
    jobs: 2
    stop: [${webName}]
  notes:
    type: command
    container: ${appName}
    backup_command: cat /srv/notes.txt
    restore_command: cat > /srv/notes.txt
`);
  });
  after(async () => {
    if (!engine) return;
    await engine.docker(['rm', '-f', pgName, appName, webName, myName]);
    await engine.stop();
    await tmp?.cleanup();
  });

  test('the host PATH given to lifeboat has no PostgreSQL, MariaDB or SQLite tool', (t) => {
    if (!engine) return t.skip('no engine');
    for (const dir of hostPath.split(':')) for (const tool of PG_TOOLS) assert.ok(!existsSync(path.join(dir, tool)), `${dir}/${tool}`);
  });

  test('backup, wipe, restore and drill through the container transport, fingerprints equal', async (t) => {
    if (!engine) return t.skip('no engine');
    assert.equal((await run(['init'])).code, 0);
    const digest = await shopDigest();
    const webBefore = await started(webName);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    // Stopped around the backup (`stop:`) and running again: a new start time.
    const webAfter = await started(webName);
    assert.match(webAfter, / true$/);
    assert.notEqual(webAfter, webBefore);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['notes', 'ok'], ['shop', 'ok']]);
    assert.ok(!(b.stdout + b.stderr).includes(PG_PW), 'a secret was printed');

    await psql('DROP DATABASE shop');
    await dockerOk(['exec', appName, 'sh', '-c', 'echo wiped > /srv/notes.txt']);

    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    for (const s of rr.sources) assert.deepEqual(s.fingerprint_diff, [], s.source);
    assert.equal(await shopDigest(), digest);
    assert.equal(await dockerOk(['exec', appName, 'cat', '/srv/notes.txt']), 'runbook v1');
    // The archive pg_restore -j read was staged in the container and removed.
    assert.equal(await dockerOk(['exec', pgName, 'sh', '-c', 'ls -d /tmp/lifeboat-stage.* 2>/dev/null | wc -l']), '0');

    const d = await run(['drill', '--only', 'shop', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    const dr = last<Report>(d);
    assert.deepEqual(dr.sources.map((s) => [s.source, s.status, s.cleanup]), [['shop', 'pass', 'done']]);
    assert.equal(await psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_%'"), '0');
  });

  test('mysql (MariaDB) in a container: the tools run there with the password in the exec env', async (t) => {
    if (!engine) return t.skip('no engine');
    const myCfg = path.join(tmp.path, 'mysql.yml');
    await writeFile(myCfg, `
repository:
  url: ./repo-my
  password: { env: LB_PW }
state_dir: ./state-my
sources:
  orders:
    type: mysql
    container: ${myName}
    connection: { host: 127.0.0.1, port: ${myPort}, user: root, password: { env: MY_PW } }
    databases: [orders]
`);
    const my = (args: string[], pw = MY_PW) => lifeboat(['-c', myCfg, ...args], {
      cwd: tmp.path, env: { PATH: hostPath, DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW, MY_PW: pw },
    });
    assert.equal((await my(['init'])).code, 0);
    const digest = await ordersDigest();
    const b = await my(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['orders', 'ok']]);
    assert.ok(!(b.stdout + b.stderr).includes(MY_PW), 'a secret was printed');
    // The password reached the tools through the exec's environment, never their arguments.
    assert.ok(!(await dockerOk(['inspect', myName])).includes(MY_PW));

    await mysql('DROP DATABASE orders');
    const r = await my(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    assert.deepEqual(rr.sources[0]?.fingerprint_diff, []);
    assert.equal(await ordersDigest(), digest);

    const d = await my(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['orders', 'pass', 'done']]);
    assert.equal(await mysql("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'lifeboat%'"), '0');

    const bad = await my(['backup', '--json'], 'wrong-my-pw-3311');
    assert.notEqual(bad.code, 0);
    assert.ok(!(bad.stdout + bad.stderr).includes('wrong-my-pw-3311'), 'a secret was printed');
  });

  test('sqlite in a container: consistent copy by the image\'s sqlite3, restored by a rename there', async (t) => {
    if (!engine) return t.skip('no engine');
    const sql = (q: string, db = '/srv/app.db') => dockerOk(['exec', appName, 'sqlite3', db, q]);
    await sql("PRAGMA journal_mode=WAL; CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 5000) INSERT INTO notes SELECT n, 'note ' || n FROM g;");
    await dockerOk(['exec', appName, 'chmod', '640', '/srv/app.db']);
    const digest = () => sql("SELECT count(*) || ':' || sum(length(body)) || ':' || max(body) FROM notes");
    const want = await digest();
    const sqCfg = path.join(tmp.path, 'sqlite.yml');
    await writeFile(sqCfg, `
repository:
  url: ./repo-sq
  password: { env: LB_PW }
state_dir: ./state-sq
sources:
  app:
    type: sqlite
    container: ${appName}
    path: /srv/app.db
`);
    const sq = (args: string[]) => lifeboat(['-c', sqCfg, ...args], { cwd: tmp.path, env: { PATH: hostPath, DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW } });
    assert.equal((await sq(['init'])).code, 0);
    const b = await sq(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]), [['app', 'ok']]);

    // Wiped: other tables in the same file, and a stale WAL beside it that must go.
    await dockerOk(['exec', appName, 'sh', '-c', 'sqlite3 /srv/app.db "DROP TABLE notes; CREATE TABLE other (x);" && printf stale > /srv/app.db-wal']);
    const r = await sq(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    assert.deepEqual(rr.sources[0]?.fingerprint_diff, []);
    // The old file's mode kept; its stale WAL removed before the rename.
    assert.equal(await dockerOk(['exec', appName, 'sh', '-c', 'stat -c %a /srv/app.db; test -e /srv/app.db-wal && echo wal-left; true']), '640');
    assert.equal(await digest(), want);
    assert.equal(await sql("SELECT count(*) FROM sqlite_master WHERE name = 'other'"), '0');
    // Nothing left behind in the container: no temp dir, no temp file beside the database.
    assert.equal(await dockerOk(['exec', appName, 'sh', '-c', 'ls -d /tmp/lifeboat-* /srv/*.lifeboat-* 2>/dev/null | wc -l']), '0');

    const d = await sq(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]), [['app', 'pass', 'done']]);
    assert.equal(await dockerOk(['exec', appName, 'sh', '-c', 'ls -d /tmp/lifeboat-* 2>/dev/null | wc -l']), '0');
    assert.equal(await digest(), want);

    // A path that is not in the container: one line naming the file and where it was looked for.
    await writeFile(sqCfg, (await readFile(sqCfg, 'utf8')).replace('/srv/app.db', '/srv/missing.db'));
    const m = await sq(['backup', '--json']);
    assert.notEqual(m.code, 0);
    assert.match(m.stdout + m.stderr, /SQLite database \/srv\/missing\.db does not exist in the container/);
  });

  test('a failed backup still starts the stopped containers again; one already stopped stays stopped', async (t) => {
    if (!engine) return t.skip('no engine');
    const before = await started(webName);
    const b = await run(['backup', '--only', 'shop', '--json'], { PG_PW: 'wrong-password-1207' });
    assert.notEqual(b.code, 0);
    const afterFail = await started(webName);
    assert.match(afterFail, / true$/);
    assert.notEqual(afterFail, before);
    await dockerOk(['stop', '-t', '1', webName]);
    try {
      const ok = await run(['backup', '--only', 'shop', '--json']);
      assert.equal(ok.code, 0, ok.stderr + ok.stdout);
      assert.match(await started(webName), / false$/);
    } finally {
      await dockerOk(['start', webName]);
    }
  });

  test('SIGTERM during a backup still starts the stopped containers again', async (t) => {
    if (!engine) return t.skip('no engine');
    const slowCfg = path.join(tmp.path, 'slow.yml');
    await writeFile(slowCfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  slow:
    type: command
    container: ${appName}
    stop: [${webName}]
    backup_command: sleep 100
    restore_command: cat > /dev/null
`);
    const child = spawnLifeboat(['-c', slowCfg, 'backup'], { cwd: tmp.path, env: { PATH: hostPath, DOCKER_HOST: engine.dockerHost, LB_PW } });
    const exited = once(child, 'exit');
    // The web container stops before the command starts; then lifeboat is told to stop.
    await pollUntil(async () => (await started(webName)).endsWith(' false'), { timeoutMs: 60_000, what: 'web stopped by lifeboat' });
    await pollUntil(async () => (await dockerOk(['top', appName])).includes('sleep 100'), { timeoutMs: 60_000, what: 'the backup command running' });
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.notEqual(code, 0);
    assert.match(await started(webName), / true$/);
    assert.ok(!(await dockerOk(['top', appName])).includes('sleep 100'), 'the command in the container was not stopped');
  });

  test('a stopped container fails its source with the container named and the next step', async (t) => {
    if (!engine) return t.skip('no engine');
    await dockerOk(['stop', '-t', '1', appName]);
    try {
      const b = await run(['backup', '--only', 'notes', '--json']);
      assert.notEqual(b.code, 0);
      assert.match(b.stdout + b.stderr, new RegExp(`container ${appName} is not running`));
      assert.match(b.stdout + b.stderr, new RegExp(`docker start ${appName}`));
    } finally {
      await dockerOk(['start', appName]);
    }
  });
});
