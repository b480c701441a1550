/**
 * The per-blob work of a repository, as plain synchronous functions: encoding (zstd in "auto"
 * mode, then encryption) and decoding (MAC check, decryption, decompression, SHA-256 check).
 * The codec pool runs them on worker threads; they run inline when there are no workers.
 *
 * Results own their whole ArrayBuffer, so a worker can transfer them without copying.
 */
import { createHash } from 'node:crypto';
import { IntegrityError, LifeboatError } from '../../core/errors.ts';
import { idOf } from '../../core/ids.ts';
import { compressBlobSync, decompressBlobSync } from '../compression.ts';
import { open as openSealed, seal } from '../crypto/crypto.ts';
import type { MasterKey } from '../crypto/crypto.ts';
import type { BlobLocation } from '../index/master-index.ts';
import { release, releaseBacking } from '../../util/memory.ts';

/** A blob inside a buffer handed to `decode`: `at` is where its bytes start in that buffer. */
export interface BlobSlice {
  readonly at: number;
  readonly loc: BlobLocation;
}

/** What a decode gives: one entry per blob, and the buffer's SHA-256 when asked for. */
export interface Decoded {
  readonly results: Array<Buffer | LifeboatError | null>;
  readonly digest?: string;
}

export interface EncodedBlob {
  /** IV || ciphertext || MAC, as stored in a pack. */
  readonly sealed: Buffer;
  /** The plaintext length when the blob was compressed; undefined when stored as is. */
  readonly uncompressedLength?: number;
}

export function encodeBlobSync(key: MasterKey, plaintext: Uint8Array, compress: boolean, level: number): EncodedBlob {
  const compressed = compress ? compressBlobSync(plaintext, level) : undefined;
  const sealed = seal(key, compressed ?? plaintext);
  releaseBacking(compressed);
  return { sealed, uncompressedLength: compressed ? plaintext.length : undefined };
}

/** How a blob is named in errors; the checker relies on this prefix to shorten its messages. */
export function describeBlob(loc: BlobLocation): string {
  return `${loc.type} blob ${loc.id} in pack ${loc.packId}`;
}

/** Decrypts, decompresses and verifies one blob read from a pack. */
export function decodeBlobSync(key: MasterKey, loc: BlobLocation, raw: Uint8Array): Buffer {
  const what = describeBlob(loc);
  if (raw.length !== loc.length) throw new IntegrityError(`${what}: read ${raw.length} bytes, expected ${loc.length}`);
  let plain: Buffer;
  try {
    plain = openSealed(key, raw);
  } catch (err) {
    throw new IntegrityError(`${what} is damaged (MAC mismatch)`, { cause: err, hint: 'run "lifeboat check --read-data" to list the damage' });
  }
  if (loc.uncompressedLength !== undefined) {
    const compressed = plain;
    plain = decompressBlobSync(compressed, loc.uncompressedLength, what);
    release(compressed);
  }
  const actual = idOf(plain);
  if (actual !== loc.id) throw new IntegrityError(`${what} has hash ${actual}`, { data: { expected: loc.id, actual } });
  return plain;
}

/**
 * Verifies and decodes the blobs lying in `buf` (`at`: where each starts): one entry per blob,
 * the plaintext (null unless `keep`) or the LifeboatError it failed with; with `digest`, also
 * the SHA-256 of the whole buffer (a pack's name).
 */
export function decodeSync(key: MasterKey, buf: Uint8Array, blobs: readonly BlobSlice[], keep: boolean, digest: boolean): Decoded {
  const sum = digest ? idOf(buf) : undefined;
  return { results: blobs.map((b) => decodeSlice(key, buf, b, keep)), digest: sum };
}

/** How long `decodeYielding` works before it lets the event loop run. */
const SLICE_MS = 4;

/**
 * decodeSync for a thread that has other work too (reading, handing work to the codec
 * threads): the same results, but it gives the event loop a turn every few milliseconds, so
 * that a pack decoded here does not hold up the replies and reads that keep the others busy.
 */
export async function decodeYielding(key: MasterKey, buf: Uint8Array, blobs: readonly BlobSlice[], keep: boolean, digest: boolean): Promise<Decoded> {
  const h = digest ? createHash('sha256') : undefined;
  let hashed = 0;
  const results: Decoded['results'] = [];
  let since = performance.now();
  for (const b of blobs) {
    results.push(decodeSlice(key, buf, b, keep));
    // The buffer's hash follows the blobs as they are decoded (their bytes are in cache).
    const end = Math.min(buf.length, b.at + b.loc.length);
    if (h && end > hashed) {
      h.update(buf.subarray(hashed, end));
      hashed = end;
    }
    if (performance.now() - since >= SLICE_MS) {
      await new Promise<void>((r) => setImmediate(r));
      since = performance.now();
    }
  }
  if (h && hashed < buf.length) h.update(buf.subarray(hashed));
  return { results, digest: h?.digest('hex') };
}

/** One blob of `buf`: its plaintext (null unless `keep`), or the LifeboatError it failed with. */
function decodeSlice(key: MasterKey, buf: Uint8Array, { at, loc }: BlobSlice, keep: boolean): Buffer | LifeboatError | null {
  try {
    const plain = decodeBlobSync(key, loc, buf.subarray(at, at + loc.length));
    if (keep) return plain;
    release(plain);
    return null;
  } catch (err) {
    if (err instanceof LifeboatError) return err;
    throw err;
  }
}

/** `b` itself when it spans its whole ArrayBuffer (so it can be transferred), else a copy. */
export function owned(b: Uint8Array): Buffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer)) {
    return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, 0, b.byteLength);
  }
  return copyOf(b);
}

/** An exact-size copy in its own ArrayBuffer, to transfer: callers keep their buffers. */
export function copyOf(b: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.byteLength);
  copy.set(b);
  return copy;
}
