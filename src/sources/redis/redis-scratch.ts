/**
 * A throwaway redis-server for restore drills: empty, on a free loopback port, its `dir` a
 * fresh temp dir under the source's tmpDir, no persistence (`save ""`, `appendonly no`), so
 * nothing it holds outlives it. A drill restores into it online (it becomes the replica of
 * the restore's temporary master, exactly as a production target would) and fingerprints it.
 *
 * When the source authenticates (password, ACL user), the scratch server requires the same
 * credentials, so the source's connection settings work against it unchanged. They go into a
 * 0600 config file, never into argv. It serves plain TCP only.
 *
 * stop() SIGKILLs the server (it holds nothing worth a clean shutdown) and removes its dir; it
 * is idempotent.
 *
 * Through the container transport (a runner with `stageFile`) the scratch server runs in the
 * source's own container, next to the production server and at its version, in a `mktemp -d`
 * dir of the container's /tmp, and is reached through `connect` (a tunnel). stop() then asks
 * it to SHUTDOWN NOSAVE first: a signal cannot reach a process of a remote engine.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandRunner } from '../../core/command-runner.ts';
import { CancelledError, SourceError } from '../../core/errors.ts';
import { RedisClient, type ConnectOptions, type RedisEndpoint } from './redis-client.ts';
import { collect, succeeded } from '../process-kit.ts';
import { confString, freePort } from './redis-restore.ts';
import { nowMs } from '../../util/clock.ts';

/** A server that does not answer PING this long after its start is given up on. */
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
const LOG_TAIL = 4 * 1024;
const START_ATTEMPTS = 3;

export interface ScratchServerOptions {
  /** The source, for messages: 'redis source cache'. */
  readonly what: string;
  readonly serverBin: string;
  readonly runner: CommandRunner;
  readonly tmpDir: string;
  readonly username?: string;
  readonly password?: string;
  readonly signal: AbortSignal;
  /** How the server is reached; RedisClient.connect unless it runs in a container. */
  readonly connect?: (ep: RedisEndpoint, opts: ConnectOptions) => Promise<RedisClient>;
}

export interface ScratchServer {
  readonly port: number;
  readonly dir: string;
  /** "Redis 7.0.15" or "Valkey 8.0.1". */
  readonly version: string;
  stop(): Promise<void>;
}

export function scratchConfig(port: number, dir: string, o: Pick<ScratchServerOptions, 'username' | 'password'>): string {
  const lines = [
    `port ${port}`,
    'bind 127.0.0.1',
    'protected-mode yes',
    `dir ${confString(dir)}`,
    'save ""',
    'appendonly no',
    'daemonize no',
    'logfile ""',
  ];
  if (o.password !== undefined) lines.push(`requirepass ${confString(o.password)}`);
  if (o.username !== undefined && o.password !== undefined) lines.push(`user ${confString(o.username)} on ${confString(`>${o.password}`)} ~* &* +@all`);
  return `${lines.join('\n')}\n`;
}

type Exit = { readonly code: number | null; readonly signal: string | null; readonly stderr: string };

/** The server's dir: in the source's tmpDir, or in the container's /tmp when the runner's commands run there. */
async function scratchDir(o: ScratchServerOptions): Promise<{ dir: string; remove(): Promise<void> }> {
  if (o.runner.stageFile === undefined) {
    await mkdir(o.tmpDir, { recursive: true });
    const dir = await mkdtemp(path.join(o.tmpDir, 'redis-drill-'));
    return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
  }
  // No signal: killed after it made the dir, mktemp's answer (the dir's name) would be lost. It is instant.
  const r = await collect(o.runner, { command: 'mktemp', args: ['-d', '/tmp/lifeboat-redis-drill.XXXXXXXX'] });
  const dir = r.stdout.trim();
  if (!succeeded(r) || !dir.startsWith('/tmp/lifeboat-redis-drill.')) {
    throw new SourceError(`${o.what}: cannot make the scratch server's dir in the container: ${r.stderr.trim().split('\n').at(-1) || `exit ${r.code}`}`, { hint: 'the image needs mktemp and a writable /tmp' });
  }
  return {
    dir,
    remove: async () => {
      const rmr = await collect(o.runner, { command: 'rm', args: ['-rf', '--', dir] });
      if (!succeeded(rmr)) throw new SourceError(`${o.what}: cannot remove the scratch dir ${dir} in the container: ${rmr.stderr.trim()}`, { hint: `remove it by hand (rm -rf ${dir})` });
    },
  };
}

