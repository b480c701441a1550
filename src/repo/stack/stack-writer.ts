/**
 * The writer of a stack snapshot: the bridge between a source (which speaks artifacts) and the
 * repository (which speaks trees and blobs). One snapshot per source run (format in
 * docs/design.md, "Stack snapshots"):
 *
 *   /<source>/<artifact>…      streamed artifacts (dumps), one file each
 *   /<source>/manifest.json    versions, commands, artifacts with size and SHA-256, times, fingerprint
 *   /<original paths>…         for file sources: the file trees, as `restic backup` stores them
 *
 * A snapshot is written only by `commit`, after every artifact was stored: a failed source
 * leaves at most unreferenced blobs (removed by prune), never a snapshot that looks complete.
 */
import path from 'node:path';
import { IntegrityError } from '../../core/errors.ts';
import type { ArtifactInfo, BackupOutcome } from '../../core/source.ts';
import type { CommitMeta, CommitResult, StackSnapshotWriter } from '../../core/snapshot-store.ts';
import { Archiver } from '../archiver/archiver.ts';
import type { Repository } from '../repository.ts';
import { TreeStore } from '../tree/tree-io.ts';
import { VERSION } from '../../version.ts';
import { MANIFEST, encodeManifest } from './manifest.ts';
import { stackTags, toStackSnapshot } from './tags.ts';
import { listSnapshots } from '../snapshot/snapshot.ts';
import { SnapshotReader } from './stack-reader.ts';
import { nowDate } from '../../util/clock.ts';

export class SnapshotWriter implements StackSnapshotWriter {
  readonly #repo: Repository;
  readonly #archiver: Archiver;
  readonly #source: { name: string; type: string };
  readonly #artifacts: Array<ArtifactInfo & { content: string[] }> = [];
  readonly #started = nowDate();
  #filesRoot: string | undefined;
  #files: { paths: string[]; count: number; bytes: number } | undefined;
  readonly #onProgress: ((bytesRead: number, bytesAdded: number) => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  #parent: Promise<SnapshotReader | undefined> | undefined;

  constructor(repo: Repository, source: { name: string; type: string }, signal?: AbortSignal, onProgress?: (bytesRead: number, bytesAdded: number) => void) {
    this.#repo = repo;
    this.#source = source;
    this.#onProgress = onProgress;
    this.#signal = signal;
    this.#archiver = new Archiver(repo, { signal, onProgress: onProgress && ((p) => onProgress(p.bytesRead, p.bytesAdded)) });
  }

  get summary() {
    return this.#archiver.summary;
  }

  async put(name: string, data: AsyncIterable<Uint8Array>): Promise<ArtifactInfo> {
    this.#checkName(name);
    const r = await this.#archiver.saveContent(data, `${this.#source.name}/${name}`);
    const info = { name, size: r.size, sha256: r.sha256 };
    this.#artifacts.push({ ...info, content: r.content });
    return info;
  }

