/**
 * Prune: removes the data no snapshot needs any more, in an order that keeps the repository
 * consistent if it is interrupted at any point (restic design.rst, "Read and Write Ordering").
 *
 * planPrune marks every blob reachable from every snapshot (tree walk), then sorts the packs:
 *  - fully used: kept;
 *  - fully unused: deleted;
 *  - partly used (or mixing blob types): repacked, i.e. their used blobs copied into new
 *    packs, while the unused share of the repository exceeds `maxUnused`; tree packs and
 *    packs smaller than `smallPackSize` always;
 *  - in storage but in no index (left by interrupted backups or prunes): deleted;
 *  - in the index but missing from storage: dropped from the index if unneeded, an error if
 *    a snapshot needs them.
 * A blob stored more than once (interrupted backup or prune) keeps one copy, preferring a
 * pack that is kept anyway, so a pack a previous prune already rewrote is kept.
 *
 * executePrune, the caller holding the exclusive lock:
 *  1. copies the used blobs of packs to repack into new packs and flushes, which uploads
 *     them and writes an index file for them;
 *  2. writes new index files describing every pack that stays; the last one written names
 *     every older index file in `supersedes`, so lifeboat sees either the old set or the
 *     complete new set, never a partial one;
 *  3. deletes the old index files;
 *  4. only then deletes the packs no index file lists any more, unreferenced ones included.
 * restic reads every index file and ignores `supersedes`, so a superseded file left by an
 * interrupted prune still counts for it: such files are always replaced and deleted before
 * any pack they list, and packs are deleted early (without rewriting the index) only when no
 * index file in storage is superseded. Killed anywhere, every index file in storage lists
 * only packs that exist, and every blob a snapshot needs is in a listed pack; what may be
 * left are unreferenced packs, duplicate blobs or packs listed twice, which the next prune
 * removes.
 */
import { CancelledError, IntegrityError, LifeboatError, errorMessage, isNotFound } from '../../core/errors.ts';
import { mapLimit } from '../../util/semaphore.ts';
import { CRYPTO_OVERHEAD } from '../crypto/crypto.ts';
import { MasterIndex } from '../index/master-index.ts';
import type { BlobLocation } from '../index/master-index.ts';
import type { IndexPack } from '../index/index-file.ts';
import type { BlobType } from '../pack/pack-format.ts';
import type { Repository } from '../repository.ts';
import { listSnapshots } from '../snapshot/snapshot.ts';
import { decodeTree } from '../tree/node.ts';

export interface PrunePlan {
  /** Distinct blobs some snapshot needs. */
  usedBlobs: number;
  /** Blob copies in the index no snapshot needs (including extra copies of used blobs). */
  unusedBlobs: number;
  /** Bytes of the needed blobs (one copy each), as stored. */
  bytesUsed: number;
  /** Bytes of the unneeded blob copies, as stored. */
  bytesUnused: number;
  /** Extra copies of used blobs (counted in unusedBlobs too). */
  duplicateBlobs: number;
  /** Indexed packs that hold no needed blob. */
  packsToDelete: string[];
  /** Packs whose needed blobs are copied into new packs before they are deleted. */
  packsToRepack: string[];
  packsKept: number;
  /** Bytes the prune frees: deleted and unreferenced packs plus the unused part of repacked ones. */
  bytesToFree: number;
  /** Bytes of packs that will be read and rewritten. */
  bytesToRepack: number;
  /** Index files replaced by the new index (empty when the index need not change, and then
   *  only unreferenced packs are deleted). */
  indexFilesToReplace: string[];
  /** Packs in storage that no index lists. */
  unreferencedPacks: string[];
  /** Unneeded packs the index lists but storage lacks; they are dropped from the index. */
  missingPacks: string[];
}

export interface PlanOptions {
  /** Tolerated unused share of the repository after pruning, 0..1 (default 0.05); 1 = unlimited. */
  maxUnused?: number;
  /** Packs below this size are repacked when partly used, whatever maxUnused says (default 1 MiB). */
  smallPackSize?: number;
  /** Also merge fully used packs below smallPackSize (restic's --repack-small). */
  repackSmall?: boolean;
  signal?: AbortSignal;
}

export interface PruneProgress {
  phase: string;
  done: number;
  total: number;
}

export interface ExecuteOptions {
  signal?: AbortSignal;
  onProgress?: (p: PruneProgress) => void;
  /** Blobs per new index file (default 40,000; tests lower it to get several files). */
  indexBlobsPerFile?: number;
}

