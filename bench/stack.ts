/**
 * `npm run bench:stack`: a whole stack (PostgreSQL, Redis, a directory of files, MariaDB)
 * backed up and restored three ways in one run, on one machine:
 *
 * - lifeboat, with a lifeboat.yml of the four sources (`lifeboat backup`, `lifeboat restore
 *   --yes --no-safety-snapshot`: sources in dependency order, pg_restore -j `jobs`);
 * - the runbooks' ways: `pg_dump | gzip`, `pg_dump -Fc -Z6`, BGSAVE + copy of dump.rdb,
 *   `tar czf`, `mariadb-dump | gzip`; restored with `gunzip | psql` (one after the other) or
 *   `pg_restore -j` (the four at once);
 * - restic 0.14 with the same dumps on stdin (`pg_dump | restic backup --stdin`, `redis-cli
 *   --rdb - | restic …`, the directory, `mariadb-dump | restic …`), restored with `restic dump
 *   … | psql` and friends, the four at once.
 *
 * While the backups run, pgbench offers a fixed rate of small read/write transactions to the
 * same PostgreSQL server; its latency during each backup against idle is the load the backup
 * puts on the live database (and on the machine: with 2 CPUs, CPU spent compressing shows up
 * here too). Every restore starts from changed stores and is checked against the fingerprints
 * taken at backup time (per-table row count and hash sum, CHECKSUM TABLE, DEBUG DIGEST, a hash
 * of the tree). Then BENCH_HOURS hourly backups follow, each after ~1 % of rows, keys and files
 * changed, and the repository sizes are compared with the runbooks' gzip copies.
 *
 * Sizes by environment: BENCH_PG_GB (1), BENCH_REDIS_MB (256), BENCH_FILES_MB (250),
 * BENCH_MARIADB_MB (100), BENCH_HOURS (24), BENCH_PG_JOBS (2), BENCH_PGBENCH_RATE (100 tps).
 * Raw numbers go to bench/results/stack-<date>.json and the table to docs/performance.md
 * (section "stack", see bench/doc-section.ts), followed by the hand-written bench/stack-notes.md;
 * --no-doc leaves the page alone, --doc-from FILE rewrites the section from saved results.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startMariadb, startPostgres } from '../test/support/servers.ts';
import type { MariadbServer, PostgresServer } from '../test/support/servers.ts';
import { corpusSpec, generateTree } from './corpus.ts';
import { writeSection } from './doc-section.ts';
import { measure, measureMethod } from './measure.ts';
import type { Sample } from './measure.ts';
import { BenchRedis, PgLoad, RESTIC, dirBytes, envNumber, log, sh, shOk, treeDigest, uptime } from './stack-servers.ts';
import type { LoadWindow } from './stack-servers.ts';

const { values: opts } = parseArgs({ options: { 'no-doc': { type: 'boolean', default: false }, 'doc-from': { type: 'string' } } });
const ROOT = path.resolve(import.meta.dirname, '..');
const LIFEBOAT = path.join(ROOT, 'bin', 'lifeboat.js');
const SIZE_ENV = { pgGb: 'BENCH_PG_GB', redisMb: 'BENCH_REDIS_MB', filesMb: 'BENCH_FILES_MB', mariadbMb: 'BENCH_MARIADB_MB', hours: 'BENCH_HOURS', jobs: 'BENCH_PG_JOBS', rate: 'BENCH_PGBENCH_RATE' } as const;
const SIZE = {
  pgGb: envNumber('BENCH_PG_GB', 1),
  redisMb: envNumber('BENCH_REDIS_MB', 256),
  filesMb: envNumber('BENCH_FILES_MB', 250),
  mariadbMb: envNumber('BENCH_MARIADB_MB', 100),
  hours: Math.round(envNumber('BENCH_HOURS', 24)),
  jobs: Math.round(envNumber('BENCH_PG_JOBS', 2)),
  rate: envNumber('BENCH_PGBENCH_RATE', 100),
};
const PASSWORD = 'bench-password-not-secret';
const TABLES = 4;
/** Rows per GB of database, measured: ~230 bytes a row on disk with its index. */
const PG_ROWS_PER_GB = 4.3e6;
const MY_ROWS_PER_MB = 3500;
const REDIS_VALUE = 420;

