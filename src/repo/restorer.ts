/**
 * Restorer: writes a snapshot (or a subtree of it) to a directory, or one file to a stream.
 *
 * Every blob is verified on read (decrypted, decompressed and hashed on the codec threads).
 * A file is written only from verified blobs, and a file that cannot be restored whole is
 * never left looking complete: a file of one blob (decoded and verified before it is opened)
 * is written under its own name and removed again if writing fails; a file of several blobs,
 * or one that replaces something in the target, is written to a temporary name beside its
 * target and renamed into place once complete. Failures are collected per file and returned;
 * the caller decides the exit code. Metadata (owner when root, mode, times) is applied before
 * a file takes its name; directory metadata last, deepest first.
 *
 * Nothing outside the target is ever created, followed or changed (docs/design.md, "Restore
 * guarantees"): trees with repeated, unsorted or unsafe names do not load (decodeTree);
 * directories are made one level at a time, and live content that is not a directory where
 * the snapshot has one is replaced, never followed; files are created O_EXCL|O_NOFOLLOW and
 * their metadata set on the descriptor; symlinks are renamed into place and never followed;
 * directory metadata is set through an O_NOFOLLOW|O_DIRECTORY descriptor. Times are exact to
 * the nanosecond where file-times.ts can call utimensat.
 *
 * How the work is laid out (restic's restorer reads packs, not blobs, and so do we):
 * - The tree is walked depth first; directories and symlinks are made on the way and the
 *   files are collected, a batch of FILE_BATCH at a time (memory stays bounded).
 * - Files of one blob (most files: everything below the chunker's 512 KiB minimum) are
 *   grouped by the pack their blob sits in. Neighbouring blobs of a pack are read with one
 *   ranged load (up to SEGMENT_BYTES, skipping gaps up to SEGMENT_GAP), decoded as one batch
 *   by the codec threads, and each file is then written with a handful of synchronous calls
 *   (open, write, futimes, close; chown and chmod only when they change something).
 * - Files of several blobs are streamed blob by blob on a lane of their own, as soon as the
 *   walk finds them and beside the batches of small files, with READ_AHEAD blobs being
 *   loaded and decoded while the previous ones are written.
 * - A blob that fails from its first pack is loaded again through Repository.loadBlob, which
 *   tries every copy the index knows and names what is wrong when none reads.
 */
import { release } from '../util/memory.ts';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, closeSync, constants as fsConstants, fchmodSync, fchownSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { lchown, open, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError, NotFoundError, errorMessage } from '../core/errors.ts';
import { Semaphore, mapLimit } from '../util/semaphore.ts';
import { parseNs } from '../util/time.ts';
import { setLinkTimes, setTimesFd } from './file-times.ts';
import type { BlobLocation } from './index/master-index.ts';
import type { Repository } from './repository.ts';
import { READ_AHEAD, readContent } from './content-reader.ts';
import type { Snapshot } from './snapshot/snapshot.ts';
import { unixPermFromGoMode, unsafeName } from './tree/node.ts';
import { fsPath, nameFromBytes } from './tree/raw-names.ts';
import type { TreeNode } from './tree/node.ts';
import { TreeStore } from './tree/tree-io.ts';
import { isSpecialFile, makeSpecialFile } from './special-files.ts';
import { writeXattrsSync } from './archiver/xattrs.ts';

export interface RestoreProgress {
  files: number;
  bytes: number;
  totalBytes?: number;
  current?: string;
}

