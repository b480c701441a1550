/**
 * Stack snapshots: the bridge between sources (which speak artifacts) and the repository
 * (which speaks trees and blobs). One snapshot per source run, tagged `lifeboat` and
 * `source:<name>`, whose tree holds:
 *
 *   /<source>/<artifact>…      streamed artifacts (dumps), one file each
 *   /<source>/manifest.json    versions, commands, artifacts with size and SHA-256, times, fingerprint
 *   /<original paths>…         for file sources: the file trees, as `restic backup` stores them
 *
 * A snapshot is written only by `commit`, after every artifact was stored: a failed source
 * leaves at most unreferenced blobs (removed by prune), never a snapshot that looks complete.
 */
import path from 'node:path';
import { IntegrityError, NotFoundError } from '../core/errors.ts';
import type { ArtifactInfo, ArtifactReader, ArtifactSink, BackupOutcome } from '../core/source.ts';
import { createHash } from 'node:crypto';
import { Archiver } from '../repo/archiver/archiver.ts';
import type { Repository } from '../repo/repository.ts';
import { Restorer } from '../repo/restorer.ts';
import type { Snapshot } from '../repo/snapshot/snapshot.ts';
import type { TreeNode } from '../repo/tree/node.ts';
import { TreeStore } from '../repo/tree/tree-io.ts';
import { VERSION } from '../version.ts';

export const MANIFEST = 'manifest.json';

export interface Manifest {
  lifeboat_version: string;
  source: { name: string; type: string };
  server_version?: string;
  commands: string[];
  artifacts: ArtifactInfo[];
  files?: { paths: string[]; count: number; bytes: number };
  started_at: string;
  finished_at: string;
  duration_ms: number;
  fingerprint: unknown;
}

export interface CommitResult {
  snapshotId: string;
  bytesRead: number;
  bytesAdded: number;
}

export class SnapshotWriter implements ArtifactSink {
  readonly #repo: Repository;
  readonly #archiver: Archiver;
  readonly #source: { name: string; type: string };
  readonly #artifacts: Array<ArtifactInfo & { content: string[] }> = [];
  readonly #started = new Date();
  #filesRoot: string | undefined;
  #files: { paths: string[]; count: number; bytes: number } | undefined;

  constructor(repo: Repository, source: { name: string; type: string }, signal?: AbortSignal) {
    this.#repo = repo;
    this.#source = source;
    this.#archiver = new Archiver(repo, { signal });
  }

  get summary() {
    return this.#archiver.summary;
  }

  async put(name: string, data: AsyncIterable<Uint8Array>): Promise<ArtifactInfo> {
    if (name === MANIFEST || name.split('/').some((p) => p === '..' || p === '') || name.startsWith('/')) {
      throw new IntegrityError(`source ${this.#source.name}: invalid artifact name ${JSON.stringify(name)}`);
    }
    const r = await this.#archiver.saveContent(data, `${this.#source.name}/${name}`);
    const info = { name, size: r.size, sha256: r.sha256 };
    this.#artifacts.push({ ...info, content: r.content });
    return info;
  }

  async putFiles(paths: readonly string[], opts: { exclude?: (absPath: string, isDir: boolean) => boolean } = {}): Promise<{ files: number; bytes: number }> {
    const abs = paths.map((p) => path.resolve(p));
    const archiver = new Archiver(this.#repo, { exclude: opts.exclude });
    this.#filesRoot = await archiver.saveTargets(abs);
    const s = archiver.summary;
    this.#archiver.absorb(archiver);
    this.#files = { paths: abs, count: s.totalFiles, bytes: s.totalBytes };
    if (s.errors.length > 0) {
      const first = s.errors[0] as { path: string; message: string };
      throw new IntegrityError(`source ${this.#source.name}: ${s.errors.length} paths could not be read (first: ${first.path}: ${first.message})`);
    }
    return { files: s.totalFiles, bytes: s.totalBytes };
  }

  /** Writes the manifest and the snapshot. Call only after the source's backup resolved. */
  async commit(outcome: BackupOutcome, meta: { hostname?: string; tags?: string[]; time?: Date } = {}): Promise<CommitResult> {
    const finished = new Date();
    const manifest: Manifest = {
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
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
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
      tags: ['lifeboat', `source:${name}`, `type:${this.#source.type}`, ...(meta.tags ?? [])],
      time: meta.time ?? finished,
      programVersion: `lifeboat ${VERSION}`,
    });
    return { snapshotId, bytesRead: this.summary.bytesRead, bytesAdded: this.summary.bytesAdded };
  }
}

/** Reads a stack snapshot back: manifest, artifacts (verified), file trees. */
export class SnapshotReader implements ArtifactReader {
  readonly #repo: Repository;
  readonly snapshot: Snapshot;
  readonly manifest: Manifest;
  readonly #nodes: Map<string, TreeNode>;
  readonly #signal: AbortSignal | undefined;

