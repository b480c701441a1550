/**
 * Loading an RDB back into Redis/Valkey, two ways.
 *
 * online: a temporary redis-server on a free loopback port loads the RDB from a staging
 * directory; the target becomes its replica (REPLICAOF), takes a full copy through the
 * normal replication path (the target's old data set is replaced when the copy has loaded),
 * then is promoted back (REPLICAOF NO ONE). The target keeps running and keeps its own
 * configuration. If it has `masterauth` (and `masteruser`) set, as replicated setups
 * usually do, the temporary server mirrors those credentials so the target's handshake
 * succeeds without touching the target's configuration.
 *
 * data_dir: the server is stopped (the restore hooks do that); dump.rdb is written into its
 * data directory atomically (temporary file, fsync, rename) and the server loads it when
 * the hooks start it again.
 *
 * Either way the artifact is checked (header, EOF opcode, CRC-64) while it is staged, so a
 * damaged RDB never reaches the target.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, chown, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandRunner, RunningCommand } from '../../core/command-runner.ts';
import { CancelledError, SourceError } from '../../core/errors.ts';
import type { SourceLog } from '../../core/source.ts';
import { RdbChecker, type RdbCheckResult } from './rdb.ts';
import { RedisClient, type ConnectOptions, type RedisEndpoint } from './redis-client.ts';
import { replyText } from './resp.ts';
import { nowMs } from '../../util/clock.ts';

export const RDB_ARTIFACT = 'dump.rdb';

/**
 * Writes `data` to `file` while checking it as an RDB; rejects (and removes the file) when
 * the bytes are not a complete, intact RDB.
 */
