/**
 * Repository: restic's repository format (v1 read, v2 read and write) over a Storage.
 *
 * Owns the master key, the config, the in-memory index and the pack writers. Writers call
 * `saveBlob` (deduplicated against the index and against blobs in flight), then `flush`,
 * which uploads the last packs and writes an index file for every pack it uploaded; only
 * after `flush` may a snapshot reference the blobs (design.rst, "Read and Write Ordering").
 * Every read is verified: the MAC before decrypting, the SHA-256 of the plaintext after.
 */
import { createHmac } from 'node:crypto';
import { hostname as osHostname, userInfo } from 'node:os';
import { IntegrityError, LifeboatError, NotFoundError, RepositoryNotFoundError, WrongPasswordError, isNotFound } from '../core/errors.ts';
import { idOf, isId, randomId } from '../core/ids.ts';
import { Semaphore } from '../util/semaphore.ts';
import { release } from '../util/memory.ts';
import type { CallOptions, FileType, Storage } from '../storage/storage.ts';
import { describeHandle } from '../storage/storage.ts';
import { initCrypto, open as openSealed, seal, newMasterKey, CRYPTO_OVERHEAD } from './crypto/crypto.ts';
import type { MasterKey } from './crypto/crypto.ts';
import { addKey, openKey } from './key/key-file.ts';
import type { ScryptParams } from './key/key-file.ts';
import { randomPolynomial, parsePolynomial } from './chunker/polynomial.ts';
import { CodecPool } from './codec/codec-pool.ts';
import type { BlobSlice, DecodeOptions } from './codec/codec-pool.ts';
import type { EncodedBlob } from './codec/blob-codec.ts';
import { decodeUnpacked, encodeUnpacked } from './unpacked.ts';
import { MasterIndex } from './index/master-index.ts';
import type { BlobLocation } from './index/master-index.ts';
import { indexFromJSON, indexToJSON } from './index/index-file.ts';
import type { IndexPack } from './index/index-file.ts';
import { decodeHeader, encodeHeader, headerLength } from './pack/pack-format.ts';
import type { BlobType, PackedBlob } from './pack/pack-format.ts';

export interface RepoConfig {
  readonly version: number;
  readonly id: string;
  readonly chunker_polynomial: string;
}

export interface InitOptions extends CallOptions {
  version?: 1 | 2;
  polynomial?: string;
  scrypt?: ScryptParams;
}

export interface OpenOptions extends CallOptions {
  keyHint?: string;
  /** Target pack size in bytes (default 4 MiB, like restic 0.14; every open and uploading pack is held in memory). */
  packSize?: number;
  /** zstd level for blobs (default 3). */
  compressionLevel?: number;
}

export interface SaveBlobResult {
  readonly id: string;
  /** True when the repository already had the blob (nothing new stored). */
  readonly known: boolean;
  /** Bytes added to the repository (0 when known). */
  readonly added: number;
  /** Plaintext bytes of the blob when it was added (0 when known). */
  readonly plain: number;
}

type UnpackedType = Extract<FileType, 'snapshots' | 'index' | 'locks'>;

const DEFAULT_PACK_SIZE = 4 * 1024 * 1024;
/**
 * Packs of data blobs open at once, each new blob going to one picked by a keyed hash of its
 * ID: pack files then hold no file's chunks in order, so their sizes do not give away chunk
 * boundaries, the mitigation restic 0.18 made for the chunking attack of eprint 2025/532 (its
 * security fix #5291, which picks at random). Keyed with a key derived from the master key,
 * the choice is as unpredictable to whoever sees only the storage, and the same on every run
 * over the same data (a retried or interrupted run writes the same packs). Costs one more
 * open pack of memory; tree blobs reveal nothing of the kind.
 */
const OPEN_DATA_PACKS = 2;
const MAX_BLOBS_PER_INDEX = 50_000;

/** Blobs gathered for one pack file not yet written. */
interface OpenPack {
  parts: Buffer[];
  entries: PackedBlob[];
  size: number;
}

