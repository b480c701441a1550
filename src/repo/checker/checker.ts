/**
 * Checker: finds what is damaged in a repository and says which snapshots and files it hurts.
 *
 * It follows restic's `check` and adds better messages. Always (the structure check, cheap):
 * - every index file loads, matches its name and decrypts (one that does not is an error);
 * - every pack an index names exists with the size its entries imply; packs no index names
 *   are warnings (an interrupted backup leaves them; prune removes them);
 * - every snapshot loads, and walking each snapshot's trees from the root, every tree loads
 *   and decodes and every data blob a file needs is in the index, in a pack that exists.
 *   A blob no index lists but an unreferenced pack holds is reported as a missing index
 *   entry (the index can be rebuilt), otherwise as missing.
 * With `readData` (or a subset of packs), each chosen pack is read whole: its SHA-256 must be
 * its name, its header must decrypt and agree with the index, and every blob must decrypt,
 * decompress and hash to its ID. The packs are read while the trees are walked (the walk
 * judges a blob by its pack's presence and size only, so what the reading finds meanwhile
 * never changes what the walk reports).
 *
 * The checker keeps an index of its own (it loads index files one by one so that a damaged
 * one is reported, not fatal) and never changes the repository. Who needs a damaged blob —
 * snapshots and file paths — is found by a second walk that only runs when there is damage
 * and only descends into trees that lead to it, so a clean check walks every tree once.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError, IntegrityError, UsageError, errorMessage } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { mapLimit } from '../../util/semaphore.ts';
import type { FileInfo } from '../../storage/storage.ts';
import { open as openSealed } from '../crypto/crypto.ts';
import { indexFromJSON } from '../index/index-file.ts';
import { MasterIndex } from '../index/master-index.ts';
import type { BlobLocation } from '../index/master-index.ts';
import { decodeHeader, headerLength } from '../pack/pack-format.ts';
import type { BlobType, PackedBlob } from '../pack/pack-format.ts';
import { Repository } from '../repository.ts';
import { loadSnapshot } from '../snapshot/snapshot.ts';
import { decodeTree } from '../tree/node.ts';
import type { Tree } from '../tree/node.ts';

export interface CheckOptions {
  /** Read every pack whole and verify every blob (restic's --read-data). */
  readData?: boolean;
  /**
   * Read only some packs (implies reading data). `fraction` picks that share of the packs at
   * random (at least one when > 0); `nth: [n, of]` picks the packs whose first ID byte modulo
   * `of` is n-1, as restic's --read-data-subset n/t does, so checking 1/t … t/t on
   * successive runs reads every pack once. Both together: `fraction` of the nth part.
   */
  readDataSubset?: { fraction?: number; nth?: [n: number, of: number] };
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
  /** Look for stray and temporary files in a local repository directory (default true). */
  strayFiles?: boolean;
}

export type DamageKind =
  | 'missing_pack'
  | 'pack_size'
  | 'pack_header'
  | 'pack_hash'
  | 'pack_read'
  | 'blob'
  | 'missing_blob'
  | 'missing_index_entry'
  | 'index'
  | 'snapshot'
  | 'tree'
  | 'stray_file'
  | 'unreferenced_pack';

export interface Damage {
  kind: DamageKind;
  /** What is damaged: "pack <id>", "index <id>", "snapshot <id>", "data blob <id>", "tree <id>", "data/ab/x". */
  object: string;
  message: string;
  /** IDs of the snapshots that need the damaged data (sorted). */
  snapshots?: string[];
  /** Paths inside those snapshots that need it, at most FILES_CAP of them. */
  files?: string[];
  /** How many more paths need it than `files` lists. */
  moreFiles?: number;
  severity: 'error' | 'warning';
}

export interface CheckReport {
  errors: Damage[];
  warnings: Damage[];
  /** Packs named by the index. */
  packs: number;
  packsRead: number;
  /** Distinct blobs named by the index. */
  blobs: number;
  snapshots: number;
  /** Distinct trees walked. */
  trees: number;
  bytesRead: number;
}

/** Paths listed per damage; more are counted, not listed. */
export const FILES_CAP = 20;
/** Packs read whole at once: bounds memory to about this many pack sizes. */
const READ_CONCURRENCY = 4;
/** Decoded trees kept while naming the paths that lead to damage. */
const ATTRIBUTION_CACHE = 1024;