export interface PruneResult {
  packsDeleted: number;
  packsWritten: number;
  /** Bytes of packs deleted minus bytes of packs written. */
  bytesFreed: number;
}

/** What executePrune needs beyond the printable plan; kept out of the plan object. */
interface PlanDetails {
  /** Per pack to repack: the blob copies to carry over. */
  carry: Map<string, BlobLocation[]>;
  /** Sizes of the packs that will be deleted (unreferenced, unused, repacked). */
  sizes: Map<string, number>;
  executed: boolean;
}

const details = new WeakMap<PrunePlan, PlanDetails>();

const DEFAULT_SMALL_PACK = 1024 * 1024;
/** Blobs per index file written by prune; below the repository's own split point. */
const INDEX_CHUNK_BLOBS = 40_000;
const TREE_WORKERS = 8;

function checkCancel(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(`${what} cancelled`);
}

/** Size of a pack file from its index entries: blobs, encrypted header, length field. */
function packFileSize(blobs: readonly BlobLocation[]): number {
  let size = CRYPTO_OVERHEAD + 4;
  for (const b of blobs) size += b.length + (b.uncompressedLength === undefined ? 37 : 41);
  return size;
}

/** Walks every snapshot's trees; returns the keys (MasterIndex.key) of every needed blob. */
async function markUsed(repo: Repository, signal: AbortSignal | undefined): Promise<Set<string>> {
  const used = new Set<string>();
  const snapshots = await listSnapshots(repo, { signal });
  const queue: Array<{ id: string; from: string }> = [];
  const addTree = (id: string, from: string): void => {
    const k = MasterIndex.key('tree', id);
    if (used.has(k)) return;
    used.add(k);
    queue.push({ id, from });
  };
  for (const s of snapshots) addTree(s.tree, `snapshot ${s.id}`);
  let active = 0;
  let failure: unknown;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      if (failure !== undefined || (queue.length === 0 && active === 0)) return resolve();
      while (failure === undefined && active < TREE_WORKERS && queue.length > 0) {
        const { id, from } = queue.shift() as { id: string; from: string };
        active++;
        void (async () => {
          checkCancel(signal, 'prune');
          if (!repo.index.has('tree', id)) {
            throw new IntegrityError(`tree ${id} (of ${from}) is not in the index; refusing to prune`, { hint: 'run "lifeboat check" and repair the repository before pruning' });
          }
          let raw: Buffer;
          try {
            raw = await repo.loadBlob('tree', id, { signal });
          } catch (err) {
            if (!isNotFound(err) && !(err instanceof IntegrityError)) throw err;
            throw new IntegrityError(`tree ${id} (of ${from}) cannot be read: ${errorMessage(err)}; refusing to prune`, {
              hint: 'run "lifeboat check" and repair the repository before pruning',
              cause: err,
            });
          }
          const tree = decodeTree(raw, `tree ${id}`);
          for (const n of tree.nodes) {
            if (n.subtree) addTree(n.subtree, `tree ${id}`);
            for (const d of n.content ?? []) {
              const k = MasterIndex.key('data', d);
              if (used.has(k)) continue;
              if (!repo.index.has('data', d)) {
                throw new IntegrityError(`data blob ${d} (of ${n.name} in tree ${id}) is not in the index; refusing to prune`, { hint: 'run "lifeboat check" and repair the repository before pruning' });
              }
              used.add(k);
            }
          }
        })().then(
          () => {
            active--;
            pump();
          },
          (err: unknown) => {
            active--;
            failure ??= err;
            pump();
          },
        );
      }
    };
    pump();
  });
  if (failure !== undefined) throw failure;
  return used;
}

interface PackInfo {
  id: string;
  blobs: readonly BlobLocation[];
  /** Blob copies kept (needed, and the chosen copy). */
  usedBlobs: number;
  usedSize: number;
  unusedBlobs: number;
  unusedSize: number;
  types: Set<BlobType>;
  /** Size from the index (blobs + header). */
  size: number;
}

const locKey = (l: BlobLocation): string => `${l.packId}:${l.offset}`;

/**
 * Decides what a prune would do. Loads the index when none is loaded; reads every snapshot
 * and tree. Refuses (IntegrityError) when a needed blob or pack is missing: pruning then
 * could lose more.
 */