  private constructor(repo: Repository, snapshot: Snapshot, manifest: Manifest, nodes: Map<string, TreeNode>, signal?: AbortSignal) {
    this.#repo = repo;
    this.snapshot = snapshot;
    this.manifest = manifest;
    this.#nodes = nodes;
    this.#signal = signal;
  }

  static async open(repo: Repository, snapshot: Snapshot, sourceName: string, signal?: AbortSignal): Promise<SnapshotReader> {
    const trees = new TreeStore(repo);
    const root = await trees.load(snapshot.tree, { signal });
    const dir = root.nodes.find((n) => n.name === sourceName && n.type === 'dir');
    if (!dir?.subtree) throw new NotFoundError(`snapshot ${snapshot.id.slice(0, 8)} has no /${sourceName} directory (not a lifeboat stack snapshot of source ${sourceName})`);
    const nodes = new Map((await trees.load(dir.subtree, { signal })).nodes.map((n) => [n.name, n]));
    const mNode = nodes.get(MANIFEST);
    if (!mNode) throw new IntegrityError(`snapshot ${snapshot.id.slice(0, 8)}: /${sourceName}/${MANIFEST} is missing`);
    const parts: Buffer[] = [];
    for (const id of mNode.content ?? []) parts.push(await repo.loadBlob('data', id, { signal }));
    let manifest: Manifest;
    try {
      manifest = JSON.parse(Buffer.concat(parts).toString('utf8')) as Manifest;
    } catch (err) {
      throw new IntegrityError(`snapshot ${snapshot.id.slice(0, 8)}: ${MANIFEST} is not valid JSON`, { cause: err });
    }
    return new SnapshotReader(repo, snapshot, manifest, nodes, signal);
  }

  list(): readonly ArtifactInfo[] {
    return this.manifest.artifacts;
  }

  /** The file node of an artifact; a name with "/" (data/small/x.bin) was written as subdirectories. */
  async #node(name: string): Promise<TreeNode | undefined> {
    const parts = name.split('/');
    let nodes = this.#nodes;
    for (const dir of parts.slice(0, -1)) {
      const n = nodes.get(dir);
      if (n?.type !== 'dir' || !n.subtree) return undefined;
      nodes = new Map((await new TreeStore(this.#repo).load(n.subtree, { signal: this.#signal })).nodes.map((c) => [c.name, c]));
    }
    return nodes.get(parts.at(-1) ?? '');
  }

  /** Streams an artifact; the whole stream's SHA-256 is checked against the manifest at the end. */
  async *open(name: string): AsyncGenerator<Buffer> {
    const info = this.manifest.artifacts.find((a) => a.name === name);
    const node = await this.#node(name);
    if (!info || !node) throw new NotFoundError(`artifact ${name} is not in snapshot ${this.snapshot.id.slice(0, 8)}`);
    const hash = createHash('sha256');
    let size = 0;
    for (const id of node.content ?? []) {
      const b = await this.#repo.loadBlob('data', id, { signal: this.#signal });
      hash.update(b);
      size += b.length;
      yield b;
    }
    const sha = hash.digest('hex');
    if (size !== info.size || sha !== info.sha256) {
      throw new IntegrityError(`artifact ${name} of snapshot ${this.snapshot.id.slice(0, 8)} does not match its manifest (size ${size}/${info.size}, sha256 ${sha.slice(0, 12)}…/${info.sha256.slice(0, 12)}…)`);
    }
  }

  async restoreFiles(targetDir: string): Promise<{ files: number; bytes: number }> {
    const paths = this.manifest.files?.paths ?? [];
    if (paths.length === 0) throw new NotFoundError(`snapshot ${this.snapshot.id.slice(0, 8)} holds no file tree`);
    let files = 0;
    let bytes = 0;
    for (const p of paths) {
      // The manifest comes from the repository: a path that is not absolute and plain could
      // lead the destination out of targetDir (the tree walk refuses such names as well).
      if (!path.isAbsolute(p) || path.posix.normalize(p) !== p || p.split('/').some((part) => part === '..' || part === '.')) {
        throw new IntegrityError(`snapshot ${this.snapshot.id.slice(0, 8)}: its manifest names an unsafe path ${JSON.stringify(p)}`, { hint: 'the repository is damaged or hostile: run "lifeboat check"' });
      }
      const restorer = new Restorer(this.#repo, { include: p, signal: this.#signal });
      // Restorer puts a directory's contents into its target, and a file into target/<name>.
      const node = await restorer.findNode(this.snapshot.tree, p);
      const dest = path.join(targetDir, node.type === 'dir' ? p : path.dirname(p));
      const r = await restorer.restore(this.snapshot, dest);
      if (r.errors.length > 0) {
        const first = r.errors[0] as { path: string; message: string };
        throw new IntegrityError(`restoring ${p}: ${r.errors.length} files failed (first: ${first.path}: ${first.message})`);
      }
      files += r.files;
      bytes += r.bytes;
    }
    return { files, bytes };
  }
}