export async function startScratchServer(o: ScratchServerOptions): Promise<ScratchServer> {
  const connect = o.connect ?? ((ep, opts) => RedisClient.connect(ep, opts));
  const { dir, remove } = await scratchDir(o);
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      // No abort signal: the server lives until stop(), which a drill always calls.
      // The config (with requirepass) goes on stdin ("-"): a file would keep the password on disk if lifeboat were killed.
      const proc = o.runner.start({ command: o.serverBin, args: ['-'], cwd: dir });
      proc.stdin.end(scratchConfig(port, dir, o));
      const log = { tail: '' };
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (s: string) => {
        log.tail = (log.tail + s).slice(-LOG_TAIL);
      });
      let exit: Exit | undefined;
      void proc.done.then((e) => {
        exit = e;
      });
      const ep: RedisEndpoint = { host: '127.0.0.1', port, db: 0, username: o.password === undefined ? undefined : o.username, password: o.password };
      try {
        const version = await waitReady(ep, () => exit, o, connect);
        let stopping: Promise<void> | undefined;
        return {
          port,
          dir,
          version,
          stop: () => {
            stopping ??= (async () => {
              if (exit === undefined && o.connect !== undefined) {
                const c = await connect(ep, { what: 'scratch redis-server', connectTimeoutMs: 5000 }).catch(() => undefined);
                await c?.call(['SHUTDOWN', 'NOSAVE']).catch(() => undefined); // the connection ends with the server
                c?.close();
              }
              if (exit === undefined) {
                proc.kill('SIGKILL');
                await proc.done;
              }
              await remove();
            })();
            return stopping;
          },
        };
      } catch (err) {
        proc.kill('SIGKILL');
        await proc.done;
        if (err instanceof CancelledError) throw err;
        const text = `${log.tail}\n${exit?.stderr ?? ''}`.trim();
        if (attempt < START_ATTEMPTS && /address already in use/i.test(text)) continue;
        const reason = err instanceof Error ? err.message : String(err);
        const last = text.split('\n').slice(-3).join(' | ');
        throw new SourceError(`${o.what}: cannot start the scratch server ${o.serverBin}: ${reason}${last ? `: ${last}` : ''}`, {
          cause: err,
          hint: exit?.code === 127 || /ENOENT|not found/i.test(text)
            ? 'install redis-server (or valkey-server), or set redis_server_bin to its path'
            : 'run that binary by hand to see why it does not start, or set redis_server_bin to another one',
          data: { log: text.slice(-2000) },
        });
      }
    }
  } catch (err) {
    await remove().catch(() => undefined); // the start's error is the one to report
    throw err;
  }
}

/** Polls until the server answers PING; returns its version. */
async function waitReady(ep: RedisEndpoint, exited: () => Exit | undefined, o: ScratchServerOptions, connect: NonNullable<ScratchServerOptions['connect']>): Promise<string> {
  const deadline = nowMs() + READY_TIMEOUT_MS;
  for (;;) {
    if (o.signal.aborted) throw new CancelledError(`${o.what}: starting the scratch server cancelled`);
    const e = exited();
    if (e) throw new Error(`it exited (${e.signal ?? `code ${e.code}`})`);
    if (nowMs() > deadline) throw new Error(`it did not answer PING within ${READY_TIMEOUT_MS / 1000} s`);
    const client = await connect(ep, { what: `scratch redis-server on 127.0.0.1:${ep.port}`, connectTimeoutMs: 1000 }).catch(() => undefined);
    if (client) {
      try {
        if ((await client.call(['PING'])) === 'PONG') {
          const info = await client.info('server');
          const valkey = info.get('valkey_version');
          return valkey ? `Valkey ${valkey}` : `Redis ${info.get('redis_version') ?? '?'}`;
        }
      } catch {
        // Still starting: poll again.
      } finally {
        client.close();
      }
    }
    await sleep(POLL_MS);
  }
}