export async function planPrune(repo: Repository, opts: PlanOptions = {}): Promise<PrunePlan> {
  const { signal } = opts;
  const maxUnused = opts.maxUnused ?? 0.05;
  if (!(maxUnused >= 0)) throw new LifeboatError('usage', `max unused share must be 0 or more (1 = unlimited), got ${String(opts.maxUnused)}`);
  const smallPackSize = opts.smallPackSize ?? DEFAULT_SMALL_PACK;
  if (repo.index.indexFiles.size === 0) await repo.loadIndex({ signal });

  const used = await markUsed(repo, signal);

  const stored = new Map<string, number>();
  for await (const f of repo.storage.list('data', { signal })) stored.set(f.name, f.size);
  const indexFiles: string[] = [];
  for await (const f of repo.storage.list('index', { signal })) indexFiles.push(f.name);
  checkCancel(signal, 'prune');

  // Choose one copy of every needed blob. A pack is a better home the more certainly it is
  // kept: one holding needed blobs stored nowhere else, then one holding nothing unneeded
  // (such as a pack an interrupted prune already rewrote), then any; never a missing one.
  const uniqueUsed = new Map<string, number>();
  const hasUnused = new Set<string>();
  for (const [packId, blobs] of repo.index.packs()) {
    let unique = 0;
    for (const b of blobs) {
      const k = MasterIndex.key(b.type, b.id);
      if (!used.has(k)) hasUnused.add(packId);
      else if (repo.index.lookup(b.type, b.id).length === 1) unique++;
    }
    uniqueUsed.set(packId, unique);
  }
  const rank = (packId: string): number => (!stored.has(packId) ? -1 : (uniqueUsed.get(packId) ?? 0) > 0 ? 3 : hasUnused.has(packId) ? 1 : 2);
  const chosen = new Set<string>();
  let duplicateBlobs = 0;
  for (const k of used) {
    const type: BlobType = k[0] === 't' ? 'tree' : 'data';
    const locs = repo.index.lookup(type, k.slice(1));
    let best: BlobLocation | undefined;
    for (const l of locs) {
      if (!best) best = l;
      else {
        const d = rank(l.packId) - rank(best.packId);
        if (d > 0 || (d === 0 && l.packId < best.packId)) best = l;
      }
    }
    if (!best || rank(best.packId) < 0) {
      throw new IntegrityError(`${type} blob ${k.slice(1)} is needed but ${best ? `its pack ${best.packId} is missing from storage` : 'not in the index'}; refusing to prune`, {
        hint: 'run "lifeboat check" to see what is damaged',
      });
    }
    chosen.add(locKey(best));
    duplicateBlobs += locs.length - 1;
  }

  const infos: PackInfo[] = [];
  for (const [packId, blobs] of repo.index.packs()) {
    const info: PackInfo = { id: packId, blobs, usedBlobs: 0, usedSize: 0, unusedBlobs: 0, unusedSize: 0, types: new Set(), size: packFileSize(blobs) };
    for (const b of blobs) {
      info.types.add(b.type);
      if (chosen.has(locKey(b))) {
        info.usedBlobs++;
        info.usedSize += b.length;
      } else {
        info.unusedBlobs++;
        info.unusedSize += b.length;
      }
    }
    infos.push(info);
  }

  const unreferencedPacks = [...stored.keys()].filter((id) => !repo.index.hasPack(id)).sort();
  const packsToDelete: string[] = [];
  const missingPacks: string[] = [];
  const candidates: PackInfo[] = [];
  const smallFull: PackInfo[] = [];
  let usedSize = 0;
  let unusedSize = 0;
  let removeSize = 0;
  let packsKept = 0;
  for (const p of infos) {
    usedSize += p.usedSize;
    unusedSize += p.unusedSize;
    const actual = stored.get(p.id);
    if (actual === undefined) {
      missingPacks.push(p.id); // unneeded, or the blob choice above would have thrown
      removeSize += p.unusedSize;
      continue;
    }
    if (p.usedBlobs === 0) {
      packsToDelete.push(p.id);
      removeSize += p.unusedSize;
      continue;
    }
    if (actual !== p.size) {
      throw new IntegrityError(`pack ${p.id} has ${actual} bytes but the index describes ${p.size}; refusing to prune`, { hint: 'run "lifeboat check" and rebuild the index before pruning' });
    }
    if (p.unusedBlobs === 0 && p.types.size === 1) {
      if (opts.repackSmall && p.size < smallPackSize) smallFull.push(p);
      else packsKept++;
      continue;
    }
    candidates.push(p);
  }
  // Merging one small pack with nothing gains nothing.
  if (smallFull.length >= 2) candidates.push(...smallFull);
  else packsKept += smallFull.length;

  // Tree packs first (they are small and read often), then small packs, then by unused share.
  const isTree = (p: PackInfo): boolean => !p.types.has('data');
  const isSmall = (p: PackInfo): boolean => p.size < smallPackSize;
  candidates.sort((a, b) => {
    if (isTree(a) !== isTree(b)) return isTree(a) ? -1 : 1;
    if (isSmall(a) !== isSmall(b)) return isSmall(a) ? -1 : 1;
    return b.unusedSize * a.usedSize - a.unusedSize * b.usedSize || (a.id < b.id ? -1 : 1);
  });
  // Unused bytes tolerated after pruning: unused / (used + unused) <= maxUnused.
  const maxUnusedAfter = maxUnused >= 1 ? Infinity : (usedSize * maxUnused) / (1 - maxUnused);
  const packsToRepack: string[] = [];
  const carry = new Map<string, BlobLocation[]>();
  let repackRemoved = 0;
  let bytesToRepack = 0;
  for (const p of candidates) {
    const remaining = unusedSize - removeSize - repackRemoved;
    if (!isTree(p) && !(p.types.size > 1) && remaining < maxUnusedAfter && !isSmall(p)) {
      packsKept++;
      continue;
    }
    packsToRepack.push(p.id);
    carry.set(p.id, p.blobs.filter((b) => chosen.has(locKey(b))));
    repackRemoved += p.unusedSize;
    bytesToRepack += p.size;
  }

  const sizes = new Map<string, number>();
  for (const id of [...unreferencedPacks, ...packsToDelete, ...packsToRepack]) sizes.set(id, stored.get(id) ?? 0);
  let bytesToFree = repackRemoved;
  for (const id of [...unreferencedPacks, ...packsToDelete]) bytesToFree += stored.get(id) ?? 0;

  // Index files another one supersedes (left by an interrupted prune) are loaded by restic
  // as if current: they must go, through a rewrite, before any pack they list is deleted.
  const superseded = new Set<string>();
  for (const { supersedes } of repo.index.indexFiles.values()) for (const id of supersedes) superseded.add(id);
  const staleIndex = indexFiles.some((id) => superseded.has(id));
  const rewrite = staleIndex || packsToDelete.length > 0 || packsToRepack.length > 0 || missingPacks.length > 0;
  const plan: PrunePlan = {
    usedBlobs: used.size,
    unusedBlobs: infos.reduce((n, p) => n + p.unusedBlobs, 0),
    bytesUsed: usedSize,
    bytesUnused: unusedSize,
    duplicateBlobs,
    packsToDelete: packsToDelete.sort(),
    packsToRepack,
    packsKept,
    bytesToFree,
    bytesToRepack,
    indexFilesToReplace: rewrite ? indexFiles.sort() : [],
    unreferencedPacks,
    missingPacks: missingPacks.sort(),
  };
  details.set(plan, { carry, sizes, executed: false });
  return plan;
}

