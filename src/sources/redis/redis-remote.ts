/**
 * restore_mode data_dir on a host reached over ssh. As on this host (redis-restore.ts), the
 * server must already be stopped (restore.hooks.before/after stop and start it, e.g.
 * `ssh db1 systemctl stop redis`): a running server would overwrite dump.rdb with its own
 * data on shutdown. Whether it listens is asked over there, through a tunnel, so a server
 * bound to the remote host's loopback counts. The RDB streams (checked on the way) into a
 * temp file beside dump.rdb with the old file's owner and mode, and `mv` puts it in place:
 * the old file is replaced only by a complete, checked RDB, and no copy is left here.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { CommandRunner } from '../../core/command-runner.ts';
import { SourceError } from '../../core/errors.ts';
import type { SourceLog } from '../../core/source.ts';
import { openTunnel } from '../net-tunnel.ts';
import { collect, succeeded } from '../process-kit.ts';
import { writeTemp } from './redis-container.ts';
import { RDB_ARTIFACT } from './redis-restore.ts';

export interface RemoteDataDirRestore {
  readonly what: string;
  readonly runner: CommandRunner;
  /** Where the runner's commands run, for messages. */
  readonly where: string;
  /** The server's `dir` on the remote host. */
  readonly dir: string;
  readonly endpoint: { readonly host: string; readonly port: number };
  readonly tmpDir: string;
  readonly connectTimeoutMs: number;
  readonly log: SourceLog;
  readonly signal: AbortSignal;
}

const PING = '*1\r\n$4\r\nPING\r\n';

/** Whether something answers PING at the endpoint as seen over there (+PONG or -NOAUTH alike). */
async function isListeningThere(r: RemoteDataDirRestore): Promise<boolean> {
  const { host, port } = r.endpoint;
  const tunnel = await openTunnel(r.runner, host, port, r.tmpDir, r.where, r.signal);
  try {
    return await new Promise<boolean>((resolve, reject) => {
      const sock = net.connect(tunnel.path);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new SourceError(`${r.what}: cannot tell whether the server at ${host}:${port} on ${r.where} is stopped: no answer in ${r.connectTimeoutMs} ms`, {
          hint: 'stop it in restore.hooks.before and check that the host answers', retryable: true,
        }));
      }, r.connectTimeoutMs);
      sock.on('error', () => undefined); // a refused connection over there closes this one
      sock.once('data', () => {
        clearTimeout(timer);
        sock.destroy();
        resolve(true);
      });
      sock.once('close', () => {
        clearTimeout(timer);
        resolve(false);
      });
      sock.write(PING);
    });
  } finally {
    await tunnel.close();
  }
}

export async function restoreDataDirRemote(data: AsyncIterable<Uint8Array>, r: RemoteDataDirRestore): Promise<void> {
  const { host, port } = r.endpoint;
  if (await isListeningThere(r)) {
    throw new SourceError(`${r.what}: the server at ${host}:${port} on ${r.where} is still running; restore_mode data_dir replaces ${RDB_ARTIFACT} only while it is stopped`, {
      hint: 'stop it in restore.hooks.before (e.g. ssh HOST systemctl stop redis-server) and start it in restore.hooks.after, or use restore_mode: online',
    });
  }
  const temp = `.${RDB_ARTIFACT}.lifeboat-${randomBytes(6).toString('hex')}.tmp`;
  const owner = await writeTemp(data, temp, r);
  // mv within the dir is a rename: the server never sees a partial dump.rdb. sync makes it durable.
  const script = `cd "$1" && mv -f -- "$2" ${RDB_ARTIFACT} && { sync 2>/dev/null || true; } && { ls -d appendonlydir appendonly.aof 2>/dev/null || true; }`;
  const mv = await collect(r.runner, { command: 'sh', args: ['-c', script, 'sh', r.dir, temp], signal: r.signal });
  if (!succeeded(mv)) {
    await collect(r.runner, { command: 'rm', args: ['-f', '--', `${r.dir}/${temp}`] }).catch(() => undefined);
    throw new SourceError(`${r.what}: cannot put ${RDB_ARTIFACT} into ${r.dir} on ${r.where}: ${mv.stderr.trim().split('\n').at(-1) || `exit ${mv.code}`}; the old one is in place`, {
      hint: 'check the permissions of data_dir for the ssh user',
    });
  }
  r.log.info(`${r.what}: wrote ${RDB_ARTIFACT} (${owner.size} bytes) into ${r.dir} on ${r.where}`);
  for (const name of mv.stdout.trim().split('\n').filter((n) => n !== '')) {
    r.log.warn(`${r.what}: ${r.dir} holds ${name}: a server running with appendonly yes loads that instead of ${RDB_ARTIFACT}; move it aside in restore.hooks.before`);
  }
}