interface Step {
  id: string;
  way: 'bare' | 'lifeboat' | 'runbook' | 'restic';
  label: string;
  wallS: number;
  cpuS: number;
  maxRssKiB: number;
  load?: LoadWindow;
  verified?: string;
  bytes?: number;
  report?: string;
  uptime: string;
}

interface Stack {
  run: string;
  pg: PostgresServer;
  my: MariadbServer;
  redis: BenchRedis;
  files: string;
  env: NodeJS.ProcessEnv;
  lbConfig: string;
  lbRepo: string;
  resticRepo: string;
  rb: string;
}

// ---------------------------------------------------------------------------------------------
// Data: generated in the servers (PostgreSQL and MariaDB by SQL, Redis by redis-cli --pipe).

async function generate(s: Stack): Promise<Record<string, number>> {
  const rows = Math.round((SIZE.pgGb * PG_ROWS_PER_GB) / TABLES);
  log(`generating PostgreSQL database app: ${TABLES} tables of ${rows} rows`);
  await s.pg.psql('CREATE DATABASE app');
  await s.pg.psql('CREATE DATABASE load');
  await s.pg.psql('CREATE EXTENSION pgcrypto', 'app');
  // Compressible rows (repeated text, timestamps), a random 512-byte blob in every 20th row.
  await Promise.all(Array.from({ length: TABLES }, (_, k) => s.pg.psql(`
    CREATE TABLE t${k} (id bigint PRIMARY KEY, customer int NOT NULL, status text NOT NULL, note text NOT NULL, attachment bytea, updated_at timestamptz NOT NULL);
    INSERT INTO t${k} SELECT i, (i*7919) % 100000, (ARRAY['open','paid','shipped','returned'])[1 + i % 4],
      'order ' || i || ' of customer ' || ((i*7919) % 100000) || ' ' || repeat(md5((i % 5000)::text), 3),
      CASE WHEN i % 20 = 0 THEN gen_random_bytes(512) END, timestamptz '2026-01-01' + i * interval '1 second'
    FROM generate_series(1::bigint, ${rows}) i;
    VACUUM ANALYZE t${k};`, 'app')));
  shOk('pgbench -i -q -s 5 load 2>/dev/null', s.env);

  const myRows = Math.round(SIZE.mariadbMb * MY_ROWS_PER_MB);
  log(`generating MariaDB database shop: ${myRows} rows`);
  await s.my.sql('CREATE DATABASE shop');
  await s.my.sql(`CREATE TABLE shop.items (id INT PRIMARY KEY, sku VARCHAR(32) NOT NULL, title VARCHAR(200) NOT NULL, body TEXT NOT NULL, price DECIMAL(10,2) NOT NULL, updated_at DATETIME NOT NULL) ENGINE=InnoDB;
    INSERT INTO shop.items SELECT seq, CONCAT('SKU-', seq), CONCAT('item ', seq, ' ', MD5(seq % 3000)), REPEAT(MD5(seq % 7000), 4), (seq % 10000) / 100, TIMESTAMP '2026-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_${myRows};`, 'shop');

  const keys = Math.round((SIZE.redisMb * 1e6) / (REDIS_VALUE + 30));
  log(`generating Redis: ${keys} keys`);
  await redisSet(s, keys, () => true, 0);

  log(`generating ${SIZE.filesMb} MB of files`);
  generateTree(s.files, corpusSpec(SIZE.filesMb / 600));
  return { pgRowsPerTable: rows, mariadbRows: myRows, redisKeys: keys };
}

