/**
 * `repair packs` (restic 0.17+): the blobs of damaged pack files that still decrypt and match
 * their IDs are copied into new packs; then the index is rebuilt without the damaged packs
 * and those are removed. Blobs that could not be saved stay missing: `repair snapshots`
 * then takes them out of the snapshots that reference them.
 */
import { errorMessage, NotFoundError } from '../../core/errors.ts';
import type { CallOptions } from '../../storage/storage.ts';
import type { Repository } from '../repository.ts';
import type { PackedBlob } from '../pack/pack-format.ts';
import { rebuildIndex } from './index-rebuild.ts';

export interface SalvageReport {
  /** Blobs copied into new packs. */
  salvaged: number;
  /** Blobs that could not be read, by pack. */
  lost: Array<{ pack: string; blob: string; type: string; error: string }>;
  removedPacks: string[];
}

export async function salvagePacks(repo: Repository, packIds: readonly string[], opts: CallOptions & { onProgress?: (line: string) => void } = {}): Promise<SalvageReport> {
  const say = opts.onProgress ?? (() => undefined);
  const report: SalvageReport = { salvaged: 0, lost: [], removedPacks: [] };
  for (const packId of packIds) {
    let size: number;
    try {
      size = (await repo.storage.stat({ type: 'data', name: packId }, opts)).size;
    } catch (err) {
      throw new NotFoundError(`pack ${packId} does not exist`, { hint: 'run "lifeboat list packs" to see the pack IDs', cause: err });
    }
    // The index knows the blobs even when the pack's header is damaged; the header knows them
    // when the index does not.
    let blobs: readonly PackedBlob[] = repo.index.packBlobs(packId) ?? [];
    if (blobs.length === 0) blobs = await repo.readPackHeader(packId, size, opts).catch(() => []);
    say(`salvaging pack ${packId}: ${blobs.length} blobs`);
    const raw = await repo.storage.load({ type: 'data', name: packId }, opts);
    // Out of the index first, so that saving a blob stores it anew instead of finding it known.
    repo.index.removePack(packId);
    for (const b of blobs) {
      try {
        if (b.offset + b.length > raw.length) throw new Error('blob lies beyond the end of the pack');
        const plain = await repo.decodeBlob({ ...b, packId }, raw.subarray(b.offset, b.offset + b.length));
        if (!repo.hasBlob(b.type, b.id)) {
          await repo.saveBlob(b.type, plain, b.id);
          report.salvaged++;
        }
      } catch (err) {
        report.lost.push({ pack: packId, blob: b.id, type: b.type, error: errorMessage(err) });
      }
    }
  }
  await repo.flush(opts);
  const drop = new Set(packIds);
  say('rebuilding the index without the damaged packs');
  await rebuildIndex(repo, { ...opts, dropPacks: drop });
  for (const id of packIds) {
    await repo.storage.remove({ type: 'data', name: id }, opts);
    report.removedPacks.push(id);
  }
  return report;
}
