/**
 * The throwaway servers the integration tests stand on: each starts on its own port and temp
 * dir, answers its protocol with password auth, and leaves nothing behind: not on stop(),
 * not after a SIGKILL, not when the test process is interrupted or simply ends.
 * Start-up times are reported as test diagnostics.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { groupAlive, registeredCount } from '../support/cleanup.ts';
import { freePort, PortInUseError, withFreePort } from '../support/ports.ts';
import { missingBinaries, needBinaries, requireServers } from '../support/require.ts';
import { restic, resticJSON } from '../support/restic.ts';
import { runCommand } from '../support/run-command.ts';
import { isPortOpen, SERVER_BINARIES, startMariadb, startPostgres, startRcloneRestServer, startRedis } from '../support/servers.ts';
import { tempDir } from '../support/tmp.ts';

const SUPPORT_DIR = join(import.meta.dirname, '..', 'support');

async function timed<T>(t: TestContext, what: string, start: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const server = await start();
  t.diagnostic(`${what} ready in ${Math.round(performance.now() - t0)} ms`);
  return server;
}

/** After stop(): nothing listens, no process of the group lives, the temp dir is gone. */
async function assertGone(server: { port: number; pid: number }, dir: string): Promise<void> {
  assert.equal(await isPortOpen(server.port), false, `port ${server.port} still open`);
  assert.equal(groupAlive(server.pid), false, `process group ${server.pid} still alive`);
  assert.equal(existsSync(dir), false, `${dir} still exists`);
}

test('postgres: starts, answers SQL with password auth, stops clean', { timeout: 120_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.postgres)) return;
  const pg = await timed(t, 'postgres', () => startPostgres());
  t.after(() => pg.stop());
  t.diagnostic(`postgres ${pg.version} from ${pg.binDir}`);
  assert.equal(await isPortOpen(pg.port), true);
  const registered = registeredCount();
  const out = await pg.psql('CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, $$a$$), (2, $$b$$); SELECT count(*), string_agg(name, $$,$$ ORDER BY id) FROM t;');
  assert.equal(out.trim(), '2|a,b');
  // env() is everything a libpq client needs; a wrong password is refused (auth is real).
  const psql = join(pg.binDir, 'psql');
  const ok = await runCommand(psql, ['-X', '-A', '-t', '-c', 'SELECT current_user'], { env: { PATH: process.env.PATH, ...pg.env() } });
  assert.equal(ok.stdout.trim(), 'postgres', ok.stderr);
  const bad = await runCommand(psql, ['-X', '-c', 'SELECT 1'], { env: { PATH: process.env.PATH, ...pg.env(), PGPASSWORD: 'wrong' } });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /password authentication failed/);
  const root = dirname(pg.dataDir);
  await pg.stop();
  await pg.stop(); // idempotent
  await assertGone(pg, root);
  assert.equal(registeredCount(), registered - 1, 'stop() unregisters the server');
});

test('postgres: a custom password is the one that works', { timeout: 120_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.postgres)) return;
  const pg = await timed(t, 'postgres (second start, from the template)', () => startPostgres({ password: "it's a \\ secret" }));
  t.after(() => pg.stop());
  assert.equal(pg.password, "it's a \\ secret");
  assert.equal((await pg.psql('SELECT 40 + 2')).trim(), '42');
});

test('mariadb: starts, answers SQL with password auth, stops clean', { timeout: 180_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.mariadb)) return;
  const my = await timed(t, 'mariadb', () => startMariadb());
  t.after(() => my.stop());
  assert.equal(await isPortOpen(my.port), true);
  await my.sql('CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, name TEXT); INSERT INTO app.t VALUES (1, "a"), (2, "b");');
  assert.equal((await my.sql('SELECT COUNT(*), GROUP_CONCAT(name ORDER BY id) FROM t', 'app')).trim(), '2\ta,b');
  const client = ['--no-defaults', '--batch', '--skip-column-names', '--user=root', '-e', 'SELECT CURRENT_USER()'];
  const ok = await runCommand('mariadb', client, { env: { PATH: process.env.PATH, ...my.env() } });
  assert.equal(ok.stdout.trim(), 'root@127.0.0.1', ok.stderr);
  const bad = await runCommand('mariadb', client, { env: { PATH: process.env.PATH, ...my.env(), MYSQL_PWD: 'wrong' } });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /Access denied/);
  const root = dirname(my.dataDir);
  await my.stop();
  await assertGone(my, root);
});

test('mariadb: a second server starts from the template with its own password', { timeout: 180_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.mariadb)) return;
  const my = await timed(t, 'mariadb (second start, from the template)', () => startMariadb({ password: "o'brien\\x" }));
  t.after(() => my.stop());
  assert.equal((await my.sql('SELECT 40 + 2')).trim(), '42');
  const ok = await runCommand('mariadb', ['--no-defaults', '--batch', '--skip-column-names', '--user=root', '-e', 'SELECT 1'], {
    env: { PATH: process.env.PATH, ...my.env(), MYSQL_PWD: "o'brien\\x" },
  });
  assert.equal(ok.code, 0, ok.stderr);
});

