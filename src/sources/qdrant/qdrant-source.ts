/**
 * The `qdrant` source: a Qdrant vector database, through its REST snapshot API.
 *
 * Backup: the fingerprint first, then per collection a snapshot is created on the server,
 * downloaded as a stream into its artifact (collection-<name>.snapshot) while its SHA-256 is
 * computed and compared with the server's `checksum`, and the server's copy deleted again, also
 * after a failure (each copy costs the collection's size in disk). With `full_snapshot` a
 * full-storage snapshot (aliases included) is stored as well. qdrant.json records the server
 * version and each file's checksum.
 *
 * Restore: the target's version must accept the snapshots (same minor version, same or later
 * patch; Qdrant panics on anything else), checked before anything is sent. Each collection is
 * recovered by upload with `priority=snapshot` (the default `replica` leaves a new collection
 * empty) and the checksum, which the server verifies first. `to` is another server's URL or,
 * for drills, a collection name prefix on the configured server. Collections that are not in the
 * backup are left alone (and named in a warning). A full-storage snapshot has no
 * HTTP recovery (Qdrant loads it only at start with --storage-snapshot): it is kept in the
 * snapshot for that, and the restore says so.
 *
 * verify checks, without a server, every snapshot file against the recorded SHA-256 and its tar
 * structure. A drill recovers into `lifeboat_drill_<stamp>_<name>` collections on the same
 * server and deletes them afterwards.
 */
import { createHash } from 'node:crypto';
import { CancelledError, ConfigError, IntegrityError, LifeboatError, SourceError, errorMessage } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { readAll, sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import { QdrantClient } from './qdrant-client.ts';
import { qdrantKeys, type QdrantConfig } from './qdrant-config.ts';
import { fingerprintQdrant } from './qdrant-fingerprint.ts';
import { FULL_ARTIFACT, META_ARTIFACT, TarChecker, collectionArtifact, versionMismatch, type QdrantBackupMeta } from './qdrant-snapshot.ts';
import { nowDate } from '../../util/clock.ts';
import { openTunnelListener } from '../net-tunnel.ts';
import { TunnelFetchers } from '../tunnel-fetch.ts';

const DRILL_PREFIX = 'lifeboat_drill_';
const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** scheme://host:port of a URL, for messages. */
function describeUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}


export class QdrantSource implements Source {
  readonly name: string;
  readonly type = 'qdrant';
  readonly #config: QdrantConfig;
  readonly #deps: SourceDeps;
  /**
   * Set when the runner's commands run elsewhere (an ssh host): every URL is then as seen
   * there, reached through a tunnel (tunnel-fetch.ts).
   */
  readonly #tunnels: TunnelFetchers | undefined;

  constructor(name: string, config: QdrantConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    if (deps.runner.stageFile !== undefined) {
      const where = deps.runner.container?.description ?? 'the server\'s host';
      this.#tunnels = new TunnelFetchers((host, port) => openTunnelListener(deps.runner, host, port, deps.tmpDir, where));
    }
    try {
      describeUrl(config.url);
    } catch {
      throw new ConfigError(`source ${name}: not a URL: ${JSON.stringify(config.url)}`, { key: 'url', hint: 'http://qdrant:6333' });
    }
  }