/** SET session:i for every i that `pick` selects: JSON-like text around a random token. */
async function redisSet(s: Stack, keys: number, pick: (i: number) => boolean, hour: number): Promise<void> {
  const file = path.join(s.run, 'redis.resp');
  const out = createWriteStream(file);
  const filler = 'x'.repeat(200);
  for (let i = 0; i < keys; i++) {
    if (!pick(i)) continue;
    const v = `{"user":${i},"hour":${hour},"cart":[${i % 7},${i % 13},${i % 31}],"token":"${randomBytes(96).toString('base64')}","note":"${filler}"}`;
    const k = `session:${i}`;
    const cmd = `*3\r\n$3\r\nSET\r\n$${Buffer.byteLength(k)}\r\n${k}\r\n$${Buffer.byteLength(v) + 0}\r\n${v}\r\n`;
    if (!out.write(cmd)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  shOk(`redis-cli -p ${s.redis.port} --pipe < ${file} >/dev/null`);
  rmSync(file);
}

/** One "hour" of changes: ~1 % of rows, keys and files, plus 0.1 % new rows. */
async function churn(s: Stack, hour: number, keys: number): Promise<void> {
  const m = hour % 100;
  await Promise.all(Array.from({ length: TABLES }, (_, k) => s.pg.psql(`
    UPDATE t${k} SET status = 'h${hour}', updated_at = updated_at + interval '1 hour' WHERE id % 100 = ${m};
    INSERT INTO t${k} SELECT i, i % 100000, 'new', 'order ' || i || ' ' || repeat(md5(i::text), 3), NULL, timestamptz '2026-06-01' + i * interval '1 second'
      FROM generate_series((SELECT max(id) + 1 FROM t${k}), (SELECT max(id) + count(*) / 1000 FROM t${k})) i;`, 'app')));
  await s.my.sql(`UPDATE shop.items SET price = price + 1, updated_at = updated_at + INTERVAL 1 HOUR WHERE id % 100 = ${m}`);
  await redisSet(s, keys, (i) => i % 100 === m, hour);
  const files = shOk(`find ${s.files} -type f | sort`).trim().split('\n');
  files.forEach((f, i) => {
    if (i % 100 === m) writeFileSync(f, `changed in hour ${hour} ${randomBytes(16).toString('hex')}\n`, { flag: 'a' });
  });
}

async function fingerprint(s: Stack): Promise<string> {
  const pg = await s.pg.psql(Array.from({ length: TABLES }, (_, k) => `SELECT count(*), sum(hashtextextended(t::text, 0)) FROM t${k} t;`).join('\n'), 'app');
  const my = await s.my.sql('CHECKSUM TABLE shop.items');
  return JSON.stringify({ pg: pg.trim(), my: my.trim(), redis: `${s.redis.cli('dbsize')} ${s.redis.cli('debug', 'digest')}`, files: treeDigest(s.files) });
}

// ---------------------------------------------------------------------------------------------
// The three ways, as commands.

function lifeboat(s: Stack, args: string[]): Promise<Sample> {
  return measure(process.execPath, [LIFEBOAT, '-c', s.lbConfig, ...args], { env: s.env, stdout: 'capture' });
}

function resticCmd(s: Stack): string {
  return `${RESTIC} -r ${s.resticRepo} -q`;
}

const PG_CONN = (s: Stack): string => `-h 127.0.0.1 -p ${s.pg.port} -U ${s.pg.user}`;
const MY_CONN = (s: Stack): string => `-h 127.0.0.1 -P ${s.my.port} -u root`;

function redisBgsaveCopy(s: Stack, to: string): string {
  const cli = `redis-cli -p ${s.redis.port}`;
  return [
    `${cli} bgsave >/dev/null`,
    `while ${cli} info persistence | tr -d '\\r' | grep -q '^rdb_bgsave_in_progress:1'; do sleep 0.05; done`,
    `cp ${s.redis.dir}/dump.rdb ${to}`,
  ].join('\n');
}

const BACKUP = {
  resticPg: (s: Stack) => `pg_dump ${PG_CONN(s)} app | ${resticCmd(s)} backup --tag pg --stdin --stdin-filename app.sql`,
  resticStack: (s: Stack) => [
    `pg_dump ${PG_CONN(s)} app | ${resticCmd(s)} backup --tag pg --stdin --stdin-filename app.sql`,
    `redis-cli -p ${s.redis.port} --rdb - 2>/dev/null | ${resticCmd(s)} backup --tag redis --stdin --stdin-filename dump.rdb`,
    `${resticCmd(s)} backup --tag files ${s.files}`,
    `mariadb-dump ${MY_CONN(s)} --single-transaction shop | ${resticCmd(s)} backup --tag shop --stdin --stdin-filename shop.sql`,
  ].join('\n'),
  runbookStack: (s: Stack, dir: string) => [
    `mkdir -p ${dir}`,
    `pg_dump ${PG_CONN(s)} -Fc -Z6 app > ${dir}/app.dump`,
    redisBgsaveCopy(s, `${dir}/dump.rdb`),
    `tar czf ${dir}/files.tgz -C ${path.dirname(s.files)} ${path.basename(s.files)}`,
    `mariadb-dump ${MY_CONN(s)} --single-transaction shop | gzip > ${dir}/shop.sql.gz`,
  ].join('\n'),
};

/** Shell lines that restore each store from the runbooks' files or from restic. */
function restoreScripts(s: Stack, way: 'runbook-psql' | 'runbook-pg_restore' | 'restic'): string[] {
  const pgRecreate = `dropdb ${PG_CONN(s)} app && createdb ${PG_CONN(s)} app`;
  const myRecreate = `mariadb ${MY_CONN(s)} -e 'DROP DATABASE shop; CREATE DATABASE shop'`;
  const psql = `psql ${PG_CONN(s)} -q -v ON_ERROR_STOP=1 -o /dev/null app`;
  const redisBack = (put: string): string => [s.redis.stopScript(), put, s.redis.startScript()].join('\n');
  const filesBack = (put: string): string => `rm -rf ${s.files}\n${put}`;
  const r = resticCmd(s);
  switch (way) {
    case 'runbook-psql':
      return [
        `${pgRecreate}\ngunzip -c ${s.rb}/app.sql.gz | ${psql}`,
        redisBack(`cp ${s.rb}/dump.rdb ${s.redis.dir}/dump.rdb`),
        filesBack(`tar xzf ${s.rb}/files.tgz -C ${path.dirname(s.files)}`),
        `${myRecreate}\ngunzip -c ${s.rb}/shop.sql.gz | mariadb ${MY_CONN(s)} shop`,
      ];
    case 'runbook-pg_restore':
      return [
        `${pgRecreate}\npg_restore ${PG_CONN(s)} -j ${SIZE.jobs} -d app ${s.rb}/app.dump`,
        redisBack(`cp ${s.rb}/dump.rdb ${s.redis.dir}/dump.rdb`),
        filesBack(`tar xzf ${s.rb}/files.tgz -C ${path.dirname(s.files)}`),
        `${myRecreate}\ngunzip -c ${s.rb}/shop.sql.gz | mariadb ${MY_CONN(s)} shop`,
      ];
    case 'restic':
      return [
        `${pgRecreate}\n${r} dump --tag pg latest /app.sql | ${psql}`,
        redisBack(`${r} dump --tag redis latest /dump.rdb > ${s.redis.dir}/dump.rdb`),
        filesBack(`${r} restore latest --tag files --target /`),
        `${myRecreate}\n${r} dump --tag shop latest /shop.sql | mariadb ${MY_CONN(s)} shop`,
      ];
  }
}

/**
 * The four restores one after the other, or all at once: each in a subshell, and every one
 * waited for before the script fails on any non-zero status (so the time covers all of them).
 */
export function combine(parts: readonly string[], parallel: boolean): string {
  if (!parallel) return parts.join('\n');
  return ['rc=0', ...parts.map((p, i) => `( ${p.replaceAll('\n', '\n  ')}\n) & p${i}=$!`), ...parts.map((_, i) => `wait $p${i} || rc=1`), '[ $rc -eq 0 ]'].join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const t0 = performance.now();
  const run = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-bench-stack-'));
  const steps: Step[] = [];
  const failures: string[] = [];
  const uptimes: string[] = [uptime()];
  let pg: PostgresServer | undefined;
  let my: MariadbServer | undefined;
  let redis: BenchRedis | undefined;
  const load = new PgLoad();
  try {
    log(`run directory ${run}; sizes ${JSON.stringify(SIZE)}; ${uptime()}`);
    [pg, my] = await Promise.all([
      startPostgres({ config: { shared_buffers: '256MB', max_wal_size: '4GB' } }),
      startMariadb({ extraArgs: ['--innodb-buffer-pool-size=256M'] }),
    ]);
    mkdirSync(path.join(run, 'redis'));
    redis = await BenchRedis.start(path.join(run, 'redis'));
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(LIFEBOAT_|RESTIC_|PG|MYSQL_)/.test(k)) env[k] = v;
    Object.assign(env, {
      PGPASSWORD: pg.password, PGUSER: pg.user, PGHOST: '127.0.0.1', PGPORT: String(pg.port), MYSQL_PWD: my.password,
      LIFEBOAT_PASSWORD: PASSWORD, RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: path.join(run, 'restic-cache'),
      BENCH_PG_PASSWORD: pg.password, BENCH_MY_PASSWORD: my.password,
      XDG_CONFIG_HOME: path.join(run, 'home', 'config'), XDG_STATE_HOME: path.join(run, 'home', 'state'), XDG_CACHE_HOME: path.join(run, 'home', 'cache'),
    });
    const s: Stack = {
      run, pg, my, redis, env,
      files: path.join(run, 'data', 'files'),
      lbConfig: path.join(run, 'lifeboat.yml'),
      lbRepo: path.join(run, 'repo-lifeboat'),
      resticRepo: path.join(run, 'repo-restic'),
      rb: path.join(run, 'runbook'),
    };
    writeFileSync(s.lbConfig, [
      `repository: { url: "local:${s.lbRepo}", password: { env: LIFEBOAT_PASSWORD } }`,
      `state_dir: ${path.join(run, 'state')}`,
      'sources:',
      `  pg: { type: postgres, connection: { host: 127.0.0.1, port: ${pg.port}, user: ${pg.user}, password: { env: BENCH_PG_PASSWORD } }, databases: [app], jobs: ${SIZE.jobs} }`,
      `  cache: { type: redis, url: "redis://127.0.0.1:${redis.port}" }`,
      `  files: { type: files, paths: [${s.files}] }`,
      `  shop: { type: mysql, connection: { host: 127.0.0.1, port: ${my.port}, user: root, password: { env: BENCH_MY_PASSWORD } }, databases: [shop] }`,
      '',
    ].join('\n'));
    const counts = await generate(s);
    const sizes = {
      pgDatabaseBytes: Number(await pg.psql("SELECT pg_database_size('app')")),
      mariadbBytes: Number(await my.sql("SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = 'shop'")),
      redisUsedBytes: Number(/used_memory:(\d+)/.exec(redis.cli('info', 'memory'))?.[1]),
      filesBytes: dirBytes(s.files),
      plainDumpBytes: 0,
    };
    log(`sizes: ${JSON.stringify(sizes)}`);
    shOk(`node ${LIFEBOAT} -r ${s.lbRepo} init >/dev/null && ${resticCmd(s)} init --repository-version 2 >/dev/null`, env);
    // Untimed warm-up: Node's compile cache and the page cache hold what the timed steps read.
    shOk(`pg_dump app > /dev/null && node ${LIFEBOAT} -r ${path.join(run, 'warm')} init >/dev/null && node ${LIFEBOAT} --version >/dev/null`, env);
    const before = await fingerprint(s);

    const record = async (id: string, way: Step['way'], label: string, f: () => Promise<Sample>, extra: Partial<Step> = {}): Promise<Sample> => {
      const a = performance.now();
      const r = await f();
      const b = performance.now();
      const step: Step = { id, way, label, wallS: r.wallS, cpuS: r.cpuS, maxRssKiB: r.maxRssKiB, uptime: uptime(), ...extra };
      // lifeboat's own report (per-source times) explains where a stack backup or restore spent its time.
      if (way === 'lifeboat') step.report = `${r.stdout.slice(-3000)}\n${r.stderrTail}`.trim();
      if (load.running && extra.load === undefined) step.load = load.window(a, b);
      if (r.exitCode !== 0) failures.push(`${label} exited ${r.exitCode}: ${r.stderrTail}`);
      steps.push(step);
      log(`${label}: ${r.wallS.toFixed(1)} s, ${r.cpuS.toFixed(1)} s CPU, ${Math.round(r.maxRssKiB / 1024)} MiB${step.load ? `, pgbench ${step.load.latMs.toFixed(1)} ms` : ''}${r.exitCode === 0 ? '' : ` FAILED ${r.stderrTail}`}`);
      return r;
    };
    const idle = async (label: string, seconds: number): Promise<void> => {
      const a = performance.now();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      steps.push({ id: `idle-${steps.length}`, way: 'bare', label, wallS: seconds, cpuS: 0, maxRssKiB: 0, load: load.window(a, performance.now()), uptime: uptime() });
    };

    // --- Backups under load. lifeboat and restic alternate; the bare dumps come first.
    load.start('load', SIZE.rate, env);
    await idle('idle (no backup running)', 12);
    await record('bare-custom', 'bare', '`pg_dump -Fc -Z0 > /dev/null` (lifeboat\'s format, bare)', () => sh(`pg_dump -Fc -Z0 app > /dev/null`, { env }));
    await record('bare-plain', 'bare', '`pg_dump > /dev/null` (plain SQL, bare)', () => sh(`pg_dump app > /dev/null`, { env }));
    await record('lb-pg', 'lifeboat', 'lifeboat backup --only pg (first)', () => lifeboat(s, ['backup', '--only', 'pg']));
    await record('restic-pg', 'restic', '`pg_dump | restic backup --stdin` (first)', () => sh(BACKUP.resticPg(s), { env }));
    mkdirSync(s.rb, { recursive: true });
    await record('rb-gzip', 'runbook', '`pg_dump | gzip`', () => sh(`pg_dump app | gzip > ${s.rb}/app.sql.gz`, { env }), {});
    await record('rb-fc', 'runbook', '`pg_dump -Fc -Z6`', () => sh(`pg_dump -Fc -Z6 app > ${s.rb}/app.dump`, { env }));
    await record('restic-pg2', 'restic', '`pg_dump | restic backup --stdin` (again, unchanged)', () => sh(BACKUP.resticPg(s), { env }));
    await record('lb-pg2', 'lifeboat', 'lifeboat backup --only pg (again, unchanged)', () => lifeboat(s, ['backup', '--only', 'pg']));
    await idle('idle (between backups)', 8);
    await record('lb-stack', 'lifeboat', 'lifeboat backup (whole stack)', () => lifeboat(s, ['backup']));
    await record('restic-stack', 'restic', 'restic: the four backups one after the other', () => sh(BACKUP.resticStack(s), { env }));
    await record('rb-stack', 'runbook', 'runbook: `pg_dump -Fc -Z6`, BGSAVE + cp, `tar czf`, `mariadb-dump | gzip`', () => sh(BACKUP.runbookStack(s, s.rb), { env }));
    await idle('idle (after the backups)', 8);
    load.stop();
    const rbHour0 = dirBytes(s.rb) - statSync(path.join(s.rb, 'app.sql.gz')).size;
    sizes.plainDumpBytes = Number(shOk('pg_dump app | wc -c', env).trim());

    // --- Restores (RTO), each from changed stores, checked against the backup's fingerprints.
    const restore = async (id: string, way: Step['way'], label: string, f: () => Promise<Sample>): Promise<void> => {
      await churn(s, 50, counts.redisKeys);
      if ((await fingerprint(s)) === before) throw new Error('the stores did not change before a restore; the check would prove nothing');
      await record(id, way, label, f);
      const after = await fingerprint(s);
      const ok = after === before;
      steps[steps.length - 1].verified = ok ? 'all four stores equal to the backup' : `DIFFERS: ${after} vs ${before}`;
      if (!ok) failures.push(`${label}: restored stores differ from the backup: ${after} vs ${before}`);
    };
    await restore('lb-restore', 'lifeboat', `lifeboat restore (whole stack, pg jobs ${SIZE.jobs})`, () => lifeboat(s, ['restore', '--yes', '--no-safety-snapshot']));
    await restore('restic-restore', 'restic', 'restic dump | psql, rdb, restore, dump | mariadb (four at once)', () => sh(combine(restoreScripts(s, 'restic'), true), { env }));
    await restore('rb-restore-seq', 'runbook', 'runbook: gunzip | psql, rdb + restart, tar xzf, gunzip | mariadb (in turn)', () => sh(combine(restoreScripts(s, 'runbook-psql'), false), { env }));
    await restore('rb-restore-par', 'runbook', `runbook: pg_restore -j ${SIZE.jobs}, rdb + restart, tar xzf, gunzip | mariadb (four at once)`, () => sh(combine(restoreScripts(s, 'runbook-pg_restore'), true), { env }));

    // --- Hourly backups with churn: repository growth.
    const hours: { hour: number; lifeboatBytes: number; resticBytes: number; lb: Pick<Step, 'wallS' | 'maxRssKiB'>; restic: Pick<Step, 'wallS' | 'maxRssKiB'> }[] = [];
    const hourly = { lifeboatStart: dirBytes(s.lbRepo), resticStart: dirBytes(s.resticRepo), runbookHour0: rbHour0, runbookLast: 0 };
    for (let h = 1; h <= SIZE.hours; h++) {
      await churn(s, h, counts.redisKeys);
      const order = h % 2 === 0 ? ['restic', 'lifeboat'] : ['lifeboat', 'restic'];
      const got: Record<string, Sample> = {};
      for (const w of order) {
        got[w] = w === 'lifeboat' ? await lifeboat(s, ['backup']) : await sh(BACKUP.resticStack(s), { env });
        if (got[w].exitCode !== 0) failures.push(`hour ${h}: ${w} backup exited ${got[w].exitCode}: ${got[w].stderrTail}`);
      }
      hours.push({
        hour: h, lifeboatBytes: dirBytes(s.lbRepo), resticBytes: dirBytes(s.resticRepo),
        lb: { wallS: got.lifeboat.wallS, maxRssKiB: got.lifeboat.maxRssKiB }, restic: { wallS: got.restic.wallS, maxRssKiB: got.restic.maxRssKiB },
      });
      log(`hour ${h}: lifeboat ${mb(dirBytes(s.lbRepo))} MB (${got.lifeboat.wallS.toFixed(1)} s), restic ${mb(dirBytes(s.resticRepo))} MB (${got.restic.wallS.toFixed(1)} s); ${uptime()}`);
      uptimes.push(uptime());
    }
    const last = path.join(run, 'runbook-last');
    shOk(BACKUP.runbookStack(s, last), env);
    hourly.runbookLast = dirBytes(last);

    const results = {
      date: started.toISOString(),
      command: `${Object.entries(SIZE_ENV).map(([k, v]) => `${v}=${SIZE[k as keyof typeof SIZE]}`).join(' ')} npm run bench:stack`,
      machine: { nproc: os.availableParallelism(), cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, restic: shOk(`${RESTIC} version`).trim(), lifeboat: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim(), postgres: pg.version, measuredWith: measureMethod },
      size: SIZE, counts, sizes, steps, hours, hourly, uptimes, failures,
      benchSeconds: Math.round((performance.now() - t0) / 1000),
    };
    const file = path.join(ROOT, 'bench', 'results', `stack-${started.toISOString().slice(0, 16).replace('T', '-').replace(':', '')}.json`);
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
    log(`wrote ${path.relative(ROOT, file)}`);
    if (!opts['no-doc']) {
      const { renderStack } = await import('./stack-report.ts');
      const notes = path.join(ROOT, 'bench', 'stack-notes.md');
      writeSection(path.join(ROOT, 'docs', 'performance.md'), 'stack', renderStack(results, path.relative(ROOT, file), existsSync(notes) ? readFileSync(notes, 'utf8') : ''));
      log('wrote docs/performance.md (section stack)');
    }
    if (failures.length > 0) {
      log(`${failures.length} failure(s):\n  ${failures.join('\n  ')}`);
      process.exitCode = 1;
    }
  } finally {
    load.stop();
    redis?.stop();
    await Promise.all([pg?.stop(), my?.stop()]);
    rmSync(run, { recursive: true, force: true });
  }
}

function mb(n: number): string {
  return (n / 1e6).toFixed(1);
}

export type StackResults = {
  date: string;
  command: string;
  machine: Record<string, string | number>;
  size: typeof SIZE;
  counts: Record<string, number>;
  sizes: Record<string, number>;
  steps: Step[];
  hours: { hour: number; lifeboatBytes: number; resticBytes: number; lb: { wallS: number; maxRssKiB: number }; restic: { wallS: number; maxRssKiB: number } }[];
  hourly: { lifeboatStart: number; resticStart: number; runbookHour0: number; runbookLast: number };
  uptimes: string[];
  failures: string[];
  benchSeconds: number;
};

/** --doc-from FILE: the section again from a saved results file (after editing bench/stack-notes.md), running nothing. */
async function docFrom(file: string): Promise<void> {
  const { renderStack } = await import('./stack-report.ts');
  const notes = path.join(ROOT, 'bench', 'stack-notes.md');
  const res = JSON.parse(readFileSync(file, 'utf8')) as StackResults;
  writeSection(path.join(ROOT, 'docs', 'performance.md'), 'stack', renderStack(res, path.relative(ROOT, path.resolve(file)), existsSync(notes) ? readFileSync(notes, 'utf8') : ''));
  log('wrote docs/performance.md (section stack)');
}

if (import.meta.main) await (opts['doc-from'] === undefined ? main() : docFrom(opts['doc-from']));