test('redis: starts with a password, SET/GET, stops clean', { timeout: 60_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.redis)) return;
  const r = await timed(t, 'redis', () => startRedis({ password: 'p"w\\d' }));
  t.after(() => r.stop());
  assert.equal(await r.cli('SET', 'greeting', 'hello world'), 'OK');
  assert.equal(await r.cli('GET', 'greeting'), 'hello world');
  // Defaults the backup tests rely on.
  assert.equal(await r.cli('CONFIG', 'GET', 'save'), 'save\n');
  assert.equal(await r.cli('CONFIG', 'GET', 'repl-diskless-sync-delay'), 'repl-diskless-sync-delay\n0');
  const noAuth = await runCommand('redis-cli', ['-p', String(r.port), '-e', 'GET', 'greeting'], { env: { PATH: process.env.PATH } });
  assert.match(noAuth.stdout + noAuth.stderr, /NOAUTH/);
  await assert.rejects(r.cli('NOSUCHCOMMAND'), /unknown command/);
  await r.stop();
  await assertGone(r, dirname(r.dataDir));
});

test('redis: extraConfig overrides the defaults', { timeout: 60_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.redis)) return;
  const r = await startRedis({ extraConfig: ['save 3600 1', 'maxmemory-policy allkeys-lru'] });
  t.after(() => r.stop());
  assert.equal(r.password, undefined);
  assert.equal(await r.cli('CONFIG', 'GET', 'save'), 'save\n3600 1');
  assert.equal(await r.cli('CONFIG', 'GET', 'maxmemory-policy'), 'maxmemory-policy\nallkeys-lru');
});

test('rclone REST server: restic init --repository-version 2 works against it, stops clean', { timeout: 120_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.rclone, ...SERVER_BINARIES.restic)) return;
  const rest = await timed(t, 'rclone serve restic', () => startRcloneRestServer());
  t.after(() => rest.stop());
  assert.match(rest.url, /^rest:http:\/\/127\.0\.0\.1:\d+\/$/);
  const init = await restic(['init', '--repository-version', '2'], { repo: rest.url, password: 'oracle' });
  assert.equal(init.code, 0, init.stderr);
  assert.equal(existsSync(join(rest.dir, 'config')), true);
  const config = await resticJSON<{ version: number }>(['cat', 'config'], { repo: rest.url, password: 'oracle' });
  assert.equal(config.version, 2);
  assert.deepEqual(await resticJSON(['snapshots'], { repo: rest.url, password: 'oracle' }), []);
  await rest.stop();
  await assertGone(rest, dirname(rest.dir));
});

test('rclone REST server: user/password are enforced, append-only refuses deletes', { timeout: 120_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.rclone, ...SERVER_BINARIES.restic)) return;
  const rest = await startRcloneRestServer({ appendOnly: true, user: 'backup', password: 's3cret/:@' });
  t.after(() => rest.stop());
  const anonymous = await restic(['init', '--repository-version', '2'], { repo: rest.url, password: 'oracle' });
  assert.notEqual(anonymous.code, 0);
  assert.match(anonymous.stderr, /401/);
  const init = await restic(['init', '--repository-version', '2'], { repo: rest.repoUrl(), password: 'oracle' });
  assert.equal(init.code, 0, init.stderr);
  const auth = `Basic ${Buffer.from('backup:s3cret/:@').toString('base64')}`;
  const res = await fetch(`${rest.httpUrl}config`, { method: 'DELETE', headers: { authorization: auth } });
  assert.equal(res.ok, false, `DELETE answered ${res.status}`);
  assert.equal(existsSync(join(rest.dir, 'config')), true);
});

test('a server killed by SIGKILL is noticed by stop() without hanging', { timeout: 120_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.redis)) return;
  const r = await startRedis();
  t.after(() => r.stop());
  process.kill(r.pid, 'SIGKILL'); // behind the helper's back
  await r.stop();
  await assertGone(r, dirname(r.dataDir));
});

test('postgres kill() crashes the postmaster and its backends; stop() still cleans up', { timeout: 120_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.postgres)) return;
  const pg = await startPostgres();
  t.after(() => pg.stop());
  await pg.psql('SELECT 1');
  const shmid = readFileSync(join(pg.dataDir, 'postmaster.pid'), 'utf8').split('\n')[6].trim().split(/\s+/)[1];
  assert.equal(sysvSegmentExists(shmid), true);
  await pg.kill();
  assert.equal(groupAlive(pg.pid), false);
  assert.equal(await isPortOpen(pg.port), false);
  assert.equal(existsSync(pg.dataDir), true, 'kill() leaves the data dir for stop()');
  await pg.stop();
  await assertGone(pg, dirname(pg.dataDir));
  assert.equal(sysvSegmentExists(shmid), false, 'the crashed server\'s System V segment is released');
});

/** Whether a System V shared memory segment exists (ipcs cannot tell by exit code). */
function sysvSegmentExists(shmid: string): boolean {
  const rows = readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n').slice(1);
  return rows.some((row) => row.trim().split(/\s+/)[1] === shmid);
}

