/**
 * A throwaway PostgreSQL server: a copy of a once-per-process initdb template in a temp dir,
 * postmaster on a random loopback port, superuser `postgres` with a password and SCRAM auth
 * for every connection (socket and TCP), so tests exercise the same password path a real
 * deployment uses. The template's password is replaced right after start-up.
 *
 * Run as root, the cluster belongs to an unprivileged user (PostgreSQL refuses root). The
 * postmaster is spawned directly rather than through pg_ctl so its pid is ours to signal:
 * SIGINT is PostgreSQL's "fast shutdown", SIGKILL of the group a crash.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { binaryPath, findPostgresBinDir, installHint } from './binaries.ts';
import { ManagedProcess } from './managed-process.ts';
import { LOOPBACK, PortInUseError, pollUntil, withFreePort } from './ports.ts';
import { runCommand, runCommandOk } from './run-command.ts';
import { randomPassword, ServerRoot } from './server-root.ts';
import { cachedTemplate, copyTemplate } from './template-cache.ts';
import { unprivilegedUser } from './unprivileged-user.ts';

export interface PostgresServer {
  host: string;
  port: number;
  user: string;
  password: string;
  dataDir: string;
  binDir: string;
  /** Server version, e.g. "15.18". */
  version: string;
  /** Postmaster pid (also the process-group id of the whole server). */
  pid: number;
  /** Only the connection variables (PGHOST, PGPORT, PGUSER, PGPASSWORD); merge over process.env. */
  env(): NodeJS.ProcessEnv;
  /** Runs SQL through psql (unaligned, tuples only, stop on first error) and returns stdout. */
  psql(sql: string, db?: string): Promise<string>;
  /** Fast shutdown, then removes the temp dir. Safe to call twice and after kill(). */
  stop(): Promise<void>;
  /** SIGKILLs the postmaster and its backends (a crash); stop() still cleans up after. */
  kill(): Promise<void>;
}

export interface PostgresOptions {
  password?: string;
  /** Extra server settings, passed as `-c name=value` (e.g. { wal_level: 'logical' }). */
  config?: Record<string, string>;
}

const SUPERUSER = 'postgres';

/** Environment without inherited libpq variables, so a stray PGDATABASE cannot redirect a test. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  return env;
}

/** Password of the template cluster's superuser; every copy changes it before use. */
const TEMPLATE_PASSWORD = randomPassword();

/** One initdb per test process; every server starts from a copy. */
function postgresTemplate(binDir: string, env: NodeJS.ProcessEnv, ids: { uid?: number; gid?: number }): Promise<string> {
  return cachedTemplate(`pg-${ids.uid ?? 'self'}`, async (dataDir) => {
    const root = dirname(dataDir);
    const pwfile = join(root, 'pwfile');
    await writeFile(pwfile, `${TEMPLATE_PASSWORD}\n`, { mode: 0o600 });
    if (ids.uid !== undefined && ids.gid !== undefined) {
      for (const p of [root, pwfile]) await chown(p, ids.uid, ids.gid);
    }
    // -N: no fsync of the fresh cluster; a throwaway server gains nothing from durability.
    const init = await runCommand(
      join(binDir, 'initdb'),
      ['-D', dataDir, '-U', SUPERUSER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-N', '-E', 'UTF8', '--locale=C.UTF-8'],
      { ...ids, env, cwd: root, timeoutMs: 120_000 },
    );
    await rm(pwfile, { force: true });
    if (init.code !== 0) throw new Error(`initdb failed in ${dataDir}: ${init.stderr.trim() || init.stdout.trim()}`);
  });
}

/** SQL string literal (standard_conforming_strings is on: only quotes need doubling). */
function quoteLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * A killed postmaster leaves its System V interlock segment behind, and its postmaster.pid,
 * whose 7th line is "<key> <shmid>". A clean shutdown removes both, so no file, no work.
 */
function releaseCrashedSegment(dataDir: string): void {
  let lines: string[];
  try {
    lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return;
  }
  const shmid = lines[6]?.trim().split(/\s+/)[1];
  if (shmid !== undefined && /^\d+$/.test(shmid)) spawnSync('ipcrm', ['-m', shmid], { stdio: 'ignore' });
}

/** The server user must be able to reach its temp dir through every ancestor directory. */
function assertTraversable(dir: string, user: string): void {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) {
      throw new Error(`PostgreSQL runs as ${user}, who cannot enter ${d} on the way to the temp dir ${dir}: set TMPDIR=/tmp`);
    }
    if (dirname(d) === d) return;
  }
}