export interface RestoreOptions {
  signal?: AbortSignal;
  /** Restore only this subtree path of the snapshot (e.g. "/srv/app"), into the target itself. */
  include?: string;
  /**
   * restic's `restore --include/--exclude`: which nodes to restore, by their path in the
   * snapshot ("/srv/app/x"); `descend`: whether a directory's children may be selected.
   * Directories on the way to a selected node are made without their metadata, as restic.
   */
  select?: (snapshotPath: string, node: TreeNode) => { selected: boolean; descend: boolean };
  /**
   * restic's `--overwrite` for a file that already exists in the target: always (default),
   * if-changed (size or mtime differ), if-newer (the snapshot's mtime is later), never.
   */
  overwrite?: 'always' | 'if-changed' | 'if-newer' | 'never';
  /** restic's `--delete`: remove what a restored directory holds that the snapshot does not. */
  delete?: boolean;
  /** Files of several blobs streamed at once (default 2). */
  fileConcurrency?: number;
  onProgress?: (p: Readonly<RestoreProgress>) => void;
}

export interface RestoreResult {
  files: number;
  /** Files left as they were (--overwrite). */
  skipped: number;
  /** Entries removed from the target (--delete). */
  deleted: number;
  dirs: number;
  bytes: number;
  errors: Array<{ path: string; message: string }>;
}

/** Files collected before their content is restored. */
const FILE_BATCH = 8192;
/** Largest ranged read of a pack for single-blob files. */
const SEGMENT_BYTES = 2 * 1024 * 1024;
/** Bytes of unneeded blobs a ranged read may skip over rather than start a new read. */
const SEGMENT_GAP = 64 * 1024;
/** Ranged reads being loaded or decoded at once. */
const SEGMENT_CONCURRENCY = 4;
/** Files of several blobs queued for the streaming lane before the walk waits for it. */
const STREAM_QUEUE = 64;

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
/** The group a new file gets in a directory without the setgid bit. */
const EGID = process.getegid?.() ?? 0;
/** The process umask, read once: a mode it does not narrow needs no chmod after open. */
const UMASK = process.umask();

/** A node's access and modification times in nanoseconds, if it has any. */
function timesOf(node: TreeNode): { atime: bigint; mtime: bigint } | undefined {
  if (!node.mtime) return undefined;
  const mtime = parseNs(node.mtime);
  return { atime: node.atime ? parseNs(node.atime) : mtime, mtime };
}

/**
 * How the restore opens what it writes: a new file is created, never opened through a name
 * that exists (O_EXCL), and nothing is opened through a symlink (O_NOFOLLOW); a directory's
 * metadata is set on a descriptor of the directory itself, never through a path that a link
 * could redirect.
 */
const NEW_FILE = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
const DIR_META = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW;

/** A path that names an open descriptor's own file (for the path-only xattr calls), on Linux. */
const fdPath = (fd: number, p: string): string => (process.platform === 'linux' ? `/proc/self/fd/${fd}` : p);

/** `name` inside `dir`: both come from a walk that refused unsafe names (no path.join needed). */
/**
 * The numeric owner, as restic (0.14 to 0.18) restores it: names are recorded for people
 * reading a listing; a uid that means another user on this host still gets the uid.
 */
function ownerOf(node: TreeNode): { uid: number; gid: number } {
  return { uid: node.uid, gid: node.gid };
}

