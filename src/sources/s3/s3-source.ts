/**
 * The `s3` source: a bucket (or a prefix of it) of MinIO or any S3 server as the data to back up.
 *
 * Backup lists the objects and streams each into an artifact objects/<key> (s3-object-names.ts),
 * hashing it on the way; index.jsonl, written last, holds per object its key, size, SHA-256, the
 * ETag and LastModified it had, its content headers, user metadata and tags.
 *
 * Incremental: an object whose key, size, ETag and LastModified equal its entry in the parent
 * snapshot's index (the sink's `parent`) is not downloaded: its artifact reuses the parent's
 * blobs and its entry keeps the parent's SHA-256, headers and metadata. Those cannot change
 * without a new LastModified (S3 rewrites metadata only by a copy, which is a new object), but
 * tags can (PutObjectTagging leaves LastModified alone), so each unchanged object still costs
 * one GetObjectTagging. Size and ETag are compared too, against servers whose clocks or copy
 * semantics differ; a changed object is read in full again.
 *
 * Restore uploads every object of the index with its headers, metadata and tags, then deletes
 * the objects under the prefix that the snapshot does not have, so the prefix equals the
 * snapshot. A PUT gives a new LastModified, and the ETag of a multipart object is no content
 * hash, so the fingerprint proves the restore by content: object count, bytes, and a digest
 * over (key, size, SHA-256, headers, metadata, tags) of every object, which reads every object.
 *
 * A drill restores into a new bucket lifeboat-drill-<random> on the same endpoint and deletes
 * it afterwards.
 *
 * When the runner's commands run elsewhere (an ssh host, a container), the endpoint is as seen
 * there: the SDK's connections go through a tunnel run there (net-tunnel.ts), open only while
 * an operation runs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CancelledError, LifeboatError, SourceError, errorMessage } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { readAll, sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import type { ListedObject, ObjectAttributes, S3BucketClient } from './s3-client.ts';
import { s3Keys, type S3SourceConfig } from './s3-config.ts';
import { keyToArtifact, versionToArtifact } from './s3-object-names.ts';
import { openTunnelListener } from '../net-tunnel.ts';
import { TunnelFetchers } from '../tunnel-fetch.ts';

export const INDEX_ARTIFACT = 'index.jsonl';

export interface IndexEntry extends ObjectAttributes {
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
  readonly etag: string;
  readonly last_modified: string;
  /** With `versions: all`: the version this entry is (a restore gets new ids), whether it was the latest, and delete markers (no bytes). */
  readonly version_id?: string;
  readonly is_latest?: boolean;
  readonly delete_marker?: boolean;
}

/** Where an entry's bytes are stored: objects/<key>, or objects/<key>/%v/<version id> for one version. */
export function artifactOf(e: Pick<IndexEntry, 'key' | 'version_id'>): string {
  return e.version_id === undefined ? keyToArtifact(e.key) : versionToArtifact(e.key, e.version_id);
}