export class Repository {
  readonly storage: Storage;
  readonly config: RepoConfig;
  readonly keyId: string;
  readonly index = new MasterIndex();
  readonly #key: MasterKey;
  readonly #packSize: number;
  readonly #level: number;
  /** The open packs of each type (OPEN_DATA_PACKS slots for data, one for trees). */
  readonly #open = new Map<BlobType, Array<OpenPack | undefined>>();
  /** The key of the data blobs' pack choice (see OPEN_DATA_PACKS). */
  readonly #slotKey: Buffer;
  /** Blobs accepted but not yet in the index (in an open pack or uploading). */
  readonly #pending = new Map<string, Promise<unknown>>();
  readonly #uploads = new Set<Promise<void>>();
  readonly #uploadSlots: Semaphore;
  /** Packs closed and not yet uploaded, and the writers waiting for that number to drop. */
  #closedPacks = 0;
  readonly #uploadRoom: Array<() => void> = [];
  #unindexed: IndexPack[] = [];
  #writeError: unknown;
  readonly #writeFailed = new AbortController();

  private constructor(storage: Storage, config: RepoConfig, key: MasterKey, keyId: string, opts: OpenOptions) {
    this.storage = storage;
    this.config = config;
    this.#key = key;
    this.#slotKey = createHmac('sha256', Buffer.concat([key.encrypt, key.mac.k, key.mac.r])).update('lifeboat blob-to-pack assembly').digest();
    this.keyId = keyId;
    this.#packSize = opts.packSize ?? DEFAULT_PACK_SIZE;
    this.#level = opts.compressionLevel ?? 3;
    this.#uploadSlots = new Semaphore(Math.max(1, storage.properties.connections));
  }

  /** Creates a new repository in an empty storage location and returns it opened. */
  static async init(storage: Storage, password: string, opts: InitOptions = {}): Promise<Repository> {
    await initCrypto();
    const version = opts.version ?? 2;
    const polynomial = opts.polynomial ?? randomPolynomial();
    parsePolynomial(polynomial);
    await storage.create({ signal: opts.signal });
    // The config is written last: a repository is complete once it exists. An init killed
    // before that leaves key files and nothing else, which this init finishes with the key
    // the password opens (another key would hold another master key, and whichever key an
    // open tried first would then fail to read the config).
    const leftover = await leftoverKey(storage, password, opts);
    const master = leftover?.master ?? newMasterKey();
    const keyId = leftover?.id ?? (await addKey(storage, password, master, { scrypt: opts.scrypt, signal: opts.signal }));
    const config: RepoConfig = { version, id: randomId(), chunker_polynomial: polynomial };
    await storage.save({ type: 'config', name: '' }, seal(master, Buffer.from(JSON.stringify(config))), { signal: opts.signal });
    return new Repository(storage, config, master, keyId, opts);
  }

  /** Opens a repository with a password; the index is not loaded yet (see loadIndex). */
  static async open(storage: Storage, password: string, opts: OpenOptions = {}): Promise<Repository> {
    await initCrypto();
    let raw: Buffer;
    try {
      raw = await storage.load({ type: 'config', name: '' }, { signal: opts.signal });
    } catch (err) {
      if (isNotFound(err)) {
        throw new RepositoryNotFoundError(`no repository at ${storage.properties.location} (config file not found)`, {
          hint: 'check the repository location, or create one with "lifeboat init"',
          cause: err,
        });
      }
      throw err;
    }
    // A key whose master key does not open the config (left by an init killed before this
    // lifeboat finished such inits) is passed over for the next key the password opens.
    const tried = new Set<string>();
    let keyId: string;
    let master: MasterKey;
    let config: RepoConfig;
    for (;;) {
      let key: { id: string; master: MasterKey };
      try {
        key = await openKey(storage, password, { keyHint: opts.keyHint, signal: opts.signal, skip: tried });
      } catch (err) {
        if (tried.size === 0) throw err;
        throw new IntegrityError(`repository config at ${storage.properties.location} is damaged (no key the password opens can read it)`, {
          cause: err,
          hint: 'restore the config file from a copy of the repository; "lifeboat check" cannot run without it',
        });
      }
      try {
        config = JSON.parse(openSealed(key.master, raw).toString('utf8')) as RepoConfig;
        keyId = key.id;
        master = key.master;
        break;
      } catch {
        tried.add(key.id); // MAC mismatch: try the next key the password opens
      }
    }
    if (config.version !== 1 && config.version !== 2) {
      throw new LifeboatError('unsupported_version', `repository format version ${String(config.version)} is not supported (lifeboat reads 1 and 2)`);
    }
    parsePolynomial(config.chunker_polynomial);
    return new Repository(storage, config, master, keyId, opts);
  }

