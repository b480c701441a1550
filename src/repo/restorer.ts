/**
 * Restorer: writes a snapshot (or a subtree of it) to a directory, or one file to a stream.
 *
 * Every blob is verified on read (Repository.loadBlob). A file is written to a temporary
 * name beside its target and renamed into place only when all of its bytes were written and
 * verified: a file that cannot be restored whole is never left looking complete. Failures
 * are collected per file and returned; the caller decides the exit code. Metadata (mode,
 * owner when root, times) is applied after content; directory times last.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lchown, link, lutimes, mkdir, open, rename, rm, symlink, utimes, chown } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError, NotFoundError, errorMessage } from '../core/errors.ts';
import { Semaphore } from '../util/semaphore.ts';
import { parseNs } from '../util/time.ts';
import type { Repository } from './repository.ts';
import type { Snapshot } from './snapshot/snapshot.ts';
import { unixPermFromGoMode } from './tree/node.ts';
import type { TreeNode } from './tree/node.ts';
import { TreeStore } from './tree/tree-io.ts';
import { gidOf, uidOf } from './archiver/owners.ts';

export interface RestoreProgress {
  files: number;
  bytes: number;
  totalBytes?: number;
  current?: string;
}

export interface RestoreOptions {
  signal?: AbortSignal;
  /** Restore only this subtree path of the snapshot (e.g. "/srv/app"). */
  include?: string;
  fileConcurrency?: number;
  onProgress?: (p: Readonly<RestoreProgress>) => void;
}

export interface RestoreResult {
  files: number;
  dirs: number;
  bytes: number;
  errors: Array<{ path: string; message: string }>;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function nsToDate(s: string | undefined): Date | undefined {
  if (!s) return undefined;
  const ns = parseNs(s);
  // utimes takes seconds as a float; keep microseconds.
  return new Date(Number(ns / 1000n) / 1000);
}

export class Restorer {
  readonly #repo: Repository;
  readonly #trees: TreeStore;
  readonly #opts: RestoreOptions;
  readonly #files: Semaphore;
  readonly #result: RestoreResult = { files: 0, dirs: 0, bytes: 0, errors: [] };
  readonly #progress: RestoreProgress = { files: 0, bytes: 0 };
  /** (device, inode) → first restored path, to recreate hard links. */
  readonly #hardlinks = new Map<string, Promise<string | undefined>>();

  constructor(repo: Repository, opts: RestoreOptions = {}) {
    this.#repo = repo;
    this.#trees = new TreeStore(repo);
    this.#opts = opts;
    this.#files = new Semaphore(opts.fileConcurrency ?? 4);
  }

  /** Finds the tree node at `subpath` ("/a/b") of a snapshot's tree. */
  async findNode(rootTree: string, subpath: string): Promise<TreeNode> {
    const parts = subpath.split('/').filter(Boolean);
    let node: TreeNode = { name: '', type: 'dir', uid: 0, gid: 0, content: null, subtree: rootTree };
    for (const part of parts) {
      if (node.type !== 'dir' || !node.subtree) throw new NotFoundError(`path ${subpath} not found in snapshot (${part} is not a directory)`);
      const tree = await this.#trees.load(node.subtree);
      const next = tree.nodes.find((n) => n.name === part);
      if (!next) throw new NotFoundError(`path ${subpath} not found in snapshot`, { hint: 'run "lifeboat ls SNAPSHOT" to see its paths' });
      node = next;
    }
    return node;
  }

  async restore(snapshot: Snapshot, target: string): Promise<RestoreResult> {
    await mkdir(target, { recursive: true });
    const start = this.#opts.include ? await this.findNode(snapshot.tree, this.#opts.include) : undefined;
    if (start && start.type !== 'dir') {
      await this.#restoreNode(start, path.join(target, start.name));
    } else {
      await this.#restoreTree(start?.subtree ?? snapshot.tree, target);
    }
    return this.#result;
  }

  #cancelled(): void {
    if (this.#opts.signal?.aborted) throw new CancelledError('restore cancelled');
  }

