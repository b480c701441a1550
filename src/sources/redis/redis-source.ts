/**
 * The `redis` source: Redis and Valkey servers.
 *
 * Backup takes the server's RDB snapshot over the network the way a replica gets it (see
 * redis-client.ts): no shell or file access on the server, no BGSAVE-and-copy. The payload
 * streams into one artifact, dump.rdb, and is checked on the way (RDB header, EOF opcode,
 * CRC-64), so a transfer that broke off or arrived damaged fails the backup instead of
 * producing a snapshot. One RDB holds every database of the server, whatever db the URL
 * names.
 *
 * Restore loads dump.rdb online through a temporary replication master, or writes it into
 * the stopped server's data directory (redis-restore.ts; in a container redis-container.ts,
 * over ssh redis-remote.ts). The fingerprint is described in
 * redis-fingerprint.ts.
 *
 * verify runs dump.rdb through the same RDB checker (header, EOF opcode, CRC-64) without any
 * server. A drill's scratch target is a throwaway redis-server (redis-scratch.ts); `to` is its
 * plain redis:// URL, which restore loads online whatever restore_mode says, and which is
 * reached without TLS even when the source's own server needs it.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { CancelledError, ConfigError, LifeboatError, SourceError, errorMessage } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import { redisKeys, type RedisConfig } from './redis-config.ts';
import { fingerprintRedis } from './redis-fingerprint.ts';
import { RdbChecker } from './rdb.ts';
import { RedisClient, type ConnectOptions, type RedisEndpoint } from './redis-client.ts';
import { RDB_ARTIFACT, restoreDataDir, restoreOnline } from './redis-restore.ts';
import { restoreDataDirInContainer } from './redis-container.ts';
import { restoreDataDirRemote } from './redis-remote.ts';
import { connectThrough } from './redis-tunnel.ts';
import { nowMs } from '../../util/clock.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { startScratchServer } from './redis-scratch.ts';

const DEFAULT_SAMPLE_KEYS = 100;

/** host, port, db and user of a redis:// or rediss:// URL (the config schema refuses passwords in it). */
export function parseRedisUrl(url: string): { host: string; port: number; db: number; username?: string; tls: boolean } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`not a redis URL: ${JSON.stringify(url)}`, { hint: 'redis://host:6379/0 or rediss://host:6380' });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError(`not a redis URL: ${u.protocol}//…`, { hint: 'redis://host:6379/0 or rediss://host:6380' });
  if (u.password !== '') throw new ConfigError('a redis URL must not carry the password', { hint: 'use password: { env: NAME } (or file/command)' });
  const db = u.pathname.replace(/^\//, '');
  if (!/^\d*$/.test(db)) throw new ConfigError(`the path of a redis URL is a database number, not ${JSON.stringify(u.pathname)}`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port: u.port === '' ? 6379 : Number(u.port),
    db: db === '' ? 0 : Number(db),
    ...(u.username === '' ? {} : { username: decodeURIComponent(u.username) }),
    tls: u.protocol === 'rediss:',
  };
}

/** Where a URL points, for messages: never a secret. */
function describeUrl(url: string): string {
  const p = parseRedisUrl(url);
  const host = p.host.includes(':') ? `[${p.host}]` : p.host;
  return `${p.tls ? 'rediss' : 'redis'}://${p.username ? `${encodeURIComponent(p.username)}@` : ''}${host}:${p.port}`;
}

function isRedisUrl(s: string): boolean {
  return /^rediss?:\/\//i.test(s);
}

export class RedisSource implements Source {
  readonly name: string;
  readonly type = 'redis';
  readonly #config: RedisConfig;
  readonly #deps: SourceDeps;
  /** URLs of running scratch servers: plain TCP, whatever the source's tls settings say. */
  readonly #scratchUrls = new Set<string>();

  constructor(name: string, config: RedisConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    parseRedisUrl(config.url);
    if (config.restore_mode === 'data_dir' && config.data_dir === undefined) {
      throw new ConfigError(`source ${name}: restore_mode data_dir needs data_dir`, { key: 'data_dir', hint: 'the directory the server loads dump.rdb from (its `dir`)' });
    }
  }

