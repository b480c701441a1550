/**
 * The `victoriametrics` source: a single-node VictoriaMetrics server.
 *
 * Backup asks the server for a snapshot (/snapshot/create, its answer read to the end: a client
 * that hangs up makes the server delete the snapshot), then stores each file of
 * <data_dir>/snapshots/<name>/ as an artifact under its path relative to the snapshot, reading
 * *through* the snapshot's symlinks (data/small, data/big, indexdb point into the data dirs;
 * storing the links would back up nothing), and deletes the snapshot whatever happened. The
 * files are immutable hard links, so they are read while the server runs.
 *
 * Restore is VictoriaMetrics' documented one: stop the server, replace -storageDataPath, start
 * it. The new tree is written beside data_dir first and swapped in by rename, so a failed write
 * leaves the old data in place. stop_command / start_command do the stopping; without them a
 * server that still answers is refused.
 *
 * With a runner whose commands run elsewhere (a container, an ssh host), URLs and paths are
 * as seen there: requests go through tunnels (tunnel-fetch.ts) and the file steps are
 * commands there (remote-files.ts).
 *
 * The fingerprint counts series and samples with timestamps up to the end of the backed-up range
 * (the backup time minus a minute, past VictoriaMetrics' ingestion latency offset); that end is
 * kept in range.json beside the files, so a restored copy is counted over the same range.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, LifeboatError, SourceError, errorMessage } from '../../core/errors.ts';
import type {
  ArtifactReader, ArtifactSink, BackupOutcome, Fingerprint, RestoreOptions, ScratchTarget, Source, SourceContext, VerifyResult,
} from '../../core/source.ts';
import { collect, succeeded } from '../process-kit.ts';
import { readAll, sourceTimeouts } from '../source-kit.ts';
import type { SourceDeps, SourceType } from '../source-kit.ts';
import { VmClient } from './victoriametrics-client.ts';
import { RemoteFiles } from '../remote-files.ts';
import { START_TIMEOUT_MS, startScratchServer } from './victoriametrics-scratch.ts';
import { openTunnelListener } from '../net-tunnel.ts';
import { TunnelFetchers } from '../tunnel-fetch.ts';
import { victoriametricsKeys, type VictoriametricsConfig } from './victoriametrics-config.ts';
import { nowMs } from '../../util/clock.ts';

export const RANGE_ARTIFACT = 'range.json';
/** Past -search.latencyOffset (30 s by default), so the newest samples count the same before and after. */
const RANGE_LAG_S = 60;

/** Files below `dir`, following symlinks, as paths relative to it, sorted. */
async function walk(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(dir, rel))).sort()) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = await stat(path.join(dir, r)); // stat, not lstat: through the snapshot's symlinks
    if (st.isDirectory()) out.push(...await walk(dir, r));
    else if (st.isFile()) out.push(r);
  }
  return out;
}

export async function fingerprintVm(client: VmClient, rangeEnd: number): Promise<Fingerprint> {
  const days = Math.floor(rangeEnd / 86_400) - 1; // the whole history up to rangeEnd
  const sel = `count_over_time({__name__!=""}[${days}d])`;
  return {
    range_end: new Date(rangeEnd * 1000).toISOString(),
    series: await client.scalar(`count(${sel})`, rangeEnd),
    samples: await client.scalar(`sum(${sel})`, rangeEnd),
    series_by_metric: await client.vectorBy(`count by (__name__) (${sel})`, '__name__', rangeEnd),
  };
}

interface Scratch {
  readonly dir: string;
  server?: { url: string; stop(): Promise<void> };
}

export class VictoriametricsSource implements Source {
  readonly name: string;
  readonly type = 'victoriametrics';
  readonly #config: VictoriametricsConfig;
  readonly #deps: SourceDeps;
  /** The range end of the last backup, or of what was restored into a target ('' = the live server). */
  readonly #rangeEnds = new Map<string, number>();
  readonly #scratch = new Map<string, Scratch>();
  /**
   * Set when the runner's commands run elsewhere (an ssh host: it stages files): URLs and paths
   * are then as seen there; requests go through tunnels, file steps through commands there
   * (remote-files.ts).
   */
  readonly #tunnels: TunnelFetchers | undefined;