  get location(): string {
    return this.storage.properties.location;
  }

  // ---- index ----

  /** Loads every index file into memory; superseded index files are skipped. */
  async loadIndex(opts: CallOptions = {}): Promise<void> {
    const ids: string[] = [];
    for await (const f of this.storage.list('index', opts)) if (isId(f.name)) ids.push(f.name);
    const docs = new Map<string, IndexPack[]>();
    const superseded = new Set<string>();
    const slots = new Semaphore(Math.max(2, this.storage.properties.connections));
    await Promise.all(
      ids.map((id) =>
        slots.run(async () => {
          const doc = indexFromJSON(await this.loadUnpacked('index', id, opts), `index ${id}`);
          docs.set(id, [...doc.packs]);
          this.index.indexFiles.set(id, { supersedes: doc.supersedes ?? [] });
          for (const s of doc.supersedes ?? []) superseded.add(s);
        }),
      ),
    );
    for (const [id, packs] of docs) {
      if (superseded.has(id)) continue;
      for (const p of packs) this.index.addPack(p.id, p.blobs);
    }
  }

  // ---- blobs ----

  hasBlob(type: BlobType, id: string): boolean {
    return this.index.has(type, id) || this.#pending.has(MasterIndex.key(type, id));
  }

  /**
   * Stores a blob unless the repository has it. `id` may be passed when the caller already
   * hashed the plaintext. Resolves once the blob is in an open pack; call flush() before a
   * snapshot references it. With `handOver` the caller gives `plaintext` up: its memory is
   * moved to a codec thread or freed, and the buffer reads as empty afterwards.
   */
  async saveBlob(type: BlobType, plaintext: Buffer, id: string = idOf(plaintext), handOver = false): Promise<SaveBlobResult> {
    return (await this.queueBlob(type, plaintext, id, handOver)).stored;
  }

  /**
   * Like saveBlob, but resolves as soon as the blob is accepted (known, or queued for the
   * codec threads), so a caller with many small blobs keeps reading while earlier ones are
   * encoded. `stored` settles once the blob is in an open pack. A blob that fails after it
   * was accepted also fails the next saveBlob, queueBlob and flush: nothing is lost silently.
   * Waits first while more packs wait for upload than the storage takes at once, or while
   * the codec threads have their fill.
   */
  async queueBlob(type: BlobType, plaintext: Buffer, id: string = idOf(plaintext), handOver = false, onAdded?: (r: SaveBlobResult) => void): Promise<{ stored: Promise<SaveBlobResult> }> {
    for (;;) {
      const stored = this.tryQueueBlob(type, plaintext, id, handOver, onAdded);
      if (stored) return { stored };
      await this.blobRoom();
    }
  }

  /**
   * Whether queueBlob would accept a blob now without waiting (a caller with many small blobs
   * checks before it reads one).
   */
  get hasBlobRoom(): boolean {
    return !this.#uploadsFull && CodecPool.shared().hasRoom;
  }