  #what(url: string): string {
    return `redis source ${this.name} (${describeUrl(url)})`;
  }

  async #endpoint(url: string): Promise<RedisEndpoint> {
    const p = parseRedisUrl(url);
    const c = this.#config;
    const password = c.password === undefined ? undefined : await this.#deps.secrets(c.password, `password of redis source ${this.name}`);
    const username = p.username ?? c.username;
    let tls: RedisEndpoint['tls'];
    if (!this.#scratchUrls.has(url) && (p.tls || c.tls !== undefined)) {
      let ca: Buffer | undefined;
      if (c.tls?.ca_file !== undefined) {
        ca = await readFile(c.tls.ca_file).catch((err: unknown) => {
          throw new SourceError(`redis source ${this.name}: cannot read tls.ca_file ${c.tls?.ca_file}`, { cause: err });
        });
      }
      tls = { ca, insecure: c.tls?.insecure === true };
    }
    return { host: p.host, port: p.port, db: p.db, username, password, tls };
  }

  /**
   * Whether servers are reached from where the runner's commands run (the server's container),
   * through a tunnel: a runner whose commands do not see this host (it stages files) is
   * elsewhere.
   */
  get #isRemote(): boolean {
    // A drill's scratch server runs there too (redis-scratch.ts).
    return this.#deps.runner.stageFile !== undefined;
  }

  get #where(): string {
    return this.#deps.runner.container?.description ?? 'the server\'s host';
  }

  get #connector(): (ep: RedisEndpoint, opts: ConnectOptions) => Promise<RedisClient> {
    if (!this.#isRemote) return (ep, opts) => RedisClient.connect(ep, opts);
    return (ep, opts) => connectThrough(this.#deps.runner, this.#deps.tmpDir, ep, opts, this.#where);
  }

  async #connect(url: string, ctx: SourceContext): Promise<RedisClient> {
    const { connectMs, idleMs } = sourceTimeouts(this.#config);
    return this.#connector(await this.#endpoint(url), { what: this.#what(url), signal: ctx.signal, connectTimeoutMs: connectMs, idleTimeoutMs: idleMs });
  }

  async backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    const url = this.#config.url;
    const what = this.#what(url);
    let serverVersion: string;
    let fingerprint: Fingerprint;
    // Fingerprint first: the server forks its snapshot right after, as PSYNC arrives.
    const client = await this.#connect(url, ctx);
    try {
      const info = await client.info('server');
      const valkey = info.get('valkey_version');
      serverVersion = valkey ? `Valkey ${valkey}` : `Redis ${info.get('redis_version') ?? 'unknown'}`;
      fingerprint = await fingerprintRedis(client, this.#config.sample_keys ?? DEFAULT_SAMPLE_KEYS);
    } finally {
      client.close();
    }

    const replica = await this.#connect(url, ctx);
    const checker = new RdbChecker();
    const started = performance.now();
    async function* checked(): AsyncGenerator<Buffer> {
      for await (const chunk of replica.fetchRdb()) {
        checker.update(chunk);
        if (checker.failed !== undefined) throw new SourceError(`${what}: the server sent something that is not an RDB: it ${checker.failed}`);
        yield chunk;
      }
      const result = checker.finish();
      if (!result.ok) throw new SourceError(`${what}: the transferred RDB ${result.reason}`, { retryable: true, hint: 'retry the backup; if it persists, check the server (rdbchecksum, disk, memory)' });
    }
    try {
      await sink.put(RDB_ARTIFACT, checked());
    } catch (err) {
      if (ctx.signal.aborted) throw new CancelledError(`${what}: backup cancelled`, { cause: err });
      if (err instanceof LifeboatError) throw err;
      throw new SourceError(`${what}: storing ${RDB_ARTIFACT} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      replica.close();
    }
    const seconds = (performance.now() - started) / 1000;
    ctx.log.info(`${what}: ${RDB_ARTIFACT} ${checker.size} bytes in ${seconds.toFixed(1)} s (${(checker.size / 1e6 / Math.max(seconds, 1e-3)).toFixed(1)} MB/s)`);
    return {
      fingerprint,
      serverVersion,
      commands: [`REPLCONF capa eof; REPLCONF rdb-only 1; PSYNC ? -1 (replica snapshot of ${describeUrl(url)} into ${RDB_ARTIFACT})`],
    };
  }

  async restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions = {}): Promise<void> {
    if (!reader.list().some((a) => a.name === RDB_ARTIFACT)) {
      throw new SourceError(`redis source ${this.name}: the snapshot has no ${RDB_ARTIFACT}`, { hint: 'pick a snapshot made by a redis source' });
    }
    const data = reader.open(RDB_ARTIFACT);
    // A redis:// target (a drill's scratch server) is a running server: it loads online.
    if (this.#config.restore_mode === 'data_dir' && !(opts.to !== undefined && isRedisUrl(opts.to))) {
      const dir = opts.to ?? this.#config.data_dir ?? '';
      const url = this.#config.url;
      const container = this.#deps.runner.container;
      if (container !== undefined) {
        await restoreDataDirInContainer(data, { what: this.#what(url), runner: this.#deps.runner, container, dir, log: ctx.log, signal: ctx.signal });
        await this.#waitLoaded(url, ctx);
        return;
      }
      if (this.#isRemote) {
        await restoreDataDirRemote(data, {
          what: this.#what(url), runner: this.#deps.runner, where: this.#where, dir, endpoint: parseRedisUrl(url),
          tmpDir: this.#deps.tmpDir, connectTimeoutMs: sourceTimeouts(this.#config).connectMs, log: ctx.log, signal: ctx.signal,
        });
        return;
      }
      await restoreDataDir(data, { what: this.#what(url), endpoint: parseRedisUrl(url), dir, log: ctx.log });
      return;
    }
    const url = opts.to ?? this.#config.url;
    if (opts.to !== undefined && !isRedisUrl(opts.to)) {
      throw new SourceError(`redis source ${this.name}: restore target ${JSON.stringify(opts.to)} is not a redis:// URL`, { hint: 'restore.to is a redis URL in restore_mode online, a directory in restore_mode data_dir' });
    }
    await restoreOnline(data, {
      what: this.#what(url),
      target: await this.#endpoint(url),
      serverBin: this.#config.redis_server_bin ?? 'redis-server',
      runner: this.#deps.runner,
      tmpDir: this.#deps.tmpDir,
      log: ctx.log,
      signal: ctx.signal,
      connect: this.#connector,
    });
  }

  /** After its container started again: until the server answers PING (done loading dump.rdb). */
  async #waitLoaded(url: string, ctx: SourceContext): Promise<void> {
    const deadline = nowMs() + sourceTimeouts(this.#config).connectMs * 4;
    for (;;) {
      let last: unknown;
      try {
        const client = await this.#connect(url, ctx);
        try {
          if ((await client.call(['PING'])) === 'PONG') return;
        } finally {
          client.close();
        }
      } catch (err) {
        if (ctx.signal.aborted) throw new CancelledError(`${this.#what(url)}: restore cancelled`, { cause: err });
        last = err;
      }
      if (nowMs() > deadline) {
        throw new SourceError(`${this.#what(url)}: the server did not answer after its container started again with the restored ${RDB_ARTIFACT}${last === undefined ? '' : `: ${errorMessage(last)}`}`, {
          hint: 'look at the container\'s log (docker logs): an RDB version the server cannot read?',
        });
      }
      await sleep(200);
    }
  }

  async fingerprint(ctx: SourceContext, opts: RestoreOptions = {}): Promise<Fingerprint> {
    // In data_dir mode `to` is a directory; the server to look at is still the configured one.
    const url = opts.to !== undefined && isRedisUrl(opts.to) ? opts.to : this.#config.url;
    const client = await this.#connect(url, ctx);
    try {
      return await fingerprintRedis(client, this.#config.sample_keys ?? DEFAULT_SAMPLE_KEYS);
    } finally {
      client.close();
    }
  }

  /** dump.rdb through the RDB checker: no server involved. */
  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    if (!reader.list().some((a) => a.name === RDB_ARTIFACT)) {
      return { checks: [], problems: [`${RDB_ARTIFACT}: missing from the snapshot (a redis backup stores one)`] };
    }
    const checker = new RdbChecker();
    try {
      for await (const chunk of reader.open(RDB_ARTIFACT)) {
        if (ctx.signal.aborted) throw new CancelledError(`redis source ${this.name}: verify cancelled`);
        checker.update(chunk);
        // A wrong header is final: no need to read the rest.
        if (checker.failed !== undefined) break;
      }
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      return { checks: [], problems: [`${RDB_ARTIFACT}: cannot be read: ${errorMessage(err)}`] };
    }
    const r = checker.finish();
    if (!r.ok) return { checks: [], problems: [`${RDB_ARTIFACT}: ${r.reason}`] };
    const crc = r.checksum === 'verified' ? 'CRC-64 verified'
      : r.checksum === 'disabled' ? 'no CRC-64 (the server ran with rdbchecksum no): EOF opcode checked'
      : 'no CRC-64 before RDB version 5: EOF opcode checked';
    return { checks: [`${RDB_ARTIFACT}: RDB version ${r.version}, ${r.size} bytes, header and EOF opcode present, ${crc}`], problems: [] };
  }

  /** A throwaway, empty redis-server on loopback (see redis-scratch.ts). */
  async scratchTarget(_reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    const c = this.#config;
    const password = c.password === undefined ? undefined : await this.#deps.secrets(c.password, `password of redis source ${this.name}`);
    const server = await startScratchServer({
      what: `redis source ${this.name}`,
      serverBin: c.redis_server_bin ?? 'redis-server',
      runner: this.#deps.runner,
      tmpDir: this.#deps.tmpDir,
      username: parseRedisUrl(c.url).username ?? c.username,
      password,
      signal: ctx.signal,
      ...(this.#isRemote ? { connect: this.#connector } : {}),
    });
    const url = `redis://127.0.0.1:${server.port}`;
    this.#scratchUrls.add(url);
    ctx.log.info(`redis source ${this.name}: scratch ${server.version} on 127.0.0.1:${server.port}`);
    return {
      to: url,
      description: `scratch ${server.version} on 127.0.0.1:${server.port} (${c.redis_server_bin ?? 'redis-server'}, dir ${server.dir})`,
      cleanup: async () => {
        await server.stop();
        this.#scratchUrls.delete(url);
      },
    };
  }
}

export const redisType = {
  type: 'redis',
  description: 'Redis or Valkey: RDB snapshot over the replication protocol; restore online through a temporary replication master or into the data directory',
  keys: redisKeys,
  pathKeys: ['tls.ca_file', 'data_dir', 'program:redis_server_bin'],
  create: (name, config, deps) => new RedisSource(name, config, deps),
} satisfies SourceType<RedisConfig>;