export async function stageRdb(data: AsyncIterable<Uint8Array>, file: string, what: string, mode = 0o600): Promise<RdbCheckResult & { ok: true }> {
  const checker = new RdbChecker();
  const out = createWriteStream(file, { mode, flags: 'wx' });
  try {
    for await (const chunk of data) {
      checker.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const fh = await open(file, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    out.destroy();
    await rm(file, { force: true });
    throw err;
  }
  const result = checker.finish();
  if (!result.ok) {
    await rm(file, { force: true });
    throw new SourceError(`${what}: the backed-up ${RDB_ARTIFACT} ${result.reason}`, { hint: 'restore an older snapshot; run lifeboat check on the repository' });
  }
  return result;
}

/** Whether something accepts TCP connections at host:port (false on any connect failure). */
export function isListening(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface DataDirRestore {
  readonly what: string;
  /** Where the server listens when it runs: nothing may answer there during the restore. */
  readonly endpoint: { readonly host: string; readonly port: number };
  readonly dir: string;
  readonly log: SourceLog;
}

/** restore_mode data_dir: dump.rdb replaced atomically while the server is down. */
export async function restoreDataDir(data: AsyncIterable<Uint8Array>, r: DataDirRestore): Promise<void> {
  const { host, port } = r.endpoint;
  if (await isListening(host, port)) {
    throw new SourceError(`${r.what}: the server at ${host}:${port} is still running; restore_mode data_dir replaces ${RDB_ARTIFACT} only while it is stopped`, {
      hint: 'stop it in restore.hooks.before (e.g. docker compose stop redis) and start it in restore.hooks.after, or use restore_mode: online',
    });
  }
  const dirStat = await stat(r.dir).catch((err: unknown) => {
    throw new SourceError(`${r.what}: data_dir ${r.dir} is not accessible`, { cause: err, hint: 'create it or fix data_dir' });
  });
  if (!dirStat.isDirectory()) throw new SourceError(`${r.what}: data_dir ${r.dir} is not a directory`);
  const target = path.join(r.dir, RDB_ARTIFACT);
  const previous = await stat(target).catch(() => undefined);
  const tmp = path.join(r.dir, `.${RDB_ARTIFACT}.lifeboat-${randomBytes(6).toString('hex')}.tmp`);
  const result = await stageRdb(data, tmp, r.what, previous ? previous.mode & 0o777 : 0o600);
  try {
    // The server (often another uid, in a container) must be able to read what it had before.
    const owner = previous ?? dirStat;
    if (process.getuid?.() === 0 && (owner.uid !== 0 || owner.gid !== 0)) await chown(tmp, owner.uid, owner.gid);
    if (previous) await chmod(tmp, previous.mode & 0o777);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new SourceError(`${r.what}: cannot put ${RDB_ARTIFACT} into ${r.dir}`, { cause: err });
  }
  const dirHandle = await open(r.dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  r.log.info(`${r.what}: wrote ${RDB_ARTIFACT} (${result.size} bytes, RDB version ${result.version}) into ${r.dir}`);
  for (const aof of ['appendonlydir', 'appendonly.aof']) {
    if (await stat(path.join(r.dir, aof)).catch(() => undefined)) {
      r.log.warn(`${r.what}: ${r.dir} holds ${aof}: a server running with appendonly yes loads that instead of ${RDB_ARTIFACT}; move it aside in restore.hooks.before`);
    }
  }
}

export interface OnlineRestore {
  readonly what: string;
  readonly target: RedisEndpoint;
  readonly serverBin: string;
  readonly runner: CommandRunner;
  readonly tmpDir: string;
  readonly log: SourceLog;
  readonly signal: AbortSignal;
  /**
   * How a server is reached: directly, or (container transport) through a tunnel from where
   * the runner's commands run, where the temporary server then runs too.
   */
  readonly connect?: (ep: RedisEndpoint, opts: ConnectOptions) => Promise<RedisClient>;
}

/** A target whose sync shows no progress this long is given up on. */
const SYNC_STALLED_MS = 30_000;
const POLL_MS = 100;

/** A value quoted for a redis.conf line. */
export function confString(s: string): string {
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** A free TCP port on loopback for a temporary redis-server. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** restore_mode online: see the file comment. */
export async function restoreOnline(data: AsyncIterable<Uint8Array>, r: OnlineRestore): Promise<void> {
  const connect = r.connect ?? ((ep, opts) => RedisClient.connect(ep, opts));
  let staging: { dir: string; remove(): Promise<void> } | undefined;
  let temp: TempServer | undefined;
  let target: RedisClient | undefined;
  let replicating = false;
  try {
    const stageFile = r.runner.stageFile?.bind(r.runner);
    let staged: RdbCheckResult & { ok: true };
    if (stageFile === undefined) {
      const dir = await mkdtemp(path.join(r.tmpDir, 'redis-restore-'));
      staging = { dir, remove: () => rm(dir, { recursive: true, force: true }) };
      staged = await stageRdb(data, path.join(dir, RDB_ARTIFACT), r.what);
    } else {
      // The temporary server runs where the runner's commands do: the RDB is staged there.
      const checker = new RdbChecker();
      const file = await stageFile(RDB_ARTIFACT, (async function* () {
        for await (const chunk of data) {
          checker.update(chunk);
          yield chunk;
        }
      })(), r.signal);
      staging = { dir: path.posix.dirname(file.path), remove: () => file.remove() };
      const result = checker.finish();
      if (!result.ok) throw new SourceError(`${r.what}: the backed-up ${RDB_ARTIFACT} ${result.reason}`, { hint: 'restore an older snapshot; run lifeboat check on the repository' });
      staged = result;
    }
    r.log.info(`${r.what}: staged ${RDB_ARTIFACT} (${staged.size} bytes, RDB version ${staged.version}, checksum ${staged.checksum})`);

    target = await connect(r.target, { what: r.what, signal: r.signal });
    const repl = await target.info('replication');
    if (repl.get('role') !== 'master') {
      throw new SourceError(`${r.what}: the target is a replica (of ${repl.get('master_host')}:${repl.get('master_port')}); it would lose a restore to its own master`, {
        hint: 'restore into the master (restore.to or url), or promote this server first',
      });
    }
    const masterAuth = await readMasterAuth(target);
    const targetVersion = (await target.info('server')).get('redis_version');

    temp = await TempServer.start(staging.dir, masterAuth, r, connect);
    r.log.info(`${r.what}: temporary ${temp.version} loaded the backup on 127.0.0.1:${temp.port}`);
    if (targetVersion && newer(temp.version, targetVersion)) {
      r.log.warn(`${r.what}: the temporary server (${temp.version}) is newer than the target (${targetVersion}); the target may not read its RDB: set redis_server_bin to a server of the target's version`);
    }

    await target.command('REPLICAOF', '127.0.0.1', temp.port);
    replicating = true;
    await waitForSync(target, temp, r);
    await target.command('REPLICAOF', 'NO', 'ONE');
    replicating = false;
    r.log.info(`${r.what}: target synchronised from the backup and promoted back to master`);
  } finally {
    if (replicating && target) await target.command('REPLICAOF', 'NO', 'ONE').catch(() => undefined);
    target?.close();
    await temp?.stop();
    await staging?.remove();
  }
}

interface MasterAuth {
  readonly user?: string;
  readonly password: string;
}

/** The credentials the target would present to a master (CONFIG may be disabled: then none). */
async function readMasterAuth(target: RedisClient): Promise<MasterAuth | undefined> {
  const reply = await target.call(['CONFIG', 'GET', 'master*']).catch(() => undefined);
  if (!Array.isArray(reply)) return undefined;
  const conf = new Map<string, string>();
  for (let i = 0; i + 1 < reply.length; i += 2) conf.set(replyText(reply[i]) ?? '', replyText(reply[i + 1]) ?? '');
  const password = conf.get('masterauth') ?? '';
  if (password === '') return undefined;
  const user = conf.get('masteruser') ?? '';
  return user === '' ? { password } : { user, password };
}

/** "8.0.1" > "7.2.4" by major.minor. */
function newer(a: string, b: string): boolean {
  const [a1, a2] = a.replace(/^\D+/, '').split('.').map(Number);
  const [b1, b2] = b.split('.').map(Number);
  return a1 > b1 || (a1 === b1 && a2 > b2);
}

async function waitForSync(target: RedisClient, temp: TempServer, r: OnlineRestore): Promise<void> {
  let lastProgress = nowMs();
  let lastSignature = '';
  for (;;) {
    if (r.signal.aborted) throw new CancelledError(`${r.what}: restore cancelled`);
    temp.assertRunning();
    const info = await target.info('replication');
    if (info.get('master_link_status') === 'up' && info.get('master_sync_in_progress') !== '1') return;
    // Progress: bytes arriving, or the replica loading what arrived. A handshake that keeps
    // failing (auth, RDB version) shows neither and is given up on.
    const persistence = await target.info('persistence');
    const signature = `${info.get('master_sync_read_bytes') ?? ''}/${persistence.get('loading_loaded_bytes') ?? ''}`;
    const moving = signature !== lastSignature || persistence.get('loading') === '1';
    lastSignature = signature;
    if (moving) lastProgress = nowMs();
    else if (nowMs() - lastProgress > SYNC_STALLED_MS) {
      throw new SourceError(`${r.what}: the target made no progress syncing from the temporary server for ${SYNC_STALLED_MS / 1000} s; its old data is untouched`, {
        hint: 'look at the target server log (an RDB version the target cannot read? replication refused?); or use restore_mode: data_dir',
        data: { temporaryServerLog: temp.logTail() },
      });
    }
    await sleep(POLL_MS);
  }
}

const LOG_TAIL = 8 * 1024;

type ExitInfo = { readonly code: number | null; readonly signal: string | null; readonly stderr: string };

/** A throwaway redis-server that serves one RDB to one replica. */
class TempServer {
  readonly port: number;
  readonly version: string;
  readonly #proc: RunningCommand;
  readonly #log: { tail: string };
  readonly #exit: () => ExitInfo | undefined;
  /** SHUTDOWN NOSAVE through a client: a signal cannot reach a process in a remote engine's container. */
  readonly #shutdown: () => Promise<void>;

  private constructor(port: number, version: string, proc: RunningCommand, log: { tail: string }, exit: () => ExitInfo | undefined, shutdown: () => Promise<void>) {
    this.port = port;
    this.version = version;
    this.#proc = proc;
    this.#log = log;
    this.#exit = exit;
    this.#shutdown = shutdown;
  }

  get exitInfo(): ExitInfo | undefined {
    return this.#exit();
  }

  logTail(): string {
    return this.#log.tail.slice(-2000);
  }

  assertRunning(): void {
    const e = this.exitInfo;
    if (e) throw new SourceError(`temporary redis-server exited (${e.signal ?? `code ${e.code}`}) during the restore`, { data: { log: this.logTail() } });
  }

  static async start(dir: string, auth: MasterAuth | undefined, r: OnlineRestore, connect: NonNullable<OnlineRestore['connect']>): Promise<TempServer> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      // No password unless the target will present one (its masterauth): a replica without
      // masterauth cannot sync from a master that requires one. bind + protected mode keep
      // the server to loopback clients.
      const password = auth?.password;
      const conf = [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode yes',
        `dir ${confString(dir)}`,
        `dbfilename ${RDB_ARTIFACT}`,
        'save ""',
        'appendonly no',
        'daemonize no',
        'logfile ""',
        'repl-diskless-sync yes',
        'repl-diskless-sync-delay 0',
        ...(password === undefined ? [] : [`requirepass ${confString(password)}`]),
        ...(auth?.user ? [`user ${confString(auth.user)} on ${confString(`>${auth.password}`)} ~* &* +@all`] : []),
      ];
      // The config (with requirepass) goes on stdin ("-"): a file would keep the password on disk if lifeboat were killed.
      const proc = r.runner.start({ command: r.serverBin, args: ['-'], cwd: dir, signal: r.signal });
      proc.stdin.end(`${conf.join('\n')}\n`);
      const log = { tail: '' };
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (s: string) => {
        log.tail = (log.tail + s).slice(-LOG_TAIL);
      });
      let exit: ExitInfo | undefined;
      void proc.done.then((e) => {
        exit = e;
      });
      const ep: RedisEndpoint = { host: '127.0.0.1', port, db: 0, password };
      try {
        const version = await waitReady(ep, () => exit, r, connect);
        const shutdown = async (): Promise<void> => {
          const c = await connect(ep, { what: 'temporary redis-server', connectTimeoutMs: 5000 });
          try {
            await c.call(['SHUTDOWN', 'NOSAVE']).catch(() => undefined); // the connection ends with the server
          } finally {
            c.close();
          }
        };
        return new TempServer(port, version, proc, log, () => exit, shutdown);
      } catch (err) {
        proc.kill('SIGKILL');
        await proc.done;
        const text = `${log.tail}\n${exit?.stderr ?? ''}`;
        if (attempt < 3 && /address already in use/i.test(text)) continue;
        if (err instanceof SourceError || err instanceof CancelledError) {
          throw new SourceError(`${r.what}: the temporary ${r.serverBin} did not come up with the backup: ${err.message}`, {
            cause: err,
            hint: /RDB format version|Can't handle RDB/i.test(text)
              ? `the backup comes from a newer server: set redis_server_bin to a redis-server (or valkey-server) at least as new`
              : exit?.code === 127 || /ENOENT/.test(text) ? `install redis-server or set redis_server_bin` : 'see the temporary server log in the error data',
            data: { log: text.slice(-2000) },
          });
        }
        throw err;
      }
    }
  }

  async stop(): Promise<void> {
    if (this.exitInfo) return;
    await this.#shutdown().catch(() => undefined); // then the signal below
    this.#proc.kill('SIGTERM');
    const timer = setTimeout(() => this.#proc.kill('SIGKILL'), 10_000);
    try {
      await this.#proc.done;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Polls until the server answers PING (not -LOADING); returns its version. */
async function waitReady(ep: RedisEndpoint, exited: () => ExitInfo | undefined, r: OnlineRestore, connect: NonNullable<OnlineRestore['connect']>): Promise<string> {
  for (;;) {
    if (r.signal.aborted) throw new CancelledError(`${r.what}: restore cancelled`);
    const e = exited();
    if (e) throw new SourceError(`it exited (${e.signal ?? `code ${e.code}`})`);
    const client = await connect(ep, { what: 'temporary redis-server', connectTimeoutMs: 1000 }).catch(() => undefined);
    if (client) {
      try {
        const pong = await client.call(['PING']);
        if (pong === 'PONG') {
          const info = await client.info('server');
          const valkey = info.get('valkey_version');
          return valkey ? `Valkey ${valkey}` : `Redis ${info.get('redis_version') ?? '?'}`;
        }
      } catch {
        // Not ready yet (or loading): poll again.
      } finally {
        client.close();
      }
    }
    await sleep(POLL_MS);
  }
}
