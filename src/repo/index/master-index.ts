/**
 * The in-memory union of all index files: blob → where it is. Lookups are by blob type and
 * ID, as restic keys them (the same bytes may exist as a data and as a tree blob).
 */
import type { BlobType, PackedBlob } from '../pack/pack-format.ts';

export interface BlobLocation extends PackedBlob {
  readonly packId: string;
}

export class MasterIndex {
  readonly #blobs = new Map<string, BlobLocation[]>();
  readonly #packs = new Map<string, BlobLocation[]>();
  /** IDs of the index files merged in (with what they supersede). */
  readonly indexFiles = new Map<string, { supersedes: readonly string[] }>();

  static key(type: BlobType, id: string): string {
    return type === 'tree' ? `t${id}` : `d${id}`;
  }

  addPack(packId: string, blobs: readonly PackedBlob[]): void {
    if (this.#packs.has(packId)) return;
    const locs = blobs.map((b) => ({ ...b, packId }));
    this.#packs.set(packId, locs);
    for (const loc of locs) {
      const k = MasterIndex.key(loc.type, loc.id);
      const list = this.#blobs.get(k);
      if (list) list.push(loc);
      else this.#blobs.set(k, [loc]);
    }
  }

  removePack(packId: string): void {
    const locs = this.#packs.get(packId);
    if (!locs) return;
    this.#packs.delete(packId);
    for (const loc of locs) {
      const k = MasterIndex.key(loc.type, loc.id);
      const rest = (this.#blobs.get(k) ?? []).filter((l) => l.packId !== packId);
      if (rest.length > 0) this.#blobs.set(k, rest);
      else this.#blobs.delete(k);
    }
  }

  has(type: BlobType, id: string): boolean {
    return this.#blobs.has(MasterIndex.key(type, id));
  }

  /** Every known location of a blob (duplicates are possible after interrupted backups). */
  lookup(type: BlobType, id: string): readonly BlobLocation[] {
    return this.#blobs.get(MasterIndex.key(type, id)) ?? [];
  }

  packs(): IterableIterator<[string, readonly BlobLocation[]]> {
    return this.#packs.entries();
  }

  hasPack(packId: string): boolean {
    return this.#packs.has(packId);
  }

  packBlobs(packId: string): readonly BlobLocation[] | undefined {
    return this.#packs.get(packId);
  }

  get packCount(): number {
    return this.#packs.size;
  }

  get blobCount(): number {
    return this.#blobs.size;
  }

  *blobs(): IterableIterator<BlobLocation> {
    for (const list of this.#blobs.values()) yield* list;
  }
}