/**
 * Removes files in parallel. Every removal is attempted; a file already gone counts as
 * removed (a lost reply of an earlier try). Throws after the batch if any failed.
 */
async function removeAll(repo: Repository, type: 'data' | 'index', ids: readonly string[], phase: string, opts: ExecuteOptions): Promise<string[]> {
  const removed: string[] = [];
  const failed: Array<{ id: string; err: unknown }> = [];
  let done = 0;
  opts.onProgress?.({ phase, done, total: ids.length });
  await mapLimit(ids, Math.max(1, repo.storage.properties.connections), async (id) => {
    checkCancel(opts.signal, 'prune');
    try {
      await repo.storage.remove({ type, name: id }, { signal: opts.signal });
      removed.push(id);
    } catch (err) {
      if (isNotFound(err)) removed.push(id);
      else if (err instanceof CancelledError) throw err;
      else failed.push({ id, err });
    }
    opts.onProgress?.({ phase, done: ++done, total: ids.length });
  });
  if (failed.length > 0) {
    const first = failed[0] as { id: string; err: unknown };
    throw new LifeboatError('prune_incomplete', `prune could not delete ${failed.length} ${type === 'data' ? 'pack' : 'index'} file(s), e.g. ${type}/${first.id}: ${errorMessage(first.err)}`, {
      hint: 'the repository is consistent; run prune again to finish',
      cause: first.err,
      retryable: failed.every((f) => f.err instanceof LifeboatError && f.err.retryable),
      data: { phase, failed: failed.map((f) => f.id) },
    });
  }
  return removed;
}

/**
 * Carries out a plan from planPrune on the same repository (once). The caller holds the
 * exclusive lock. See the top of this file for the order and why it is safe to interrupt.
 * If it throws, storage is consistent but this Repository's in-memory index is not: open
 * the repository again before anything else (a second prune finishes the work).
 */