  /** More packs wait for upload than the storage takes at once. */
  get #uploadsFull(): boolean {
    return this.#closedPacks > this.#uploadSlots.size;
  }

  /** Resolves once `hasBlobRoom` is true. */
  async blobRoom(): Promise<void> {
    for (;;) {
      if (this.#uploadsFull) await new Promise<void>((r) => this.#uploadRoom.push(r));
      else if (!CodecPool.shared().hasRoom) await CodecPool.shared().room();
      else return;
    }
  }

  /**
   * queueBlob without waiting: `stored` as there, or undefined (and `plaintext` untouched)
   * when it would have to wait. `onAdded` is called once a new blob is in an open pack (not
   * for a known one), before `stored` settles. No async function frames and few promises per
   * blob: a backup of many small files makes one call per file.
   */
  tryQueueBlob(type: BlobType, plaintext: Buffer, id: string = idOf(plaintext), handOver = false, onAdded?: (r: SaveBlobResult) => void): Promise<SaveBlobResult> | undefined {
    this.#throwIfWriteFailed();
    const key = MasterIndex.key(type, id);
    if (this.index.has(type, id) || this.#pending.has(key)) {
      if (handOver) release(plaintext);
      return Promise.resolve({ id, known: true, added: 0, plain: 0 });
    }
    if (this.#uploadsFull) return undefined;
    // Compression and encryption run on the codec pool's threads (tree blobs, small, inline).
    const result = CodecPool.shared().trySubmit(this.#key, plaintext, { compress: this.config.version >= 2, level: this.#level, handOver, inline: type === 'tree' });
    if (!result) return undefined;
    const stored = result.then(
      (encoded) => this.#addToPack(type, id, key, encoded, onAdded),
      (err: unknown) => this.#storeFailed(key, err),
    );
    // Until it is in a pack the blob is pending: known to later writers, awaited by flush.
    this.#pending.set(key, stored);
    // The caller may only look at `stored` later (or never): its failure is kept as #writeError.
    stored.catch(() => undefined);
    return stored;
  }

  /** Puts an encoded blob into its type's open pack; closes the pack once it is full. */
  #addToPack(type: BlobType, id: string, key: string, { sealed, uncompressedLength }: EncodedBlob, onAdded?: (r: SaveBlobResult) => void): SaveBlobResult | Promise<SaveBlobResult> {
    let full: Promise<void> | undefined;
    const r: SaveBlobResult = { id, known: false, added: sealed.length, plain: uncompressedLength ?? sealed.length - CRYPTO_OVERHEAD };
    try {
      this.#throwIfWriteFailed();
      const slot = type === 'data' ? (createHmac('sha256', this.#slotKey).update(id, 'hex').digest()[0] as number) % OPEN_DATA_PACKS : 0;
      const pack = this.#openPack(type, slot);
      pack.entries.push({ id, type, offset: pack.size, length: sealed.length, uncompressedLength });
      pack.parts.push(sealed);
      pack.size += sealed.length;
      onAdded?.(r);
      if (pack.size >= this.#packSize) full = this.#finishPack(type, slot);
    } catch (err) {
      return this.#storeFailed(key, err);
    }
    return full ? full.then(() => r, (err: unknown) => this.#storeFailed(key, err)) : r;
  }

  #storeFailed(key: string, err: unknown): never {
    this.#pending.delete(key);
    this.#failWrites(err);
    throw err;
  }

  #openPack(type: BlobType, slot: number): OpenPack {
    let slots = this.#open.get(type);
    if (!slots) this.#open.set(type, (slots = []));
    let p = slots[slot];
    if (!p) slots[slot] = p = { parts: [], entries: [], size: 0 };
    return p;
  }

  /** Closes one open pack of a type and starts its upload (waits for a free upload slot). */
  async #finishPack(type: BlobType, slot: number): Promise<void> {
    const slots = this.#open.get(type);
    const pack = slots?.[slot];
    if (!slots || !pack || pack.entries.length === 0) return;
    slots[slot] = undefined;
    const header = seal(this.#key, encodeHeader(pack.entries));
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(header.length);
    const bytes = Buffer.concat([...pack.parts, header, tail]);
    release(...pack.parts);
    pack.parts.length = 0;
    const packId = idOf(bytes);
    this.#closedPacks++;
    await this.#uploadSlots.acquire();
    const upload = (async () => {
      try {
        await this.storage.save({ type: 'data', name: packId }, bytes);
        this.index.addPack(packId, pack.entries);
        this.#unindexed.push({ id: packId, blobs: pack.entries });
      } catch (err) {
        this.#failWrites(err);
      } finally {
        release(bytes); // every storage is done with it once save settles (none keeps the caller's buffer)
        for (const e of pack.entries) this.#pending.delete(MasterIndex.key(e.type, e.id));
        this.#uploadSlots.release();
        this.#closedPacks--;
        for (const wake of this.#uploadRoom.splice(0)) wake();
      }
    })();
    this.#uploads.add(upload);
    void upload.finally(() => this.#uploads.delete(upload));
  }

  #throwIfWriteFailed(): void {
    if (this.#writeError !== undefined) throw this.#writeError;
  }

  /**
   * Refuses every later blob, pack, index and snapshot write with `err` (lock files are still
   * written and removed): the lock was lost, and what is written now may meet a prune.
   */
  stopWrites(err: unknown): void {
    this.#failWrites(err);
  }

  /**
   * Aborted with the first write error: a writer waiting for input (a stream that has gone
   * quiet) learns at once that nothing more can be stored, instead of at its next blob.
   */
  get writeFailure(): AbortSignal {
    return this.#writeFailed.signal;
  }

  #failWrites(err: unknown): void {
    if (this.#writeError !== undefined) return;
    this.#writeError = err;
    this.#writeFailed.abort(err);
  }

  /** Uploads every open pack, waits for all uploads, then writes index files for them. */
  async flush(opts: CallOptions = {}): Promise<void> {
    // Several writers share one repository (sources backed up in parallel). A blob another
    // writer is still compressing was already reported as known to this caller, so wait until
    // every blob accepted so far sits in a pack before closing the packs.
    await Promise.allSettled([...this.#pending.values()]);
    for (let slot = 0; slot < OPEN_DATA_PACKS; slot++) await this.#finishPack('data', slot);
    await this.#finishPack('tree', 0);
    while (this.#uploads.size > 0) await Promise.all([...this.#uploads]);
    this.#throwIfWriteFailed();
    // Take the batch before writing: uploads finishing meanwhile belong to the next index file.
    const batch = this.#unindexed;
    this.#unindexed = [];
    try {
      await this.writeIndex(batch, [], opts);
    } catch (err) {
      this.#unindexed = [...batch, ...this.#unindexed];
      throw err;
    }
  }

  /** Writes index files for `packs` (split to keep each file small); returns their IDs. */
  async writeIndex(packs: readonly IndexPack[], supersedes: readonly string[], opts: CallOptions = {}): Promise<string[]> {
    const ids: string[] = [];
    let batch: IndexPack[] = [];
    let count = 0;
    const emit = async (): Promise<void> => {
      const id = await this.saveUnpacked('index', indexToJSON({ supersedes: ids.length === 0 ? supersedes : [], packs: batch }), opts);
      this.index.indexFiles.set(id, { supersedes: ids.length === 0 ? supersedes : [] });
      ids.push(id);
      batch = [];
      count = 0;
    };
    for (const p of packs) {
      batch.push(p);
      count += p.blobs.length;
      if (count >= MAX_BLOBS_PER_INDEX) await emit();
    }
    if (batch.length > 0 || (supersedes.length > 0 && ids.length === 0)) await emit();
    return ids;
  }

  /** Loads and verifies a blob, trying every pack that holds a copy. */
  async loadBlob(type: BlobType, id: string, opts: CallOptions & Pick<DecodeOptions, 'helpInline'> = {}): Promise<Buffer> {
    const locations = this.index.lookup(type, id);
    if (locations.length === 0) {
      throw new NotFoundError(`${type} blob ${id} is not in the index`, { hint: 'run "lifeboat check" to find out what is damaged' });
    }
    let lastError: unknown;
    for (const loc of locations) {
      try {
        const raw = await this.storage.load({ type: 'data', name: loc.packId }, { offset: loc.offset, length: loc.length, signal: opts.signal });
        const { results: [r] } = await CodecPool.shared().decode(this.#key, raw, [{ at: 0, loc }], { keep: true, handOver: true, inline: type === 'tree', helpInline: opts.helpInline });
        if (r instanceof Error) throw r;
        return r as Buffer;
      } catch (err) {
        lastError = err;
      }
    }
    if (lastError instanceof LifeboatError) throw lastError;
    throw new IntegrityError(`${type} blob ${id} cannot be read`, { cause: lastError });
  }

  /** Decrypts, decompresses and verifies one blob read from a pack (`raw` is not modified). */
  async decodeBlob(loc: BlobLocation, raw: Uint8Array): Promise<Buffer> {
    const { results: [r] } = await CodecPool.shared().decode(this.#key, raw, [{ at: 0, loc }], { keep: true, inline: loc.type === 'tree' });
    if (r instanceof Error) throw r;
    return r as Buffer;
  }

  /**
   * Verifies and decodes several blobs lying in one buffer read from a pack (`at`: where each
   * starts in `buf`), on the codec threads. One entry per blob, in order: the plaintext
   * (undefined unless `keep`), or the error that blob failed with; `digest` is the buffer's
   * SHA-256 when asked for. See DecodeOptions for `handOver` and `helpInline`.
   */
  async decodeBlobs(buf: Uint8Array, blobs: readonly BlobSlice[], opts: DecodeOptions): Promise<{ results: Array<Buffer | LifeboatError | undefined>; digest?: string }> {
    const out = await CodecPool.shared().decode(this.#key, buf, blobs, opts);
    return { results: out.results.map((r) => r ?? undefined), digest: out.digest };
  }

  /** Reads and decrypts the header of a pack file. */
  async readPackHeader(packId: string, size?: number, opts: CallOptions = {}): Promise<PackedBlob[]> {
    const h = { type: 'data' as const, name: packId };
    const what = `pack ${packId}`;
    const packSize = size ?? (await this.storage.stat(h, opts)).size;
    const tailLen = Math.min(packSize, 4096);
    const tail = await this.storage.load(h, { offset: packSize - tailLen, length: tailLen, signal: opts.signal });
    const hlen = headerLength(tail, packSize, what);
    const encHeader = hlen + 4 <= tail.length
      ? tail.subarray(tail.length - 4 - hlen, tail.length - 4)
      : await this.storage.load(h, { offset: packSize - 4 - hlen, length: hlen, signal: opts.signal });
    let plain: Buffer;
    try {
      plain = openSealed(this.#key, encHeader);
    } catch (err) {
      throw new IntegrityError(`${what}: header is damaged (MAC mismatch)`, { cause: err });
    }
    const blobs = decodeHeader(plain, what);
    const end = blobs.reduce((n, b) => Math.max(n, b.offset + b.length), 0);
    if (end + hlen + 4 !== packSize) throw new IntegrityError(`${what}: header describes ${end} bytes of blobs but the pack has ${packSize - hlen - 4}`);
    return blobs;
  }

  // ---- unpacked files ----

  async saveUnpacked(type: UnpackedType, doc: unknown, opts: CallOptions = {}): Promise<string> {
    if (type !== 'locks') this.#throwIfWriteFailed();
    const bytes = seal(this.#key, encodeUnpacked(doc, this.config.version));
    const id = idOf(bytes);
    await this.storage.save({ type, name: id }, bytes, opts);
    return id;
  }

  async loadUnpacked(type: UnpackedType, id: string, opts: CallOptions = {}): Promise<unknown> {
    const h = { type, name: id };
    const bytes = await this.storage.load(h, opts);
    const what = describeHandle(h);
    if (idOf(bytes) !== id) throw new IntegrityError(`${what} does not match its name (file damaged)`);
    let plain: Buffer;
    try {
      plain = openSealed(this.#key, bytes);
    } catch (err) {
      throw new IntegrityError(`${what} is damaged (MAC mismatch)`, { cause: err });
    }
    return decodeUnpacked(plain, what);
  }

  /** Encrypts arbitrary bytes with the master key (key management re-wraps it). */
  get masterKey(): MasterKey {
    return this.#key;
  }

  static readonly overhead = CRYPTO_OVERHEAD;
}

/**
 * The key an interrupted init left, when `storage` holds key files but no config, nothing
 * else, and the password opens one; undefined when there are no key files. Key files beside
 * data, index or snapshots mean a config was lost, not an init interrupted: that repository
 * is not touched.
 */
async function leftoverKey(storage: Storage, password: string, opts: CallOptions): Promise<{ id: string; master: MasterKey } | undefined> {
  let keys = 0;
  for await (const f of storage.list('keys', opts)) if (isId(f.name)) keys++;
  if (keys === 0) return undefined;
  for (const type of ['snapshots', 'index', 'data'] as const) {
    for await (const f of storage.list(type, opts)) {
      if (!isId(f.name)) continue;
      throw new LifeboatError('config_missing', `${storage.properties.location} has key files and ${type} but no config`, {
        hint: 'this is a repository whose config file was lost, not an empty directory: restore the config from a copy of the repository; do not init over it',
      });
    }
  }
  try {
    return await openKey(storage, password, opts);
  } catch (err) {
    if (!(err instanceof WrongPasswordError)) throw err;
    throw new LifeboatError('init_incomplete', `${storage.properties.location} holds key files of an init that did not finish, for another password`, {
      cause: err,
      hint: 'run "lifeboat init" again with the password of that first init to finish it, or empty the directory to start over',
    });
  }
}

export function currentUser(): { hostname: string; username: string; uid: number; gid: number } {
  let username = 'unknown';
  let uid = 0;
  let gid = 0;
  try {
    const u = userInfo();
    username = u.username;
    uid = u.uid;
    gid = u.gid;
  } catch {
    // userInfo throws when the uid has no passwd entry (containers); keep the defaults.
  }
  return { hostname: osHostname(), username, uid, gid };
}
