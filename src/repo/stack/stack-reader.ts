/**
 * The reader of a stack snapshot (docs/design.md, "Stack snapshots"): its manifest, its
 * artifacts (size and SHA-256 checked against the manifest as they are read) and the file trees
 * of a files source.
 */
import path from 'node:path';
import { IntegrityError, NotFoundError } from '../../core/errors.ts';
import type { ArtifactInfo } from '../../core/source.ts';
import type { StackManifest, StackSnapshotReader } from '../../core/snapshot-store.ts';
import type { Repository } from '../repository.ts';
import { Restorer } from '../restorer.ts';
import type { Snapshot } from '../snapshot/snapshot.ts';
import type { TreeNode } from '../tree/node.ts';
import { TreeStore } from '../tree/tree-io.ts';
import { contentDigest, readContent } from '../content-reader.ts';
import { MANIFEST, parseManifest } from './manifest.ts';

/** Reads a stack snapshot back: manifest, artifacts (verified), file trees. */
export class SnapshotReader implements StackSnapshotReader {
  readonly #repo: Repository;
  readonly snapshot: Snapshot;
  readonly manifest: StackManifest;
  readonly #nodes: Map<string, TreeNode>;
  readonly #signal: AbortSignal | undefined;

  private constructor(repo: Repository, snapshot: Snapshot, manifest: StackManifest, nodes: Map<string, TreeNode>, signal?: AbortSignal) {
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
    const manifest = parseManifest(Buffer.concat(parts), `snapshot ${snapshot.id.slice(0, 8)}`);
    return new SnapshotReader(repo, snapshot, manifest, nodes, signal);
  }

  list(): readonly ArtifactInfo[] {
    return this.manifest.artifacts;
  }

  /** An artifact's size, SHA-256 and blob ids, for a writer that reuses it (SnapshotWriter.reuse). */
  async artifactContent(name: string): Promise<(ArtifactInfo & { content: string[] }) | undefined> {
    const info = this.manifest.artifacts.find((a) => a.name === name);
    const node = info && (await this.#node(name));
    if (!info || node?.type !== 'file') return undefined;
    return { ...info, content: [...(node.content ?? [])] };
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

  /**
   * Streams an artifact; the whole stream's SHA-256 is checked against the manifest at the end.
   * The hash runs on a codec thread (contentDigest): on this thread it cost as much as the
   * rest of the restore's own work (docs/performance.md, "Stack restore against dump").
   */
  async *open(name: string): AsyncGenerator<Buffer> {
    const info = this.manifest.artifacts.find((a) => a.name === name);
    const node = await this.#node(name);
    if (!info || !node) throw new NotFoundError(`artifact ${name} is not in snapshot ${this.snapshot.id.slice(0, 8)}`);
    const hash = contentDigest(info.size);
    let size = 0;
    let sha: string;
    try {
      for await (const b of readContent(this.#repo, node.content ?? [], { signal: this.#signal })) {
        await hash.update(b);
        size += b.length;
        yield b;
      }
      sha = await hash.digest();
    } finally {
      hash.close();
    }
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