/** A blob's key in maps, as the master index forms it ("d…" data, "t…" tree). */
const keyOf = (type: BlobType, id: string): string => MasterIndex.key(type, id);
const describeKey = (key: string): string => `${key[0] === 't' ? 'tree' : 'data blob'} ${key.slice(1)}`;

export async function checkRepository(repo: Repository, opts: CheckOptions = {}): Promise<CheckReport> {
  validateOptions(opts);
  return new Check(repo, opts).run();
}

/** Who needs a damaged blob: filled in by the attribution walk. */
interface Users {
  snapshots: Set<string>;
  files: string[];
  more: number;
}

class Check {
  readonly #repo: Repository;
  readonly #opts: CheckOptions;
  readonly #signal: AbortSignal | undefined;
  readonly #meta: number;
  readonly #index = new MasterIndex();
  /** Index files naming each pack, for messages. */
  readonly #packIndexes = new Map<string, string[]>();
  /** Size of every pack in storage. */
  readonly #stored = new Map<string, number>();
  /** Packs in storage no index names, and (read lazily) what their headers hold. */
  readonly #unreferenced: FileInfo[] = [];
  #orphans: Promise<MasterIndex> | undefined;
  readonly #snapshots: Array<{ id: string; tree: string }> = [];
  readonly #visited = new Set<string>();
  /** One report per blob found missing or unreadable during the walk. */
  readonly #blobReports = new Map<string, Damage>();
  /** Pack and blob locations found damaged by reading data ("<pack>:<key>"). */
  readonly #badLocations = new Set<string>();
  /** Damages whose affected snapshots and files are to be named, with the blob keys behind them. */
  readonly #attribute: Array<{ damage: Damage; keys: string[] }> = [];
  readonly #errors: Damage[] = [];
  readonly #warnings: Damage[] = [];
  #trees = 0;
  #packsRead = 0;
  #reading = false;
  #bytesRead = 0;

  constructor(repo: Repository, opts: CheckOptions) {
    this.#repo = repo;
    this.#opts = opts;
    this.#signal = opts.signal;
    this.#meta = Math.min(8, Math.max(2, repo.storage.properties.connections));
  }

  async run(): Promise<CheckReport> {
    // Snapshots are listed before the index is read: a backup writes its index before its
    // snapshot, so every snapshot listed here has its blobs in an index read afterwards. The
    // other order reads a backup finishing meanwhile (verify holds only a shared lock) as
    // missing blobs.
    const snapshotIds = await this.#ids('snapshots');
    await this.#loadIndexes();
    await this.#checkPacks();
    if (this.#opts.strayFiles !== false) {
      for (const d of await findStrayFiles(this.#repo.storage.properties.location)) this.#add(d);
    }
    // Reading the packs needs only the index and the list of packs: it runs while the trees
    // are walked (mostly this thread's work; the reading is mostly the codec threads').
    const phases = [(async () => {
      await this.#loadSnapshots(snapshotIds);
      await this.#walkTrees();
    })()];
    if (this.#opts.readData || this.#opts.readDataSubset) phases.push(this.#readData());
    const settled = await Promise.allSettled(phases);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    await this.#nameUsers();
    return {
      errors: this.#errors,
      warnings: this.#warnings,
      packs: this.#index.packCount,
      packsRead: this.#packsRead,
      blobs: this.#index.blobCount,
      snapshots: this.#snapshots.length,
      trees: this.#trees,
      bytesRead: this.#bytesRead,
    };
  }

  // ---- helpers ----

  #add(d: Damage, keys?: readonly string[]): Damage {
    (d.severity === 'error' ? this.#errors : this.#warnings).push(d);
    if (keys && keys.length > 0) this.#attribute.push({ damage: d, keys: [...keys] });
    return d;
  }

  #error(kind: DamageKind, object: string, message: string, keys?: readonly string[]): Damage {
    return this.#add({ kind, object, message, severity: 'error' }, keys);
  }

  #progress(phase: string, done: number, total: number): void {
    this.#opts.onProgress?.({ phase, done, total });
  }

  #checkCancel(): void {
    if (this.#signal?.aborted) throw new CancelledError('check cancelled', { cause: this.#signal.reason });
  }

  /** A failure caused by cancelling is not damage: let it through. */
  #rethrowCancel(err: unknown): void {
    if (err instanceof CancelledError) throw err;
    this.#checkCancel();
  }

  async #ids(type: 'index' | 'snapshots'): Promise<string[]> {
    const ids: string[] = [];
    for await (const f of this.#repo.storage.list(type, { signal: this.#signal })) if (isId(f.name)) ids.push(f.name);
    return ids.sort();
  }

