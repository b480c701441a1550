/**
 * Archiver: turns directory trees and named streams into trees and data blobs, and finally a
 * snapshot.
 *
 * - Directory trees are stored as restic stores them: the snapshot's root tree holds the
 *   components of each backed-up absolute path, so `restic restore` and `lifeboat restore`
 *   lay them out the same way.
 * - Named streams ("virtual files": a dump read from a tool's stdout) become file nodes in a
 *   tree built from their paths (`postgres/app.dump`).
 * - A file whose type, size, mtime, ctime and inode equal the parent snapshot's node, and
 *   whose blobs are all in the index, is not read again (restic's change detection).
 *
 * The walk is depth first, one directory at a time, with metadata read synchronously (lstat,
 * readdir and small files are page-cache work of microseconds; a thread-pool round trip per
 * call costs more than the call). A small file (one blob, read whole) is read, hashed and
 * queued in the walk itself while the repository has room for its blob, and the walk waits
 * for room when it has none: no async frame or promise chain per file, so a tree of many
 * small files leaves little garbage. Large files (streamed through the chunker) are started
 * without waiting for them, up to `fileConcurrency` at once; when those are all busy the walk
 * waits. A small file that cannot be done at once (a top-level target while the repository
 * is busy, a file that grew while it was read) goes that way too, up to
 * `smallFileConcurrency` at once. A directory's tree is saved once its files and
 * subdirectories are done, so the walk never holds more than the directories those in-flight
 * files sit in. Each large file keeps at most `blobWindow` chunks (≤ 8 MiB each) between the
 * chunker and the repository.
 *
 * A large file that the parent snapshot has (so it changed) is chunked, and its chunks hashed,
 * on a codec thread instead of this one when that thread has little encoding ahead of it and
 * no other file: such files are mostly known blobs, so chunking them would be this thread's
 * work alone, where restic reads two files on two cores.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { closeSync, constants as fsConstants, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { CancelledError, LifeboatError, UsageError, errorMessage } from '../../core/errors.ts';
import { idOf } from '../../core/ids.ts';
import { ByteBudget, Semaphore } from '../../util/semaphore.ts';
import { limitHeapGrowth, release } from '../../util/memory.ts';
import { formatDate, formatNs } from '../../util/time.ts';
import { MIN_SIZE } from '../chunker/chunker.ts';
import { ChunkSplitter, chunkStream, READ_SIZE } from '../chunker/chunk-stream.ts';
import { CodecPool } from '../codec/codec-pool.ts';
import type { FileChunk } from '../codec/codec-pool.ts';
import type { Repository, SaveBlobResult } from '../repository.ts';
import { currentUser } from '../repository.ts';
import { saveSnapshot } from '../snapshot/snapshot.ts';
import type { Snapshot, SnapshotDoc, SnapshotSummary } from '../snapshot/snapshot.ts';
import { encodeTree, goModeFromUnix } from '../tree/node.ts';
import type { Tree, TreeNode } from '../tree/node.ts';
import { TreeStore } from '../tree/tree-io.ts';
import { fsPath, hasRawBytes, nameFromBytes } from '../tree/raw-names.ts';
import { groupName, userName } from './owners.ts';
import { readXattrsSync } from './xattrs.ts';
import { nowDate } from '../../util/clock.ts';

/** See ArchiverOptions.offloadBelow. */
const OFFLOAD_BELOW = 4 * 1024 * 1024;
/** Bytes of a stream cut here before a codec thread may take it over (see #streamChunks). */
const STREAM_PROBE = 16 * 1024 * 1024;
/** Subtrees of the parent snapshot loaded ahead of the walk, per directory. */
const TREE_PREFETCH = 8;

export interface ArchiverProgress {
  files: number;
  dirs: number;
  bytesRead: number;
  bytesAdded: number;
  current?: string;
}

export interface ArchiverOptions {
  signal?: AbortSignal;
  onProgress?: (p: Readonly<ArchiverProgress>) => void;
  /** Large files (at least the chunker's minimum size) read at once (default 2). */
  fileConcurrency?: number;
  /** Small files (read whole, one blob each) in flight at once (default 64). */
  smallFileConcurrency?: number;
  /** Bytes of small files read and not yet encoded, at most (default 16 MiB). */
  smallFileBytes?: number;
  /** Chunks of one file being compressed/encrypted at once (default 4). */
  blobWindow?: number;
  /**
   * Let a codec thread chunk one changed large file at a time while it has less than this
   * many bytes of blobs to encode ahead of it (default 4 MiB; 0: never).
   */
  offloadBelow?: number;
  /** Paths (absolute) to leave out; a predicate on the absolute path. */
  exclude?: (absPath: string, isDir: boolean) => boolean;
}

