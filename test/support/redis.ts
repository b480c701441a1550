/**
 * A throwaway Redis server on a random loopback port, configured through a 0600 config file
 * in its temp dir (the password lives there, never in argv).
 *
 * Defaults suit backup tests: no RDB save points (`save ""`, so nothing is written unless a
 * test asks), and diskless replication with no delay, so a replica-protocol backup (SYNC)
 * gets its RDB stream immediately instead of after the default 5-second gathering pause.
 */
import { mkdir } from 'node:fs/promises';
import { binaryPath } from './binaries.ts';
import { ManagedProcess } from './managed-process.ts';
import { LOOPBACK, PortInUseError, pollUntil, probe, withFreePort } from './ports.ts';
import { runCommand } from './run-command.ts';
import { ServerRoot } from './server-root.ts';

export interface RedisServer {
  host: string;
  port: number;
  password?: string;
  /** The server's `dir`: RDB and AOF files land here. */
  dataDir: string;
  /** redis-server pid (also the process-group id). */
  pid: number;
  /** Only REDISCLI_AUTH (when a password is set); merge over process.env. */
  env(): NodeJS.ProcessEnv;
  /** Runs one redis-cli command; returns its raw output without the final newline; throws on an error reply. */
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
  /** SIGKILLs the server; stop() still cleans up after. */
  kill(): Promise<void>;
}

export interface RedisOptions {
  password?: string;
  /** Extra redis.conf lines, appended after the defaults (later lines win), e.g. ['save 60 1']. */
  extraConfig?: string[];
}

/** Config values in double quotes; redis.conf understands C-style escapes inside them. */
function confString(s: string): string {
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

const PING = '*1\r\n$4\r\nPING\r\n';

/** Ready once PING gets +PONG (or -NOAUTH, which also proves the server is serving). */
async function pongs(port: number): Promise<boolean> {
  const reply = (await probe(port, PING))?.toString('latin1') ?? '';
  return reply.startsWith('+PONG') || reply.startsWith('-NOAUTH');
}

export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const server = binaryPath('redis-server');
  const cliBin = binaryPath('redis-cli');
  const password = opts.password;
  const root = await ServerRoot.create('redis');
  let proc: ManagedProcess | undefined;
  try {
    const dataDir = root.path('data');
    await mkdir(dataDir);
    const started = await withFreePort(async (port) => {
      const config = [
        `port ${port}`,
        `bind ${LOOPBACK}`,
        `dir ${confString(dataDir)}`,
        'daemonize no',
        'logfile ""',
        'save ""',
        'appendonly no',
        'repl-diskless-sync yes',
        'repl-diskless-sync-delay 0',
        ...(password === undefined ? [] : [`requirepass ${confString(password)}`]),
        ...(opts.extraConfig ?? []),
      ];
      const confFile = await root.writeSecret('redis.conf', `${config.join('\n')}\n`);
      const p = new ManagedProcess(server, [confFile], { cwd: root.dir, logFile: root.path('redis.log') });
      proc = p;
      root.adopt(p);
      try {
        await pollUntil(() => pongs(port), {
          what: `Redis on port ${port}`,
          abort: () => (p.exitInfo === undefined ? undefined : `${p.describeExit()}\n${p.logTail()}`),
        });
      } catch (err) {
        await p.stop('SIGKILL', 0);
        if (/address already in use/i.test(p.logTail(50))) throw new PortInUseError(port, p.logTail(3));
        throw err;
      }
      return { port, proc: p };
    });
    const port = started.port;
    const serverEnv = (): NodeJS.ProcessEnv => (password === undefined ? {} : { REDISCLI_AUTH: password });
    return {
      host: LOOPBACK,
      port,
      password,
      dataDir,
      pid: started.proc.pid,
      env: serverEnv,
      async cli(...args: string[]) {
        // -e: exit non-zero on an error reply, which redis-cli otherwise prints and ignores.
        const env: NodeJS.ProcessEnv = { ...process.env, ...serverEnv() };
        if (password === undefined) delete env.REDISCLI_AUTH;
        const r = await runCommand(cliBin, ['-h', LOOPBACK, '-p', String(port), '-e', '--no-auth-warning', ...args], { env, timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`redis-cli ${args[0] ?? ''} on port ${port} failed: ${(r.stdout + r.stderr).trim()}`);
        return r.stdout.endsWith('\n') ? r.stdout.slice(0, -1) : r.stdout;
      },
      stop: () => root.stop(started.proc, 'SIGTERM', 10_000),
      async kill() {
        await started.proc.kill();
      },
    };
  } catch (err) {
    await root.stop(proc, 'SIGKILL', 0);
    throw err;
  }
}