/** The fingerprint of a list of entries: what a restore must reproduce, not ETags or dates. */
export function fingerprintEntries(entries: readonly IndexEntry[]): Fingerprint {
  const digest = createHash('sha256');
  let bytes = 0;
  for (const e of [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const { etag: _e, last_modified: _l, version_id: _v, ...content } = e;
    digest.update(`${JSON.stringify(content)}\n`);
    bytes += e.size;
  }
  return { objects: entries.length, bytes, digest: digest.digest('hex') };
}

export class S3Source implements Source {
  readonly name: string;
  readonly type = 's3';
  readonly #config: S3SourceConfig;
  readonly #deps: SourceDeps;
  /** Set when the runner's commands run elsewhere: the endpoint is reached through a tunnel from there. */
  readonly #tunnels: TunnelFetchers | undefined;

  constructor(name: string, config: S3SourceConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    if (deps.runner.stageFile !== undefined) {
      const where = deps.runner.container?.description ?? 'the store\'s host';
      this.#tunnels = new TunnelFetchers((host, port) => openTunnelListener(deps.runner, host, port, deps.tmpDir, where));
    }
  }

  /** `run` with this source's tunnels open (none when the endpoint is reached directly). */
  #using<T>(run: () => Promise<T>): Promise<T> {
    return this.#tunnels === undefined ? run() : this.#tunnels.using(run);
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

  get #what(): string {
    return `s3 source ${this.name}`;
  }

  async #client(): Promise<S3BucketClient> {
    const c = this.#config;
    const { connectMs, idleMs } = sourceTimeouts(c);
    // Loaded on first use: the AWS SDK is a third of a stack's start-up, and every command that
    // opens the stack (a restore of another source, a verify) would pay it.
    const { S3BucketClient } = await import('./s3-client.ts');
    // Without an endpoint the SDK talks to AWS over https; the tunnel then goes to the region's host.
    const endpoint = c.endpoint ?? `https://s3.${c.region ?? 'us-east-1'}.amazonaws.com`;
    const tunnel = await this.#tunnels?.tunnelFor(endpoint);
    return new S3BucketClient(this.#what, {
      ...(tunnel ? { socketPath: tunnel.path } : {}),
      endpoint: c.endpoint,
      region: c.region,
      forcePathStyle: c.force_path_style,
      accessKeyId: await this.#deps.secrets(c.access_key_id, `access_key_id of s3 source ${this.name}`),
      secretAccessKey: await this.#deps.secrets(c.secret_access_key, `secret_access_key of s3 source ${this.name}`),
      connectTimeoutMs: connectMs,
      idleTimeoutMs: idleMs,
    });
  }

  /**
   * Reads every object under the prefix (hashing it); `store` gets each body as it streams.
   * `reuse` may take an object from the parent snapshot instead (its entry, tags re-read).
   */
  async #walk(
    bucket: string,
    ctx: SourceContext,
    store?: (e: Omit<IndexEntry, 'sha256'>, body: AsyncIterable<Uint8Array>) => Promise<void>,
    reuse?: (o: ListedObject, tags: () => Promise<Record<string, string>>) => Promise<IndexEntry | undefined>,
  ): Promise<IndexEntry[]> {
    const client = await this.#client();
    const entries: IndexEntry[] = [];
    const prefix = this.#config.prefix ?? '';
    try {
      for await (const o of this.#config.versions === 'all' ? client.listVersions(bucket, prefix, ctx.signal) : client.list(bucket, prefix, ctx.signal)) {
        if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: cancelled`);
        const version = o.versionId === undefined ? {} : { version_id: o.versionId, is_latest: o.isLatest ?? false };
        if (o.isDeleteMarker) {
          entries.push({ key: o.key, size: 0, sha256: '', etag: '', last_modified: o.lastModified, ...version, delete_marker: true, metadata: {}, tags: {} });
          continue;
        }
        const reused = await reuse?.(o, () => client.tags(bucket, o.key, ctx.signal, o.versionId));
        if (reused !== undefined) {
          entries.push(reused);
          continue;
        }
        const obj = await client.open(bucket, o.key, ctx.signal, o.versionId);
        const hash = createHash('sha256');
        let size = 0;
        const body = (async function* () {
          for await (const c of obj.body) {
            hash.update(c);
            size += c.length;
            yield c;
          }
        })();
        const meta = { key: o.key, size: obj.size, etag: obj.etag, last_modified: obj.lastModified, ...version, ...obj.attributes };
        if (store) await store(meta, body);
        else for await (const _ of body) { /* hash only */ }
        if (size !== obj.size) throw new SourceError(`${this.#what}: s3://${bucket}/${o.key} ended after ${size} of ${obj.size} bytes`, { retryable: true, hint: 'retry the backup' });
        entries.push({ ...meta, sha256: hash.digest('hex') });
      }
    } finally {
      client.close();
    }
    return entries;
  }

  async #backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: backup cancelled`);
    const bucket = this.#config.bucket;
    let entries: IndexEntry[];
    let reused = 0;
    try {
      const parent = await this.#parentIndex(sink);
      entries = await this.#walk(bucket, ctx, async (e, body) => {
        await sink.put(artifactOf(e), body);
      }, parent && sink.reuse && (async (o, tags) => {
        const name = artifactOf({ key: o.key, version_id: o.versionId });
        const p = parent.get(name);
        if (p === undefined || p.size !== o.size || p.etag !== o.etag || p.last_modified !== o.lastModified) return undefined;
        await sink.reuse!(name, name);
        reused++;
        return { ...p, ...(o.versionId === undefined ? {} : { is_latest: o.isLatest ?? false }), tags: await tags() };
      }));
      await sink.put(INDEX_ARTIFACT, (async function* () {
        for (const e of entries) yield Buffer.from(`${JSON.stringify(e)}\n`);
      })());
    } catch (err) {
      if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: backup cancelled`, { cause: err });
      if (err instanceof LifeboatError) throw err;
      throw new SourceError(`${this.#what}: backup of bucket ${bucket} failed: ${errorMessage(err)}`, { cause: err });
    }
    const fingerprint = fingerprintEntries(entries);
    ctx.log.info(`${this.#what}: ${entries.length} objects, ${String(fingerprint.bytes)} bytes from bucket ${bucket}; ${reused} unchanged since the parent snapshot (not downloaded)`);
    const listing = this.#config.versions === 'all' ? 'ListObjectVersions' : 'ListObjectsV2';
    return { fingerprint, commands: [`${listing} + GetObject + GetObjectTagging of s3://${bucket}/${this.#config.prefix ?? ''} into objects/ and ${INDEX_ARTIFACT}`] };
  }

  /** The parent snapshot's index by artifact name, when there is a parent made by this source type. */
  async #parentIndex(sink: ArtifactSink): Promise<Map<string, IndexEntry> | undefined> {
    const parent = await sink.parent?.();
    if (parent === undefined || sink.reuse === undefined || !parent.list().some((a) => a.name === INDEX_ARTIFACT)) return undefined;
    const stored = new Map(parent.list().map((a) => [a.name, a]));
    // Only entries whose artifact the parent holds with the index's size and hash.
    return new Map((await this.#index(parent)).filter((e) => {
      const a = e.delete_marker ? undefined : stored.get(artifactOf(e));
      return a !== undefined && a.size === e.size && a.sha256 === e.sha256;
    }).map((e) => [artifactOf(e), e]));
  }

  async #index(reader: ArtifactReader): Promise<IndexEntry[]> {
    if (!reader.list().some((a) => a.name === INDEX_ARTIFACT)) {
      throw new SourceError(`${this.#what}: the snapshot has no ${INDEX_ARTIFACT}`, { hint: 'pick a snapshot made by an s3 source' });
    }
    return (await readAll(reader.open(INDEX_ARTIFACT))).toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as IndexEntry);
  }

  async #restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions = {}): Promise<void> {
    const entries = await this.#index(reader);
    const bucket = opts.to ?? this.#config.bucket;
    const client = await this.#client();
    try {
      await client.ensureBucket(bucket, ctx.signal);
      if (entries.some((e) => e.version_id !== undefined)) {
        await this.#restoreVersions(client, reader, entries, bucket, ctx);
        return;
      }
      for (const e of entries) {
        if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: restore cancelled`);
        const { key, size, sha256: _s, etag: _e, last_modified: _l, ...attributes } = e;
        await client.put(bucket, key, reader.open(keyToArtifact(key)), size, attributes, ctx.signal);
      }
      const keep = new Set(entries.map((e) => e.key));
      const extra: string[] = [];
      for await (const o of client.list(bucket, this.#config.prefix ?? '', ctx.signal)) if (!keep.has(o.key)) extra.push(o.key);
      for (const key of extra) await client.delete(bucket, key, ctx.signal);
      ctx.log.info(`${this.#what}: ${entries.length} objects uploaded to bucket ${bucket}, ${extra.length} not in the snapshot deleted`);
    } finally {
      client.close();
    }
  }

  /**
   * A `versions: all` snapshot: versioning on, then each key's versions replayed oldest first
   * (a PUT, or a DELETE for a delete marker) so the newest ends up latest; only then are the
   * versions the bucket had before under the prefix removed, so a failed restore loses none.
   */
  async #restoreVersions(client: S3BucketClient, reader: ArtifactReader, entries: readonly IndexEntry[], bucket: string, ctx: SourceContext): Promise<void> {
    await client.enableVersioning(bucket, ctx.signal);
    const before: ListedObject[] = [];
    for await (const o of client.listVersions(bucket, this.#config.prefix ?? '', ctx.signal)) before.push(o);
    const byKey = Map.groupBy(entries, (e) => e.key);
    for (const [key, versions] of byKey) {
      for (const e of [...versions].reverse()) {
        if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: restore cancelled`);
        if (e.delete_marker) {
          await client.delete(bucket, key, ctx.signal);
          continue;
        }
        const { size, sha256: _s, etag: _e, last_modified: _l, version_id: _v, is_latest: _i, delete_marker: _d, key: _k, ...attributes } = e;
        await client.put(bucket, key, reader.open(artifactOf(e)), size, attributes, ctx.signal);
      }
    }
    for (const o of before) await client.delete(bucket, o.key, ctx.signal, o.versionId);
    ctx.log.info(`${this.#what}: ${entries.length} versions of ${byKey.size} keys replayed into bucket ${bucket}, ${before.length} versions it had before removed`);
  }

  async #fingerprint(ctx: SourceContext, opts: RestoreOptions = {}): Promise<Fingerprint> {
    return fingerprintEntries(await this.#walk(opts.to ?? this.#config.bucket, ctx));
  }

  /** Every object artifact against the index: present, same size and SHA-256 (the repository checked the bytes). */
  async verify(reader: ArtifactReader): Promise<VerifyResult> {
    let entries: IndexEntry[];
    try {
      entries = await this.#index(reader);
    } catch (err) {
      return { checks: [], problems: [`${INDEX_ARTIFACT}: ${errorMessage(err)}`] };
    }
    const stored = new Map(reader.list().map((a) => [a.name, a]));
    const problems: string[] = [];
    const expected = new Set<string>();
    for (const e of entries) {
      if (e.delete_marker) continue;
      const name = artifactOf(e);
      expected.add(name);
      const a = stored.get(name);
      if (a === undefined) problems.push(`${name}: missing (listed in ${INDEX_ARTIFACT})`);
      else if (a.size !== e.size || a.sha256 !== e.sha256) problems.push(`${a.name}: ${a.size} bytes, SHA-256 ${a.sha256}; the index says ${e.size} bytes, ${e.sha256}`);
    }
    for (const name of stored.keys()) if (name !== INDEX_ARTIFACT && !expected.has(name)) problems.push(`${name}: not in ${INDEX_ARTIFACT}`);
    return { checks: problems.length === 0 ? [`${entries.length} objects match ${INDEX_ARTIFACT} (size and SHA-256)`] : [], problems };
  }

  /** A new bucket on the same endpoint, deleted with everything in it afterwards. */
  async scratchTarget(_reader: ArtifactReader, _ctx: SourceContext): Promise<ScratchTarget> {
    const bucket = `lifeboat-drill-${randomBytes(6).toString('hex')}`;
    let done = false;
    return {
      to: bucket,
      description: `scratch bucket ${bucket} on ${this.#config.endpoint ?? 'AWS S3'}`,
      cleanup: () => this.#using(async () => {
        if (done) return;
        const client = await this.#client();
        try {
          await client.deleteBucket(bucket, new AbortController().signal).catch((err: unknown) => {
            // Never created (the restore failed before): nothing to remove.
            if (!(err instanceof SourceError && err.data.status === 404)) throw err;
          });
          done = true;
        } finally {
          client.close();
        }
      }),
    };
  }
}

export const s3Type = {
  type: 's3',
  description: 'an S3 bucket (MinIO or any S3) as a source: objects with headers, metadata and tags; restore by upload, checked by content hashes',
  keys: s3Keys,
  create: (name, config, deps): Source => new S3Source(name, config, deps),
} satisfies SourceType<S3SourceConfig>;