export async function executePrune(repo: Repository, plan: PrunePlan, opts: ExecuteOptions = {}): Promise<PruneResult> {
  const det = details.get(plan);
  if (!det) throw new LifeboatError('usage', 'executePrune needs a plan made by planPrune');
  if (det.executed) throw new LifeboatError('usage', 'this prune plan was already executed; make a new one');
  det.executed = true;
  const { signal } = opts;
  let bytesFreed = 0;

  if (plan.indexFilesToReplace.length === 0) {
    // No index file in storage is superseded, so no index file lists these packs at all.
    const unref = await removeAll(repo, 'data', plan.unreferencedPacks, 'delete-packs', opts);
    for (const id of unref) bytesFreed += det.sizes.get(id) ?? 0;
    return { packsDeleted: unref.length, packsWritten: 0, bytesFreed };
  }

  // 1. Repack. The packs leaving are dropped from the in-memory index first, so saveBlob
  //    stores their blobs again instead of finding them there.
  const leaving = [...plan.packsToRepack, ...plan.packsToDelete, ...plan.missingPacks];
  for (const id of leaving) repo.index.removePack(id);
  const before = new Set([...repo.index.packs()].map(([id]) => id));
  let repacked = 0;
  opts.onProgress?.({ phase: 'repack', done: 0, total: plan.packsToRepack.length });
  for (const packId of plan.packsToRepack) {
    checkCancel(signal, 'prune');
    const blobs = det.carry.get(packId) ?? [];
    if (blobs.length > 0) {
      const bytes = await repo.storage.load({ type: 'data', name: packId }, { signal });
      for (const loc of blobs) {
        if (repo.index.has(loc.type, loc.id)) continue; // a kept pack holds a copy
        const plain = await repo.decodeBlob(loc, bytes.subarray(loc.offset, loc.offset + loc.length));
        await repo.saveBlob(loc.type, plain, loc.id);
      }
    }
    opts.onProgress?.({ phase: 'repack', done: ++repacked, total: plan.packsToRepack.length });
  }
  await repo.flush({ signal });
  let packsWritten = 0;
  for (const [id, blobs] of repo.index.packs()) {
    if (before.has(id)) continue;
    packsWritten++;
    bytesFreed -= packFileSize(blobs);
  }
  // Every blob carried over must now be in a pack that stays, before anything is deleted.
  for (const blobs of det.carry.values()) {
    for (const b of blobs) {
      if (!repo.index.has(b.type, b.id)) throw new IntegrityError(`${b.type} blob ${b.id} was not repacked; prune stopped before deleting anything`);
    }
  }

  // 2. New index files for every pack that stays; the last one supersedes all older files,
  //    including the one flush just wrote.
  checkCancel(signal, 'prune');
  const old = [...new Set([...plan.indexFilesToReplace, ...repo.index.indexFiles.keys()])];
  const perFile = Math.max(1, Math.min(opts.indexBlobsPerFile ?? INDEX_CHUNK_BLOBS, INDEX_CHUNK_BLOBS));
  const chunks: IndexPack[][] = [[]];
  let count = 0;
  for (const [id, blobs] of repo.index.packs()) {
    (chunks.at(-1) as IndexPack[]).push({ id, blobs });
    count += blobs.length;
    if (count >= perFile) {
      chunks.push([]);
      count = 0;
    }
  }
  if (chunks.length > 1 && (chunks.at(-1) as IndexPack[]).length === 0) chunks.pop();
  opts.onProgress?.({ phase: 'write-index', done: 0, total: chunks.length });
  for (let i = 0; i < chunks.length; i++) {
    await repo.writeIndex(chunks[i] as IndexPack[], i === chunks.length - 1 ? old : [], { signal });
    opts.onProgress?.({ phase: 'write-index', done: i + 1, total: chunks.length });
  }

  // 3. The old index files. Failing here stops before any pack is deleted.
  const goneIndex = await removeAll(repo, 'index', old, 'delete-index', opts);
  for (const id of goneIndex) repo.index.indexFiles.delete(id);

  // 4. Packs no index file lists any more.
  const gone = await removeAll(repo, 'data', [...plan.unreferencedPacks, ...plan.packsToDelete, ...plan.packsToRepack], 'delete-packs', opts);
  for (const id of gone) bytesFreed += det.sizes.get(id) ?? 0;
  return { packsDeleted: gone.length, packsWritten, bytesFreed };
}
