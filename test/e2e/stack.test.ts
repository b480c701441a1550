/**
 * The stack flow end to end through the CLI, against real servers: one lifeboat.yml with
 * PostgreSQL, MariaDB, Redis, SQLite, files and a command source; back up, wipe every store,
 * restore in dependency order with hooks, and compare data; a dead server fails only its
 * source (exit 3, no snapshot for it); secrets never printed; retention applied per source;
 * the restic CLI reads the repository.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import type { CliResult } from '../support/lifeboat-cli.ts';
import { startMariadb, startPostgres, startRedis } from '../support/servers.ts';
import type { MariadbServer, PostgresServer, RedisServer } from '../support/servers.ts';
import { missingBinaries } from '../support/require.ts';
import { restic } from '../support/restic.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const LB_PW = 'lifeboat-repo-pw-7731';

interface Report {
  status: string;
  sources: Array<{ source: string; status: string; snapshot_id?: string; error?: string; fingerprint_diff?: string[] }>;
}

function json<T>(r: CliResult): T {
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as T;
}

describe('stack backup and restore from lifeboat.yml', { skip: missingBinaries('initdb', 'pg_dump', 'mariadbd', 'mariadb-dump', 'redis-server', 'restic') }, () => {
  let tmp: TempDir;
  let pg: PostgresServer;
  let my: MariadbServer;
  let redis: RedisServer;
  let cfg: string;
  let env: NodeJS.ProcessEnv;
  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => lifeboat(['-c', cfg, ...args], { env: { ...env, ...extra }, cwd: tmp.path });

  async function snapshot(): Promise<Record<string, string>> {
    return {
      pg: await pg.psql("SELECT md5(string_agg(id || ':' || name || ':' || coalesce(encode(data, 'hex'), '-'), ',' ORDER BY id)) FROM items", 'shop'),
      my: await my.sql('SELECT MD5(GROUP_CONCAT(id, ":", name ORDER BY id)) FROM crm.people'),
      redis: (await redis.cli('--no-raw', 'MGET', 'k1', 'k2', 'k3')) + (await redis.cli('HGETALL', 'h')),
      sqlite: await readFile(path.join(tmp.path, 'iam.db')).then(() => 'present'),
      configs: await readFile(path.join(tmp.path, 'configs', 'app.toml'), 'utf8'),
      notes: await readFile(path.join(tmp.path, 'notes.txt'), 'utf8'),
    };
  }

  before(async () => {
    tmp = await tempDir('stack');
    [pg, my, redis] = await Promise.all([startPostgres(), startMariadb(), startRedis({ password: 'redis-secret-5521' })]);
    await pg.psql('CREATE DATABASE shop');
    await pg.psql("CREATE TABLE items (id int primary key, name text, data bytea); INSERT INTO items SELECT g, 'item ' || g, decode(md5(g::text), 'hex') FROM generate_series(1, 5000) g;", 'shop');
    await my.sql("CREATE DATABASE crm; CREATE TABLE crm.people (id INT PRIMARY KEY, name VARCHAR(50)); INSERT INTO crm.people VALUES (1,'ada'),(2,'grace'),(3,'linus');");
    await redis.cli('MSET', 'k1', 'one', 'k2', 'two', 'k3', 'three');
    await redis.cli('HSET', 'h', 'a', '1', 'b', '2');
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(path.join(tmp.path, 'iam.db'));
    db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT); INSERT INTO users (email) VALUES ('a@x'), ('b@x');");
    db.close();
    await mkdir(path.join(tmp.path, 'configs'), { recursive: true });
    await writeFile(path.join(tmp.path, 'configs', 'app.toml'), 'port = 8080\n');
    await writeFile(path.join(tmp.path, 'configs', 'scratch.tmp'), 'not backed up\n');
    await writeFile(path.join(tmp.path, 'notes.txt'), 'runbook notes\n');
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
concurrency: 3
sources:
  app-db:
    type: postgres
    connection: { host: 127.0.0.1, port: ${pg.port}, user: postgres, password: { env: PG_PW } }
    databases: [shop]
    bin_dir: ${pg.binDir}
    depends_on: [cache]
    restore:
      hooks: { before: ["echo stop-app >> hooks.log"], after: ["echo start-app >> hooks.log"] }
  crm:
    type: mysql
    connection: { host: 127.0.0.1, port: ${my.port}, user: root, password: { env: MY_PW } }
    databases: [crm]
  cache:
    type: redis
    url: redis://127.0.0.1:${redis.port}
    password: { env: REDIS_PW }
  iam:
    type: sqlite
    path: ./iam.db
  configs:
    type: files
    paths: [./configs]
    exclude: ["*.tmp"]
    retention: { keep_last: 1 }
  notes:
    type: command
    backup_command: cat notes.txt
    restore_command: cat > notes.txt
`);
    env = { LB_PW, PG_PW: pg.password, MY_PW: my.password, REDIS_PW: 'redis-secret-5521' };
  });
  after(async () => {
    await Promise.allSettled([pg?.stop(), my?.stop(), redis?.stop()]);
    await tmp?.cleanup();
  });

  test('config check shows the plan with secret references, never values', async () => {
    const r = await run(['config', 'check', '--json']);
    assert.equal(r.code, 0, r.stderr);
    for (const secret of [LB_PW, pg.password, my.password, 'redis-secret-5521']) assert.ok(!r.stdout.includes(secret), 'a secret was printed');
    assert.match(r.stdout, /"env":"PG_PW"/);
  });

  test('init, backup every source, wipe, restore in dependency order with hooks, data equal', async () => {
    assert.equal((await run(['init'])).code, 0);
    const before = await snapshot();
    const b = await run(['backup', '--json']);
    assert.equal(b.code, 0, b.stderr + b.stdout);
    const report = json<Report>(b);
    assert.equal(report.status, 'ok');
    assert.deepEqual(report.sources.map((s) => s.status), Array(6).fill('ok'));
    for (const secret of [LB_PW, pg.password, my.password]) assert.ok(!(b.stdout + b.stderr).includes(secret));

    // Wipe every store.
    await pg.psql('DROP DATABASE shop');
    await my.sql('DROP DATABASE crm');
    await redis.cli('FLUSHALL');
    await rm(path.join(tmp.path, 'iam.db'));
    await rm(path.join(tmp.path, 'configs'), { recursive: true });
    await writeFile(path.join(tmp.path, 'notes.txt'), 'overwritten\n');

    const plan = await run(['restore', '--dry-run', '--json']);
    assert.equal(plan.code, 0, plan.stderr);
    const order = (json<{ plan: Array<{ source: string }> }>(plan)).plan.map((p) => p.source);
    assert.ok(order.indexOf('cache') < order.indexOf('app-db'), `cache must come before app-db: ${order.join(',')}`);

    const refused = await run(['restore']);
    assert.equal(refused.code, 2, 'restore without --yes and without a TTY must refuse');

    // Every store was wiped: there is no live data to keep in a safety snapshot.
    const r = await run(['restore', '--yes', '--no-safety-snapshot', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rr = json<Report>(r);
    assert.equal(rr.status, 'ok', JSON.stringify(rr.sources));
    for (const s of rr.sources) assert.deepEqual(s.fingerprint_diff, [], s.source);
    assert.deepEqual(await snapshot(), before);
    assert.equal(await readFile(path.join(tmp.path, 'hooks.log'), 'utf8'), 'stop-app\nstart-app\n');
    await assert.rejects(readFile(path.join(tmp.path, 'configs', 'scratch.tmp')), 'excluded files are not backed up');
  });

  test('restore one source into another place with --to', async () => {
    const dest = path.join(tmp.path, 'elsewhere');
    const r = await run(['restore', '--only', 'configs', '--to', dest, '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(await readFile(path.join(dest, tmp.path, 'configs', 'app.toml'), 'utf8'), 'port = 8080\n');
  });

  test('a dead server fails only its source: exit 3, no snapshot for it; a wrong password is not printed', async () => {
    const count = async (src: string) => {
      const s = await run(['snapshots', '--tag', `source:${src}`, '--json']);
      assert.equal(s.code, 0, s.stderr);
      return (JSON.parse(s.stdout) as unknown[]).length;
    };
    const crmBefore = await count('crm');
    const pgBefore = await count('app-db');
    await my.stop();
    const r = await run(['backup', '--json'], { PG_PW: 'wrong-pw-88812' });
    assert.equal(r.code, 3, r.stderr + r.stdout);
    const report = json<Report>(r);
    const by = new Map(report.sources.map((s) => [s.source, s]));
    assert.equal(by.get('crm')?.status, 'failed');
    assert.equal(by.get('app-db')?.status, 'failed');
    assert.equal(by.get('cache')?.status, 'ok');
    assert.ok(!(r.stdout + r.stderr).includes('wrong-pw-88812'), 'the wrong password was printed');
    assert.equal(await count('crm'), crmBefore);
    assert.equal(await count('app-db'), pgBefore);
  });

  test('forget --prune applies each source\'s retention; restic reads and checks the repository', async () => {
    const f = await run(['forget', '--prune', '--json']);
    assert.equal(f.code, 0, f.stderr + f.stdout);
    const s = await run(['snapshots', '--tag', 'source:configs', '--json']);
    assert.equal((JSON.parse(s.stdout) as unknown[]).length, 1);
    const repo = path.join(tmp.path, 'repo');
    const c = await restic(['--no-lock', 'check', '--read-data'], { repo, password: LB_PW });
    assert.equal(c.code, 0, c.stdout + c.stderr);
    const list = await restic(['--no-lock', 'snapshots', '--json', '--tag', 'lifeboat'], { repo, password: LB_PW });
    assert.ok((JSON.parse(list.stdout) as unknown[]).length >= 6);
  });
});
