/**
 * Copying snapshots between repositories (restic's `copy`).
 *
 * Blob IDs are hashes of the plaintext, so a blob keeps its ID in every repository whatever
 * the keys: each blob the destination lacks is read (decrypted) from the source and saved
 * (encrypted) into the destination. Nothing is re-chunked; the destination deduplicates
 * future backups against copied data only if it shares the source's chunker polynomial
 * (`lifeboat copy --init-to` creates it so).
 *
 * Per snapshot: walk its trees depth first, copy every missing tree and data blob, flush
 * (packs and index files), and only then save the snapshot document, with `original` naming
 * the source snapshot. An interrupted copy leaves at most unreferenced packs, never a
 * snapshot whose data is missing.
 *
 * A snapshot the destination already holds is skipped: one whose time, tree, host, user,
 * paths, excludes and tags are equal. Matching on content rather than on IDs alone makes a
 * re-tagged source snapshot (same `original`, other tags) a new copy, as restic does, and
 * recognises a snapshot that reached the destination by another way.
 *
 * Memory: the IDs of the trees visited (as restic), plus at most `concurrency` blobs in
 * flight; the destination's pack writer bounds the rest.
 */
import { CancelledError, LifeboatError, errorMessage } from '../../core/errors.ts';
import type { Repository } from '../repository.ts';
import { listSnapshots, saveSnapshot } from '../snapshot/snapshot.ts';
import type { Snapshot, SnapshotDoc } from '../snapshot/snapshot.ts';
import { decodeTree } from '../tree/node.ts';
import type { BlobType } from '../pack/pack-format.ts';
import { nowMs } from '../../util/clock.ts';

export interface CopyProgress {
  /** Source snapshot being copied. */
  readonly snapshot: string;
  /** Index of that snapshot among those to copy, and how many there are. */
  readonly index: number;
  readonly total: number;
  readonly treesVisited: number;
  readonly blobsCopied: number;
  readonly bytesCopied: number;
}

export interface CopyOptions {
  signal?: AbortSignal;
  onProgress?: (p: CopyProgress) => void;
  /** Called once per source snapshot, after it was copied or recognised as present. */
  onSnapshot?: (e: { source: string; target: string; copied: boolean }) => void;
  /** Blobs copied at once (default: the source's connections, between 2 and 8). */
  concurrency?: number;
}

export interface CopySummary {
  /** Source snapshot IDs copied now. */
  copied: string[];
  /** Source snapshot IDs the destination already had. */
  skipped: string[];
  /** Blobs (data and tree) the destination did not have. */
  blobsCopied: number;
  /** Bytes those blobs added to the destination (compressed and encrypted). */
  bytesCopied: number;
  /** Source snapshot ID → the ID of its copy in the destination (copied and skipped). */
  targets: Record<string, string>;
}

/** The fields that make two snapshot documents the same backup (everything but parent/original). */
export function similarSnapshots(a: SnapshotDoc, b: SnapshotDoc): boolean {
  const sameTime = a.time === b.time || new Date(a.time).getTime() === new Date(b.time).getTime();
  const sameList = (x: readonly string[] | undefined, y: readonly string[] | undefined): boolean => {
    const xs = [...(x ?? [])].sort();
    const ys = [...(y ?? [])].sort();
    return xs.length === ys.length && xs.every((v, i) => v === ys[i]);
  };
  return (
    sameTime &&
    a.tree === b.tree &&
    (a.hostname ?? '') === (b.hostname ?? '') &&
    (a.username ?? '') === (b.username ?? '') &&
    (a.uid ?? 0) === (b.uid ?? 0) &&
    (a.gid ?? 0) === (b.gid ?? 0) &&
    sameList(a.paths, b.paths) &&
    sameList(a.excludes, b.excludes) &&
    sameList(a.tags, b.tags)
  );
}

/** The document to save in the destination: parent dropped (it names a source snapshot), original kept or set. */
export function copiedDocument(s: Snapshot): SnapshotDoc {
  // Unknown fields written by newer restic versions travel along unchanged.
  const { id, date: _date, parent: _parent, ...doc } = s;
  return { ...doc, original: s.original ?? id };
}

/**
 * Runs tasks with at most `limit` in flight; `submit` waits for a free slot (back-pressure on
 * the tree walk) and the first failure is thrown by the next submit or by `drain`.
 */
class TaskPool {
  readonly #limit: number;
  readonly #running = new Set<Promise<void>>();
  #error: { err: unknown } | undefined;

  constructor(limit: number) {
    this.#limit = limit;
  }

  async submit(task: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.#limit) await Promise.race(this.#running);
    this.#throwIfFailed();
    const p: Promise<void> = task()
      .catch((err: unknown) => {
        this.#error ??= { err };
      })
      .finally(() => this.#running.delete(p));
    this.#running.add(p);
  }

  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error.err;
  }
}