function childPath(dir: string, name: string): string {
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** Temporary names: a random tag per process and a counter (opened with O_EXCL all the same). */
const TMP_TAG = randomBytes(4).toString('hex');
let tmpSeq = 0;

function tmpName(p: string): string {
  return path.join(path.dirname(p), `.${path.basename(p)}.lifeboat-${TMP_TAG}${(tmpSeq++).toString(36)}`);
}

interface FileJob {
  readonly node: TreeNode;
  readonly path: string;
  /** The directory it is in. */
  readonly dir: string;
  /** Set when this file's inode has other names in the snapshot (hard links). */
  readonly hlKey?: string;
}

export class Restorer {
  readonly #repo: Repository;
  readonly #trees: TreeStore;
  readonly #opts: RestoreOptions;
  readonly #result: RestoreResult = { files: 0, skipped: 0, deleted: 0, dirs: 0, bytes: 0, errors: [] };
  readonly #progress: RestoreProgress = { files: 0, bytes: 0 };
  /** (device, inode) → path that holds the content: a string once written, null if that failed. */
  readonly #hardlinks = new Map<string, string | null | undefined>();
  #batch: FileJob[] = [];
  /** Other names of hard-linked inodes, linked once the first name is written. */
  #links: FileJob[] = [];
  /**
   * Files of several blobs, written by a lane of their own while the walk goes on: their work
   * is mostly the codec's, a batch of small files' mostly this thread's, and running both at
   * once keeps both cores busy (the walk finds them in any order).
   */
  readonly #streams: Semaphore;
  readonly #streaming = new Set<Promise<void>>();
  /** Directories made (or found), in walk order, for their metadata at the end. */
  readonly #dirs: Array<{ node: TreeNode; path: string }> = [];
  /**
   * Directories where a new file gets the process's own group (made by this restore under a
   * parent without the setgid bit): there, root needs no chown for files owned by root.
   */
  readonly #plainDirs = new Set<string>();
  /** Symlinks this restore made: never followed, never replaced by a directory (see #makeDir). */
  readonly #madeLinks = new Set<string>();

  constructor(repo: Repository, opts: RestoreOptions = {}) {
    this.#repo = repo;
    this.#trees = new TreeStore(repo);
    this.#opts = opts;
    this.#streams = new Semaphore(opts.fileConcurrency ?? 2);
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
    mkdirSync(target, { recursive: true });
    if ((statSync(target).mode & 0o2000) === 0) this.#plainDirs.add(path.resolve(target));
    const start = this.#opts.include ? await this.findNode(snapshot.tree, this.#opts.include) : undefined;
    if (start && start.type !== 'dir') {
      await this.#restoreNode(start, path.join(path.resolve(target), start.name));
    } else {
      await this.#walk(start?.subtree ?? snapshot.tree, path.resolve(target));
      if (this.#opts.delete) this.#deleteExtra(path.resolve(target), new Set((await this.#trees.load(start?.subtree ?? snapshot.tree)).nodes.map((n) => n.name)));
    }
    await this.#drain();
    // Children before parents: writing into a directory changes its mtime.
    for (let i = this.#dirs.length - 1; i >= 0; i--) {
      const { node, path: p } = this.#dirs[i] as { node: TreeNode; path: string };
      try {
        this.#applyDirMeta(node, p);
      } catch (err) {
        this.#result.errors.push({ path: p, message: errorMessage(err) });
      }
    }
    return this.#result;
  }

  #cancelled(): void {
    if (this.#opts.signal?.aborted) throw new CancelledError('restore cancelled');
  }

  #report(current?: string): void {
    this.#progress.current = current;
    this.#opts.onProgress?.(this.#progress);
  }

  /**
   * Walks a tree: makes directories and symlinks, queues files. `snapDir` is the tree's path
   * in the snapshot (for `select`); `ensureDir`, when given, makes `dir` (and the directories
   * above it) once something in it is restored.
   */
  async #walk(treeId: string, dir: string, snapDir = '/', ensureDir?: () => void): Promise<void> {
    this.#cancelled();
    const tree = await this.#trees.load(treeId);
    const select = this.#opts.select;
    for (const node of tree.nodes) {
      // TreeStore refuses trees with such names (decodeTree); this guards the paths all the same.
      if (unsafeName(node.name) !== undefined) {
        this.#result.errors.push({ path: childPath(dir, node.name), message: 'refusing to restore an unsafe name' });
        continue;
      }
      const p = childPath(dir, node.name);
      const snapPath = childPath(snapDir, node.name);
      try {
        const choice = select?.(snapPath, node) ?? { selected: true, descend: true };
        if (!choice.selected && !(choice.descend && node.type === 'dir')) continue;
        if (node.type === 'dir' && !choice.selected) {
          let made = false;
          const ensure = (): void => {
            if (made) return;
            ensureDir?.();
            if (this.#makeDir(p) && this.#plainDirs.has(dir)) this.#plainDirs.add(p);
            made = true;
          };
          if (node.subtree) await this.#walk(node.subtree, p, snapPath, ensure);
          continue;
        }
        ensureDir?.();
        if (node.type === 'dir') {
          const made = this.#makeDir(p);
          if (made && this.#plainDirs.has(dir)) this.#plainDirs.add(p);
          this.#result.dirs++;
          this.#dirs.push({ node, path: p });
          if (node.subtree && choice.descend) await this.#walk(node.subtree, p, snapPath);
          if (this.#opts.delete && !made && node.subtree) this.#deleteExtra(p, new Set((await this.#trees.load(node.subtree)).nodes.map((n) => n.name)));
        } else if (node.type === 'file') {
          await this.#queueFile(node, p, dir);
        } else {
          await this.#restoreNode(node, p);
        }
      } catch (err) {
        if (err instanceof CancelledError) throw err;
        this.#result.errors.push({ path: p, message: errorMessage(err) });
      }
    }
  }

  /**
   * Makes the directory `p`, or finds one there; returns whether it made it. `dir` is already a
   * directory, so `p` is checked without following it: live content that is not a directory
   * (a symlink above all, or a file) is what the snapshot replaces, so it is removed (the link
   * itself, never what it points to) and the directory made in its place. Trees have unique
   * names, so a restore never meets here a link it made itself; if it did, it refuses.
   */
  #makeDir(p: string): boolean {
    const fp = fsPath(p);
    try {
      mkdirSync(fp);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (lstatSync(fp).isDirectory()) return false;
    if (this.#madeLinks.has(p)) throw new Error('refusing to restore a directory where this restore made a symlink');
    unlinkSync(fp);
    mkdirSync(fp);
    return true;
  }

  /** Whether --overwrite leaves the file at `p` as it is. */
  #keepExisting(node: TreeNode, p: string): boolean {
    const mode = this.#opts.overwrite ?? 'always';
    if (mode === 'always') return false;
    let st;
    try {
      st = lstatSync(fsPath(p), { bigint: true });
    } catch {
      return false; // nothing there (or unreadable): restore it
    }
    if (!st.isFile()) return false;
    if (mode === 'never') return true;
    const mtime = node.mtime ? parseNs(node.mtime) : 0n;
    if (mode === 'if-newer') return mtime <= st.mtimeNs;
    return BigInt(node.size ?? 0) === st.size && mtime === st.mtimeNs;
  }

  /** --delete: removes the entries of the restored directory `p` that `names` lacks (never following a link). */
  #deleteExtra(p: string, names: ReadonlySet<string>): void {
    for (const entry of readdirSync(fsPath(p), { encoding: 'buffer' })) {
      const name = nameFromBytes(entry);
      if (names.has(name) || name.includes('.lifeboat-')) continue;
      rmSync(fsPath(childPath(p, name)), { recursive: true, force: true });
      this.#result.deleted++;
    }
  }

  async #queueFile(node: TreeNode, p: string, dir: string): Promise<void> {
    if (this.#keepExisting(node, p)) {
      this.#result.skipped++;
      return;
    }
    const hlKey = (node.links ?? 1) > 1 && node.inode ? `${node.device_id ?? 0}:${node.inode}` : undefined;
    if (hlKey !== undefined) {
      if (this.#hardlinks.has(hlKey)) {
        this.#links.push({ node, path: p, dir, hlKey });
        return;
      }
      this.#hardlinks.set(hlKey, undefined);
    }
    const job: FileJob = { node, path: p, dir, hlKey };
    if ((node.content?.length ?? 0) > 1) return this.#stream(job);
    this.#batch.push(job);
    if (this.#batch.length >= FILE_BATCH) await this.#flush();
  }

  /** Restores every queued file and link, until none is left. */
  async #drain(): Promise<void> {
    for (;;) {
      if (this.#batch.length > 0) {
        await this.#flush();
      } else if (this.#streaming.size > 0) {
        await Promise.all(this.#streaming);
        this.#linkPending();
      } else if (this.#links.length > 0) {
        // Every first name has settled: each link is made, or carries the content instead.
        const before = this.#links.length;
        this.#linkPending();
        if (this.#batch.length === 0 && this.#links.length === before) {
          for (const j of this.#links.splice(0)) this.#result.errors.push({ path: j.path, message: 'the other name of this hard link was not restored' });
        }
      } else {
        return;
      }
    }
  }

  /**
   * Writes the batch's small files. A file of several blobs arrives here only as the other name
   * of a hard link whose first name failed (#linkPending); it goes to the streaming lane.
   */
  async #flush(): Promise<void> {
    const jobs = this.#batch;
    this.#batch = [];
    const single: FileJob[] = [];
    for (const j of jobs) {
      if ((j.node.content?.length ?? 0) > 1) await this.#stream(j);
      else single.push(j);
    }
    await this.#restoreSingles(single);
    this.#linkPending();
  }

  /** Queues a file of several blobs on the streaming lane; waits while the lane is full. */
  async #stream(job: FileJob): Promise<void> {
    while (this.#streaming.size >= STREAM_QUEUE) await Promise.race(this.#streaming);
    const p = this.#streams.run(() => this.#guard(job, () => this.#writeStreamed(job)));
    this.#streaming.add(p);
    // Settled either way: a cancellation reaches the caller through #drain or the race above.
    p.then(
      () => this.#streaming.delete(p),
      () => this.#streaming.delete(p),
    );
  }

  /** Names of a hard-linked inode whose first name is written become links to it. */
  #linkPending(): void {
    const links = this.#links;
    this.#links = [];
    for (const j of links) {
      const first = this.#hardlinks.get(j.hlKey as string);
      if (first === undefined) {
        this.#links.push(j); // its first name is still being written
      } else if (typeof first === 'string') {
        try {
          // rm removes a link or file in the way, never a directory (nor what a link points to).
          rmSync(fsPath(j.path), { force: true });
          linkSync(fsPath(first), fsPath(j.path));
          this.#result.files++;
        } catch (err) {
          this.#result.errors.push({ path: j.path, message: errorMessage(err) });
        }
      } else {
        // The first name could not be restored: this one carries the content instead.
        this.#hardlinks.set(j.hlKey as string, undefined);
        this.#batch.push(j);
      }
    }
  }

  /** Runs one file's restore, recording its failure (and its hard-link group's). */
  async #guard(job: FileJob, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.#failed(job, err);
      return;
    }
    this.#written(job);
  }

  /** #guard for work done in one synchronous go (a small file from a verified blob). */
  #guardSync(job: FileJob, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#failed(job, err);
      return;
    }
    this.#written(job);
  }

  #written(job: FileJob): void {
    if (job.hlKey !== undefined) this.#hardlinks.set(job.hlKey, job.path);
    this.#result.files++;
    this.#progress.files++;
    this.#report(job.path);
  }

  #failed(job: FileJob, err: unknown): void {
    if (job.hlKey !== undefined) this.#hardlinks.set(job.hlKey, null);
    if (err instanceof CancelledError || this.#opts.signal?.aborted) throw err instanceof CancelledError ? err : new CancelledError('restore cancelled');
    this.#result.errors.push({ path: job.path, message: errorMessage(err) });
  }

  /** Files of at most one blob: grouped by pack, read in ranges, decoded in batches. */
  async #restoreSingles(jobs: readonly FileJob[]): Promise<void> {
    const byBlob = new Map<string, FileJob[]>();
    for (const j of jobs) {
      const id = j.node.content?.[0];
      if (id === undefined) {
        this.#guardSync(j, () => this.#writeWhole(j, undefined));
        continue;
      }
      const list = byBlob.get(id);
      if (list) list.push(j);
      else byBlob.set(id, [j]);
    }
    const byPack = new Map<string, BlobLocation[]>();
    const unindexed: string[] = [];
    for (const id of byBlob.keys()) {
      const loc = this.#repo.index.lookup('data', id)[0];
      if (!loc) {
        unindexed.push(id);
        continue;
      }
      const list = byPack.get(loc.packId);
      if (list) list.push(loc);
      else byPack.set(loc.packId, [loc]);
    }
    type Segment = { packId: string; start: number; end: number; locs: BlobLocation[] };
    const segments: Segment[] = [];
    for (const [packId, locs] of byPack) {
      locs.sort((a, b) => a.offset - b.offset);
      let seg: Segment | undefined;
      for (const loc of locs) {
        const end = loc.offset + loc.length;
        if (seg && loc.offset >= seg.end && loc.offset - seg.end <= SEGMENT_GAP && end - seg.start <= SEGMENT_BYTES) {
          seg.end = end;
          seg.locs.push(loc);
        } else {
          seg = { packId, start: loc.offset, end, locs: [loc] };
          segments.push(seg);
        }
      }
    }
    const write = (id: string, plain: Buffer | Error): void => {
      for (const j of byBlob.get(id) ?? []) {
        this.#guardSync(j, () => {
          if (plain instanceof Error) throw plain;
          this.#writeWhole(j, plain);
        });
      }
      if (plain instanceof Buffer) release(plain); // written to every file that holds it
    };
    await mapLimit(segments, SEGMENT_CONCURRENCY, async (seg) => {
      this.#cancelled();
      let results: Array<Buffer | Error | undefined> = [];
      try {
        const buf = await this.#repo.storage.load({ type: 'data', name: seg.packId }, { offset: seg.start, length: seg.end - seg.start, signal: this.#opts.signal });
        ({ results } = await this.#repo.decodeBlobs(buf, seg.locs.map((loc) => ({ at: loc.offset - seg.start, loc })), { keep: true, handOver: true, helpInline: true }));
      } catch (err) {
        if (err instanceof CancelledError || this.#opts.signal?.aborted) throw err;
        // The range did not read: each blob is tried again on its own, from any copy.
      }
      // One file at a time: creating files in parallel was slower here (ext4 spent 3x the
      // kernel time on contended directory updates: 6.9 s -> 10-13 s for 20 000 files).
      for (let i = 0; i < seg.locs.length; i++) {
        const id = (seg.locs[i] as BlobLocation).id;
        const r = results[i];
        write(id, r instanceof Buffer ? r : await this.#loadAnyCopy(id));
      }
    });
    for (const id of unindexed) write(id, await this.#loadAnyCopy(id));
  }

  /** A blob from whichever copy reads, or the error that says why none does. */
  async #loadAnyCopy(id: string): Promise<Buffer | Error> {
    try {
      return await this.#repo.loadBlob('data', id, { signal: this.#opts.signal });
    } catch (err) {
      if (err instanceof CancelledError || this.#opts.signal?.aborted) throw err;
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** The permission bits for a file node, and whether open's mode (after umask) falls short. */
  #perm(node: TreeNode): { perm: number; chmodAfter: boolean } {
    // No mode is mode 0 (Go's omitempty drops it): restic restores such a file as ----------.
    const perm = unixPermFromGoMode(node.mode ?? 0);
    return { perm, chmodAfter: perm !== (perm & 0o777 & ~UMASK) };
  }

  /** Owner to set when running as root, or undefined when a new file already has it. */
  #owner(node: TreeNode, dir: string): { uid: number; gid: number } | undefined {
    if (!isRoot) return undefined;
    const { uid, gid } = ownerOf(node);
    // A new file belongs to root:root-of-the-process unless its directory is setgid.
    if (uid === 0 && gid === EGID && this.#plainDirs.has(dir)) return undefined;
    return { uid, gid };
  }

  /**
   * Writes a file of at most one blob. Its content is already verified in memory, so a new
   * file is written under its own name (a temporary name and a rename cost kernel time on
   * every file) and removed again on any failure. Where something is in the way, the file is
   * written beside it and renamed over it only once complete: the old one stays until then.
   */
  #writeWhole(job: FileJob, data: Buffer | undefined): void {
    this.#cancelled();
    const { node, path: p } = job;
    const { perm, chmodAfter } = this.#perm(node);
    let name = p;
    let fd: number;
    try {
      fd = openSync(fsPath(p), NEW_FILE, perm & 0o777);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      name = tmpName(p);
      fd = openSync(fsPath(name), NEW_FILE, perm & 0o777);
    }
    let ok = false;
    try {
      if (data) {
        let done = 0;
        while (done < data.length) done += writeSync(fd, data, done, data.length - done);
      }
      this.#fileMeta(fd, node, job, perm, chmodAfter);
      closeSync(fd);
      ok = true;
      if (name !== p) renameSync(fsPath(name), fsPath(p));
    } catch (err) {
      if (!ok) {
        try {
          closeSync(fd);
        } catch {
          // already closed
        }
      }
      rmSync(fsPath(name), { force: true });
      throw err;
    }
    if (data) {
      this.#result.bytes += data.length;
      this.#progress.bytes += data.length;
    }
  }

  /**
   * Sets a new file's metadata through its descriptor: owner (when root) first, as chown
   * clears setuid/setgid; then mode, extended attributes, and the times last.
   */
  #fileMeta(fd: number, node: TreeNode, job: FileJob, perm: number, chmodAfter: boolean): void {
    const owner = this.#owner(node, job.dir);
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    if (chmodAfter) fchmodSync(fd, perm);
    // Attributes the file system refuses (security.*, another fs) are skipped, as restic warns and goes on.
    if (node.extended_attributes?.length) writeXattrsSync(fdPath(fd, job.path), node.extended_attributes);
    const t = timesOf(node);
    if (t) setTimesFd(fd, t.atime, t.mtime);
  }

  /** Writes a file of several blobs, loading a few blobs ahead of the one being written. */
  async #writeStreamed(job: FileJob): Promise<void> {
    this.#cancelled();
    const { node, path: p } = job;
    const tmp = tmpName(p);
    const { perm, chmodAfter } = this.#perm(node);
    const fh = await open(fsPath(tmp), NEW_FILE, perm & 0o777);
    let ok = false;
    try {
      for await (const data of this.#blobs(node.content ?? [])) {
        await fh.write(data);
        this.#result.bytes += data.length;
        this.#progress.bytes += data.length;
        release(data);
        this.#report(p);
      }
      this.#fileMeta(fh.fd, node, job, perm, chmodAfter);
      await fh.close();
      ok = true;
      await rename(fsPath(tmp), fsPath(p));
    } catch (err) {
      if (!ok) await fh.close().catch(() => undefined);
      await rm(fsPath(tmp), { force: true });
      throw err;
    }
  }

  /** The blobs of `ids` in order, each verified, with up to READ_AHEAD loads in flight. */
  #blobs(ids: readonly string[]): AsyncGenerator<Buffer> {
    return readContent(this.#repo, ids, { signal: this.#opts.signal, readAhead: READ_AHEAD, beforeEach: () => this.#cancelled() });
  }

  /** Restores one node that is not queued: a symlink, or a file or directory on its own. */
  async #restoreNode(node: TreeNode, p: string): Promise<void> {
    try {
      if (node.type === 'file') {
        const job: FileJob = { node, path: p, dir: path.dirname(p) };
        await this.#guard(job, () => ((node.content?.length ?? 0) > 1 ? this.#writeStreamed(job) : this.#writeSingle(job)));
      } else if (node.type === 'symlink') {
        await this.#writeSymlink(node, p);
      } else if (node.type === 'dir') {
        this.#makeDir(p);
        this.#dirs.push({ node, path: p });
        if (node.subtree) await this.#walk(node.subtree, p);
      } else if (isSpecialFile(node)) {
        await this.#writeSpecial(node, p);
      }
      // Sockets are not recreated, as by restic: one belongs to the process that listens on it.
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      this.#result.errors.push({ path: p, message: errorMessage(err) });
    }
  }

  async #writeSingle(job: FileJob): Promise<void> {
    const id = job.node.content?.[0];
    const data = id === undefined ? undefined : await this.#repo.loadBlob('data', id, { signal: this.#opts.signal });
    try {
      this.#writeWhole(job, data);
    } finally {
      release(data);
    }
  }

  /**
   * Makes a symlink under a temporary name, sets its owner and times (on the link itself), and
   * renames it into place: what was there (a file, a link) is replaced whole, a directory
   * there is an error that touches nothing.
   */
  async #writeSymlink(node: TreeNode, p: string): Promise<void> {
    const tmp = tmpName(p);
    await symlink(fsPath(node.linktarget ?? ''), fsPath(tmp));
    try {
      if (isRoot) await lchown(fsPath(tmp), ownerOf(node).uid, ownerOf(node).gid);
      const t = timesOf(node);
      if (t) setLinkTimes(fsPath(tmp), t.atime, t.mtime);
      await rename(fsPath(tmp), fsPath(p));
    } catch (err) {
      await rm(fsPath(tmp), { force: true });
      throw err;
    }
    this.#madeLinks.add(p);
  }

  /**
   * Makes a fifo or device under a temporary name, sets its owner, mode and times (by path:
   * opening a device can have effects, and an O_PATH descriptor takes no chmod), and renames
   * it into place, as a symlink. The temporary name is new in a directory of the target, so
   * nothing at it is followed: lchown and utimensat never follow, and chmod runs only after
   * lstat found the node made here.
   */
  async #writeSpecial(node: TreeNode, p: string): Promise<void> {
    const tmp = tmpName(p);
    const fp = fsPath(tmp);
    makeSpecialFile(typeof fp === 'string' ? Buffer.from(fp) : fp, node, unixPermFromGoMode(node.mode ?? 0));
    try {
      if (isRoot) await lchown(fp, ownerOf(node).uid, ownerOf(node).gid);
      if (lstatSync(fp).isSymbolicLink()) throw new Error('refusing to set the mode through a symlink');
      chmodSync(fp, unixPermFromGoMode(node.mode ?? 0));
      const t = timesOf(node);
      if (t) setLinkTimes(fp, t.atime, t.mtime);
      await rename(fp, fsPath(p));
    } catch (err) {
      await rm(fp, { force: true });
      throw err;
    }
    this.#result.files++;
  }

  /**
   * A directory's metadata, set on a descriptor opened with O_NOFOLLOW|O_DIRECTORY: if a link
   * stands where the directory was made, the open fails and nothing outside is touched.
   */
  #applyDirMeta(node: TreeNode, p: string): void {
    const fd = openSync(fsPath(p), DIR_META);
    try {
      if (node.extended_attributes?.length) writeXattrsSync(fdPath(fd, p), node.extended_attributes);
      if (isRoot) fchownSync(fd, ownerOf(node).uid, ownerOf(node).gid);
      if (node.mode !== undefined) fchmodSync(fd, unixPermFromGoMode(node.mode));
      const t = timesOf(node);
      if (t) setTimesFd(fd, t.atime, t.mtime);
    } finally {
      closeSync(fd);
    }
  }

  /** Writes the content of a file node to `out`, blob by blob, each verified. */
  async dump(node: TreeNode, out: NodeJS.WritableStream): Promise<number> {
    if (node.type !== 'file') throw new NotFoundError(`${node.name} is not a file`);
    let n = 0;
    for await (const data of this.#blobs(node.content ?? [])) {
      n += data.length;
      // The stream may hold the buffer until it is written out: free it once it has been.
      // once() also rejects when the stream fails (EPIPE): a reader that went away ends the dump.
      if (!out.write(data, () => release(data))) await once(out, 'drain', { signal: this.#opts.signal });
    }
    return n;
  }
}
