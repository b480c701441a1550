/**
 * The `vault` source: HashiCorp Vault and OpenBao on integrated (raft) storage.
 *
 * Backup streams the raft snapshot (GET /v1/sys/storage/raft/snapshot, what `operator raft
 * snapshot save` does) into one artifact, raft.snap, checking it on the way: the server sends
 * HTTP 200 before it writes the archive, so a snapshot is accepted only when its last tar entry
 * is a non-empty SHA256SUMS.sealed and SHA256SUMS matches meta.json and state.bin
 * (raft-snapshot.ts). Nothing is staged on disk.
 *
 * Restore posts raft.snap back: to the configured cluster with POST …/snapshot (the server
 * refuses a snapshot sealed with other keys), to another cluster (restore.to, a drill's scratch
 * node) with …/snapshot-force. A node that took another cluster's snapshot seals itself: it is
 * unsealed with unseal_keys (the source cluster's) and waited for until active.
 *
 * verify runs raft.snap through the same checker without a server; a drill restores into a
 * throwaway single-node server (vault-scratch.ts) and fingerprints it with the source's token.
 *
 * With a runner whose commands run elsewhere (a container, an ssh host), every URL is as seen
 * there and every request goes through a tunnel from there (tunnel-fetch.ts); the scratch
 * server runs there too.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import { CancelledError, LifeboatError, SourceError, errorMessage } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import { RaftSnapshotChecker, type RaftSnapshotResult } from './raft-snapshot.ts';
import { VaultClient } from './vault-client.ts';
import { openTunnelListener } from '../net-tunnel.ts';
import { TunnelFetchers, type FetchLike } from '../tunnel-fetch.ts';
import { vaultKeys, type VaultConfig } from './vault-config.ts';
import { fingerprintVault } from './vault-fingerprint.ts';
import { startVaultScratch } from './vault-scratch.ts';
import { nowMs } from '../../util/clock.ts';

export const SNAPSHOT_ARTIFACT = 'raft.snap';
const SETTLE_TIMEOUT_MS = 60_000;
const SETTLE_POLL_MS = 200;

/**
 * Passes the gzip'd snapshot through unchanged while its decompressed tar feeds `checker`;
 * throws `fail(reason)` when the archive is damaged or incomplete, before the last chunk is
 * passed on, so a consumer (the repository, an upload) never completes with a bad snapshot.
 */
export async function* checkedSnapshot(chunks: AsyncIterable<Uint8Array>, checker: RaftSnapshotChecker, fail: (reason: string) => Error): AsyncGenerator<Uint8Array> {
  const gunzip = createGunzip();
  gunzip.on('data', (d: Buffer) => checker.update(d));
  const ended = once(gunzip, 'end');
  ended.catch(() => undefined); // observed below
  let held: Uint8Array | undefined;
  try {
    for await (const chunk of chunks) {
      if (!gunzip.write(chunk)) await once(gunzip, 'drain');
      if (checker.failed !== undefined) throw fail(checker.failed);
      // One chunk is held back: the last one goes out only after the archive proved complete.
      if (held !== undefined) yield held;
      held = chunk;
    }
    gunzip.end();
    await ended;
  } catch (err) {
    if (err instanceof LifeboatError) throw err;
    throw fail(`is not a complete gzip stream (${errorMessage(err)})`);
  } finally {
    gunzip.destroy();
  }
  const r = checker.finish();
  if (!r.ok) throw fail(r.reason);
  if (held !== undefined) yield held;
}

export class VaultSource implements Source {
  readonly name: string;
  readonly type = 'vault';
  readonly #config: VaultConfig;
  readonly #deps: SourceDeps;
  /** Root tokens of running scratch nodes, by URL: their own token loads the snapshot. */
  readonly #scratch = new Map<string, string>();
  /**
   * Set when the runner's commands run elsewhere (a container, an ssh host: it stages files):
   * every URL is then as seen there, reached through a tunnel (tunnel-fetch.ts).
   */
  readonly #tunnels: TunnelFetchers | undefined;

  constructor(name: string, config: VaultConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    if (deps.runner.stageFile !== undefined) {
      const where = deps.runner.container?.description ?? 'the server\'s host';
      this.#tunnels = new TunnelFetchers((host, port) => openTunnelListener(deps.runner, host, port, deps.tmpDir, where));
    }
  }