function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('copy cancelled', { cause: signal.reason });
}

function withSnapshotContext(err: unknown, snapshotId: string, dst: Repository): LifeboatError {
  const what = `copying snapshot ${snapshotId.slice(0, 8)} to ${dst.location}`;
  if (err instanceof LifeboatError) {
    return new LifeboatError(err.code, `${what}: ${err.message}`, { hint: err.hint, data: err.data, retryable: err.retryable, cause: err });
  }
  return new LifeboatError('copy_failed', `${what}: ${errorMessage(err)}`, { cause: err, hint: 'run the copy again; snapshots already copied are skipped' });
}

/**
 * Copies `snapshots` (of `src`) into `dst`, skipping those `dst` already holds. Both
 * repositories must be open with their index loaded; the caller holds their locks.
 */
export async function copySnapshots(src: Repository, dst: Repository, snapshots: readonly Snapshot[], opts: CopyOptions = {}): Promise<CopySummary> {
  const { signal } = opts;
  const limit = opts.concurrency ?? Math.min(8, Math.max(2, src.storage.properties.connections));
  const summary: CopySummary = { copied: [], skipped: [], blobsCopied: 0, bytesCopied: 0, targets: {} };
  // Destination snapshots by tree: only those can be similar, and a repository may hold thousands.
  const existing = new Map<string, Snapshot[]>();
  const remember = (s: Snapshot): void => {
    const list = existing.get(s.tree);
    if (list) list.push(s);
    else existing.set(s.tree, [s]);
  };
  for (const s of await listSnapshots(dst, { signal, onError: () => undefined })) remember(s);
  // Trees already walked in this run: every blob below them is in dst (or the run failed).
  const visited = new Set<string>();
  // Blobs being copied now; once saved, dst.hasBlob answers for them.
  const inFlight = new Set<string>();
  let treesVisited = 0;
  let index = 0;
  let current = '';
  let lastReport = 0;
  const report = (force = false): void => {
    if (!opts.onProgress) return;
    const now = nowMs();
    if (!force && now - lastReport < 100) return;
    lastReport = now;
    opts.onProgress({ snapshot: current, index, total: snapshots.length, treesVisited, blobsCopied: summary.blobsCopied, bytesCopied: summary.bytesCopied });
  };

  const save = async (type: BlobType, id: string, plain: Buffer): Promise<void> => {
    const r = await dst.saveBlob(type, plain, id);
    if (!r.known) {
      summary.blobsCopied++;
      summary.bytesCopied += r.added;
    }
  };

  const copyTree = async (root: string): Promise<void> => {
    const pool = new TaskPool(limit);
    const stack = [root];
    while (stack.length > 0) {
      checkSignal(signal);
      const treeId = stack.pop() as string;
      if (visited.has(treeId)) continue;
      // The tree must be read even when dst has it: dst may lack blobs below it.
      const raw = await src.loadBlob('tree', treeId, { signal });
      const tree = decodeTree(raw, `tree ${treeId}`);
      if (!dst.hasBlob('tree', treeId)) await save('tree', treeId, raw);
      treesVisited++;
      // Pushed in reverse so the walk visits children in name order.
      for (let i = tree.nodes.length - 1; i >= 0; i--) {
        const node = tree.nodes[i];
        if (node?.type === 'dir' && node.subtree) stack.push(node.subtree);
      }
      for (const node of tree.nodes) {
        for (const blobId of node.content ?? []) {
          if (inFlight.has(blobId) || dst.hasBlob('data', blobId)) continue;
          inFlight.add(blobId);
          await pool.submit(async () => {
            try {
              await save('data', blobId, await src.loadBlob('data', blobId, { signal }));
            } finally {
              inFlight.delete(blobId);
            }
            report();
          });
        }
      }
      // Marked only once its blobs are queued: a failure aborts the whole run anyway.
      visited.add(treeId);
      report();
    }
    await pool.drain();
  };

  for (const snap of snapshots) {
    checkSignal(signal);
    current = snap.id;
    const present = existing.get(snap.tree)?.find((e) => similarSnapshots(e, snap));
    if (present) {
      summary.skipped.push(snap.id);
      summary.targets[snap.id] = present.id;
      opts.onSnapshot?.({ source: snap.id, target: present.id, copied: false });
      index++;
      continue;
    }
    let newId: string;
    try {
      await copyTree(snap.tree);
      // Design.rst's write ordering: packs and index first, then the snapshot naming them.
      await dst.flush({ signal });
      newId = await saveSnapshot(dst, copiedDocument(snap), { signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw withSnapshotContext(err, snap.id, dst);
    }
    summary.copied.push(snap.id);
    summary.targets[snap.id] = newId;
    remember({ ...copiedDocument(snap), id: newId, date: snap.date });
    opts.onSnapshot?.({ source: snap.id, target: newId, copied: true });
    index++;
    report(true);
  }
  return summary;
}
