/**
 * The synthetic rehearsal behind `lifeboat demo` and `lifeboat drill --synthetic`: in one
 * scratch directory it starts the stores this machine can run (PostgreSQL, Redis), creates a
 * SQLite database and a folder of files, writes a lifeboat.yml for them, backs the stack up
 * twice (the second run shows dedup), verifies the backups, wipes every store, restores them
 * all in dependency order and compares each store's fingerprint with the backup's. The
 * scratch directory and every server are removed at the end (unless `keep`), also after a
 * failure or a cancellation. It proves the tool itself on a fresh machine.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LifeboatError } from '../../core/errors.ts';
import { formatBytes } from '../../util/format.ts';
import { Repository } from '../../repo/repository.ts';
import { openStorage } from '../repository-url.ts';
import type { RunReport } from '../../ops/run-report.ts';
import { backupStack, openStack, planStackRestore, restoreStack } from '../stack.ts';
import type { StackOptions } from '../stack.ts';
import { verifyStack } from '../assurance.ts';
import type { VerifyReport } from '../assurance.ts';
import { findBinary, postgresBinDir, startDemoPostgres, startDemoRedis } from './demo-servers.ts';
import type { DemoServer } from './demo-servers.ts';

export interface RehearsalUi {
  step<T>(name: string, fn: () => Promise<T> | T, describe?: (v: T) => string): Promise<T>;
  line(text: string): void;
  warn(text: string): void;
  progress(text: string): void;
  results(report: RunReport, kind: 'backup' | 'restore'): void;
}

export interface RehearsalResult {
  scratch: string;
  sources: string[];
  backup: RunReport;
  second_backup: RunReport;
  verify: VerifyReport;
  restore: RunReport;
  ok: boolean;
}

function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new LifeboatError('demo', `${path.basename(cmd)} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
  return r.stdout;
}

async function seedFiles(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'configs'), { recursive: true });
  await mkdir(path.join(dir, 'faiss_index'), { recursive: true });
  await writeFile(path.join(dir, 'configs', 'app.toml'), '[server]\nport = 8080\nworkers = 4\n');
  await writeFile(path.join(dir, '.env'), 'APP_MODE=production\n', { mode: 0o600 });
  await writeFile(path.join(dir, 'faiss_index', 'index.faiss'), randomBytes(2 * 1024 * 1024));
}

function seedSqlite(file: string): void {
  // node:sqlite is built into Node 22.5+; loaded lazily so other commands never pay for it.
  const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as typeof import('node:sqlite');
  const db = new DatabaseSync(file);
  db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, created TEXT)');
  const ins = db.prepare('INSERT INTO users (email, created) VALUES (?, ?)');
  db.exec('BEGIN');
  for (let i = 0; i < 500; i++) ins.run(`user${i}@example.org`, new Date(2026, 0, 1 + (i % 300)).toISOString());
  db.exec('COMMIT');
  db.close();
}

function seedPostgres(bin: string, port: number): void {
  const psql = path.join(bin, 'psql');
  const base = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres'];
  sh(psql, [...base, '-d', 'postgres', '-c', 'CREATE DATABASE shop']);
  sh(psql, [...base, '-d', 'shop'], `
    CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(10,2), note text);
    INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 2000) g;
    INSERT INTO orders (customer_id, total, note) SELECT 1 + g % 2000, (g * 7.31) % 1000, repeat('x', g % 50) FROM generate_series(1, 50000) g;
    CREATE INDEX orders_customer ON orders (customer_id);
  `);
}

export async function runRehearsal(opts: { env: NodeJS.ProcessEnv; signal: AbortSignal; keep?: boolean; ui: RehearsalUi }): Promise<RehearsalResult> {
  const ui = opts.ui;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'lifeboat-demo-'));
  const servers: DemoServer[] = [];
  const step = ui.step.bind(ui);
  try {
        ui.line(`scratch directory ${scratch}`);
        const sources: string[] = [];
        const yml: string[] = [
          'repository:',
          '  url: ./repository',
          '  password: { file: ./repository.password }',
          'state_dir: ./state',
          'concurrency: 2',
          'sources:',
        ];
        // Files and SQLite need nothing installed.
        const data = path.join(scratch, 'app-data');
        await step('seed files (configs, .env, index)', () => seedFiles(data));
        yml.push('  files:', '    type: files', `    paths: [${JSON.stringify(data)}]`);
        sources.push('files');
        const sqliteFile = path.join(scratch, 'iam.db');
        await step('seed SQLite (500 users)', () => seedSqlite(sqliteFile));
        yml.push('  iam-db:', '    type: sqlite', `    path: ${JSON.stringify(sqliteFile)}`);
        sources.push('iam-db');
        const pgBin = postgresBinDir();
        let pg: DemoServer | undefined;
        if (pgBin) {
          pg = await step('start throwaway PostgreSQL', () => startDemoPostgres(path.join(scratch, 'pg')), (s) => `${s.version} on port ${s.port}`);
          servers.push(pg);
          await step('seed PostgreSQL (2000 customers, 50000 orders)', () => seedPostgres(pgBin, (pg as DemoServer).port));
          yml.push('  postgres:', '    type: postgres', `    connection: { host: 127.0.0.1, port: ${pg.port}, user: postgres }`, '    databases: [shop]', `    bin_dir: ${JSON.stringify(pgBin)}`, '    depends_on: [iam-db]');
          sources.push('postgres');
        } else ui.warn('PostgreSQL not installed: skipping it (Debian: apt-get install postgresql)');
        const redisCli = findBinary('redis-cli');
        let redis: DemoServer | undefined;
        if (findBinary('redis-server') && redisCli) {
          redis = await step('start throwaway Redis', () => startDemoRedis(path.join(scratch, 'redis')), (s) => `${s.version} on port ${s.port}`);
          servers.push(redis);
          const port = String(redis.port);
          await step('seed Redis (1000 keys of 4 types)', () => {
            const cmds: string[] = [];
            for (let i = 0; i < 250; i++) cmds.push(`SET session:${i} token-${i}`, `HSET user:${i} name n${i} plan pro`, `RPUSH queue:${i % 10} job-${i}`, `SADD tags:${i % 25} t${i}`);
            sh(redisCli, ['-h', '127.0.0.1', '-p', port], cmds.join('\n') + '\n');
          });
          yml.push('  redis:', '    type: redis', `    url: redis://127.0.0.1:${redis.port}`, `    redis_server_bin: ${JSON.stringify(findBinary('redis-server'))}`);
          sources.push('redis');
        } else ui.warn('Redis not installed: skipping it (Debian: apt-get install redis-server)');

        const configFile = path.join(scratch, 'lifeboat.yml');
        await writeFile(configFile, yml.join('\n') + '\n');
        // A random demo password: the repository is thrown away at the end.
        const password = randomBytes(16).toString('base64url');
        await writeFile(path.join(scratch, 'repository.password'), password + '\n', { mode: 0o600 });
        await step('init repository', async () => Repository.init(await openStorage(path.join(scratch, 'repository')), password, { scrypt: { N: 4096, r: 8, p: 1 } }), (r) => `restic format v${r.config.version}`);
        ui.line(`  (lifeboat.yml written to ${configFile})`);

        const sopts: StackOptions = { configFile, env: opts.env, signal: opts.signal, log: { info: (m) => ui.progress(m), warn: (m) => ui.warn(m) } };
        const stack = await openStack(sopts);
        const first = await step(`back up ${sources.length} sources`, () => backupStack(stack, sopts), (r) => r.status);
        ui.results(first, 'backup');
        if (first.status !== 'ok') throw new LifeboatError('demo', 'the demo backup failed; see the table above');
        if (pg && pgBin) sh(path.join(pgBin, 'psql'), ['-X', '-q', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'shop', '-c', "INSERT INTO orders (customer_id, total, note) VALUES (1, 9.99, 'one more order')"]);
        await appendFile(path.join(data, 'configs', 'app.toml'), 'timeout = 30\n');
        const second = await step('change a little, back up again', () => backupStack(stack, sopts), (r) => {
          const read = r.sources.reduce((n, s) => n + (s.bytes_read ?? 0), 0);
          const added = r.sources.reduce((n, s) => n + (s.bytes_added ?? 0), 0);
          return `read ${formatBytes(read)}, stored ${formatBytes(added)} new (dedup)`;
        });
        if (second.status !== 'ok') throw new LifeboatError('demo', 'the second demo backup failed');

        const verifyOpened = await stack.openRepository('shared');
        const verify = await step('verify backups (no live store touched)', () => verifyStack(stack, verifyOpened, sopts), (r) => `${r.status}: ${r.sources.reduce((n, s) => n + s.checks.length, 0)} checks, ${r.sources.reduce((n, s) => n + s.problems.length, 0)} problems`).finally(() => verifyOpened.close());
        for (const s of verify.sources) for (const p of s.problems) ui.warn(`${s.source}: ${p}`);

        await step('wipe every store', async () => {
          await rm(data, { recursive: true, force: true });
          await rm(sqliteFile, { force: true });
          if (pg && pgBin) sh(path.join(pgBin, 'psql'), ['-X', '-q', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'postgres', '-c', 'DROP DATABASE shop']);
          if (redis && redisCli) sh(redisCli, ['-h', '127.0.0.1', '-p', String(redis.port), 'FLUSHALL']);
        }, () => 'files deleted, database dropped, keys flushed');

        const opened = await stack.openRepository('shared');
        let result: RehearsalResult;
        try {
          const plan = await planStackRestore(stack, opened, { noSafetySnapshot: true }); // the stores were just wiped: nothing to keep
          ui.line(`  restore order: ${plan.items.map((p) => p.source.name).join(' → ')}`);
          const restored = await step('restore all, compare fingerprints', () => restoreStack(stack, opened, plan, sopts), (r) => r.status);
          ui.results(restored, 'restore');
          for (const r of restored.sources) for (const d of r.fingerprint_diff ?? []) ui.line(`  ${r.source}: ${d}`);
          result = { scratch, sources, backup: first, second_backup: second, verify, restore: restored, ok: restored.status === 'ok' && verify.status === 'ok' };
        } finally {
          await opened.close();
        }
        return result;
  } finally {
    for (const s of servers) await s.stop().catch(() => undefined);
    if (opts.keep) ui.line(`kept ${scratch}`);
    else await rm(scratch, { recursive: true, force: true });
  }
}
