/**
 * The pack file format (restic design.rst, "Pack Format"), pure: no I/O, no crypto.
 *
 *   EncryptedBlob1 || … || EncryptedBlobN || EncryptedHeader || uint32le(len(EncryptedHeader))
 *
 * The plaintext header holds one entry per blob: a type byte (0 data, 1 tree, 2 compressed
 * data, 3 compressed tree), uint32le encrypted length, for compressed types uint32le
 * uncompressed length, then the 32-byte plaintext SHA-256. Offsets follow from the lengths.
 */
import { IntegrityError } from '../../core/errors.ts';

export type BlobType = 'data' | 'tree';

export interface PackedBlob {
  readonly id: string;
  readonly type: BlobType;
  readonly offset: number;
  /** Length of the encrypted (and maybe compressed) blob in the pack. */
  readonly length: number;
  /** Plaintext length when the blob is compressed; undefined when stored as is. */
  readonly uncompressedLength?: number;
}

const ENTRY_PLAIN = 1 + 4 + 32;
const ENTRY_COMPRESSED = 1 + 4 + 4 + 32;
/** The largest header restic accepts; guards against absurd header lengths. */
export const MAX_HEADER_SIZE = 16 * 1024 * 1024;

export function encodeHeader(blobs: readonly PackedBlob[]): Buffer {
  const size = blobs.reduce((n, b) => n + (b.uncompressedLength === undefined ? ENTRY_PLAIN : ENTRY_COMPRESSED), 0);
  const buf = Buffer.alloc(size);
  let p = 0;
  for (const b of blobs) {
    const compressed = b.uncompressedLength !== undefined;
    buf[p++] = (b.type === 'tree' ? 1 : 0) | (compressed ? 2 : 0);
    buf.writeUInt32LE(b.length, p);
    p += 4;
    if (compressed) {
      buf.writeUInt32LE(b.uncompressedLength as number, p);
      p += 4;
    }
    p += Buffer.from(b.id, 'hex').copy(buf, p);
  }
  return buf;
}

/** Parses a decrypted header. `what` names the pack in errors. */
export function decodeHeader(plain: Buffer, what: string): PackedBlob[] {
  const blobs: PackedBlob[] = [];
  let p = 0;
  let offset = 0;
  while (p < plain.length) {
    const t = plain[p] as number;
    if (t > 3) throw new IntegrityError(`${what}: header entry ${blobs.length} has invalid blob type ${t}`);
    const compressed = (t & 2) !== 0;
    const need = compressed ? ENTRY_COMPRESSED : ENTRY_PLAIN;
    if (p + need > plain.length) throw new IntegrityError(`${what}: header is truncated at entry ${blobs.length}`);
    const length = plain.readUInt32LE(p + 1);
    const uncompressedLength = compressed ? plain.readUInt32LE(p + 5) : undefined;
    const id = plain.subarray(p + need - 32, p + need).toString('hex');
    blobs.push({ id, type: (t & 1) === 1 ? 'tree' : 'data', offset, length, uncompressedLength });
    offset += length;
    p += need;
  }
  return blobs;
}

/** Reads the trailing header length of a pack; validates it against the pack size. */
export function headerLength(tail: Buffer, packSize: number, what: string): number {
  if (packSize < 4 + 32) throw new IntegrityError(`${what}: file of ${packSize} bytes is too short to be a pack`);
  const n = tail.readUInt32LE(tail.length - 4);
  if (n < 32 || n > MAX_HEADER_SIZE || n + 4 > packSize) {
    throw new IntegrityError(`${what}: header length ${n} does not fit a pack of ${packSize} bytes (truncated or damaged)`);
  }
  return n;
}
