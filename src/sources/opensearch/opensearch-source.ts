/**
 * The `opensearch` source: the indices of an OpenSearch (or Elasticsearch) cluster, through its
 * snapshot API into an fs repository that lifeboat reads.
 *
 * The cluster can only write snapshots into a repository it can reach, never to a client, so a
 * backup registers a fresh fs repository `lifeboat-<random>` under `snapshot_dir` (inside the
 * cluster's `path.repo`), takes one snapshot of the resolved indices (wait_for_completion, state
 * SUCCESS or the backup fails), unregisters the repository (Elastic: "prevent writes to the
 * repository by unregistering it" before copying it), streams each file into the sink as
 * `repository/<path>`, and removes the directory. Incremental storage is the repository's job:
 * unchanged segment files deduplicate there.
 *
 * Restore writes the files into a fresh directory under snapshot_dir first and registers it only
 * then (read-only, verified), checks the snapshot, closes (or deletes) the indices that exist, and
 * restores. A drill restores into the same cluster under a name prefix (`opts.to`), so the live
 * indices are never touched, and deletes those indices afterwards.
 *
 * When the runner's commands run elsewhere (an ssh host), the cluster's URL is as seen there and
 * every request goes through a tunnel run there; the repository directory is that host's, its
 * files listed, read and written by small commands there (remote-files.ts), never staged here.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import path from 'node:path';
import { CancelledError, ConfigError, NotFoundError, SourceError, errorMessage } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { readAll, sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import { OpenSearchClient } from './opensearch-client.ts';
import { opensearchKeys } from './opensearch-config.ts';
import type { OpenSearchConfig } from './opensearch-config.ts';
import { fingerprintIndices, indexPath, resolveIndices } from './opensearch-fingerprint.ts';
import {
  MANIFEST_ARTIFACT, REPOSITORY_PREFIX, checkRepositoryLayout, ownerOf, putRepository, writeRepository,
} from './opensearch-repository.ts';
import type { OpenSearchBackupInfo } from './opensearch-repository.ts';
import { nowDate } from '../../util/clock.ts';
import { openTunnelListener } from '../net-tunnel.ts';
import { RemoteFiles } from '../remote-files.ts';
import { TunnelFetchers } from '../tunnel-fetch.ts';

interface SnapshotInfo {
  snapshot: string;
  state: string;
  indices: string[];
  shards?: { total: number; failed: number };
  failures?: Array<{ index?: string; reason?: string }>;
}

/** A drill's prefix: lowercase, as index names must be. */
const DRILL_PREFIX = /^lifeboat-drill-[0-9a-f]+-$/;

async function readSmall(reader: ArtifactReader, name: string): Promise<Buffer | undefined> {
  if (!reader.list().some((a) => a.name === name)) return undefined;
  return readAll(reader.open(name));
}

export class OpenSearchSource implements Source {
  readonly name: string;
  readonly type = 'opensearch';
  readonly #config: OpenSearchConfig;
  readonly #deps: SourceDeps;
  /** Set when the runner's commands run elsewhere: the cluster is reached through tunnels from there. */
  readonly #tunnels: TunnelFetchers | undefined;

  constructor(name: string, config: OpenSearchConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    if (deps.runner.stageFile !== undefined) {
      const where = deps.runner.container?.description ?? 'the cluster\'s host';
      this.#tunnels = new TunnelFetchers((host, port) => openTunnelListener(deps.runner, host, port, deps.tmpDir, where));
    }
  }