  /**
   * The newest snapshot of this source (same name, same type in its manifest), looked up once.
   * A parent is an optimisation, never required: snapshot files that fail to load are skipped,
   * and a listing that fails means no parent (unless the run was cancelled).
   */
  parent(): Promise<SnapshotReader | undefined> {
    this.#parent ??= (async () => {
      const own = (await listSnapshots(this.#repo, { signal: this.#signal, onError: () => undefined }))
        .filter((s) => toStackSnapshot(s)?.source === this.#source.name)
        .sort((a, b) => b.time.localeCompare(a.time) || (b.id < a.id ? -1 : 1));
      for (const s of own) {
        const r = await SnapshotReader.open(this.#repo, s, this.#source.name, this.#signal).catch(() => undefined);
        if (r?.manifest.source.type === this.#source.type) return r;
      }
      return undefined;
    })().catch((err: unknown) => {
      if (this.#signal?.aborted) throw err;
      return undefined;
    });
    return this.#parent;
  }

  /** Stores `name` as the parent's artifact `from`: the same blobs, which the parent keeps referenced until this snapshot does. */
  async reuse(name: string, from: string): Promise<ArtifactInfo> {
    this.#checkName(name);
    const found = await (await this.parent())?.artifactContent(from);
    if (!found) throw new IntegrityError(`source ${this.#source.name}: the parent snapshot has no artifact ${JSON.stringify(from)} to reuse`);
    for (const id of found.content) {
      if (!this.#repo.index.has('data', id)) throw new IntegrityError(`source ${this.#source.name}: blob ${id.slice(0, 8)} of the parent's ${from} is not in the index`, { hint: 'run `lifeboat check`' });
    }
    const info = { name, size: found.size, sha256: found.sha256 };
    this.#artifacts.push({ ...info, content: found.content });
    return info;
  }

  async putFiles(paths: readonly string[], opts: { exclude?: (absPath: string, isDir: boolean) => boolean; readRoot?: string } = {}): Promise<{ files: number; bytes: number }> {
    const abs = paths.map((p) => path.resolve(p));
    const done = this.summary;
    const onProgress = this.#onProgress;
    const archiver = new Archiver(this.#repo, {
      exclude: opts.exclude,
      // Counted on top of the artifacts already stored, so the source's bytes only grow.
      onProgress: onProgress && ((p) => onProgress(done.bytesRead + p.bytesRead, done.bytesAdded + p.bytesAdded)),
    });
    this.#filesRoot = await archiver.saveTargets(abs, undefined, opts.readRoot);
    const s = archiver.summary;
    this.#archiver.absorb(archiver);
    this.#files = { paths: abs, count: s.totalFiles, bytes: s.totalBytes };
    if (s.errors.length > 0) {
      const first = s.errors[0] as { path: string; message: string };
      throw new IntegrityError(`source ${this.#source.name}: ${s.errors.length} paths could not be read (first: ${first.path}: ${first.message})`);
    }
    return { files: s.totalFiles, bytes: s.totalBytes };
  }

  #checkName(name: string): void {
    if (name === MANIFEST || name.split('/').some((p) => p === '..' || p === '') || name.startsWith('/')) {
      throw new IntegrityError(`source ${this.#source.name}: invalid artifact name ${JSON.stringify(name)}`);
    }
  }

  /** Writes the manifest and the snapshot. Call only after the source's backup resolved. */
  async commit(outcome: BackupOutcome, meta: CommitMeta = {}): Promise<CommitResult> {
    const finished = nowDate();
    const manifestBytes = encodeManifest({
      lifeboat_version: VERSION,
      source: this.#source,
      server_version: outcome.serverVersion,
      commands: [...outcome.commands],
      artifacts: this.#artifacts.map(({ name, size, sha256 }) => ({ name, size, sha256 })),
      files: this.#files,
      started_at: this.#started.toISOString(),
      finished_at: finished.toISOString(),
      duration_ms: finished.getTime() - this.#started.getTime(),
      fingerprint: outcome.fingerprint,
    });
    const m = await this.#archiver.saveContent((async function* () {
      yield manifestBytes;
    })(), MANIFEST);
    const name = this.#source.name;
    const virtualRoot = await this.#archiver.saveVirtualTree(
      [
        ...this.#artifacts.map((a) => ({ path: `${name}/${a.name}`, content: a.content, size: a.size, mtime: finished })),
        { path: `${name}/${MANIFEST}`, content: m.content, size: m.size, mtime: finished },
      ],
      finished,
    );
    let tree = virtualRoot;
    if (this.#filesRoot) {
      // Merge the source's dir node into the file tree's root. Trees are read back from the
      // repository, so the packs holding them must be written and indexed first.
      await this.#repo.flush();
      const trees = new TreeStore(this.#repo);
      const files = await trees.load(this.#filesRoot);
      const virtual = await trees.load(virtualRoot);
      const clash = virtual.nodes.find((n) => files.nodes.some((f) => f.name === n.name));
      if (clash) throw new IntegrityError(`source ${name}: a backed-up path's first component "${clash.name}" clashes with the source name; rename the source`);
      tree = await trees.save({ nodes: [...files.nodes, ...virtual.nodes] });
    }
    const paths = this.#files ? [...this.#files.paths, `/${name}`] : [`/${name}`];
    const snapshotId = await this.#archiver.finish(tree, paths, {
      hostname: meta.hostname,
      tags: stackTags(this.#source, meta),
      time: meta.time ?? finished,
      programVersion: `lifeboat ${VERSION}`,
    });
    return { snapshotId, bytesRead: this.summary.bytesRead, bytesAdded: this.summary.bytesAdded };
  }
}