  /** `run` with this source's tunnels open (none when the server is reached directly). */
  #using<T>(run: () => Promise<T>): Promise<T> {
    return this.#tunnels === undefined ? run() : this.#tunnels.using(run);
  }

  #what(url: string): string {
    return `qdrant source ${this.name} (${describeUrl(url)})`;
  }

  async #client(url: string, ctx: SourceContext): Promise<QdrantClient> {
    const { connectMs, idleMs } = sourceTimeouts(this.#config);
    const apiKey = this.#config.api_key === undefined ? undefined : await this.#deps.secrets(this.#config.api_key, `api_key of qdrant source ${this.name}`);
    const fetch = await this.#tunnels?.fetchFor(url);
    return new QdrantClient({ url, apiKey, what: this.#what(url), signal: ctx.signal, connectTimeoutMs: connectMs, idleTimeoutMs: idleMs, ...(fetch ? { fetch } : {}) });
  }

  async #collections(client: QdrantClient): Promise<string[]> {
    if (this.#config.collections !== undefined) return [...this.#config.collections];
    return (await client.listCollections()).filter((c) => !c.startsWith(DRILL_PREFIX)).sort();
  }

  /** Streams one server-side snapshot into `artifact`, checks it, and deletes the server's copy. */
  async #store(client: QdrantClient, sink: ArtifactSink, collection: string | null, artifact: string, ctx: SourceContext): Promise<{ size: number; sha256: string }> {
    const what = this.#what(this.#config.url);
    const label = collection === null ? 'the full-storage snapshot' : `collection ${collection}`;
    const desc = await client.createSnapshot(collection);
    try {
      const hash = createHash('sha256');
      let size = 0;
      async function* hashed(): AsyncGenerator<Uint8Array> {
        for await (const chunk of client.downloadSnapshot(collection, desc.name)) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      }
      await sink.put(artifact, hashed());
      const sha256 = hash.digest('hex');
      if (desc.checksum && desc.checksum !== sha256) {
        throw new IntegrityError(`${what}: the snapshot of ${label} arrived with SHA-256 ${sha256}, the server's checksum is ${desc.checksum}`, {
          retryable: true,
          hint: 'retry the backup; if it persists, check the server\'s disk and the network path',
        });
      }
      if (desc.size > 0 && desc.size !== size) {
        throw new SourceError(`${what}: the snapshot of ${label} has ${size} bytes, the server announced ${desc.size}`, { retryable: true, hint: 'retry the backup' });
      }
      ctx.log.info(`${what}: ${label}: ${size} bytes into ${artifact}`);
      return { size, sha256 };
    } finally {
      await client.deleteSnapshot(collection, desc.name).catch((err: unknown) => {
        ctx.log.warn(`${what}: could not delete the server's snapshot ${desc.name} of ${label} (${errorMessage(err)}); delete it to free its disk space`);
      });
    }
  }

  backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    return this.#using(() => this.#backup(sink, ctx));
  }

  restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions = {}): Promise<void> {
    return this.#using(() => this.#restore(reader, ctx, opts));
  }

  fingerprint(ctx: SourceContext, opts: RestoreOptions = {}): Promise<Fingerprint> {
    return this.#using(() => this.#fingerprint(ctx, opts));
  }

  async #backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    const url = this.#config.url;
    const what = this.#what(url);
    if (ctx.signal.aborted) throw new CancelledError(`${what}: backup cancelled`);
    const client = await this.#client(url, ctx);
    try {
      const version = await client.version();
      const names = await this.#collections(client);
      const fingerprint = await fingerprintQdrant(client, names);
      const missing = names.filter((n) => fingerprint.collections[n] === null);
      if (missing.length > 0) {
        throw new SourceError(`${what}: collection ${missing.join(', ')} does not exist`, { hint: 'fix `collections` in lifeboat.yml; lifeboat never stores a backup without a configured collection' });
      }
      const collections: Array<QdrantBackupMeta['collections'][number]> = [];
      for (const name of names) {
        const artifact = collectionArtifact(name);
        collections.push({ name, artifact, ...(await this.#store(client, sink, name, artifact, ctx)) });
      }
      let full: QdrantBackupMeta['full'];
      if (this.#config.full_snapshot === true) {
        const artifact = FULL_ARTIFACT;
        full = { artifact, ...(await this.#store(client, sink, null, artifact, ctx)) };
      }
      const meta: QdrantBackupMeta = { server_version: version, collections, ...(full ? { full } : {}) };
      await sink.put(META_ARTIFACT, (async function* () {
        yield Buffer.from(`${JSON.stringify(meta, null, 2)}\n`);
      })());
      return {
        fingerprint: { ...fingerprint },
        serverVersion: `Qdrant ${version}`,
        commands: [
          ...names.map((n) => `POST /collections/${n}/snapshots; GET and DELETE the snapshot (${describeUrl(url)})`),
          ...(full ? [`POST /snapshots; GET and DELETE the snapshot (${describeUrl(url)})`] : []),
        ],
      };
    } catch (err) {
      if (ctx.signal.aborted && !(err instanceof CancelledError)) throw new CancelledError(`${what}: backup cancelled`, { cause: err });
      if (err instanceof LifeboatError) throw err;
      throw new SourceError(`${what}: backup failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  async #meta(reader: ArtifactReader): Promise<QdrantBackupMeta> {
    if (!reader.list().some((a) => a.name === META_ARTIFACT)) {
      throw new SourceError(`qdrant source ${this.name}: the snapshot has no ${META_ARTIFACT}`, { hint: 'pick a snapshot made by a qdrant source' });
    }
    return JSON.parse((await readAll(reader.open(META_ARTIFACT))).toString('utf8')) as QdrantBackupMeta;
  }

  /** Where `to` points: another server (a URL) or a name prefix on the configured one. */
  #target(opts: RestoreOptions): { url: string; prefix: string } {
    if (opts.to === undefined) return { url: this.#config.url, prefix: '' };
    return isUrl(opts.to) ? { url: opts.to, prefix: '' } : { url: this.#config.url, prefix: opts.to };
  }

  async #restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions = {}): Promise<void> {
    const meta = await this.#meta(reader);
    const { url, prefix } = this.#target(opts);
    const what = this.#what(url);
    const client = await this.#client(url, ctx);
    const version = await client.version();
    const mismatch = versionMismatch(meta.server_version, version);
    if (mismatch !== undefined) {
      throw new SourceError(`${what}: refusing the restore: ${mismatch}`, {
        hint: `restore into a Qdrant ${meta.server_version.replace(/^(\d+\.\d+).*/, '$1')}.x server (restore.to: its URL), then upgrade it one minor version at a time`,
      });
    }
    for (const c of meta.collections) {
      if (ctx.signal.aborted) throw new CancelledError(`${what}: restore cancelled`);
      await client.uploadSnapshot(prefix + c.name, reader.open(c.artifact), c.sha256);
      ctx.log.info(`${what}: recovered collection ${prefix + c.name} from ${c.artifact} (${c.size} bytes)`);
    }
    if (this.#config.collections === undefined) {
      const stored = new Set(meta.collections.map((c) => prefix + c.name));
      const extra = (await client.listCollections()).filter((c) => !stored.has(c) && !c.startsWith(DRILL_PREFIX) && c.startsWith(prefix));
      if (extra.length > 0) ctx.log.warn(`${what}: collections ${extra.join(', ')} are not in the backup and were left as they are`);
    }
    if (meta.full !== undefined) {
      ctx.log.warn(`${what}: the collections were recovered one by one; aliases live only in the full-storage snapshot ${meta.full.artifact}, which Qdrant loads at start (qdrant --storage-snapshot FILE)`);
    }
  }

  async #fingerprint(ctx: SourceContext, opts: RestoreOptions = {}): Promise<Fingerprint> {
    const { url, prefix } = this.#target(opts);
    const client = await this.#client(url, ctx);
    let names: string[];
    if (this.#config.collections !== undefined) names = [...this.#config.collections];
    else if (prefix !== '') names = (await client.listCollections()).filter((c) => c.startsWith(prefix)).map((c) => c.slice(prefix.length));
    else names = await this.#collections(client);
    return { ...(await fingerprintQdrant(client, names, prefix)) };
  }

  /** Each snapshot file against its recorded SHA-256, and its tar structure; no server involved. */
  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    let meta: QdrantBackupMeta;
    try {
      meta = await this.#meta(reader);
    } catch (err) {
      return { checks: [], problems: [`${META_ARTIFACT}: ${errorMessage(err)}`] };
    }
    const checks = [`${META_ARTIFACT}: Qdrant ${meta.server_version}, ${meta.collections.length} collections${meta.full ? ' and a full-storage snapshot' : ''}`];
    const problems: string[] = [];
    const stored = new Set(reader.list().map((a) => a.name));
    for (const f of [...meta.collections, ...(meta.full ? [meta.full] : [])]) {
      if (!stored.has(f.artifact)) {
        problems.push(`${f.artifact}: missing from the snapshot`);
        continue;
      }
      const hash = createHash('sha256');
      const tar = new TarChecker();
      try {
        for await (const chunk of reader.open(f.artifact)) {
          if (ctx.signal.aborted) throw new CancelledError(`qdrant source ${this.name}: verify cancelled`);
          hash.update(chunk);
          tar.update(chunk);
        }
      } catch (err) {
        if (err instanceof CancelledError) throw err;
        problems.push(`${f.artifact}: cannot be read: ${errorMessage(err)}`);
        continue;
      }
      const sha256 = hash.digest('hex');
      const bad = tar.finish();
      if (sha256 !== f.sha256) problems.push(`${f.artifact}: SHA-256 ${sha256}, the server's checksum was ${f.sha256}`);
      else if (bad !== undefined) problems.push(`${f.artifact}: ${bad}`);
      else checks.push(`${f.artifact}: SHA-256 matches the server's checksum, tar archive of ${tar.entries} entries`);
    }
    return { checks, problems };
  }

  /** New collections named `lifeboat_drill_<stamp>_<name>` on the configured server. */
  async scratchTarget(_reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    const stamp = nowDate().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
    const prefix = `${DRILL_PREFIX}${stamp}_${Math.random().toString(16).slice(2, 6)}_`;
    const url = this.#config.url;
    return {
      to: prefix,
      description: `collections ${prefix}* on ${describeUrl(url)}`,
      cleanup: () => this.#using(async () => {
        const client = await this.#client(url, { ...ctx, signal: new AbortController().signal });
        for (const c of await client.listCollections()) if (c.startsWith(prefix)) await client.deleteCollection(c);
      }),
    };
  }
}

export const qdrantType = {
  type: 'qdrant',
  description: 'Qdrant: per-collection snapshots streamed out of the REST API (full-storage snapshot optional); restore by upload with priority=snapshot and checksum',
  keys: qdrantKeys,
  create: (name, config, deps) => new QdrantSource(name, config, deps),
} satisfies SourceType<QdrantConfig>;
