/**
 * `repair index` (restic 0.14's `rebuild-index`): a new index made from the pack files that
 * exist. Entries of readable index files are reused for packs that are still there (all pack
 * headers are read with `readAllPacks`); packs no index lists are read; packs whose header
 * cannot be read are left out and reported (`repair packs` salvages their blobs). The new index
 * files are written first and the old ones removed after, so an interruption leaves an index
 * that is at worst redundant.
 */
import { errorMessage } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import type { CallOptions } from '../../storage/storage.ts';
import { Semaphore } from '../../util/semaphore.ts';
import type { Repository } from '../repository.ts';
import { indexFromJSON } from '../index/index-file.ts';
import type { IndexPack } from '../index/index-file.ts';
import { encodeHeader } from '../pack/pack-format.ts';
import type { PackedBlob } from '../pack/pack-format.ts';
import { CRYPTO_OVERHEAD } from '../crypto/crypto.ts';

export interface IndexRebuildOptions extends CallOptions {
  /** Read every pack's header, ignoring the old index (restic's --read-all-packs). */
  readAllPacks?: boolean;
  /** Packs to leave out as if they did not exist (repair packs, before it removes them). */
  dropPacks?: ReadonlySet<string>;
  onProgress?: (line: string) => void;
}

export interface IndexRebuildReport {
  packs: number;
  /** Packs whose header was read. */
  packsRead: number;
  /** Index entries of packs that no longer exist, dropped. */
  packsMissing: string[];
  /** Packs that cannot be read, with why; not in the new index. */
  packsDamaged: Array<{ id: string; error: string }>;
  /** Old index files that could not be read, ignored. */
  indexDamaged: Array<{ id: string; error: string }>;
  newIndex: string[];
  removedIndex: string[];
}

/** The size of a pack holding exactly these blobs: blobs, encrypted header, header length. */
function expectedPackSize(blobs: readonly PackedBlob[]): number {
  return blobs.reduce((n, b) => n + b.length, 0) + encodeHeader(blobs).length + CRYPTO_OVERHEAD + 4;
}

export async function rebuildIndex(repo: Repository, opts: IndexRebuildOptions = {}): Promise<IndexRebuildReport> {
  const say = opts.onProgress ?? (() => undefined);
  const report: IndexRebuildReport = { packs: 0, packsRead: 0, packsMissing: [], packsDamaged: [], indexDamaged: [], newIndex: [], removedIndex: [] };
  const slots = new Semaphore(Math.max(2, repo.storage.properties.connections));

  const oldIndex: string[] = [];
  for await (const f of repo.storage.list('index', opts)) if (isId(f.name)) oldIndex.push(f.name);
  const known = new Map<string, readonly PackedBlob[]>();
  if (!opts.readAllPacks) {
    say('loading indexes');
    await Promise.all(
      oldIndex.map((id) =>
        slots.run(async () => {
          try {
            for (const p of indexFromJSON(await repo.loadUnpacked('index', id, opts), `index ${id}`).packs) known.set(p.id, p.blobs);
          } catch (err) {
            report.indexDamaged.push({ id, error: errorMessage(err) });
          }
        }),
      ),
    );
  }

  say('getting pack files to read');
  const sizes = new Map<string, number>();
  for await (const f of repo.storage.list('data', opts)) if (isId(f.name) && !opts.dropPacks?.has(f.name)) sizes.set(f.name, f.size);
  report.packs = sizes.size;
  for (const id of known.keys()) if (!sizes.has(id) && !opts.dropPacks?.has(id)) report.packsMissing.push(id);

  const packs: IndexPack[] = [];
  const toRead: string[] = [];
  for (const [id, size] of sizes) {
    const blobs = known.get(id);
    // An entry that does not account for every byte of the pack (a blob missing from it, or
    // from the pack) is stale: read the pack's header, as restic does.
    if (blobs && blobs.length > 0 && expectedPackSize(blobs) === size) packs.push({ id, blobs });
    else toRead.push(id);
  }
  if (toRead.length > 0) say(`reading ${toRead.length} pack headers`);
  await Promise.all(
    toRead.map((id) =>
      slots.run(async () => {
        try {
          packs.push({ id, blobs: await repo.readPackHeader(id, sizes.get(id), opts) });
          report.packsRead++;
        } catch (err) {
          report.packsDamaged.push({ id, error: errorMessage(err) });
        }
      }),
    ),
  );
  packs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  say('saving new index files');
  report.newIndex = await repo.writeIndex(packs, oldIndex, opts);
  const keep = new Set(report.newIndex);
  say('removing old index files');
  for (const id of oldIndex) {
    if (keep.has(id)) continue;
    await repo.storage.remove({ type: 'index', name: id }, opts);
    report.removedIndex.push(id);
  }
  return report;
}