  /** `run` with this source's tunnels open (none when the server is reached directly). */
  #using<T>(run: () => Promise<T>): Promise<T> {
    return this.#tunnels === undefined ? run() : this.#tunnels.using(run);
  }

  #fetchFor = async (url: string): Promise<FetchLike | undefined> => this.#tunnels?.fetchFor(url);

  #what(url: string): string {
    const u = new URL(url);
    return `vault source ${this.name} (${u.protocol}//${u.host})`;
  }

  async #client(url: string, ctx: SourceContext, token: 'source' | 'target' | 'none' = 'source'): Promise<VaultClient> {
    const { connectMs, idleMs } = sourceTimeouts(this.#config);
    let value: string | undefined;
    if (token === 'target') {
      value = this.#scratch.get(url) ?? await this.#deps.secrets(this.#config.target_token ?? this.#config.token, `target token of vault source ${this.name}`);
    } else if (token === 'source') {
      value = await this.#deps.secrets(this.#config.token, `token of vault source ${this.name}`);
    }
    const fetch = await this.#fetchFor(url);
    return new VaultClient({ what: this.#what(url), url, token: value, connectTimeoutMs: connectMs, idleTimeoutMs: idleMs, signal: ctx.signal, ...(fetch ? { fetch } : {}) });
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
    const status = await client.sealStatus();
    if (status.sealed) throw new SourceError(`${what}: the server is sealed`, { hint: 'unseal it, then run the backup again' });
    const fingerprint = await fingerprintVault(client, this.#config.canaries);
    const checker = new RaftSnapshotChecker();
    const started = performance.now();
    let info;
    try {
      info = await sink.put(SNAPSHOT_ARTIFACT, checkedSnapshot(client.snapshot(), checker, (reason) => new SourceError(`${what}: the raft snapshot ${reason}`, {
        retryable: true,
        hint: 'retry the backup; if it persists, check the server log (seal, disk)',
      })));
    } catch (err) {
      if (ctx.signal.aborted) throw new CancelledError(`${what}: backup cancelled`, { cause: err });
      if (err instanceof LifeboatError) throw err;
      throw new SourceError(`${what}: storing ${SNAPSHOT_ARTIFACT} failed: ${errorMessage(err)}`, { cause: err });
    }
    const r = checker.finish() as Extract<RaftSnapshotResult, { ok: true }>;
    const seconds = (performance.now() - started) / 1000;
    ctx.log.info(`${what}: ${SNAPSHOT_ARTIFACT} ${info.size} bytes, raft index ${r.meta.index} term ${r.meta.term}, sealed checksum present, in ${seconds.toFixed(1)} s`);
    return {
      fingerprint,
      serverVersion: `Vault API ${status.version}`,
      commands: [`GET ${new URL(url).origin}/v1/sys/storage/raft/snapshot (raft index ${r.meta.index}, term ${r.meta.term}) into ${SNAPSHOT_ARTIFACT}`],
    };
  }

  async #restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions): Promise<void> {
    if (!reader.list().some((a) => a.name === SNAPSHOT_ARTIFACT)) {
      throw new SourceError(`vault source ${this.name}: the snapshot has no ${SNAPSHOT_ARTIFACT}`, { hint: 'pick a snapshot made by a vault source' });
    }
    const url = opts.to ?? this.#config.url;
    const what = this.#what(url);
    // Another cluster's keys differ from the snapshot's: only snapshot-force loads it there.
    const force = new URL(url).origin !== new URL(this.#config.url).origin;
    const client = await this.#client(url, ctx, force ? 'target' : 'source');
    const checker = new RaftSnapshotChecker();
    const body = checkedSnapshot(reader.open(SNAPSHOT_ARTIFACT), checker, (reason) => new SourceError(`${what}: ${SNAPSHOT_ARTIFACT} ${reason}; nothing was loaded`, {
      hint: 'restore an older snapshot; run "lifeboat verify" to check the others',
    }));
    try {
      await client.restore(body, force);
    } catch (err) {
      if (ctx.signal.aborted) throw new CancelledError(`${what}: restore cancelled`, { cause: err });
      // A checker failure aborts the upload and surfaces somewhere in the cause chain of fetch's error.
      for (let e: unknown = err; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
        if (e instanceof SourceError && e.message.includes(`${SNAPSHOT_ARTIFACT} `)) throw e;
      }
      throw err;
    }
    ctx.log.info(`${what}: ${SNAPSHOT_ARTIFACT} loaded${force ? ' with snapshot-force' : ''}`);
    await this.#unsealAfterRestore(url, ctx);
  }

  /**
   * A node that took another cluster's snapshot seals itself a moment after the POST: unseal it
   * with the source's keys. Done once the source's token is accepted there, which proves the
   * restored data is what the node serves.
   */
  async #unsealAfterRestore(url: string, ctx: SourceContext): Promise<void> {
    const what = this.#what(url);
    const anon = await this.#client(url, ctx, 'none');
    const authed = await this.#client(url, ctx);
    const keysRef = this.#config.unseal_keys;
    const deadline = nowMs() + SETTLE_TIMEOUT_MS;
    for (;;) {
      if (ctx.signal.aborted) throw new CancelledError(`${what}: restore cancelled`);
      const s = await anon.sealStatus().catch(() => undefined);
      if (s?.sealed === true) {
        if (keysRef === undefined) {
          throw new SourceError(`${what}: the node is sealed after the restore: unseal it with the unseal keys of the cluster the snapshot came from`, {
            hint: 'or set unseal_keys: { file: … } (one key per line) so that lifeboat unseals it',
          });
        }
        const keys = (await this.#deps.secrets(keysRef, `unseal keys of vault source ${this.name}`)).split(/\s+/).filter((k) => k !== '');
        for (const key of keys) {
          const r = await anon.json<{ sealed: boolean }>('PUT', '/v1/sys/unseal', { key }).catch(() => undefined);
          if (r?.sealed === false) break;
        }
      } else if (s !== undefined && await authed.json('GET', '/v1/auth/token/lookup-self').then(() => true, () => false)) {
        return;
      }
      if (nowMs() > deadline) {
        throw new SourceError(`${what}: the node did not serve the restored data within ${SETTLE_TIMEOUT_MS / 1000} s (${s === undefined ? 'no answer' : s.sealed ? 'still sealed' : 'the token is refused'})`, {
          hint: 'check its log and seal status; unseal_keys must be those of the cluster the snapshot came from',
        });
      }
      await sleep(SETTLE_POLL_MS);
    }
  }

  async #fingerprint(ctx: SourceContext, opts: RestoreOptions): Promise<Fingerprint> {
    // After a restore the target carries the source's tokens: the source token reads it.
    return fingerprintVault(await this.#client(opts.to ?? this.#config.url, ctx), this.#config.canaries);
  }

  /** raft.snap through the snapshot checker: no server involved. */
  async verify(reader: ArtifactReader, ctx: SourceContext): Promise<VerifyResult> {
    if (!reader.list().some((a) => a.name === SNAPSHOT_ARTIFACT)) {
      return { checks: [], problems: [`${SNAPSHOT_ARTIFACT}: missing from the snapshot (a vault backup stores one)`] };
    }
    const checker = new RaftSnapshotChecker();
    try {
      for await (const _ of checkedSnapshot(reader.open(SNAPSHOT_ARTIFACT), checker, (reason) => new SourceError(reason))) {
        if (ctx.signal.aborted) throw new CancelledError(`vault source ${this.name}: verify cancelled`);
      }
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      return { checks: [], problems: [`${SNAPSHOT_ARTIFACT}: ${errorMessage(err)}`] };
    }
    const r = checker.finish() as Extract<RaftSnapshotResult, { ok: true }>;
    return { checks: [`${SNAPSHOT_ARTIFACT}: raft index ${r.meta.index} term ${r.meta.term}, ${r.stateBytes} bytes of state, SHA256SUMS match, sealed checksum present`], problems: [] };
  }

  /** A throwaway single-node server (vault-scratch.ts). */
  async scratchTarget(_reader: ArtifactReader, ctx: SourceContext): Promise<ScratchTarget> {
    const bin = this.#config.server_bin ?? 'bao';
    const s = await this.#using(() => startVaultScratch({
      what: `vault source ${this.name}`, serverBin: bin, runner: this.#deps.runner, tmpDir: this.#deps.tmpDir, signal: ctx.signal, fetchFor: this.#fetchFor,
    }));
    this.#scratch.set(s.url, s.rootToken);
    ctx.log.info(`vault source ${this.name}: scratch server ${s.version} on ${s.url}`);
    return {
      to: s.url,
      description: `scratch ${bin} ${s.version} on ${s.url} (dir ${s.dir})`,
      cleanup: async () => {
        await s.stop();
        this.#scratch.delete(s.url);
      },
    };
  }
}

export const vaultType = {
  type: 'vault',
  description: 'HashiCorp Vault or OpenBao on raft storage: raft snapshot streamed and checked to its sealed checksum; restore by snapshot(-force) and unseal',
  keys: vaultKeys,
  pathKeys: ['program:server_bin'],
  create: (name, config, deps) => new VaultSource(name, config, deps),
} satisfies SourceType<VaultConfig>;