test('servers started together get distinct ports and dirs', { timeout: 60_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.redis)) return;
  const servers = await Promise.all([startRedis(), startRedis(), startRedis(), startRedis()]);
  t.after(() => Promise.all(servers.map((s) => s.stop())));
  assert.equal(new Set(servers.map((s) => s.port)).size, servers.length);
  assert.equal(new Set(servers.map((s) => s.dataDir)).size, servers.length);
  await Promise.all(servers.map(async (s, i) => assert.equal(await s.cli('SET', 'i', String(i)), 'OK')));
  assert.deepEqual(await Promise.all(servers.map((s) => s.cli('GET', 'i'))), ['0', '1', '2', '3']);
});

/**
 * Runs a child test process that starts a Redis server and a temp dir, reports them, then
 * either ends on its own without stopping anything or waits for a signal.
 */
async function childLeavesNothing(t: TestContext, mode: 'exit' | 'SIGTERM' | 'SIGINT'): Promise<void> {
  const tmp = await tempDir('support');
  t.after(() => tmp.cleanup());
  const script = join(tmp.path, 'child.ts');
  const url = (f: string) => JSON.stringify(pathToFileURL(join(SUPPORT_DIR, f)).href);
  await writeFile(script, [
    `import { startRedis } from ${url('redis.ts')};`,
    `import { tempDir } from ${url('tmp.ts')};`,
    'const r = await startRedis();',
    "const d = await tempDir('child');",
    'console.log(JSON.stringify({ pid: r.pid, port: r.port, dir: r.dataDir, tmp: d.path }));',
    mode === 'exit' ? '' : 'setInterval(() => {}, 1000);',
  ].join('\n'));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before reporting`)));
  });
  const info = JSON.parse(line) as { pid: number; port: number; dir: string; tmp: string };
  if (mode !== 'exit') {
    assert.equal(groupAlive(info.pid), true);
    child.kill(mode);
  }
  await exited;
  await assertGone(info, dirname(info.dir));
  assert.equal(existsSync(info.tmp), false);
}

test('a test process that ends without stop() leaves no server behind', { timeout: 60_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.redis)) return;
  await childLeavesNothing(t, 'exit');
});

test('SIGTERM to the test process kills its servers and removes their dirs', { timeout: 60_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.redis)) return;
  await childLeavesNothing(t, 'SIGTERM');
});

test('SIGINT to the test process kills its servers and removes their dirs', { timeout: 60_000 }, async (t) => {
  if (!needBinaries(t, ...SERVER_BINARIES.redis)) return;
  await childLeavesNothing(t, 'SIGINT');
});

test('tempDir: created, registered, removed by cleanup()', async () => {
  const before = registeredCount();
  const d = await tempDir('probe');
  assert.equal(existsSync(d.path), true);
  assert.equal(registeredCount(), before + 1);
  await writeFile(join(d.path, 'f'), 'x');
  await d.cleanup();
  assert.equal(existsSync(d.path), false);
  assert.equal(registeredCount(), before);
});

test('withFreePort retries when the port race is lost', async () => {
  const seen: number[] = [];
  const result = await withFreePort(async (port) => {
    seen.push(port);
    if (seen.length === 1) throw new PortInUseError(port, 'simulated');
    return port;
  });
  assert.equal(seen.length, 2);
  assert.equal(result, seen[1]);
  assert.ok((await freePort()) > 0);
  await assert.rejects(withFreePort(async () => Promise.reject(new Error('other failure'))), /other failure/);
});

test('needBinaries skips with the package to install when a binary is missing', { skip: requireServers && 'REQUIRE_SERVERS=1 turns a skip into an error' }, () => {
  const reasons: (string | undefined)[] = [];
  const ctx = { skip: (m?: string) => void reasons.push(m) };
  assert.equal(needBinaries(ctx, 'restic'), findBinaryPresent('restic'));
  assert.equal(needBinaries(ctx, 'lifeboat-no-such-binary'), false);
  assert.match(reasons.at(-1) ?? '', /lifeboat-no-such-binary.*apt-get install/);
  assert.equal(typeof missingBinaries('lifeboat-no-such-binary'), 'string');
});

function findBinaryPresent(name: string): boolean {
  return missingBinaries(name) === false;
}

test('under REQUIRE_SERVERS=1 a missing binary is an error naming its package', async () => {
  const requireUrl = pathToFileURL(join(SUPPORT_DIR, 'require.ts')).href;
  const code = [
    `const { needBinaries } = await import(${JSON.stringify(requireUrl)});`,
    "try { needBinaries({ skip() { console.log('skipped'); } }, 'redis-cli', 'lifeboat-no-such-binary'); console.log('no error'); }",
    'catch (e) { console.log(e.message); }',
  ].join('\n');
  const r = await runCommand(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, REQUIRE_SERVERS: '1' } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^REQUIRE_SERVERS=1 but missing lifeboat-no-such-binary; install it with: apt-get install/);
});