  constructor(name: string, config: VictoriametricsConfig, deps: SourceDeps) {
    this.name = name;
    this.#config = config;
    this.#deps = deps;
    if (deps.runner.stageFile !== undefined) {
      const where = deps.runner.container?.description ?? 'the server\'s host';
      this.#tunnels = new TunnelFetchers((host, port) => openTunnelListener(deps.runner, host, port, deps.tmpDir, where));
    }
  }

  #using<T>(run: () => Promise<T>): Promise<T> {
    return this.#tunnels === undefined ? run() : this.#tunnels.using(run);
  }

  #remote(ctx: SourceContext): RemoteFiles | undefined {
    return this.#tunnels === undefined ? undefined : new RemoteFiles(this.#deps.runner, this.#what, ctx.signal);
  }

  get #what(): string {
    return `victoriametrics source ${this.name}`;
  }

  async #client(ctx: SourceContext, url = this.#config.url): Promise<VmClient> {
    const authKey = this.#config.auth_key === undefined ? undefined : await this.#deps.secrets(this.#config.auth_key, `auth_key of victoriametrics source ${this.name}`);
    const fetch = await this.#tunnels?.fetchFor(url);
    return new VmClient({ what: `${this.#what} (${new URL(url).host})`, url, authKey, timeoutMs: sourceTimeouts(this.#config).idleMs, signal: ctx.signal, ...(fetch ? { fetch } : {}) });
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
    if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: backup cancelled`);
    const client = await this.#client(ctx);
    const rangeEnd = Math.floor(nowMs() / 1000) - RANGE_LAG_S;
    const fingerprint = await fingerprintVm(client, rangeEnd);
    const snapshot = await client.createSnapshot();
    const dir = path.join(this.#config.data_dir, 'snapshots', snapshot);
    const remote = this.#remote(ctx);
    let files = 0;
    let bytes = 0;
    try {
      const names = await (remote ? remote.walk(dir) : walk(dir)).catch((err: unknown) => {
        throw new SourceError(`${this.#what}: cannot read snapshot ${snapshot} in ${dir}: ${errorMessage(err)}`, { cause: err, hint: 'data_dir must be the server\'s -storageDataPath as this host sees it' });
      });
      // A snapshot without part files means the symlinks lead nowhere: data_dir is not the server's.
      if (!names.some((n) => n.startsWith('data/') || n.startsWith('indexdb/'))) {
        throw new SourceError(`${this.#what}: snapshot ${snapshot} in ${dir} holds no data files`, { hint: 'data_dir must be the server\'s -storageDataPath as this host sees it' });
      }
      for (const name of names) {
        if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: backup cancelled`);
        const info = await sink.put(name, remote ? remote.read(path.join(dir, name)) : createReadStream(await realpath(path.join(dir, name))));
        files++;
        bytes += info.size;
      }
      await sink.put(RANGE_ARTIFACT, (async function* () {
        yield Buffer.from(`${JSON.stringify({ range_end: rangeEnd, snapshot })}\n`);
      })());
    } catch (err) {
      if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: backup cancelled`, { cause: err });
      if (err instanceof LifeboatError) throw err;
      throw new SourceError(`${this.#what}: storing snapshot ${snapshot} failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      await client.deleteSnapshot(snapshot).catch((err: unknown) => ctx.log.warn(`${this.#what}: could not delete snapshot ${snapshot} (${errorMessage(err)}); delete it with /snapshot/delete, it keeps old parts on disk`));
    }
    this.#rangeEnds.set('', rangeEnd);
    ctx.log.info(`${this.#what}: snapshot ${snapshot}, ${files} files, ${bytes} bytes`);
    return { fingerprint, commands: [`/snapshot/create → ${snapshot}; ${files} files read through its symlinks; /snapshot/delete`] };
  }

  async #run(command: string, label: string, ctx: SourceContext): Promise<void> {
    const r = await collect(this.#deps.runner, { command: 'bash', args: ['-o', 'pipefail', '-c', command], signal: ctx.signal });
    if (!succeeded(r)) throw new SourceError(`${this.#what}: ${label} failed (${r.signal ?? `exit ${r.code}`}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  }

  async #waitUp(client: VmClient, up: boolean, ctx: SourceContext): Promise<void> {
    const deadline = nowMs() + START_TIMEOUT_MS;
    while ((await client.isUp()) !== up) {
      if (ctx.signal.aborted) throw new CancelledError(`${this.#what}: restore cancelled`);
      if (nowMs() > deadline) throw new SourceError(`${this.#what}: the server is ${up ? 'not up' : 'still up'} ${START_TIMEOUT_MS / 1000} s after ${up ? 'start_command' : 'stop_command'}`);
      await sleep(200);
    }
  }

  async #restore(reader: ArtifactReader, ctx: SourceContext, opts: RestoreOptions): Promise<void> {
    const range = reader.list().find((a) => a.name === RANGE_ARTIFACT);
    if (range === undefined) throw new SourceError(`${this.#what}: the snapshot has no ${RANGE_ARTIFACT}`, { hint: 'pick a snapshot made by a victoriametrics source' });
    const rangeEnd = (JSON.parse((await readAll(reader.open(RANGE_ARTIFACT))).toString('utf8')) as { range_end: number }).range_end;
    const live = opts.to === undefined;
    const dir = path.resolve(opts.to ?? this.#config.data_dir);
    const client = await this.#client(ctx);
    if (live) {
      if (this.#config.stop_command !== undefined) {
        await this.#run(this.#config.stop_command, 'stop_command', ctx);
        await this.#waitUp(client, false, ctx);
      } else if (await client.isUp()) {
        throw new SourceError(`${this.#what}: the server at ${new URL(this.#config.url).host} is running; VictoriaMetrics must be stopped while its data dir is replaced`, {
          hint: 'set stop_command and start_command, or stop it in a restore.hooks.before hook',
        });
      }
    }
    try {
      const remote = this.#remote(ctx);
      await (remote ? this.#replaceRemote(reader, dir, remote) : this.#replace(reader, dir, ctx));
    } finally {
      // Started again also after a failure: the old data is then still in place.
      if (live && this.#config.start_command !== undefined) {
        await this.#run(this.#config.start_command, 'start_command', ctx);
        await this.#waitUp(client, true, ctx);
      }
    }
    this.#rangeEnds.set(live ? '' : dir, rangeEnd);
    ctx.log.info(`${this.#what}: ${reader.list().length - 1} files restored into ${dir}`);
  }

  /** Writes the snapshot's files into a staging dir beside `dir`, then swaps it in by rename. */
  async #replace(reader: ArtifactReader, dir: string, ctx: SourceContext): Promise<void> {
    await mkdir(path.dirname(dir), { recursive: true });
    const staging = await mkdtemp(path.join(path.dirname(dir), `.${path.basename(dir)}.lifeboat-restore-`));
    try {
      for (const a of reader.list()) {
        if (a.name === RANGE_ARTIFACT) continue;
        const file = path.join(staging, a.name);
        await mkdir(path.dirname(file), { recursive: true });
        await pipeline(reader.open(a.name), createWriteStream(file, { flags: 'wx' }), { signal: ctx.signal });
      }
      const old = `${staging}.old`;
      const had = await stat(dir).then(() => true, () => false);
      if (had) await rename(dir, old);
      await rename(staging, dir);
      if (had) await rm(old, { recursive: true, force: true });
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      if (err instanceof LifeboatError) throw err;
      throw new SourceError(`${this.#what}: writing the restored data into ${dir} failed, the old data is still in place: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** #replace where the server runs: staging dir beside `dir` there, swapped in by mv. */
  async #replaceRemote(reader: ArtifactReader, dir: string, remote: RemoteFiles): Promise<void> {
    const staging = await remote.mkdtemp(path.dirname(dir), `.${path.basename(dir)}.lifeboat-restore-`);
    try {
      for (const a of reader.list()) {
        if (a.name !== RANGE_ARTIFACT) await remote.write(path.join(staging, a.name), reader.open(a.name));
      }
      await remote.swap(staging, dir);
    } catch (err) {
      await remote.remove(staging).catch(() => undefined); // the write's error is the one to report
      throw new SourceError(`${this.#what}: writing the restored data into ${dir} failed, the old data is still in place: ${errorMessage(err)}`, { cause: err });
    }
  }

  async #fingerprint(ctx: SourceContext, opts: RestoreOptions): Promise<Fingerprint> {
    const key = opts.to === undefined ? '' : path.resolve(opts.to);
    const rangeEnd = this.#rangeEnds.get(key) ?? Math.floor(nowMs() / 1000) - RANGE_LAG_S;
    let url = this.#config.url;
    if (opts.to !== undefined) {
      const s = this.#scratch.get(key);
      if (s === undefined) throw new SourceError(`${this.#what}: no server serves ${opts.to} to fingerprint it`, { hint: 'start VictoriaMetrics on that directory and fingerprint through its url' });
      s.server ??= await startScratchServer(this.#config.server_bin ?? 'victoria-metrics', key, this.#deps, ctx, this.#tunnels);
      url = s.server.url;
    }
    return fingerprintVm(await this.#client(ctx, url), rangeEnd);
  }

  /** Checks the snapshot has data and index parts and the range file. */
  async verify(reader: ArtifactReader): Promise<VerifyResult> {
    const names = reader.list().map((a) => a.name);
    const problems: string[] = [];
    if (!names.includes(RANGE_ARTIFACT)) problems.push(`${RANGE_ARTIFACT}: missing (a victoriametrics backup stores one)`);
    if (!names.some((n) => n.startsWith('indexdb/'))) problems.push('indexdb/: no index files (the snapshot\'s symlinks were stored, not followed?)');
    if (!names.some((n) => n.startsWith('data/'))) problems.push('data/: no data files');
    return { checks: problems.length === 0 ? [`${names.length - 1} files: data/ and indexdb/ parts present`] : [], problems };
  }

  /** An empty directory; the restore fills it and fingerprint() starts a throwaway server on it. */
  async scratchTarget(_reader: ArtifactReader, _ctx: SourceContext): Promise<ScratchTarget> {
    // Where the server runs: its cleanup is not cancelled with the drill.
    const remote = this.#tunnels === undefined ? undefined : new RemoteFiles(this.#deps.runner, this.#what, new AbortController().signal);
    if (remote === undefined) await mkdir(this.#deps.tmpDir, { recursive: true });
    const base = remote ? await remote.mkdtemp('/tmp', 'lifeboat-vm-drill.') : await mkdtemp(path.join(this.#deps.tmpDir, 'vm-drill-'));
    const dir = path.join(base, 'data');
    const s: Scratch = { dir };
    this.#scratch.set(dir, s);
    return {
      to: dir,
      description: `scratch ${this.#config.server_bin ?? 'victoria-metrics'} on ${dir}`,
      cleanup: async () => {
        await s.server?.stop();
        this.#scratch.delete(dir);
        await (remote ? remote.remove(base) : rm(base, { recursive: true, force: true }));
      },
    };
  }
}


export const victoriametricsType = {
  type: 'victoriametrics',
  description: 'VictoriaMetrics single node: /snapshot/create, its files read through the symlinks; restore by stop, replace data dir, start',
  keys: victoriametricsKeys,
  pathKeys: ['data_dir', 'program:server_bin'],
  create: (name, config, deps): Source => new VictoriametricsSource(name, config, deps),
} satisfies SourceType<VictoriametricsConfig>;
