/**
 * A throwaway MariaDB server: a copy of a once-per-process mariadb-install-db template in a
 * temp dir, mariadbd on a random loopback port plus a socket in the temp dir, root with a
 * password for socket and TCP.
 *
 * `--no-defaults` everywhere keeps the distribution's /etc/mysql config (its socket path,
 * its log settings) out of the way. install-db is asked for password ("normal") root
 * accounts instead of unix_socket ones, so setting the password works whether or not the
 * tests run as root; the password is then set over the socket, sent on stdin. As root the
 * server needs `--user=root` (it refuses to run as root otherwise).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { binaryPath } from './binaries.ts';
import { ManagedProcess } from './managed-process.ts';
import { LOOPBACK, PortInUseError, pollUntil, probe, withFreePort } from './ports.ts';
import { runCommand } from './run-command.ts';
import { randomPassword, ServerRoot } from './server-root.ts';
import { cachedTemplate, copyTemplate } from './template-cache.ts';

export interface MariadbServer {
  host: string;
  port: number;
  user: 'root';
  password: string;
  socket: string;
  dataDir: string;
  /** mariadbd pid (also the process-group id). */
  pid: number;
  /** Only the client variables (MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_PWD, MYSQL_UNIX_PORT); merge over process.env. */
  env(): NodeJS.ProcessEnv;
  /** Runs SQL through the mariadb client over TCP (batch mode, no column names); returns stdout. */
  sql(sql: string, db?: string): Promise<string>;
  stop(): Promise<void>;
  /** SIGKILLs the server (a crash); stop() still cleans up after. */
  kill(): Promise<void>;
}

export interface MariadbOptions {
  password?: string;
  /** Extra mariadbd options, e.g. ['--log-bin=binlog', '--server-id=1']. */
  extraArgs?: string[];
}

/** SQL string literal; the client reads it from stdin, so only quoting matters. */
function quote(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MYSQL_') && !k.startsWith('MARIADB_')) env[k] = v;
  return env;
}

/** The first packet of the MySQL protocol is the server greeting; byte 4 is protocol version 10. */
async function greets(port: number): Promise<boolean> {
  const first = await probe(port);
  return first !== undefined && first.length > 4 && first[4] === 10;
}

/** One mariadb-install-db per test process; every server starts from a copy. */
function mariadbTemplate(installDb: string, userArgs: string[], sizing: string[]): Promise<string> {
  return cachedTemplate('mariadb', async (dataDir) => {
    const install = await runCommand(
      installDb,
      // Its own tmpdir: two test processes bootstrapping at once in /tmp collide on the
      // bootstrap's temporary table files ("Could not remove temporary table", then abort).
      ['--no-defaults', `--datadir=${dataDir}`, `--tmpdir=${dirname(dataDir)}`, ...userArgs, '--auth-root-authentication-method=normal', '--skip-test-db', ...sizing],
      { env: cleanEnv(), cwd: dirname(dataDir), timeoutMs: 120_000 },
    );
    if (install.code !== 0) throw new Error(`mariadb-install-db failed in ${dataDir}: ${install.stderr.trim() || install.stdout.trim()}`);
  });
}

export async function startMariadb(opts: MariadbOptions = {}): Promise<MariadbServer> {
  const installDb = binaryPath('mariadb-install-db');
  const mariadbd = binaryPath('mariadbd');
  const client = binaryPath('mariadb');
  const password = opts.password ?? randomPassword();
  const asRoot = process.getuid?.() === 0;
  const userArgs = asRoot ? ['--user=root'] : [];
  const root = await ServerRoot.create('mariadb');
  let proc: ManagedProcess | undefined;
  try {
    const dataDir = root.path('data');
    const socket = root.path('mariadbd.sock');
    // Small redo log and buffer pool: the defaults allocate ~100 MB per throwaway server.
    const sizing = ['--innodb-log-file-size=8M', '--innodb-buffer-pool-size=32M'];
    await copyTemplate(await mariadbTemplate(installDb, userArgs, sizing), dataDir);
    const started = await withFreePort(async (port) => {
      const args = [
        '--no-defaults', `--datadir=${dataDir}`, `--socket=${socket}`, `--port=${port}`, `--bind-address=${LOOPBACK}`,
        `--pid-file=${root.path('mariadbd.pid')}`, `--tmpdir=${root.dir}`, '--skip-name-resolve', ...userArgs, ...sizing,
        ...(opts.extraArgs ?? []),
      ];
      const p = new ManagedProcess(mariadbd, args, { env: cleanEnv(), cwd: root.dir, logFile: root.path('mariadbd.log') });
      proc = p;
      root.adopt(p);
      try {
        // Ready = the socket exists and the TCP port sends the protocol greeting.
        await pollUntil(async () => existsSync(socket) && (await greets(port)), {
          what: `MariaDB on port ${port}`,
          timeoutMs: 60_000,
          abort: () => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`),
        });
      } catch (err) {
        await p.stop('SIGKILL', 0);
        if (/address already in use|bind on tcp\/ip port/i.test(p.logTail(50))) throw new PortInUseError(port, p.logTail(3));
        throw err;
      }
      return { port, proc: p };
    });
    // install-db created root@localhost, root@127.0.0.1 and root@::1 without a password
    // (the host-named account too, unused with --skip-name-resolve).
    const setup = ['localhost', '127.0.0.1', '::1']
      .map((h) => `CREATE USER IF NOT EXISTS 'root'@'${h}'; ALTER USER 'root'@'${h}' IDENTIFIED BY ${quote(password)}; GRANT ALL PRIVILEGES ON *.* TO 'root'@'${h}' WITH GRANT OPTION;`)
      .join('\n');
    const set = await runCommand(client, ['--no-defaults', `--socket=${socket}`, '--user=root', '--batch'], { env: cleanEnv(), input: setup, timeoutMs: 60_000 });
    if (set.code !== 0) throw new Error(`setting the MariaDB root password failed: ${set.stderr.trim()}`);
    const port = started.port;
    const serverEnv = (): NodeJS.ProcessEnv => ({ MYSQL_HOST: LOOPBACK, MYSQL_TCP_PORT: String(port), MYSQL_PWD: password, MYSQL_UNIX_PORT: socket });
    return {
      host: LOOPBACK,
      port,
      user: 'root',
      password,
      socket,
      dataDir,
      pid: started.proc.pid,
      env: serverEnv,
      async sql(sql: string, db?: string) {
        // MYSQL_PWD is the client's documented password variable: the password stays out of argv.
        const args = ['--no-defaults', `--host=${LOOPBACK}`, `--port=${port}`, '--protocol=TCP', '--user=root', '--batch', '--skip-column-names'];
        if (db !== undefined) args.push(`--database=${db}`);
        const r = await runCommand(client, args, { env: { ...cleanEnv(), MYSQL_PWD: password }, input: sql, timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`mariadb on ${db ?? '(no database)'} (port ${port}) failed: ${r.stderr.trim()}`);
        return r.stdout;
      },
      stop: () => root.stop(started.proc, 'SIGTERM', 30_000),
      async kill() {
        await started.proc.kill();
      },
    };
  } catch (err) {
    await root.stop(proc, 'SIGKILL', 0);
    throw err;
  }
}