  /** Can this copy of a blob be read: its pack exists, holds it, and reading found no damage there? */
  #usable(loc: BlobLocation): boolean {
    return this.#present(loc) && !this.#badLocations.has(`${loc.packId}:${keyOf(loc.type, loc.id)}`);
  }

  /**
   * Is this copy of a blob there at all: its pack exists and is long enough to hold it? The
   * tree walk judges by this alone: reading the packs runs beside it, and what it has found so
   * far must not change what the walk reports (the reading reports damage itself).
   */
  #present(loc: BlobLocation): boolean {
    const size = this.#stored.get(loc.packId);
    return size !== undefined && loc.offset + loc.length <= size;
  }

  /** Why a copy of a blob cannot be read, for messages. */
  #whyUnusable(loc: BlobLocation): string {
    const size = this.#stored.get(loc.packId);
    if (size === undefined) return `pack ${loc.packId}, which is missing`;
    if (loc.offset + loc.length > size) return `pack ${loc.packId}, which is truncated (${size} bytes, the blob ends at ${loc.offset + loc.length})`;
    return `pack ${loc.packId}, where it is damaged`;
  }

  // ---- index files ----

  async #loadIndexes(): Promise<void> {
    this.#checkCancel();
    const ids = await this.#ids('index');
    const docs = new Map<string, ReturnType<typeof indexFromJSON>>();
    let done = 0;
    await mapLimit(ids, this.#meta, async (id) => {
      try {
        docs.set(id, indexFromJSON(await this.#repo.loadUnpacked('index', id, { signal: this.#signal }), `index ${id}`));
      } catch (err) {
        this.#rethrowCancel(err);
        this.#error('index', `index ${id}`, `index file index/${id} cannot be read: ${errorMessage(err)}. ` +
          'The packs it lists show up as unreferenced below; rebuilding the index from the pack headers recovers them');
      }
      this.#progress('index', ++done, ids.length);
    });
    // As Repository.loadIndex does: packs of an index file another one supersedes are not merged.
    const superseded = new Set([...docs.values()].flatMap((d) => d.supersedes ?? []));
    for (const id of ids) {
      const doc = docs.get(id);
      if (!doc || superseded.has(id)) continue;
      for (const p of doc.packs) {
        const names = this.#packIndexes.get(p.id);
        if (names) {
          names.push(id);
          continue;
        }
        this.#packIndexes.set(p.id, [id]);
        this.#index.addPack(p.id, p.blobs);
        this.#checkPackEntries(id, p.id, p.blobs);
      }
    }
  }

  /** Blobs of a pack must lie back to back from offset 0, as a pack is written. */
  #checkPackEntries(indexId: string, packId: string, blobs: readonly PackedBlob[]): void {
    const sorted = [...blobs].sort((a, b) => a.offset - b.offset);
    let end = 0;
    for (const b of sorted) {
      if (b.offset !== end || !(b.length > Repository.overhead)) {
        this.#error('index', `index ${indexId}`, `index/${indexId} describes pack ${packId} inconsistently: ` +
          `${b.type} blob ${b.id} at offset ${b.offset} with length ${b.length}, expected offset ${end}`);
        return;
      }
      end += b.length;
    }
  }

  // ---- packs ----

  async #checkPacks(): Promise<void> {
    this.#checkCancel();
    for await (const f of this.#repo.storage.list('data', { signal: this.#signal })) {
      if (isId(f.name)) this.#stored.set(f.name, f.size);
    }
    let done = 0;
    const total = this.#index.packCount;
    for (const [packId, blobs] of this.#index.packs()) {
      this.#progress('packs', ++done, total);
      const size = this.#stored.get(packId);
      const expected = expectedPackSize(blobs);
      const listedIn = `listed in index ${(this.#packIndexes.get(packId) ?? []).join(', ')}`;
      if (size === undefined) {
        this.#error('missing_pack', `pack ${packId}`,
          `pack ${packId} (${blobs.length} blobs, ${listedIn}) does not exist in storage (data/${packId.slice(0, 2)}/${packId}); ` +
          'its blobs are lost unless another copy exists. Restore the file from a copy of the repository if there is one',
          this.#lostKeys(packId, blobs));
      } else if (size !== expected) {
        const how = size < expected ? `truncated: ${expected - size} bytes short` : `${size - expected} bytes too long`;
        this.#error('pack_size', `pack ${packId}`,
          `pack ${packId} is ${size} bytes but the index implies ${expected} (${how}); ${listedIn}`,
          this.#lostKeys(packId, blobs));
      }
    }
    for (const [name, size] of this.#stored) {
      if (this.#index.hasPack(name)) continue;
      this.#unreferenced.push({ name, size });
      this.#add({
        kind: 'unreferenced_pack',
        object: `pack ${name}`,
        message: `pack ${name} (${size} bytes) is not listed in any readable index: an interrupted backup leaves such packs, ` +
          'prune removes them (if an index file is damaged, rebuild the index instead)',
        severity: 'warning',
      });
    }
  }

  /** Blobs of a bad pack that no usable copy elsewhere (or before a truncation) backs up. */
  #lostKeys(packId: string, blobs: readonly BlobLocation[]): string[] {
    return blobs
      .filter((b) => !this.#usable(b) && !this.#index.lookup(b.type, b.id).some((l) => l.packId !== packId && this.#usable(l)))
      .map((b) => keyOf(b.type, b.id));
  }

  /** Headers of the packs no index names, read once and only when a blob is not indexed. */
  #orphanIndex(): Promise<MasterIndex> {
    this.#orphans ??= (async () => {
      const idx = new MasterIndex();
      await mapLimit(this.#unreferenced, READ_CONCURRENCY, async (f) => {
        try {
          idx.addPack(f.name, await this.#repo.readPackHeader(f.name, f.size, { signal: this.#signal }));
        } catch (err) {
          // The pack is already reported as unreferenced; an unreadable header just means
          // it cannot explain a missing blob.
          this.#rethrowCancel(err);
        }
      });
      return idx;
    })();
    return this.#orphans;
  }

  // ---- snapshots and trees ----

  async #loadSnapshots(ids: readonly string[]): Promise<void> {
    this.#checkCancel();
    let done = 0;
    const loaded = await mapLimit(ids, this.#meta, async (id) => {
      try {
        const sn = await loadSnapshot(this.#repo, id, { signal: this.#signal });
        if (!isId(sn.tree)) throw new Error(`its tree ID ${JSON.stringify(sn.tree)} is not valid`);
        return { id, tree: sn.tree };
      } catch (err) {
        this.#rethrowCancel(err);
        this.#error('snapshot', `snapshot ${id}`, `snapshot snapshots/${id} cannot be read: ${errorMessage(err)}. ` +
          'That backup is lost; remove the file (forget the snapshot) once nothing else can be recovered from it');
        return undefined;
      } finally {
        this.#progress('snapshots', ++done, ids.length);
      }
    });
    for (const s of loaded) if (s) this.#snapshots.push(s);
  }

  /** Visits every distinct tree once, level by level, a few loads at a time. */
  async #walkTrees(): Promise<void> {
    let level = [...new Set(this.#snapshots.map((s) => s.tree))];
    for (const id of level) this.#visited.add(id);
    while (level.length > 0) {
      this.#checkCancel();
      const next: string[] = [];
      await mapLimit(level, this.#meta, async (id) => {
        const tree = await this.#loadTree(id, false);
        if (!tree) return;
        this.#trees++;
        for (const sub of await this.#checkTree(id, tree)) {
          if (this.#visited.has(sub)) continue;
          this.#visited.add(sub);
          next.push(sub);
        }
        // While the packs are read too, the progress line follows the reading (the longer part).
        if (!this.#reading) this.#progress('trees', this.#trees, this.#visited.size);
      });
      level = next;
    }
  }

  /** Checks the nodes of one tree; returns its subtrees. */
  async #checkTree(id: string, tree: Tree): Promise<string[]> {
    const subtrees: string[] = [];
    const problems: string[] = [];
    for (const node of tree.nodes) {
      const name = typeof node?.name === 'string' ? node.name : '';
      if (name === '') problems.push('a node has no name');
      switch (node?.type) {
        case 'file':
          if (!Array.isArray(node.content)) {
            problems.push(`file ${JSON.stringify(name)} has no content list`);
            break;
          }
          for (const [i, blob] of node.content.entries()) {
            if (typeof blob !== 'string' || !isId(blob)) problems.push(`file ${JSON.stringify(name)} blob ${i} has an invalid ID`);
            else await this.#checkDataRef(blob);
          }
          this.#sizeProblem(name, node.size ?? 0, node.content, problems);
          break;
        case 'dir':
          if (typeof node.subtree !== 'string' || !isId(node.subtree)) problems.push(`directory ${JSON.stringify(name)} has no valid subtree`);
          else subtrees.push(node.subtree);
          break;
        case 'symlink': case 'dev': case 'chardev': case 'fifo': case 'socket':
          break;
        default:
          problems.push(`node ${JSON.stringify(name)} has invalid type ${JSON.stringify(node?.type)}`);
      }
    }
    if (problems.length > 0) {
      const key = keyOf('tree', id);
      this.#error('tree', `tree ${id}`, `tree ${id} is malformed: ${problems.slice(0, 5).join('; ')}` +
        (problems.length > 5 ? ` (and ${problems.length - 5} more problems)` : ''), [key]);
    }
    return subtrees;
  }

  /**
   * A restorer writes the recorded size, so a file's blobs must hold exactly that many
   * plaintext bytes (from the index). A blob that is not indexed is reported on its own.
   */
  #sizeProblem(name: string, size: number, content: readonly unknown[], problems: string[]): void {
    let held = 0;
    for (const blob of content) {
      const loc = typeof blob === 'string' ? this.#index.lookup('data', blob)[0] : undefined;
      if (!loc) return;
      held += loc.uncompressedLength ?? loc.length - Repository.overhead;
    }
    if (held !== size) problems.push(`file ${JSON.stringify(name)} records ${size} bytes but its blobs hold ${held}`);
  }

  /** A data blob a file needs must be indexed, in a pack that exists. */
  async #checkDataRef(id: string): Promise<void> {
    const key = keyOf('data', id);
    if (this.#blobReports.has(key)) return;
    const locs = this.#index.lookup('data', id);
    if (locs.length > 0 && locs.some((l) => this.#present(l))) return;
    await this.#reportUnavailable('data', id, locs);
  }

  /** Reports a blob no usable indexed copy exists of (once per blob). */
  async #reportUnavailable(type: BlobType, id: string, locs: readonly BlobLocation[], readError?: unknown): Promise<void> {
    const key = keyOf(type, id);
    if (this.#blobReports.has(key)) return;
    const what = describeKey(key);
    let d: Damage;
    if (locs.length === 0) {
      const orphan = (await this.#orphanIndex()).lookup(type, id)[0];
      d = orphan
        ? { kind: 'missing_index_entry', object: what, severity: 'error',
            message: `${what} is in pack ${orphan.packId}, but no index lists it; rebuilding the index from the pack headers makes it available again` }
        : { kind: 'missing_blob', object: what, severity: 'error', message: `${what} is not in any index and no pack in storage holds it` };
    } else if (readError !== undefined) {
      d = { kind: 'tree', object: what, severity: 'error', message: `${what} cannot be read: ${errorMessage(readError)}` };
    } else {
      d = { kind: 'missing_blob', object: what, severity: 'error', message: `${what} is indexed only in ${locs.map((l) => this.#whyUnusable(l)).join('; ')}` };
    }
    // Another walker may have reported it while this one waited for the orphan headers.
    if (this.#blobReports.has(key)) return;
    this.#blobReports.set(key, d);
    this.#add(d, [key]);
  }

  /**
   * Loads a tree from any readable copy (falling back to unreferenced packs, so a lost index
   * file does not hide what lies below). Reports failures unless `quiet`.
   */
  async #loadTree(id: string, quiet: boolean): Promise<Tree | undefined> {
    const indexed = this.#index.lookup('tree', id);
    const locs = indexed.length > 0 ? [...indexed].sort((a, b) => Number(this.#usable(b)) - Number(this.#usable(a))) : (await this.#orphanIndex()).lookup('tree', id);
    let lastError: unknown;
    for (const loc of locs) {
      if (this.#stored.get(loc.packId) === undefined) continue;
      try {
        const raw = await this.#repo.storage.load({ type: 'data', name: loc.packId }, { offset: loc.offset, length: loc.length, signal: this.#signal });
        const tree = decodeTree(await this.#repo.decodeBlob(loc, raw), `tree ${id}`);
        if (indexed.length === 0 && !quiet) await this.#reportUnavailable('tree', id, []);
        return tree;
      } catch (err) {
        this.#rethrowCancel(err);
        if (err instanceof IntegrityError && err.data.malformedTree === true) {
          // The blob is authentic (its hash matched) but its names are repeated, unsorted or
          // unsafe: every copy says the same, and nothing below it is walked.
          const key = keyOf('tree', id);
          if (!quiet && !this.#blobReports.has(key)) this.#blobReports.set(key, this.#error('tree', `tree ${id}`, err.message, [key]));
          return undefined;
        }
        lastError = err;
      }
    }
    // With no readable copy indexed at all, the blob is missing rather than damaged.
    if (!quiet) await this.#reportUnavailable('tree', id, indexed, indexed.some((l) => this.#present(l)) ? lastError : undefined);
    return undefined;
  }

  // ---- reading data ----

  async #readData(): Promise<void> {
    const candidates = [...this.#index.packs()].map(([id]) => id).filter((id) => this.#stored.has(id)).sort();
    const chosen = selectPacks(candidates, this.#opts.readDataSubset);
    let done = 0;
    this.#reading = true;
    await mapLimit(chosen, READ_CONCURRENCY, async (packId) => {
      this.#checkCancel();
      await this.#readPack(packId);
      this.#packsRead++;
      this.#progress('read-data', ++done, chosen.length);
    });
  }

  async #readPack(packId: string): Promise<void> {
    const entries = this.#index.packBlobs(packId) ?? [];
    let bytes: Buffer;
    try {
      bytes = await this.#repo.storage.load({ type: 'data', name: packId }, { signal: this.#signal });
    } catch (err) {
      this.#rethrowCancel(err);
      this.#error('pack_read', `pack ${packId}`, `pack ${packId} cannot be read: ${errorMessage(err)}`);
      return;
    }
    this.#bytesRead += bytes.length;
    this.#compareHeader(packId, bytes, entries);
    // Every blob as the index describes it: that is how restores find them. The blobs that
    // lie inside the pack are verified in one batch with the pack's hash, on a codec thread.
    const packLength = bytes.length;
    const inside = entries.filter((loc) => loc.offset + loc.length <= packLength);
    const verdicts = new Map<BlobLocation, unknown>();
    // The pack's bytes are not needed after this: hand them over uncopied. A check only reads,
    // so when the codec threads are full this thread decodes as well.
    const { results, digest } = await this.#repo.decodeBlobs(bytes, inside.map((loc) => ({ at: loc.offset, loc })), { keep: false, handOver: true, helpInline: true, digest: true });
    const hashOk = digest === packId;
    inside.forEach((loc, i) => verdicts.set(loc, results[i]));
    const damaged: string[] = [];
    for (const loc of entries) {
      const key = keyOf(loc.type, loc.id);
      const at = `${loc.type === 'tree' ? 'tree' : 'data blob'} ${loc.id} in pack ${packId} (offset ${loc.offset}, length ${loc.length})`;
      let reason: string | undefined;
      if (loc.offset + loc.length > packLength) reason = `it runs past the end of the ${packLength}-byte pack`;
      else {
        const err = verdicts.get(loc);
        if (err instanceof Error) {
          // The codec names the blob and pack already; keep only what went wrong.
          reason = errorMessage(err).replace(`${loc.type} blob ${loc.id} in pack ${packId}`, '').replace(/^[\s:]*(is damaged)?\s*/, '').replace(/^\((.*)\)$/, '$1') || 'damaged';
        }
      }
      if (reason === undefined) continue;
      this.#badLocations.add(`${packId}:${key}`);
      damaged.push(key);
      const copies = this.#index.lookup(loc.type, loc.id).filter((l) => l.packId !== packId && this.#usable(l));
      const copyNote = copies.length > 0 ? `; another copy is indexed in pack ${copies[0]?.packId} (restores use it)` : '';
      this.#error('blob', describeKey(key), `${at} is damaged: ${reason}${copyNote}`, copies.length > 0 ? [] : [key]);
    }
    if (!hashOk) {
      this.#error('pack_hash', `pack ${packId}`,
        `pack ${packId} does not hash to its name (its content changed after it was written)` +
          (damaged.length > 0 ? `; ${damaged.length} of its ${entries.length} blobs are damaged` : '; all its blobs still verify'),
        damaged.filter((k) => !this.#index.lookup(k[0] === 't' ? 'tree' : 'data', k.slice(1)).some((l) => l.packId !== packId && this.#usable(l))));
    }
  }

  /** The header stored in the pack must decrypt and list exactly what the index lists. */
  #compareHeader(packId: string, bytes: Buffer, entries: readonly BlobLocation[]): void {
    const what = `pack ${packId}`;
    let header: PackedBlob[];
    try {
      const hlen = headerLength(bytes.subarray(bytes.length - 4), bytes.length, what);
      const enc = bytes.subarray(bytes.length - 4 - hlen, bytes.length - 4);
      let plain: Buffer;
      try {
        plain = openSealed(this.#repo.masterKey, enc);
      } catch {
        throw new Error('header does not decrypt (MAC mismatch)');
      }
      header = decodeHeader(plain, what);
    } catch (err) {
      this.#error('pack_header', what, `${what}: header is damaged: ${errorMessage(err)}; the index still locates its blobs`);
      return;
    }
    const fmt = (b: PackedBlob): string => `${b.type}:${b.id}@${b.offset}+${b.length}/${b.uncompressedLength ?? '-'}`;
    const inHeader = new Set(header.map(fmt));
    const inIndex = new Set(entries.map(fmt));
    const onlyHeader = [...inHeader].filter((e) => !inIndex.has(e));
    const onlyIndex = [...inIndex].filter((e) => !inHeader.has(e));
    if (onlyHeader.length > 0 || onlyIndex.length > 0) {
      this.#error('pack_header', what, `${what}: header lists ${header.length} blobs and the index ${entries.length}; ` +
        `${onlyIndex.length} index entries are not in the header (first: ${onlyIndex[0] ?? 'none'}), ` +
        `${onlyHeader.length} header entries are not in the index (first: ${onlyHeader[0] ?? 'none'})`);
    }
  }

  // ---- naming the snapshots and files that need damaged blobs ----

  async #nameUsers(): Promise<void> {
    const wanted = new Map<string, Users>();
    for (const { keys } of this.#attribute) for (const k of keys) wanted.set(k, { snapshots: new Set(), files: [], more: 0 });
    if (wanted.size === 0) return;
    this.#progress('attribution', 0, this.#snapshots.length);
    const leadsTo = new Map<string, Promise<boolean>>();
    const cache = new Map<string, Tree>();
    const load = async (id: string): Promise<Tree | undefined> => {
      const hit = cache.get(id);
      if (hit) return hit;
      const tree = await this.#loadTree(id, true);
      if (tree && cache.size < ATTRIBUTION_CACHE) cache.set(id, tree);
      return tree;
    };
    // Does anything wanted lie in this tree or below it? Memoized: shared subtrees are asked once.
    const contains = (id: string): Promise<boolean> => {
      let p = leadsTo.get(id);
      if (!p) {
        p = (async () => {
          const tree = await load(id);
          if (!tree) return false;
          for (const n of tree.nodes) {
            if (n?.type === 'file' && Array.isArray(n.content) && n.content.some((b) => wanted.has(keyOf('data', b)))) return true;
            if (n?.type === 'dir' && typeof n.subtree === 'string' && (wanted.has(keyOf('tree', n.subtree)) || (await contains(n.subtree)))) return true;
          }
          return false;
        })();
        leadsTo.set(id, p);
      }
      return p;
    };
    const note = (key: string, snapshot: string, file: string): void => {
      const u = wanted.get(key);
      if (!u) return;
      u.snapshots.add(snapshot);
      if (u.files.length < FILES_CAP && !u.files.includes(file)) u.files.push(file);
      else if (!u.files.includes(file)) u.more++;
    };
    const walk = async (snapshot: string, id: string, dir: string): Promise<void> => {
      this.#checkCancel();
      const tree = await load(id);
      if (!tree) return;
      for (const n of tree.nodes) {
        const p = `${dir}/${String(n?.name)}`;
        if (n?.type === 'file' && Array.isArray(n.content)) {
          for (const b of n.content) note(keyOf('data', b), snapshot, p);
        } else if (n?.type === 'dir' && typeof n.subtree === 'string') {
          note(keyOf('tree', n.subtree), snapshot, p);
          if (await contains(n.subtree)) await walk(snapshot, n.subtree, p);
        }
      }
    };
    let done = 0;
    for (const s of this.#snapshots) {
      note(keyOf('tree', s.tree), s.id, '/');
      if (await contains(s.tree)) await walk(s.id, s.tree, '');
      this.#progress('attribution', ++done, this.#snapshots.length);
    }
    for (const { damage, keys } of this.#attribute) {
      const snapshots = new Set<string>();
      const files: string[] = [];
      let more = 0;
      for (const k of keys) {
        const u = wanted.get(k);
        if (!u) continue;
        for (const s of u.snapshots) snapshots.add(s);
        for (const f of u.files) {
          if (files.includes(f)) continue;
          if (files.length < FILES_CAP) files.push(f);
          else more++;
        }
        more += u.more;
      }
      if (snapshots.size > 0) damage.snapshots = [...snapshots].sort();
      if (files.length > 0) damage.files = files;
      if (more > 0) damage.moreFiles = more;
      if (snapshots.size === 0 && damage.kind !== 'tree') damage.message += ' (no snapshot needs it)';
    }
  }
}

// ---- pure helpers ----

/** The size a pack with these blobs has: blobs, encrypted header, header length. */
export function expectedPackSize(blobs: readonly PackedBlob[]): number {
  let size = 4 + Repository.overhead;
  for (const b of blobs) size += b.length + (b.uncompressedLength === undefined ? 37 : 41);
  return size;
}

/** Chooses the packs to read (see CheckOptions.readDataSubset); `packIds` sorted. */
export function selectPacks(packIds: readonly string[], subset: CheckOptions['readDataSubset']): string[] {
  let chosen = [...packIds];
  if (subset?.nth) {
    const [n, of] = subset.nth;
    chosen = chosen.filter((id) => parseInt(id.slice(0, 2), 16) % of === n - 1);
  }
  if (subset?.fraction !== undefined) {
    const want = subset.fraction === 0 ? 0 : Math.max(1, Math.round(chosen.length * subset.fraction));
    // A partial Fisher-Yates shuffle: the first `want` entries are a uniform random choice.
    for (let i = 0; i < want && i < chosen.length; i++) {
      const j = i + Math.floor(Math.random() * (chosen.length - i));
      [chosen[i], chosen[j]] = [chosen[j] as string, chosen[i] as string];
    }
    chosen = chosen.slice(0, want).sort();
  }
  return chosen;
}

function validateOptions(opts: CheckOptions): void {
  const s = opts.readDataSubset;
  if (!s) return;
  if (s.fraction !== undefined && !(s.fraction >= 0 && s.fraction <= 1)) {
    throw new UsageError(`read-data subset fraction must be between 0 and 1, got ${s.fraction}`, { hint: 'e.g. 0.1 reads a tenth of the packs' });
  }
  if (s.nth !== undefined) {
    const [n, of] = s.nth;
    if (!Number.isInteger(n) || !Number.isInteger(of) || of < 1 || of > 256 || n < 1 || n > of) {
      throw new UsageError(`read-data subset ${n}/${of} is invalid`, { hint: 'use n/t with 1 <= n <= t <= 256, e.g. 1/5' });
    }
  }
}

/**
 * Stray files of a local repository. The Storage interface lists only well-formed IDs, so
 * files that do not belong (a stray `notes.txt`, a temporary `.tmp-…` file left by an
 * interrupted save, a pack in the wrong `data/xx` directory) are invisible through it; this
 * looks at the directories with node:fs when the location is `local:<dir>`. Other storages
 * get no stray-file check. All findings are warnings: such files never hold repository data
 * lifeboat or restic would read.
 */
export async function findStrayFiles(location: string): Promise<Damage[]> {
  if (!location.startsWith('local:')) return [];
  const root = location.slice('local:'.length);
  const found: Damage[] = [];
  const warn = (rel: string, why: string): void => {
    found.push({ kind: 'stray_file', object: rel, message: `${rel} ${why}`, severity: 'warning' });
  };
  const names = async (rel: string): Promise<string[]> => {
    try {
      return (await readdir(path.join(root, rel))).sort();
    } catch {
      return []; // a missing directory holds no stray files (and the storage creates it again)
    }
  };
  const judge = (rel: string, name: string, prefix?: string): void => {
    const file = `${rel}/${name}`;
    if (name.startsWith('.tmp-')) warn(file, 'is a temporary file left by an interrupted save; it can be deleted');
    else if (!isId(name)) warn(file, 'is not a repository file (its name is not an ID); lifeboat ignores it');
    else if (prefix !== undefined && !name.startsWith(prefix)) warn(file, `is in the wrong directory (packs starting ${name.slice(0, 2)} belong in data/${name.slice(0, 2)}/); lifeboat does not see it there`);
  };
  for (const dir of ['keys', 'locks', 'snapshots', 'index']) for (const n of await names(dir)) judge(dir, n);
  for (const sub of await names('data')) {
    if (!/^[0-9a-f]{2}$/.test(sub)) {
      warn(`data/${sub}`, 'does not belong in data/ (only directories 00 to ff do); lifeboat ignores it');
      continue;
    }
    for (const n of await names(`data/${sub}`)) judge(`data/${sub}`, n, sub);
  }
  return found;
}
