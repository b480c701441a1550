/**
 * Throwaway servers for `lifeboat demo`: a PostgreSQL cluster and a redis-server in the demo's
 * scratch directory, on free loopback ports, from the binaries this machine has. Absent
 * binaries are reported, not fatal: the demo backs up the stores it can run. PostgreSQL
 * refuses to run as root, so under root it runs as `nobody` (the scratch dirs are handed over).
 * Authentication is `trust` on loopback: these servers live for seconds and hold demo data.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import path from 'node:path';
import { nowMs } from '../../util/clock.ts';

export interface DemoServer {
  readonly kind: 'postgres' | 'redis';
  readonly port: number;
  readonly version: string;
  stop(): Promise<void>;
}

export function findBinary(name: string, extraDirs: string[] = []): string | undefined {
  for (const dir of [...extraDirs, ...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/bin']) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

export function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(path.join(base, v, 'bin', 'initdb'))) return path.join(base, v, 'bin');
  const initdb = findBinary('initdb');
  return initdb ? path.dirname(initdb) : undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, what: string, logFile: string): Promise<void> {
  const end = nowMs() + timeoutMs;
  while (nowMs() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  let log = '';
  try {
    log = readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    // no log yet: the process never started far enough to write one
  }
  throw new Error(`${what} did not start within ${timeoutMs / 1000}s${log ? `: ${log}` : ''}`);
}

function nobody(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === 'nobody') return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error('running as root and no "nobody" user to run PostgreSQL as');
}

export async function startDemoPostgres(dir: string): Promise<DemoServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found (Debian: apt-get install postgresql)');
  const user = nobody();
  await mkdir(dir, { recursive: true });
  await chmod(path.dirname(dir), 0o755);
  await chmod(dir, 0o700);
  if (user) await chown(dir, user.uid, user.gid);
  const data = path.join(dir, 'data');
  const ids = user ? { uid: user.uid, gid: user.gid } : {};
  const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { ...ids, encoding: 'utf8', cwd: dir });
  if (init.status !== 0) throw new Error(`initdb failed: ${(init.stderr || init.stdout).trim().split('\n').slice(-2).join(' | ')}`);
  const port = await freePort();
  const log = path.join(dir, 'postgres.log');
  const start = spawnSync(path.join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'], { ...ids, encoding: 'utf8', cwd: dir });
  if (start.status !== 0) throw new Error(`PostgreSQL did not start: ${(start.stderr || start.stdout).trim().split('\n').slice(-2).join(' | ')}`);
  await waitForPort(port, 30_000, 'PostgreSQL', log);
  const version = spawnSync(path.join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  return {
    kind: 'postgres',
    port,
    version,
    async stop() {
      spawnSync(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], { ...ids, stdio: 'ignore', cwd: dir });
    },
  };
}

export async function startDemoRedis(dir: string): Promise<DemoServer> {
  const bin = findBinary('redis-server');
  if (!bin) throw new Error('redis-server not found (Debian: apt-get install redis-server)');
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const log = path.join(dir, 'redis.log');
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--logfile', log, '--repl-diskless-sync-delay', '0'], { stdio: 'ignore', detached: false });
  child.unref();
  await waitForPort(port, 10_000, 'redis-server', log);
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ').slice(0, 3).join(' ');
  return {
    kind: 'redis',
    port,
    version,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      // The child was unref'd so a forgotten server never holds the process open; hold it
      // now, or the loop may end before the exit event arrives.
      child.ref();
      child.kill('SIGKILL');
      await exited;
    },
  };
}