  /** `run` with this source's tunnels open (none when the cluster is reached directly). */
  #using<T>(run: () => Promise<T>): Promise<T> {
    return this.#tunnels === undefined ? run() : this.#tunnels.using(run);
  }

  /** The repository directory's files where the cluster's host is, or undefined on this host. */
  #remote(signal: AbortSignal): RemoteFiles | undefined {
    return this.#tunnels === undefined ? undefined : new RemoteFiles(this.#deps.runner, this.#what, signal);
  }

  get #what(): string {
    return `opensearch source ${this.name}`;
  }

  #cancelled(what: string, cause?: unknown): CancelledError {
    return new CancelledError(`${what} of ${this.#what} cancelled`, cause === undefined ? {} : { cause });
  }

  async #client(): Promise<OpenSearchClient> {
    const c = this.#config;
    let authorization: string | undefined;
    if (c.api_key !== undefined) {
      if (c.username !== undefined) throw new ConfigError(`${this.#what}: both api_key and username are set`, { key: 'api_key', hint: 'keep one of them in lifeboat.yml' });
      authorization = `ApiKey ${await this.#deps.secrets(c.api_key, `api_key of ${this.#what}`)}`;
    } else if (c.username !== undefined) {
      const password = c.password === undefined ? '' : await this.#deps.secrets(c.password, `password of ${this.#what}`);
      authorization = `Basic ${Buffer.from(`${c.username}:${password}`).toString('base64')}`;
    } else if (c.password !== undefined) {
      throw new ConfigError(`${this.#what}: password is set without username`, { key: 'username', hint: 'add username to the source in lifeboat.yml' });
    }
    const t = sourceTimeouts(c);
    const fetch = await this.#tunnels?.fetchFor(c.url);
    return new OpenSearchClient({ url: c.url, authorization, connectMs: t.connectMs, idleMs: t.idleMs, what: this.#what, ...(fetch ? { fetch } : {}) });
  }

  /** The repository directory as the cluster sees it and as lifeboat sees it. */
  #dirs(repo: string): { cluster: string; local: string } {
    const c = this.#config;
    const join = this.#tunnels === undefined ? path.join : path.posix.join;
    return { cluster: path.posix.join(c.snapshot_dir, repo), local: join(c.local_snapshot_dir ?? c.snapshot_dir, repo) };
  }

  async #serverVersion(client: OpenSearchClient, signal: AbortSignal): Promise<string> {
    const r = await client.request<{ version?: { number?: string; distribution?: string } }>('GET', '/', { signal });
    return `${r?.version?.distribution === 'opensearch' ? 'OpenSearch' : 'Elasticsearch'} ${r?.version?.number ?? 'unknown'}`;
  }

  /** Unregistering leaves the files in place; failure here must not hide the error that got us here. */
  async #unregister(client: OpenSearchClient, repo: string, ctx: SourceContext): Promise<void> {
    try {
      await client.request('DELETE', `/_snapshot/${repo}`, { signal: AbortSignal.timeout(30_000), allow: [404] });
    } catch (err) {
      ctx.log.warn(`${this.#what}: could not unregister snapshot repository ${repo}: ${errorMessage(err)}; remove it with DELETE /_snapshot/${repo}`);
    }
  }

  async #removeDir(dir: string, ctx: SourceContext): Promise<void> {
    try {
      const remote = this.#remote(new AbortController().signal);
      if (remote === undefined) await rm(dir, { recursive: true, force: true });
      else await remote.remove(dir);
    } catch (err) {
      ctx.log.warn(`${this.#what}: could not remove ${dir}: ${errorMessage(err)}; remove it by hand`);
    }
  }

  backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    return this.#using(() => this.#backup(sink, ctx));
  }

  restore(reader: ArtifactReader, ctx: SourceContext, opts?: RestoreOptions): Promise<void> {
    return this.#using(() => this.#restore(reader, ctx, opts));
  }

  fingerprint(ctx: SourceContext, opts?: RestoreOptions): Promise<Fingerprint> {
    return this.#using(() => this.#fingerprint(ctx, opts));
  }

  /** Streams each file of the repository directory into the sink, from this host or the cluster's. */
  async #putRepository(dir: string, sink: ArtifactSink, signal: AbortSignal): Promise<{ files: number; bytes: number }> {
    const remote = this.#remote(signal);
    if (remote === undefined) return putRepository(dir, sink, signal);
    let bytes = 0;
    const files = await remote.walk(dir);
    for (const rel of files) bytes += (await sink.put(`${REPOSITORY_PREFIX}${rel}`, remote.read(path.posix.join(dir, rel)))).size;
    return { files: files.length, bytes };
  }

  /** Writes the `repository/` artifacts into a fresh `dir`, owned like snapshot_dir when written as root. */
  async #writeRepository(reader: ArtifactReader, dir: string, signal: AbortSignal): Promise<void> {
    const parent = this.#config.local_snapshot_dir ?? this.#config.snapshot_dir;
    const remote = this.#remote(signal);
    if (remote === undefined) {
      await writeRepository(reader, dir, signal, await ownerOf(parent));
      return;
    }
    for (const a of reader.list()) {
      if (!a.name.startsWith(REPOSITORY_PREFIX)) continue;
      const rel = a.name.slice(REPOSITORY_PREFIX.length);
      if (rel.split('/').some((s) => s === '..' || s === '.' || s === '')) throw new SourceError(`${this.#what}: artifact ${a.name} points outside the repository`);
      await remote.write(path.posix.join(dir, rel), reader.open(a.name));
    }
    await remote.ownLike(dir, parent);
  }

  async #backup(sink: ArtifactSink, ctx: SourceContext): Promise<BackupOutcome> {
    if (ctx.signal.aborted) throw this.#cancelled('backup');
    const client = await this.#client();
    const { signal } = ctx;
    const version = await this.#serverVersion(client, signal);
    const mappings = await resolveIndices(client, this.#config.indices ?? ['*'], signal);
    const names = [...mappings.keys()];
    if (names.length === 0) {
      throw new SourceError(`${this.#what}: no open index on ${client.url} matches ${(this.#config.indices ?? ['*']).join(', ')}`, {
        hint: 'check `indices` in lifeboat.yml (closed and hidden indices are only backed up when named exactly)',
      });
    }
    const fingerprint = await fingerprintIndices(client, mappings, signal);
    const repo = `lifeboat-${randomBytes(6).toString('hex')}`;
    const snapshot = `lifeboat-${nowDate().toISOString().replace(/[-:.]/g, '').toLowerCase()}`;
    const dirs = this.#dirs(repo);
    const includeGlobal = this.#config.include_global_state ?? false;
    let registered = false;
    try {
      await client.request('PUT', `/_snapshot/${repo}?verify=true`, { signal, body: { type: 'fs', settings: { location: dirs.cluster } } })
        .catch((err: unknown) => {
          throw new SourceError(`${this.#what}: the cluster cannot use ${dirs.cluster} as a snapshot repository: ${errorMessage(err)}`, {
            cause: err,
            hint: 'snapshot_dir must be inside the path.repo of every node of the cluster, writable by the cluster\'s user',
          });
        });
      registered = true;
      const r = await client.request<{ snapshot: SnapshotInfo }>('PUT', `/_snapshot/${repo}/${snapshot}?wait_for_completion=true`, {
        signal, long: true, body: { indices: names.join(','), include_global_state: includeGlobal, ignore_unavailable: false, partial: false },
      });
      const snap = r?.snapshot;
      if (snap?.state !== 'SUCCESS' || (snap.shards?.failed ?? 0) > 0) {
        const why = snap?.failures?.map((f) => `${f.index ?? '?'}: ${f.reason ?? '?'}`).join('; ');
        throw new SourceError(`${this.#what}: snapshot ended in state ${snap?.state ?? 'unknown'}${why ? ` (${why})` : ''}`, {
          hint: 'see the cluster\'s log; a PARTIAL or FAILED snapshot is never stored',
        });
      }
      await this.#unregister(client, repo, ctx);
      registered = false;
      // A snapshot is not a point in time across shards and writes go on meanwhile: say so when
      // the counts moved, since a drill of this backup would then report a difference.
      const after = await fingerprintIndices(client, mappings, signal);
      const moved = compareFingerprints(fingerprint, after);
      if (moved.length > 0) ctx.log.warn(`${this.#what}: the indices changed while the snapshot ran (${moved.slice(0, 3).join('; ')}); the stored fingerprint is the one from before the snapshot`);
      const info: OpenSearchBackupInfo = { snapshot, indices: names, include_global_state: includeGlobal, version };
      await sink.put(MANIFEST_ARTIFACT, Readable.from([Buffer.from(`${JSON.stringify(info, null, 2)}\n`)]));
      const copied = await this.#putRepository(dirs.local, sink, signal).catch((err: unknown) => {
        if (signal.aborted) throw err;
        throw new SourceError(`${this.#what}: cannot read the snapshot repository at ${dirs.local}: ${errorMessage(err)}`, {
          cause: err,
          hint: 'local_snapshot_dir must be the same directory as snapshot_dir, as mounted where lifeboat runs, readable by lifeboat',
        });
      });
      ctx.log.info(`${this.#what}: snapshot ${snapshot} of ${names.length} indices, ${copied.files} repository files (${copied.bytes} bytes)`);
      return {
        fingerprint: { ...fingerprint },
        serverVersion: version,
        commands: [`PUT /_snapshot/${repo} (fs, ${dirs.cluster})`, `PUT /_snapshot/${repo}/${snapshot}?wait_for_completion=true`, `DELETE /_snapshot/${repo}`],
      };
    } catch (err) {
      if (signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('backup', err);
      throw err;
    } finally {
      if (registered) await this.#unregister(client, repo, ctx);
      await this.#removeDir(dirs.local, ctx);
    }
  }

  async #backupInfo(reader: ArtifactReader): Promise<OpenSearchBackupInfo> {
    const raw = await readSmall(reader, MANIFEST_ARTIFACT);
    if (raw === undefined) {
      throw new NotFoundError(`${this.#what}: the snapshot has no ${MANIFEST_ARTIFACT}`, { hint: 'pick a snapshot of this opensearch source' });
    }
    return JSON.parse(raw.toString('utf8')) as OpenSearchBackupInfo;
  }

  async #restore(reader: ArtifactReader, ctx: SourceContext, opts?: RestoreOptions): Promise<void> {
    if (ctx.signal.aborted) throw this.#cancelled('restore');
    const { signal } = ctx;
    const prefix = opts?.to;
    if (prefix !== undefined && !DRILL_PREFIX.test(prefix)) {
      throw new SourceError(`${this.#what}: restore target ${prefix} is not an index prefix made by a drill`, {
        hint: 'restore to the cluster of lifeboat.yml (no target), or run a drill',
      });
    }
    const info = await this.#backupInfo(reader);
    const client = await this.#client();
    const repo = `lifeboat-${randomBytes(6).toString('hex')}`;
    const dirs = this.#dirs(repo);
    let registered = false;
    try {
      // Complete on disk before the cluster sees it: a repository registered half-written is read as damaged.
      await this.#writeRepository(reader, dirs.local, signal);
      await client.request('PUT', `/_snapshot/${repo}?verify=true`, { signal, body: { type: 'fs', settings: { location: dirs.cluster, readonly: true } } });
      registered = true;
      const got = await client.request<{ snapshots: SnapshotInfo[] }>('GET', `/_snapshot/${repo}/${info.snapshot}`, { signal });
      const snap = got?.snapshots[0];
      if (snap?.state !== 'SUCCESS') {
        throw new SourceError(`${this.#what}: the restored repository holds snapshot ${info.snapshot} in state ${snap?.state ?? 'missing'}`, {
          hint: 'the live indices were left untouched; run "lifeboat verify" on this snapshot',
        });
      }
      const targets = info.indices.map((i) => (prefix ?? '') + i);
      if (prefix === undefined) await this.#makeRoom(client, targets, signal, ctx);
      const r = await client.request<{ snapshot?: { shards?: { total: number; failed: number } } }>(
        'POST', `/_snapshot/${repo}/${info.snapshot}/_restore?wait_for_completion=true`, {
          signal,
          long: true,
          body: {
            indices: info.indices.join(','),
            include_global_state: prefix === undefined && info.include_global_state,
            include_aliases: prefix === undefined,
            ...(prefix === undefined ? {} : { rename_pattern: '(.+)', rename_replacement: `${prefix}$1` }),
          },
        },
      );
      const shards = r?.snapshot?.shards;
      if (shards === undefined || shards.failed > 0) {
        throw new SourceError(`${this.#what}: restore of snapshot ${info.snapshot} failed for ${shards?.failed ?? 'all'} of ${shards?.total ?? '?'} shards`, {
          hint: 'see the cluster\'s log; the indices may be closed or incomplete: restore again once the cause is fixed',
        });
      }
      ctx.log.info(`${this.#what}: restored ${targets.length} indices from snapshot ${info.snapshot}`);
    } catch (err) {
      if (signal.aborted && !(err instanceof CancelledError)) throw this.#cancelled('restore', err);
      throw err;
    } finally {
      if (registered) await this.#unregister(client, repo, ctx);
      await this.#removeDir(dirs.local, ctx);
    }
  }

  /** An open index cannot be restored over: close (same shard count needed) or delete the ones that exist. */
  async #makeRoom(client: OpenSearchClient, names: readonly string[], signal: AbortSignal, ctx: SourceContext): Promise<void> {
    const existing = Object.keys(await client.request<Record<string, unknown>>(
      'GET', `/${indexPath(names)}/_settings?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true&filter_path=*.settings.index.uuid`, { signal },
    ) ?? {});
    if (existing.length === 0) return;
    const how = this.#config.existing_indices ?? 'close';
    if (how === 'delete') await client.request('DELETE', `/${indexPath(existing)}`, { signal, long: true });
    else await client.request('POST', `/${indexPath(existing)}/_close?expand_wildcards=all`, { signal, long: true });
    ctx.log.info(`${this.#what}: ${how === 'delete' ? 'deleted' : 'closed'} ${existing.length} existing indices before the restore`);
  }

  async #fingerprint(ctx: SourceContext, opts?: RestoreOptions): Promise<Fingerprint> {
    if (ctx.signal.aborted) throw this.#cancelled('fingerprint');
    const client = await this.#client();
    const prefix = opts?.to;
    const patterns = prefix === undefined ? this.#config.indices ?? ['*'] : [`${prefix}*`];
    const mappings = await resolveIndices(client, patterns, ctx.signal);
    return { ...(await fingerprintIndices(client, mappings, ctx.signal, prefix)) };
  }

  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    if (ctx.signal.aborted) throw this.#cancelled('verify');
    let info: OpenSearchBackupInfo;
    try {
      info = await this.#backupInfo(reader);
    } catch (err) {
      return { checks: [], problems: [errorMessage(err)] };
    }
    const names = new Set(reader.list().map((a) => a.name).filter((n) => n.startsWith(REPOSITORY_PREFIX)));
    // Only the two small catalogue files are read; every other file's hash is checked by the caller.
    const latest = await readSmall(reader, `${REPOSITORY_PREFIX}index.latest`);
    let catalogue: Buffer | undefined;
    if (latest?.length === 8) catalogue = await readSmall(reader, `${REPOSITORY_PREFIX}index-${latest.readBigInt64BE(0)}`);
    return checkRepositoryLayout(names, latest, () => catalogue, info);
  }

  /** A drill restores beside the live indices under a fresh prefix and deletes them afterwards. */
  async scratchTarget(_reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    if (ctx.signal.aborted) throw this.#cancelled('scratch target');
    const to = `lifeboat-drill-${randomBytes(4).toString('hex')}-`;
    return {
      to,
      description: `indices ${to}* on ${this.#config.url}`,
      // A client of its own: a tunnel opened for the drill's other steps is closed by now.
      cleanup: () => this.#using(async () => {
        const client = await this.#client();
        await client.request('DELETE', `/${encodeURIComponent(to)}*?expand_wildcards=all&allow_no_indices=true`, { signal: AbortSignal.timeout(60_000), allow: [404] });
      }),
    };
  }
}

export const opensearchType = {
  type: 'opensearch',
  description: 'the indices of an OpenSearch or Elasticsearch cluster, as a snapshot into an fs repository that lifeboat copies',
  keys: opensearchKeys,
  create: (name, config, deps) => new OpenSearchSource(name, config, deps),
} satisfies SourceType<OpenSearchConfig>;
