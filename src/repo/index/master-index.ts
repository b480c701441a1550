/**
 * The in-memory union of all index files: blob → where it is. Lookups are by blob type and
 * ID, as restic keys them (the same bytes may exist as a data and as a tree blob).
 *
 * Compact, because it holds every blob of the repository for as long as a command runs: an
 * entry is the binary ID (32 bytes), the type and four 32-bit numbers (pack number, offset,
 * length, uncompressed length) in flat typed arrays, found through an open-addressing table
 * of entry numbers keyed by the ID's first four bytes (IDs are SHA-256, so evenly spread).
 * That is about 60 bytes per blob, where a map of strings to objects took about 300.
 * Locations are materialised as objects only when asked for.
 *
 * A blob may have several entries (copies in several packs, after an interrupted backup or
 * a copy); they sit on the same probe path and all are returned. Removing a pack marks its
 * entries deleted; the arrays are rebuilt once deleted entries outnumber live ones.
 */
import type { BlobType, PackedBlob } from '../pack/pack-format.ts';

export interface BlobLocation extends PackedBlob {
  readonly packId: string;
}

const ID_BYTES = 32;
const EMPTY = -1;
const DATA = 0;
const TREE = 1;
const DELETED = 255;
/** Meta fields per entry: pack number, offset, length, uncompressed length + 1 (0 = none). */
const META = 4;
const MAX_U32 = 0xffffffff;

function fitsU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v < MAX_U32;
}

function typeCode(type: BlobType): number {
  return type === 'tree' ? TREE : DATA;
}

export class MasterIndex {
  /** IDs of the index files merged in (with what they supersede). */
  readonly indexFiles = new Map<string, { supersedes: readonly string[] }>();

  #ids = new Uint8Array(0);
  #idWords = new Uint32Array(0);
  #types = new Uint8Array(0);
  #meta = new Uint32Array(0);
  /** Entries written (live and deleted), live ones, and distinct (type, ID) pairs. */
  #used = 0;
  #live = 0;
  #distinct = 0;
  #slots = new Int32Array(0);
  #mask = 0;
  readonly #packIds: string[] = [];
  readonly #packNo = new Map<string, number>();
  /** Per pack number: its entries, or undefined once the pack is removed. */
  readonly #packEntries: Array<number[] | undefined> = [];
  /** The ID being looked up, in binary (its own ArrayBuffer, so the word view is aligned). */
  readonly #scratch = Buffer.alloc(ID_BYTES);
  readonly #scratchWords = new Uint32Array(this.#scratch.buffer, this.#scratch.byteOffset, ID_BYTES / 4);

  /** The key of a (type, ID) pair, for callers that keep their own maps and sets. */
  static key(type: BlobType, id: string): string {
    return type === 'tree' ? `t${id}` : `d${id}`;
  }