  async #restoreTree(treeId: string, dir: string): Promise<void> {
    this.#cancelled();
    const tree = await this.#trees.load(treeId);
    const dirs: TreeNode[] = [];
    await Promise.all(
      tree.nodes.map(async (node) => {
        if (node.name === '' || node.name === '.' || node.name === '..' || node.name.includes('/')) {
          this.#result.errors.push({ path: path.join(dir, node.name), message: 'refusing to restore an unsafe name' });
          return;
        }
        if (node.type === 'dir') dirs.push(node);
        else await this.#restoreNode(node, path.join(dir, node.name));
      }),
    );
    for (const node of dirs) {
      const p = path.join(dir, node.name);
      try {
        await mkdir(p, { recursive: true });
        this.#result.dirs++;
        if (node.subtree) await this.#restoreTree(node.subtree, p);
        await this.#applyMeta(node, p);
      } catch (err) {
        if (err instanceof CancelledError) throw err;
        this.#result.errors.push({ path: p, message: errorMessage(err) });
      }
    }
  }

  async #restoreNode(node: TreeNode, p: string): Promise<void> {
    try {
      if (node.type === 'file') await this.#restoreFile(node, p);
      else if (node.type === 'symlink') {
        await rm(p, { force: true });
        await symlink(node.linktarget ?? '', p);
        await this.#applyMeta(node, p);
      } else if (node.type === 'dir') {
        await mkdir(p, { recursive: true });
        if (node.subtree) await this.#restoreTree(node.subtree, p);
        await this.#applyMeta(node, p);
      }
      // Devices, fifos and sockets are not recreated (restic needs root and mknod for them).
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      this.#result.errors.push({ path: p, message: errorMessage(err) });
    }
  }

  async #restoreFile(node: TreeNode, p: string): Promise<void> {
    const hlKey = (node.links ?? 1) > 1 && node.inode ? `${node.device_id ?? 0}:${node.inode}` : undefined;
    let settle: ((p: string | undefined) => void) | undefined;
    if (hlKey) {
      const pending = this.#hardlinks.get(hlKey);
      const first = pending ? await pending : undefined;
      if (first) {
        await rm(p, { force: true });
        await link(first, p);
        this.#result.files++;
        return;
      }
      // This path restores the content; others with the same inode wait and link to it.
      this.#hardlinks.set(hlKey, new Promise((r) => (settle = r)));
    }
    try {
      await this.#writeFile(node, p);
      settle?.(p);
    } catch (err) {
      settle?.(undefined);
      throw err;
    }
    this.#result.files++;
    this.#progress.files++;
  }

  async #writeFile(node: TreeNode, p: string): Promise<void> {
    await this.#files.run(async () => {
      this.#cancelled();
      this.#progress.current = p;
      const tmp = path.join(path.dirname(p), `.${path.basename(p)}.lifeboat-${randomBytes(4).toString('hex')}`);
      const fh = await open(tmp, 'wx', 0o600);
      let ok = false;
      try {
        for (const id of node.content ?? []) {
          this.#cancelled();
          const data = await this.#repo.loadBlob('data', id, { signal: this.#opts.signal });
          await fh.write(data);
          this.#result.bytes += data.length;
          this.#progress.bytes += data.length;
          this.#opts.onProgress?.(this.#progress);
        }
        await fh.close();
        ok = true;
      } finally {
        if (!ok) {
          await fh.close().catch(() => undefined);
          await rm(tmp, { force: true });
        }
      }
      await this.#applyMeta(node, tmp);
      await rename(tmp, p);
    });
  }

  async #applyMeta(node: TreeNode, p: string): Promise<void> {
    if (isRoot) {
      const uid = uidOf(node.user) ?? node.uid;
      const gid = gidOf(node.group) ?? node.gid;
      if (node.type === 'symlink') await lchown(p, uid, gid);
      else await chown(p, uid, gid);
    }
    if (node.type !== 'symlink' && node.mode !== undefined) await chmod(p, unixPermFromGoMode(node.mode));
    const mtime = nsToDate(node.mtime);
    const atime = nsToDate(node.atime) ?? mtime;
    if (mtime && atime) {
      if (node.type === 'symlink') await lutimes(p, atime, mtime);
      else await utimes(p, atime, mtime);
    }
  }

  /** Writes the content of a file node to `out`, blob by blob, each verified. */
  async dump(node: TreeNode, out: NodeJS.WritableStream): Promise<number> {
    if (node.type !== 'file') throw new NotFoundError(`${node.name} is not a file`);
    let n = 0;
    for (const id of node.content ?? []) {
      this.#cancelled();
      const data = await this.#repo.loadBlob('data', id, { signal: this.#opts.signal });
      if (!out.write(data)) await new Promise<void>((r) => out.once('drain', () => r()));
      n += data.length;
    }
    return n;
  }
}
