/**
 * What a Qdrant backup holds besides the snapshot files (qdrant.json), where each file goes,
 * and the two checks that need no server: the version rule of Qdrant's snapshot docs and the
 * tar structure of a snapshot file (a collection snapshot is an uncompressed tar archive).
 */

export const META_ARTIFACT = 'qdrant.json';

export interface QdrantBackupMeta {
  /** Version of the server the snapshots were taken from ("1.12.4"). */
  readonly server_version: string;
  readonly collections: ReadonlyArray<{ readonly name: string; readonly artifact: string; readonly size: number; readonly sha256: string }>;
  readonly full?: { readonly artifact: string; readonly size: number; readonly sha256: string };
}

/**
 * Artifact names are flat (the stack snapshot keeps artifacts in one directory per source) and
 * never collide: every collection's starts with "collection-", the full snapshot's does not.
 * Collection names may hold characters a file name should not: they are percent-encoded.
 */
export const collectionArtifact = (name: string): string => `collection-${encodeURIComponent(name)}.snapshot`;
export const FULL_ARTIFACT = 'full-storage.snapshot';

/**
 * Why a snapshot of `from` cannot be recovered on `to`, or undefined. Qdrant's docs: a
 * snapshot of v1.4.1 restores only on v1.4.x with x ≥ 1 (the storage format is checked per
 * minor version and the server panics on a mismatch).
 */
export function versionMismatch(from: string, to: string): string | undefined {
  const parse = (v: string): number[] | undefined => {
    const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
  };
  const a = parse(from);
  const b = parse(to);
  if (a === undefined || b === undefined) return `cannot compare Qdrant versions ${JSON.stringify(from)} and ${JSON.stringify(to)}`;
  if (a[0] !== b[0] || a[1] !== b[1]) return `the snapshots were taken on Qdrant ${from} and the target runs ${to}; Qdrant recovers a snapshot only on the same minor version (${a[0]}.${a[1]}.x)`;
  if (b[2] < a[2]) return `the snapshots were taken on Qdrant ${from} and the target runs the older ${to}; Qdrant recovers a snapshot only on ${a[0]}.${a[1]}.${a[2]} or a later patch release`;
  return undefined;
}

/**
 * Streaming check of a tar archive: every header's checksum, sizes within the data, and the
 * end-of-archive zero blocks. Feed chunks with update(), then finish().
 */
export class TarChecker {
  #pending = Buffer.alloc(0);
  /** Bytes of file data (plus padding) still to skip. */
  #skip = 0;
  #zeroBlocks = 0;
  entries = 0;
  failed: string | undefined;

  update(chunk: Uint8Array): void {
    if (this.failed !== undefined) return;
    let buf = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (buf.length > 0 && this.failed === undefined) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, buf.length);
        this.#skip -= n;
        buf = buf.subarray(n);
        continue;
      }
      if (buf.length < 512) break;
      this.#header(buf.subarray(0, 512));
      buf = buf.subarray(512);
    }
    this.#pending = Buffer.from(buf);
  }

  #header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      this.#zeroBlocks++;
      return;
    }
    if (this.#zeroBlocks > 0) {
      this.failed = 'has data after its end-of-archive block';
      return;
    }
    const field = (off: number, len: number): string => h.subarray(off, off + len).toString('latin1').replace(/\0.*$/s, '').trim();
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    if (Number.parseInt(field(148, 8), 8) !== sum) {
      this.failed = `is not a tar archive (header ${this.entries + 1} fails its checksum)`;
      return;
    }
    // GNU base-256 sizes (files ≥ 8 GiB) set the high bit of the first byte.
    const size = (h[124] & 0x80) !== 0 ? Number(h.subarray(125, 136).readUIntBE(5, 6)) : Number.parseInt(field(124, 12) || '0', 8);
    this.entries++;
    this.#skip = Math.ceil(size / 512) * 512;
  }

  /** undefined when the archive is whole, else what is wrong with it. */
  finish(): string | undefined {
    if (this.failed !== undefined) return this.failed;
    if (this.#skip > 0 || this.#pending.length > 0) return 'is truncated (it ends inside an entry)';
    if (this.#zeroBlocks === 0) return 'is truncated (no end-of-archive block)';
    if (this.entries === 0) return 'is an empty tar archive';
    return undefined;
  }
}