let versionCache: Promise<string> | undefined;

function postgresVersion(binDir: string): Promise<string> {
  versionCache ??= runCommandOk(join(binDir, 'postgres'), ['--version']).then((r) => {
    return /\(PostgreSQL\)\s+(\S+)/.exec(r.stdout)?.[1] ?? r.stdout.trim();
  });
  return versionCache;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const binDir = findPostgresBinDir();
  if (binDir === undefined) throw new Error(`PostgreSQL server binaries (initdb, postgres) are not installed: ${installHint(['initdb'])}`);
  // The versioned psql skips Debian's pg_wrapper script (a Perl start-up per call).
  const psqlBin = existsSync(join(binDir, 'psql')) ? join(binDir, 'psql') : binaryPath('psql');
  const password = opts.password ?? randomPassword();
  const runAs = unprivilegedUser();
  const ids = runAs === undefined ? {} : { uid: runAs.uid, gid: runAs.gid };
  if (runAs !== undefined) assertTraversable(tmpdir(), runAs.name);
  const root = await ServerRoot.create('pg');
  let proc: ManagedProcess | undefined;
  try {
    const dataDir = root.path('data');
    const socketDir = root.path('sock');
    await mkdir(socketDir, { mode: 0o700 });
    if (runAs !== undefined) {
      for (const p of [root.dir, socketDir]) await chown(p, runAs.uid, runAs.gid);
    }
    const env = { ...cleanEnv(), LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' };
    await copyTemplate(await postgresTemplate(binDir, env, ids), dataDir);
    root.entry.afterDeathSync = () => releaseCrashedSegment(dataDir);
    const settings: Record<string, string> = {
      listen_addresses: LOOPBACK,
      unix_socket_directories: socketDir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      // DSM segments as files in the data dir: a killed server's POSIX segments would
      // otherwise stay behind in /dev/shm.
      dynamic_shared_memory_type: 'mmap',
      ...opts.config,
    };
    const started = await withFreePort(async (port) => {
      const args = ['-D', dataDir, '-c', `port=${port}`];
      for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
      const p = new ManagedProcess(join(binDir, 'postgres'), args, { ...ids, env, cwd: root.dir, logFile: root.path('postgres.log') });
      proc = p;
      root.adopt(p);
      try {
        await pollUntil(
          async () => (await runCommand(join(binDir, 'pg_isready'), ['-q', '-h', LOOPBACK, '-p', String(port), '-t', '1'], { env })).code === 0,
          { what: `PostgreSQL on port ${port}`, abort: () => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`) },
        );
      } catch (err) {
        await p.stop('SIGINT', 5000);
        if (/could not bind|address already in use/i.test(p.logTail(50))) throw new PortInUseError(port, p.logTail(3));
        throw err;
      }
      return { port, proc: p };
    });
    const version = await postgresVersion(binDir);
    const port = started.port;
    const serverEnv = (): NodeJS.ProcessEnv => ({ PGHOST: LOOPBACK, PGPORT: String(port), PGUSER: SUPERUSER, PGPASSWORD: password });
    // The copy still has the template's password: replace it (SQL on stdin, not argv).
    const setPassword = await runCommand(psqlBin, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-f', '-'], {
      env: { ...cleanEnv(), ...serverEnv(), PGPASSWORD: TEMPLATE_PASSWORD },
      input: `ALTER ROLE ${SUPERUSER} PASSWORD ${quoteLiteral(password)};`,
      timeoutMs: 60_000,
    });
    if (setPassword.code !== 0) throw new Error(`setting the PostgreSQL superuser password failed: ${setPassword.stderr.trim()}`);
    return {
      host: LOOPBACK,
      port,
      user: SUPERUSER,
      password,
      dataDir,
      binDir,
      version,
      pid: started.proc.pid,
      env: serverEnv,
      async psql(sql: string, db = 'postgres') {
        const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', db, '-f', '-'];
        const r = await runCommand(psqlBin, args, { env: { ...cleanEnv(), ...serverEnv() }, input: sql, timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`psql on ${db} (port ${port}) failed: ${r.stderr.trim()}`);
        return r.stdout;
      },
      stop: () => root.stop(started.proc, 'SIGINT', 15_000),
      async kill() {
        await started.proc.kill();
      },
    };
  } catch (err) {
    await root.stop(proc, 'SIGKILL', 0);
    throw err;
  }
}