export interface BackupSummary {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirs: number;
  /** Of `dirs`: not in the parent snapshot, with another tree there, with the same tree. */
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  totalFiles: number;
  totalBytes: number;
  bytesRead: number;
  /** Bytes of new blobs written (after compression and encryption). */
  bytesAdded: number;
  blobsAdded: number;
  /** Files and dirs that could not be read; the snapshot lacks them. */
  errors: Array<{ path: string; message: string }>;
}

export interface ContentResult {
  content: string[];
  size: number;
  /** SHA-256 of the whole stream, hex; '' when saveContent was asked not to compute it. */
  sha256: string;
}

export interface SaveContentOptions {
  /** Compute the SHA-256 of the whole stream (default true; plain files do without). */
  sha256?: boolean;
}

export interface VirtualFile {
  /** Slash-separated path inside the snapshot, e.g. "postgres/app.dump". */
  path: string;
  content: string[];
  size: number;
  mode?: number;
  mtime?: Date;
}

export interface SnapshotMeta {
  hostname?: string;
  tags?: string[];
  time?: Date;
  parent?: string;
  programVersion?: string;
  excludes?: string[];
}

/**
 * A file's bytes in pieces of READ_SIZE, read into one reused buffer: the chunker copies each
 * piece out before it asks for the next, so a large file costs one read buffer, not a stream
 * of them left for the garbage collector.
 */
async function* readFileInPieces(abs: string): AsyncGenerator<Uint8Array> {
  const fh = await open(fsPath(abs), 'r');
  const buf = Buffer.allocUnsafeSlow(READ_SIZE);
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
    release(buf);
  }
}

/**
 * The names in a directory, bytes that are not UTF-8 kept (raw-names.ts). Node decodes names
 * as UTF-8, replacing what is not with U+FFFD; only a directory where that happened is read
 * again as bytes.
 */
function readNames(abs: string): string[] {
  const names = readdirSync(fsPath(abs));
  if (!names.some((n) => n.includes('\uFFFD'))) return names;
  return readdirSync(fsPath(abs), { encoding: 'buffer' }).map(nameFromBytes);
}

/** A symlink's target, bytes that are not UTF-8 kept. */
function readLinkTarget(abs: string): string {
  return nameFromBytes(readlinkSync(fsPath(abs), { encoding: 'buffer' }));
}

/**
 * Extended attributes of a path that holds bytes that are not UTF-8: fs-xattr takes paths as
 * text, so they are read through the descriptor's /proc name instead.
 */
