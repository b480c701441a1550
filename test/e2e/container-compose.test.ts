/**
 * The seed runbooks' stack as a Compose project (Compose v2, a real engine): PostgreSQL,
 * MariaDB, Redis, an app with a SQLite database, files and a named volume, each in a container
 * of the project, described in lifeboat.yml only by `compose: { project, service }` and
 * `type: volume`. Backed up, wiped, restored (in the order the compose file's depends_on
 * implies) and drilled with fingerprints equal, with no dump tool on lifeboat's PATH.
 * Networking: the host network on random loopback ports for the two SQL servers, none for the
 * rest (never the default bridge).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, lastJson as last } from '../support/lifeboat-cli.ts';
import type { StackReport as Report } from '../support/lifeboat-cli.ts';
import { freePort, pollUntil } from '../support/ports.ts';
import { startDockerEngine } from '../support/docker-engine.ts';
import type { DockerEngine } from '../support/docker-engine.ts';
import { composeBinary } from '../support/compose-plugin.ts';
import { runCommand } from '../support/run-command.ts';
import { requireServers } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'compose-repo-pw-3307';
const PG_PW = 'compose-pg-pw-1184';
const MY_PW = 'compose-my-pw-9921';
const IMAGE = 'lifeboat-test/stores:1';
const STORE_IMAGE_DIR = path.join(import.meta.dirname, '..', 'fixtures', 'store-image');
const TOOLS = ['pg_dump', 'pg_dumpall', 'pg_restore', 'psql', 'mariadb-dump', 'mysqldump', 'mariadb', 'mysql', 'sqlite3', 'redis-server', 'redis-cli'];


describe('a compose project: every store of the runbooks, by compose service only', () => {
  let engine: DockerEngine | undefined;
  let compose: string | undefined;
  let tmp: TempDir;
  let cfg: string;
  let pgPort: number;
  let myPort: number;
  const project = `lbomni${process.pid}`;
  const hostPath = (process.env.PATH ?? '').split(':').filter((d) => d !== '' && !TOOLS.some((t) => existsSync(path.join(d, t)))).join(':');

  const composeRun = async (args: string[]) => {
    const r = await runCommand(compose as string, ['-p', project, '-f', path.join(tmp.path, 'compose.yaml'), ...args], {
      env: { ...(engine as DockerEngine).env, PGPW: PG_PW, MYPW: MY_PW }, timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, `docker-compose ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const ex = async (service: string, script: string, input?: string) => {
    const r = await (engine as DockerEngine).docker(['exec', '-i', `${project}-${service}-1`, 'bash', '-c', script], { input });
    assert.equal(r.code, 0, `${service}: ${script}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const psql = (sql: string) => ex('db', `psql -X -qAt -h /tmp -p ${pgPort} -U postgres -d shop -c "${sql}"`);
  const mysql = (sql: string) => ex('mariadb', `mariadb --socket=/tmp/my.sock -uroot --batch --skip-column-names -e "${sql}"`);
  const redis = (cmd: string) => ex('cache', `redis-cli ${cmd}`);
  const state = async () => [
    await psql("SELECT md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM items"),
    await mysql("SELECT md5(group_concat(id, ':', note ORDER BY id)) FROM orders.lines"),
    await redis('DBSIZE'), await redis('GET greeting'),
    await ex('app', "sqlite3 /srv/app/app.db \"SELECT count(*) || ':' || sum(length(body)) FROM notes\""),
    await ex('app', 'cd /srv/app/files && find . | sort | xargs -d "\\n" stat -c "%n %u %a %s" && cat config.yml'),
    await ex('app', 'cd /uploads && find . -type f | sort | xargs -d "\\n" sha256sum'),
  ];
  const run = (args: string[]) => lifeboat(['-c', cfg, ...args], {
    cwd: tmp.path, env: { PATH: hostPath, DOCKER_HOST: (engine as DockerEngine).dockerHost, LB_PW, PG_PW, MY_PW },
  });

  before(async (t) => {
    const bin = composeBinary();
    if ('missing' in bin) {
      if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${bin.missing}`);
      return; // no engine: the test skips

    }
    compose = bin.path;
    engine = await startDockerEngine(t as never);
    if (!engine) return;
    await engine.ensureBaseImage();
    await engine.buildImage(STORE_IMAGE_DIR, IMAGE);
    tmp = await tempDir('container-compose');
    pgPort = await freePort();
    myPort = await freePort();
    await writeFile(path.join(tmp.path, 'compose.yaml'), `
services:
  db:
    image: ${IMAGE}
    network_mode: host
    user: postgres
    environment: [PGPW]
    command: ["bash", "-c", "set -e; echo \\"$$PGPW\\" > /tmp/pw; B=/usr/lib/postgresql/15/bin; $$B/initdb -D /tmp/pg -U postgres --pwfile=/tmp/pw --auth-host=scram-sha-256 --auth-local=trust >/dev/null; rm /tmp/pw; exec $$B/postgres -D /tmp/pg -p ${pgPort} -k /tmp -c listen_addresses=127.0.0.1"]
  mariadb:
    image: ${IMAGE}
    network_mode: host
    command: ["bash", "-c", "set -e; mariadb-install-db --user=mysql --datadir=/tmp/my --auth-root-authentication-method=normal --skip-test-db >/dev/null; exec mariadbd --user=mysql --datadir=/tmp/my --socket=/tmp/my.sock --pid-file=/tmp/my/my.pid --port=${myPort} --bind-address=127.0.0.1 --skip-name-resolve --innodb-buffer-pool-size=32M"]
  cache:
    image: ${IMAGE}
    network_mode: none
    depends_on: [db]
    command: ["bash", "-c", "mkdir -p /data && exec redis-server --dir /data --bind 127.0.0.1 --appendonly no"]
  app:
    image: ${IMAGE}
    network_mode: none
    depends_on: [db, cache]
    volumes: [uploads:/uploads]
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
volumes:
  uploads: {}
`);
    await composeRun(['up', '-d']);
    await pollUntil(async () => (await engine?.docker(['exec', `${project}-db-1`, 'pg_isready', '-q', '-h', '127.0.0.1', '-p', String(pgPort)]))?.code === 0, { timeoutMs: 90_000, what: 'postgres' });
    await ex('db', `psql -X -q -h /tmp -p ${pgPort} -U postgres -c "CREATE DATABASE shop"`);
    await psql("CREATE TABLE items (id int primary key, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 2000) g;");
    await pollUntil(async () => (await engine?.docker(['exec', `${project}-mariadb-1`, 'mariadb-admin', '--socket=/tmp/my.sock', '-uroot', 'ping']))?.code === 0, { timeoutMs: 90_000, what: 'mariadb' });
    await ex('mariadb', 'mariadb --socket=/tmp/my.sock -uroot', `ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '${MY_PW}'; CREATE DATABASE orders; CREATE TABLE orders.lines (id int primary key, note text); INSERT INTO orders.lines SELECT seq, concat('line ', seq) FROM orders.seq_1_to_1500;`);
    await pollUntil(async () => (await engine?.docker(['exec', `${project}-cache-1`, 'redis-cli', 'PING']))?.stdout.trim() === 'PONG', { timeoutMs: 60_000, what: 'redis' });
    await ex('cache', 'for i in $(seq 1 300); do echo "SET k$i v$i"; done | redis-cli >/dev/null && redis-cli SET greeting hello');
    await ex('app', 'set -e; mkdir -p /srv/app/files/sub; sqlite3 /srv/app/app.db "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000) INSERT INTO notes SELECT n, \'note \' || n FROM g;"; '
      + 'echo "key: v1" > /srv/app/files/config.yml; seq 1 5000 > /srv/app/files/sub/data.txt; chown -R 1001 /srv/app/files/sub; chmod 640 /srv/app/files/config.yml; '
      + 'mkdir -p /uploads/2024; seq 1 9000 > /uploads/2024/photo.bin; echo avatar > /uploads/me.png');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  shop:
    type: postgres
    compose: { project: ${project}, service: db }
    connection: { host: 127.0.0.1, port: ${pgPort}, user: postgres, password: { env: PG_PW } }
    databases: [shop]
    jobs: 2
  orders:
    type: mysql
    compose: { project: ${project}, service: mariadb }
    connection: { host: 127.0.0.1, port: ${myPort}, user: root, password: { env: MY_PW } }
    databases: [orders]
  cache:
    type: redis
    compose: { project: ${project}, service: cache }
    url: redis://127.0.0.1:6379
  appdb:
    type: sqlite
    compose: { project: ${project}, service: app }
    path: /srv/app/app.db
  appfiles:
    type: files
    compose: { project: ${project}, service: app }
    paths: [/srv/app/files]
  uploads:
    type: volume
    volume: ${project}_uploads
`);
  });
  after(async () => {
    if (engine && compose !== undefined && tmp !== undefined) await runCommand(compose, ['-p', project, '-f', path.join(tmp.path, 'compose.yaml'), 'down', '-v', '-t', '2'], { env: engine.env, timeoutMs: 120_000 });
    await engine?.stop();
    await tmp?.cleanup();
  });

  test('backup, wipe, restore in compose order and drill, fingerprints equal, no dump tool on the host', async (t) => {
    if (!engine) return t.skip('no engine or no Compose v2');
    for (const dir of hostPath.split(':')) for (const tool of TOOLS) assert.ok(!existsSync(path.join(dir, tool)), `${dir}/${tool}`);
    const want = await state();
    assert.equal((await run(['init'])).code, 0);
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    assert.deepEqual(last<Report>(b).sources.map((s) => [s.source, s.status]).sort(), [['appdb', 'ok'], ['appfiles', 'ok'], ['cache', 'ok'], ['orders', 'ok'], ['shop', 'ok'], ['uploads', 'ok']]);
    for (const pw of [PG_PW, MY_PW]) assert.ok(!(b.stdout + b.stderr).includes(pw), 'a secret was printed');

    await psql('DELETE FROM items WHERE id > 10');
    await mysql('DELETE FROM orders.lines WHERE id > 10');
    await redis('FLUSHALL');
    await ex('app', 'sqlite3 /srv/app/app.db "DELETE FROM notes" && rm -rf /srv/app/files/sub && echo junk > /srv/app/files/config.yml && rm -rf /uploads/2024');
    assert.notDeepEqual(await state(), want);

    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = last<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    for (const s of rr.sources) assert.deepEqual(s.fingerprint_diff, [], s.source);
    assert.deepEqual(await state(), want);
    // The app's sources come after db and cache, which its service depends_on (by name they would come first).
    const order = rr.sources.map((s) => s.source);
    for (const app of ['appdb', 'appfiles']) {
      assert.ok(order.indexOf(app) > order.indexOf('shop') && order.indexOf(app) > order.indexOf('cache'), order.join(','));
    }
    assert.ok(order.indexOf('cache') > order.indexOf('shop'), order.join(','));

    const d = await run(['drill', '--json']);
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.deepEqual(last<Report>(d).sources.map((s) => [s.source, s.status, s.cleanup]).sort(),
      ['appdb', 'appfiles', 'cache', 'orders', 'shop', 'uploads'].map((n) => [n, 'pass', 'done']));
    assert.deepEqual(await state(), want);
    assert.equal(await ex('app', 'ls -d /tmp/lifeboat-* 2>/dev/null | wc -l'), '0');
    assert.equal((await engine.docker(['ps', '-aq', '--filter', 'label=org.lifeboat.helper'])).stdout.trim(), '');
  });
});