  addPack(packId: string, blobs: readonly PackedBlob[]): void {
    if (this.#packNo.has(packId)) return;
    for (const b of blobs) {
      if (!this.#parse(b.id)) throw new RangeError(`index entry has an invalid blob ID ${JSON.stringify(b.id)}`);
      if (!fitsU32(b.offset) || !fitsU32(b.length) || !fitsU32(b.uncompressedLength ?? 0)) {
        throw new RangeError(`index entry for blob ${b.id} has an offset, length or size out of range (${b.offset}, ${b.length}, ${b.uncompressedLength})`);
      }
    }
    const no = this.#packIds.length;
    this.#packIds.push(packId);
    this.#packNo.set(packId, no);
    const entries: number[] = [];
    this.#reserve(this.#used + blobs.length);
    for (const b of blobs) entries.push(this.#insert(b, no));
    this.#packEntries.push(entries);
  }

  removePack(packId: string): void {
    const no = this.#packNo.get(packId);
    if (no === undefined) return;
    const entries = this.#packEntries[no] ?? [];
    this.#packNo.delete(packId);
    this.#packEntries[no] = undefined;
    for (const e of entries) {
      const type = this.#types[e] as number;
      this.#types[e] = DELETED;
      this.#live--;
      if (!this.#find(type, e)) this.#distinct--;
    }
    if (this.#used - this.#live > this.#live) this.#rebuild();
  }

  has(type: BlobType, id: string): boolean {
    if (!this.#parse(id)) return false;
    const t = typeCode(type);
    for (let s = (this.#scratchWords[0] as number) & this.#mask; this.#slots.length > 0; s = (s + 1) & this.#mask) {
      const e = this.#slots[s] as number;
      if (e === EMPTY) return false;
      if (this.#types[e] === t && this.#sameId(e)) return true;
    }
    return false;
  }

  /** Every known location of a blob (duplicates are possible after interrupted backups). */
  lookup(type: BlobType, id: string): readonly BlobLocation[] {
    if (!this.#parse(id)) return [];
    const t = typeCode(type);
    const out: BlobLocation[] = [];
    for (let s = (this.#scratchWords[0] as number) & this.#mask; this.#slots.length > 0; s = (s + 1) & this.#mask) {
      const e = this.#slots[s] as number;
      if (e === EMPTY) break;
      if (this.#types[e] === t && this.#sameId(e)) out.push(this.#location(e, id));
    }
    return out;
  }

  *packs(): IterableIterator<[string, readonly BlobLocation[]]> {
    for (let no = 0; no < this.#packIds.length; no++) {
      const entries = this.#packEntries[no];
      if (entries) yield [this.#packIds[no] as string, entries.map((e) => this.#location(e))];
    }
  }

  hasPack(packId: string): boolean {
    return this.#packNo.has(packId);
  }

  packBlobs(packId: string): readonly BlobLocation[] | undefined {
    const no = this.#packNo.get(packId);
    return no === undefined ? undefined : this.#packEntries[no]?.map((e) => this.#location(e));
  }

  get packCount(): number {
    return this.#packNo.size;
  }

  /** Distinct blobs (a blob stored in two packs counts once). */
  get blobCount(): number {
    return this.#distinct;
  }

  *blobs(): IterableIterator<BlobLocation> {
    for (let e = 0; e < this.#used; e++) if (this.#types[e] !== DELETED) yield this.#location(e);
  }

  // ---- storage ----

  /**
   * Writes `id` (hex) into the scratch ID; false when it is not a 64-digit hex ID (hex
   * decoding stops at the first pair that is not hex, so fewer bytes come out).
   */
  #parse(id: string): boolean {
    return id.length === 2 * ID_BYTES && this.#scratch.write(id, 'hex') === ID_BYTES;
  }

  #sameId(e: number): boolean {
    const w = this.#idWords;
    const s = this.#scratchWords;
    const at = e * (ID_BYTES / 4);
    for (let i = 0; i < ID_BYTES / 4; i++) if (w[at + i] !== s[i]) return false;
    return true;
  }

  /** Is there a live entry of this type with entry `e`'s ID? */
  #find(type: number, e: number): boolean {
    this.#scratch.set(this.#ids.subarray(e * ID_BYTES, (e + 1) * ID_BYTES));
    for (let s = (this.#scratchWords[0] as number) & this.#mask; ; s = (s + 1) & this.#mask) {
      const x = this.#slots[s] as number;
      if (x === EMPTY) return false;
      if (this.#types[x] === type && this.#sameId(x)) return true;
    }
  }

  #location(e: number, id?: string): BlobLocation {
    const m = e * META;
    const meta = this.#meta;
    const ulen = meta[m + 3] as number;
    const loc: { -readonly [K in keyof BlobLocation]: BlobLocation[K] } = {
      id: id ?? Buffer.from(this.#ids.buffer, e * ID_BYTES, ID_BYTES).toString('hex'),
      type: this.#types[e] === TREE ? 'tree' : 'data',
      offset: meta[m + 1] as number,
      length: meta[m + 2] as number,
      packId: this.#packIds[meta[m] as number] as string,
    };
    // Absent, not undefined, when stored as is: the shape index files and packs use.
    if (ulen !== 0) loc.uncompressedLength = ulen - 1;
    return loc;
  }

  /** Adds one entry (checked by addPack) and returns its number. */
  #insert(b: PackedBlob, packNo: number): number {
    this.#parse(b.id);
    const e = this.#used++;
    const t = typeCode(b.type);
    this.#ids.set(this.#scratch, e * ID_BYTES);
    this.#types[e] = t;
    const m = e * META;
    this.#meta[m] = packNo;
    this.#meta[m + 1] = b.offset;
    this.#meta[m + 2] = b.length;
    this.#meta[m + 3] = b.uncompressedLength === undefined ? 0 : b.uncompressedLength + 1;
    let seen = false;
    let s = (this.#scratchWords[0] as number) & this.#mask;
    for (; ; s = (s + 1) & this.#mask) {
      const x = this.#slots[s] as number;
      if (x === EMPTY) break;
      if (!seen && this.#types[x] === t && this.#sameId(x)) seen = true;
    }
    this.#slots[s] = e;
    this.#live++;
    if (!seen) this.#distinct++;
    return e;
  }

  /** Room for `entries` entries, with the slot table at most half full. */
  #reserve(entries: number): void {
    if (entries > this.#types.length) {
      const cap = Math.max(1024, entries, this.#types.length * 2);
      const ids = new Uint8Array(cap * ID_BYTES);
      ids.set(this.#ids.subarray(0, this.#used * ID_BYTES));
      this.#ids = ids;
      this.#idWords = new Uint32Array(ids.buffer);
      const types = new Uint8Array(cap);
      types.set(this.#types.subarray(0, this.#used));
      this.#types = types;
      const meta = new Uint32Array(cap * META);
      meta.set(this.#meta.subarray(0, this.#used * META));
      this.#meta = meta;
    }
    if (entries * 2 > this.#slots.length) this.#rehash(Math.max(2048, 2 ** Math.ceil(Math.log2(entries * 2))));
  }

  #rehash(size: number): void {
    this.#slots = new Int32Array(size).fill(EMPTY);
    this.#mask = size - 1;
    const w = this.#idWords;
    for (let e = 0; e < this.#used; e++) {
      if (this.#types[e] === DELETED) continue;
      let s = (w[e * (ID_BYTES / 4)] as number) & this.#mask;
      while (this.#slots[s] !== EMPTY) s = (s + 1) & this.#mask;
      this.#slots[s] = e;
    }
  }

  /** Drops deleted entries: live ones move down, packs' entry lists and the table follow. */
  #rebuild(): void {
    const moved = new Int32Array(this.#used).fill(EMPTY);
    let n = 0;
    for (let e = 0; e < this.#used; e++) {
      if (this.#types[e] === DELETED) continue;
      if (n !== e) {
        this.#ids.copyWithin(n * ID_BYTES, e * ID_BYTES, (e + 1) * ID_BYTES);
        this.#types[n] = this.#types[e] as number;
        this.#meta.copyWithin(n * META, e * META, (e + 1) * META);
      }
      moved[e] = n++;
    }
    this.#used = n;
    for (let no = 0; no < this.#packEntries.length; no++) {
      const entries = this.#packEntries[no];
      if (entries) this.#packEntries[no] = entries.map((e) => moved[e] as number);
    }
    this.#rehash(this.#slots.length);
  }
}