function readRawPathXattrs(abs: string): ReturnType<typeof readXattrsSync> {
  if (process.platform !== 'linux') return readXattrsSync(abs);
  const fd = openSync(fsPath(abs), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  try {
    return readXattrsSync(`/proc/self/fd/${fd}`);
  } finally {
    closeSync(fd);
  }
}

/** `first`, then the rest of `it`. */
async function* prepend(first: Uint8Array, it: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield first;
  for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
}

function emptySummary(): BackupSummary {
  return { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirs: 0, dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0, totalFiles: 0, totalBytes: 0, bytesRead: 0, bytesAdded: 0, blobsAdded: 0, errors: [] };
}

export class Archiver {
  readonly repo: Repository;
  readonly trees: TreeStore;
  readonly summary: BackupSummary = emptySummary();
  readonly #opts: ArchiverOptions;
  readonly #files: Semaphore;
  readonly #smallFiles: Semaphore;
  readonly #smallBytes: ByteBudget;
  readonly #progress: ArchiverProgress = { files: 0, dirs: 0, bytesRead: 0, bytesAdded: 0 };
  /** A codec thread is chunking one of our files. */
  #offloaded = false;
  /** For the snapshot's summary: when the backup began, and the new blobs counted per type. */
  readonly #started = nowDate();
  readonly #new = { dataBlobs: 0, treeBlobs: 0, plain: 0, packed: 0 };

  constructor(repo: Repository, opts: ArchiverOptions = {}) {
    this.repo = repo;
    this.trees = new TreeStore(repo);
    this.#opts = opts;
    this.#files = new Semaphore(opts.fileConcurrency ?? 2);
    this.#smallFiles = new Semaphore(opts.smallFileConcurrency ?? 64);
    this.#smallBytes = new ByteBudget(opts.smallFileBytes ?? 16 * 1024 * 1024);
  }

  #checkCancel(): void {
    if (this.#opts.signal?.aborted) throw new CancelledError('backup cancelled');
  }

  /**
   * Adds the counts of another archiver's work on the same snapshot (a stack source's files,
   * saved by their own archiver), so the snapshot's summary covers both.
   */
  absorb(other: Archiver): void {
    const s = this.summary;
    const o = other.summary;
    for (const k of ['filesNew', 'filesChanged', 'filesUnmodified', 'dirs', 'dirsNew', 'dirsChanged', 'dirsUnmodified', 'totalFiles', 'totalBytes', 'bytesRead', 'bytesAdded', 'blobsAdded'] as const) s[k] += o[k];
    this.#new.dataBlobs += other.#new.dataBlobs;
    this.#new.treeBlobs += other.#new.treeBlobs;
    this.#new.plain += other.#new.plain;
    this.#new.packed += other.#new.packed;
  }

  /** Counts a saved directory as restic does: new, changed or unmodified against the parent. */
  #countDir(subtree: string, prev: TreeNode | undefined): void {
    if (prev?.type !== 'dir') this.summary.dirsNew++;
    else if (prev.subtree === subtree) this.summary.dirsUnmodified++;
    else this.summary.dirsChanged++;
  }

  #report(current?: string): void {
    this.#progress.current = current;
    this.#opts.onProgress?.(this.#progress);
  }

  /** Counts a blob the repository did not have, once it is in a pack. */
  readonly #added = (r: SaveBlobResult): void => {
    this.summary.blobsAdded++;
    this.summary.bytesAdded += r.added;
    this.#progress.bytesAdded += r.added;
    this.#new.dataBlobs++;
    this.#new.plain += r.plain;
    this.#new.packed += r.added;
  };

  /** Saves a tree blob (deduplicated), counting it for the summary when it is new. */
  async #saveTree(tree: Tree): Promise<string> {
    const bytes = encodeTree(tree);
    const r = await this.repo.saveBlob('tree', bytes, idOf(bytes));
    if (!r.known) {
      this.#new.treeBlobs++;
      this.#new.plain += r.plain;
      this.#new.packed += r.added;
    }
    return r.id;
  }

  /**
   * Stores a chunk the archiver owns (it is handed over: empty afterwards). Resolves with its
   * ID once the repository has accepted it; with `wait`, only once it is in a pack (which
   * bounds a large file's chunks in flight to its window).
   */
  async #storeChunk(chunk: Buffer, wait: boolean, id = idOf(chunk)): Promise<string> {
    const { stored } = await this.repo.queueBlob('data', chunk, id, true, this.#added);
    // A failure after acceptance also fails the repository's flush, which the backup awaits.
    if (wait) await stored;
    return id;
  }

  /** Chunks a stream into data blobs; returns the ordered blob IDs, size and SHA-256. */
  async saveContent(input: AsyncIterable<Uint8Array>, label = 'stream', opts: SaveContentOptions = {}): Promise<ContentResult> {
    const hash = opts.sha256 === false ? undefined : createHash('sha256');
    const seen = { bytes: 0, known: 0 };
    const { content, size } = await this.#saveChunks(this.#streamChunks(input, seen), label, hash, seen);
    return { content, size, sha256: hash?.digest('hex') ?? '' };
  }

  /**
   * Whether a codec thread may chunk a file or stream of ours now: one at a time, and only a
   * thread that already runs and has loaded its modules (starting one costs more memory than
   * a stream of known blobs is worth, and one still loading would keep the work waiting) and
   * has little encoding ahead of it.
   */
  #mayOffload(): boolean {
    const pool = CodecPool.shared();
    return !this.#offloaded && pool.ready && pool.encodeBacklog < (this.#opts.offloadBelow ?? OFFLOAD_BELOW);
  }

  /**
   * A stream's chunks, cut here until the stream shows itself to be mostly known blobs (a dump
   * backed up again): then, at a chunk boundary, a codec thread takes the cutting and hashing
   * over (when it has little to encode and no other file), and this thread reads and stores.
   */
  async *#streamChunks(input: AsyncIterable<Uint8Array>, seen: { bytes: number; known: number }): AsyncGenerator<Buffer | FileChunk> {
    const polynomial = this.repo.config.chunker_polynomial;
    const it = input[Symbol.asyncIterator]();
    const splitter = new ChunkSplitter(polynomial);
    let handedOver = false;
    try {
      for (;;) {
        this.#checkCancel();
        const r = await it.next();
        if (r.done) break;
        for (const chunk of splitter.cut(r.value)) {
          yield chunk;
          this.#checkCancel();
          if (seen.bytes >= STREAM_PROBE && seen.known >= 0.8 * seen.bytes && this.#mayOffload()) {
            const rest = splitter.rest();
            handedOver = true;
            this.#offloaded = true;
            try {
              yield* CodecPool.shared().chunkStream(rest, it, polynomial) ?? chunkStream(prepend(rest, it), polynomial, { signal: this.#opts.signal });
            } finally {
              this.#offloaded = false;
            }
            return;
          }
        }
      }
      const last = splitter.end();
      if (last) yield last;
    } finally {
      splitter.close();
      if (!handedOver) await it.return?.();
    }
  }

  /**
   * Stores chunks in order (a Buffer, or one a codec thread cut and hashed); returns their IDs.
   * `seen` counts the bytes, and those of blobs the repository already had.
   */
  async #saveChunks(
    chunks: AsyncIterable<Buffer | FileChunk>,
    label: string,
    hash?: ReturnType<typeof createHash>,
    seen = { bytes: 0, known: 0 },
  ): Promise<{ content: string[]; size: number }> {
    const content: string[] = [];
    const window: Array<Promise<void>> = [];
    const limit = this.#opts.blobWindow ?? 4;
    let size = 0;
    for await (const item of chunks) {
      const chunk = Buffer.isBuffer(item) ? item : item.data;
      const id = Buffer.isBuffer(item) ? idOf(item) : item.id;
      this.#checkCancel();
      hash?.update(chunk);
      size += chunk.length;
      seen.bytes += chunk.length;
      if (this.repo.hasBlob('data', id)) seen.known += chunk.length;
      this.summary.bytesRead += chunk.length;
      this.#progress.bytesRead += chunk.length;
      const slot = content.length;
      content.push('');
      const p = this.#storeChunk(chunk, true, id).then((stored) => {
        content[slot] = stored;
      });
      // A later chunk may fail while an earlier one is awaited, or the loop may end with some
      // unawaited (an error, a cancel): their failure is the repository's write error, which
      // the next store and the flush report, so it must not surface as an unhandled rejection.
      p.catch(() => undefined);
      window.push(p);
      if (window.length >= limit) await window.shift();
      this.#report(label);
    }
    await Promise.all(window);
    return { content, size };
  }

  /**
   * A file below the chunker's minimum size is one blob: read it whole, in one go, into a
   * buffer of its size (handed to the repository as is), then probe one byte further.
   */
  async #saveSmallFile(abs: string, expected: number): Promise<{ content: string[]; size: number }> {
    const buf = this.#readSmallFile(abs, expected);
    // The file grew while we read it: fall back to the streaming path.
    if (!buf) return this.#saveLargeFile(abs);
    if (buf.length === 0) return { content: [], size: 0 };
    return { content: [await this.#storeChunk(buf, false)], size: buf.length };
  }

  /**
   * A small file's bytes, read whole and counted as read; undefined when the file turned out
   * to be larger than `expected` (it grew since its lstat).
   */
  #readSmallFile(abs: string, expected: number): Buffer | undefined {
    const buf = Buffer.allocUnsafeSlow(expected);
    let n = 0;
    let grew = false;
    const fd = openSync(fsPath(abs), 'r');
    try {
      while (n < buf.length) {
        const got = readSync(fd, buf, n, buf.length - n, n);
        if (got === 0) break;
        n += got;
      }
      grew = n === expected && readSync(fd, Buffer.allocUnsafe(1), 0, 1, n) > 0;
    } finally {
      closeSync(fd);
    }
    if (grew) return undefined;
    this.summary.bytesRead += n;
    this.#progress.bytesRead += n;
    return n === expected ? buf : Buffer.from(buf.subarray(0, n));
  }

  /**
   * A file of several chunks, streamed through the chunker. `again`: the parent snapshot has
   * it (changed), so most of its chunks are likely known.
   */
  async #saveLargeFile(abs: string, again = false): Promise<{ content: string[]; size: number }> {
    const pool = CodecPool.shared();
    // A changed large file is worth a codec thread (the next one can be chunked there), even
    // while the backup has added too little for one to start on its own.
    if (again) pool.prestart();
    // The codec thread opens files by a text path: one with raw bytes in its name is read here.
    if (again && !hasRawBytes(abs) && this.#mayOffload()) {
      const chunks = pool.chunkFile(abs, this.repo.config.chunker_polynomial);
      if (chunks) {
        this.#offloaded = true;
        const seen = { bytes: 0, known: 0 };
        try {
          return await this.#saveChunks(chunks, abs, undefined, seen);
        } catch (err) {
          // The thread itself stopped (not the file): read the file here instead, from the start.
          if (!(err instanceof LifeboatError && err.code === 'codec_failed')) throw err;
          this.summary.bytesRead -= seen.bytes;
          this.#progress.bytesRead -= seen.bytes;
        } finally {
          this.#offloaded = false;
        }
      }
    }
    return this.saveContent(readFileInPieces(abs), abs, { sha256: false });
  }

  /** Builds the tree node for a directory entry from its lstat. */
  #nodeFromStat(name: string, st: BigIntStats): TreeNode {
    const mode = Number(st.mode);
    const uid = Number(st.uid);
    const gid = Number(st.gid);
    const fmt = mode & 0o170000;
    const type: TreeNode['type'] =
      fmt === 0o040000 ? 'dir' : fmt === 0o120000 ? 'symlink' : fmt === 0o100000 ? 'file' : fmt === 0o060000 ? 'dev' : fmt === 0o020000 ? 'chardev' : fmt === 0o010000 ? 'fifo' : 'socket';
    const node: TreeNode = {
      name,
      type,
      mode: goModeFromUnix(mode),
      mtime: formatNs(st.mtimeNs),
      atime: formatNs(st.atimeNs),
      ctime: formatNs(st.ctimeNs),
      uid,
      gid,
      user: userName(uid),
      group: groupName(gid),
      inode: Number(st.ino),
      device_id: Number(st.dev),
      links: Number(st.nlink),
      content: null,
    };
    if (type === 'file') node.size = Number(st.size);
    if (type === 'dev' || type === 'chardev') node.device = Number(st.rdev);
    return node;
  }

  /**
   * The extended attributes of a file or dir (the module follows links, so symlinks are left
   * out). Setting or removing one changes the inode's ctime, so an entry whose inode and ctime
   * equal the parent snapshot's has the xattrs recorded there, and they are not read again.
   */
  #fillXattrs(abs: string, node: TreeNode, prev: TreeNode | undefined): void {
    if (node.type !== 'file' && node.type !== 'dir') return;
    if (prev && prev.type === node.type && prev.ctime === node.ctime && (prev.inode ?? 0) === (node.inode ?? 0) && (prev.device_id ?? 0) === (node.device_id ?? 0)) {
      node.extended_attributes = prev.extended_attributes ?? undefined;
    } else {
      node.extended_attributes = hasRawBytes(abs) ? readRawPathXattrs(abs) : readXattrsSync(abs);
    }
  }

  /** Is `prev` (from the parent snapshot) the same file as `node`, with all blobs present? */
  #unchanged(node: TreeNode, prev: TreeNode | undefined): prev is TreeNode & { content: string[] } {
    if (!prev || prev.type !== 'file' || node.type !== 'file') return false;
    // Zero values are omitted from stored nodes (Go's omitempty), so compare with defaults.
    if ((prev.size ?? 0) !== (node.size ?? 0) || prev.mtime !== node.mtime || prev.ctime !== node.ctime || (prev.inode ?? 0) !== (node.inode ?? 0)) return false;
    return Array.isArray(prev.content) && prev.content.every((id) => this.repo.hasBlob('data', id));
  }

  /**
   * A file finished here and now, without a promise or a wait: an unchanged one, or a small
   * one when the repository takes its blob at once (most files of a tree of small ones).
   * Undefined when it has to go the way of #startFile; then nothing was counted or read.
   */
  #fileNow(abs: string, node: TreeNode, prev: TreeNode | undefined): TreeNode | undefined {
    const size = node.size ?? 0;
    if (this.#unchanged(node, prev)) {
      this.#countFile(size);
      this.summary.filesUnmodified++;
      this.#progress.files++;
      node.content = prev.content;
      return node;
    }
    if (size >= MIN_SIZE || !this.repo.hasBlobRoom) return undefined;
    this.#checkCancel();
    this.#report(abs);
    limitHeapGrowth();
    const buf = this.#readSmallFile(abs, size);
    // It grew since its lstat: the streaming path reads it again.
    if (!buf) return undefined;
    this.#countFile(size);
    node.size = buf.length; // before the buffer is handed over, which empties it
    if (buf.length > 0) {
      const id = idOf(buf);
      // The room was checked above and nothing ran since, so the blob is taken now.
      if (!this.repo.tryQueueBlob('data', buf, id, true, this.#added)) throw new Error(`the repository did not take the blob of ${abs}`);
      node.content = [id];
    } else {
      node.content = [];
    }
    if (prev) this.summary.filesChanged++;
    else this.summary.filesNew++;
    this.#progress.files++;
    return node;
  }

  /** Counts a file saved (an unreadable one is reported as an error instead). */
  #countFile(size: number): void {
    this.summary.totalFiles++;
    this.summary.totalBytes += size;
  }

  /**
   * Starts saving a file #fileNow left (a large one, or a small one while the repository is
   * busy): returns once a slot is free (the walk's backpressure). `done` settles with the
   * finished node. (Promises are wrapped in objects here and below: an async function would
   * otherwise adopt them.)
   */
  async #startFile(abs: string, node: TreeNode, prev: TreeNode | undefined): Promise<{ done: Promise<TreeNode> }> {
    const small = (node.size ?? 0) < MIN_SIZE;
    const slots = small ? this.#smallFiles : this.#files;
    // A small file holds its whole content until it is encoded: bound those bytes too.
    const bytes = small ? (node.size ?? 0) : 0;
    await slots.acquire();
    if (bytes > 0) await this.#smallBytes.acquire(bytes);
    const done = (async () => {
      try {
        this.#checkCancel();
        this.#report(abs);
        const result = small ? await this.#saveSmallFile(abs, node.size ?? 0) : await this.#saveLargeFile(abs, prev?.type === 'file');
        this.#countFile(node.size ?? 0);
        if (prev) this.summary.filesChanged++;
        else this.summary.filesNew++;
        this.#progress.files++;
        return { ...node, size: result.size, content: result.content };
      } finally {
        if (bytes > 0) this.#smallBytes.release(bytes);
        slots.release();
      }
    })();
    return { done };
  }

  async #fileNode(abs: string, node: TreeNode, prev: TreeNode | undefined): Promise<TreeNode> {
    return this.#fileNow(abs, node, prev) ?? (await (await this.#startFile(abs, node, prev)).done);
  }

  /** Loads the parent snapshot's tree of a directory, if it has one that still reads. */
  async #prevSubtree(prev: TreeNode | undefined): Promise<Tree | undefined> {
    if (prev?.type !== 'dir' || !prev.subtree) return undefined;
    return this.trees.load(prev.subtree).catch(() => undefined);
  }

  /**
   * Walks a directory (depth first, entries in order) and starts the work for it; resolves
   * when the walk of it is done, with `tree`: its tree ID, which settles once its files and
   * subdirectories are saved.
   */
  async #walkDir(abs: string, prevTree: Tree | undefined): Promise<{ tree: Promise<string> }> {
    this.#checkCancel();
    const names = readNames(abs).sort();
    const prevByName = new Map((prevTree?.nodes ?? []).map((n) => [n.name, n]));
    // The parent snapshot's subtrees of the next few child directories load while the walk
    // goes on (one at a time, each was a storage round trip the walk waited for).
    const prevDirs = names.filter((n) => prevByName.get(n)?.type === 'dir');
    const prevSubtrees = new Map<string, Promise<Tree | undefined>>();
    let ahead = 0;
    const prefetch = (upTo: number): void => {
      for (; ahead < Math.min(upTo, prevDirs.length); ahead++) {
        const n = prevDirs[ahead] as string;
        prevSubtrees.set(n, this.#prevSubtree(prevByName.get(n)));
      }
    };
    let dirsSeen = 0;
    prefetch(TREE_PREFETCH);
    const parts: Array<TreeNode | Promise<TreeNode | undefined>> = [];
    const failed = (p: string, err: unknown): undefined => {
      if (err instanceof CancelledError || this.#opts.signal?.aborted) throw err;
      this.summary.errors.push({ path: p, message: errorMessage(err) });
      return undefined;
    };
    for (const name of names) {
      const p = path.join(abs, name);
      try {
        const st = lstatSync(fsPath(p), { bigint: true });
        if (this.#opts.exclude?.(p, st.isDirectory())) continue;
        const node = this.#nodeFromStat(name, st);
        const prev = prevByName.get(name);
        this.#fillXattrs(p, node, prev);
        let part: Promise<TreeNode | undefined>;
        if (node.type === 'dir') {
          prefetch(++dirsSeen + TREE_PREFETCH);
          const prevSub = prevSubtrees.get(name) ?? this.#prevSubtree(prev);
          prevSubtrees.delete(name);
          const { tree: subtree } = await this.#walkDir(p, await prevSub);
          this.summary.dirs++;
          this.#progress.dirs++;
          part = subtree.then((id) => {
            node.subtree = id;
            this.#countDir(id, prev);
            return node;
          });
        } else if (node.type === 'file') {
          let now = this.#fileNow(p, node, prev);
          if (!now && (node.size ?? 0) < MIN_SIZE) {
            // The repository is busy: a small file waits for room here (the walk's
            // backpressure), then is saved at once.
            await this.repo.blobRoom();
            now = this.#fileNow(p, node, prev);
          }
          if (now) {
            parts.push(now);
            continue;
          }
          part = (await this.#startFile(p, node, prev)).done;
        } else {
          if (node.type === 'symlink') node.linktarget = readLinkTarget(p);
          part = Promise.resolve(node);
        }
        const guarded = part.catch((err: unknown) => failed(p, err));
        // Settled later by Promise.all; until then a failure must not count as unhandled.
        guarded.catch(() => undefined);
        parts.push(guarded);
      } catch (err) {
        failed(p, err);
      }
    }
    const tree = Promise.all(parts).then((nodes) => this.#saveTree({ nodes: nodes.filter((n): n is TreeNode => n !== undefined) }));
    tree.catch(() => undefined);
    return { tree };
  }

  /** Saves a directory recursively; returns its tree ID. */
  async #saveDir(abs: string, prevTree: Tree | undefined): Promise<string> {
    return await (await this.#walkDir(abs, prevTree)).tree;
  }

  /**
   * Backs up paths (files or dirs). The root tree mirrors the path components, as restic
   * does: /srv/app → node "srv" → node "app". A relative path contributes only its own
   * components, as restic (archiver/tree.go, pathComponents): `backup src` from /srv/app
   * stores node "src" at the root, and "../x" stores "x"; "." or "/" is the root itself.
   * The snapshot records the absolute paths all the same. With `readRoot` the paths are read
   * below it (a container's filesystem as this host sees it) and stored as given. Returns the
   * root tree ID.
   */
  async saveTargets(paths: readonly string[], parent?: Snapshot, readRoot?: string): Promise<string> {
    const parentRoot = parent ? await this.trees.load(parent.tree).catch(() => undefined) : undefined;
    // Build a nested map of path components (in the tree) to where they are on disk.
    type Dir = { children: Map<string, Dir>; real: string; target?: string };
    const root: Dir = { children: new Map(), real: readRoot ?? '/' };
    for (const p of paths) {
      // Below readRoot (another mount namespace's root, /proc/PID/root), stored as given.
      const real = readRoot === undefined ? path.resolve(p) : path.join(readRoot, path.resolve('/', p));
      const realParts = real.split('/').filter(Boolean);
      const parts = (path.isAbsolute(p) && readRoot === undefined ? real : path.resolve('/', p)).split('/').filter(Boolean);
      let d = root;
      parts.forEach((part, i) => {
        let next = d.children.get(part);
        if (!next) {
          // The tree's components are the last ones of the real path (".." only drops some).
          next = { children: new Map(), real: `/${realParts.slice(0, realParts.length - parts.length + i + 1).join('/')}` };
          d.children.set(part, next);
        }
        d = next;
      });
      d.target = real;
    }
    if (root.target !== undefined) {
      if (paths.length > 1) throw new UsageError(`"${root.target}" as the root of the snapshot cannot be backed up together with other paths`, { hint: 'back it up on its own, or name its entries' });
      this.summary.dirs++;
      return this.#saveDir(root.target, parentRoot);
    }
    const build = async (d: Dir, prev: Tree | undefined): Promise<string> => {
      const nodes: TreeNode[] = [];
      const prevByName = new Map((prev?.nodes ?? []).map((n) => [n.name, n]));
      for (const [name, child] of d.children) {
        const p = child.real;
        const st = lstatSync(p, { bigint: true });
        const node = this.#nodeFromStat(name, st);
        const prevNode = prevByName.get(name);
        this.#fillXattrs(p, node, prevNode);
        const prevSub = prevNode?.subtree ? await this.trees.load(prevNode.subtree).catch(() => undefined) : undefined;
        if (child.target !== undefined) {
          if (node.type === 'dir') {
            node.subtree = await this.#saveDir(p, prevSub);
            this.summary.dirs++;
            this.#countDir(node.subtree, prevNode);
          } else if (node.type === 'file') {
            nodes.push(await this.#fileNode(p, node, prevNode));
            continue;
          } else if (node.type === 'symlink') {
            node.linktarget = readLinkTarget(p);
          }
        } else {
          node.subtree = await build(child, prevSub);
          // restic counts the directories on the way to a target too.
          this.#countDir(node.subtree, prevNode);
        }
        nodes.push(node);
      }
      return this.#saveTree({ nodes });
    };
    return build(root, parentRoot);
  }

  /** Builds a tree of virtual files (named streams) and returns the root tree ID. */
  async saveVirtualTree(files: readonly VirtualFile[], time: Date = nowDate()): Promise<string> {
    type Dir = { dirs: Map<string, Dir>; files: TreeNode[] };
    const root: Dir = { dirs: new Map(), files: [] };
    const u = currentUser();
    const stamp = formatDate(time);
    for (const f of files) {
      const parts = f.path.split('/').filter(Boolean);
      const name = parts.pop();
      if (!name) throw new Error(`empty virtual file path: ${JSON.stringify(f.path)}`);
      let d = root;
      for (const part of parts) {
        let next = d.dirs.get(part);
        if (!next) {
          next = { dirs: new Map(), files: [] };
          d.dirs.set(part, next);
        }
        d = next;
      }
      const mt = f.mtime ? formatDate(f.mtime) : stamp;
      d.files.push({ name, type: 'file', mode: f.mode ?? 0o600, mtime: mt, atime: mt, ctime: mt, uid: u.uid, gid: u.gid, user: u.username, size: f.size, content: f.content });
      this.summary.totalFiles++;
      this.summary.totalBytes += f.size;
    }
    const build = async (d: Dir): Promise<string> => {
      const nodes: TreeNode[] = [...d.files];
      for (const [name, sub] of d.dirs) {
        nodes.push({ name, type: 'dir', mode: (0x80000000 | 0o700) >>> 0, mtime: stamp, atime: stamp, ctime: stamp, uid: u.uid, gid: u.gid, user: u.username, content: null, subtree: await build(sub) });
      }
      return this.#saveTree({ nodes });
    };
    return build(root);
  }

  /** The summary restic 0.17+ writes into the snapshot; call after the last flush. */
  #snapshotSummary(): SnapshotSummary {
    const s = this.summary;
    const n = this.#new;
    return {
      backup_start: formatDate(this.#started),
      backup_end: formatDate(nowDate()),
      files_new: s.filesNew,
      files_changed: s.filesChanged,
      files_unmodified: s.filesUnmodified,
      dirs_new: s.dirsNew,
      dirs_changed: s.dirsChanged,
      dirs_unmodified: s.dirsUnmodified,
      data_blobs: n.dataBlobs,
      tree_blobs: n.treeBlobs,
      data_added: n.plain,
      data_added_packed: n.packed,
      total_files_processed: s.totalFiles,
      total_bytes_processed: s.totalBytes,
    };
  }

  /** Flushes packs and index, then writes the snapshot (always last). */
  async finish(tree: string, paths: string[], meta: SnapshotMeta = {}): Promise<string> {
    await this.repo.flush({ signal: this.#opts.signal });
    this.#checkCancel();
    const u = currentUser();
    const doc: SnapshotDoc = {
      time: formatDate(meta.time ?? nowDate()),
      parent: meta.parent,
      tree,
      paths,
      hostname: meta.hostname ?? u.hostname,
      username: u.username,
      uid: u.uid,
      gid: u.gid,
      excludes: meta.excludes,
      tags: meta.tags,
      program_version: meta.programVersion,
      summary: this.#snapshotSummary(),
    };
    return saveSnapshot(this.repo, doc, { signal: this.#opts.signal });
  }
}

