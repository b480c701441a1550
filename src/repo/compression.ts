/**
 * zstd, as restic's repository format v2 uses it: per-blob compression in "auto" mode (a blob
 * is stored uncompressed when zstd does not make it smaller) and whole-file compression of
 * unpacked files (index, snapshots, locks). node:zlib's async zstd runs on libuv's thread
 * pool, so compression of concurrent blobs spreads over the cores.
 */
import { constants, zstdCompress, zstdDecompress, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { promisify } from 'node:util';
import { IntegrityError } from '../core/errors.ts';

const compressAsync = promisify(zstdCompress);
const decompressAsync = promisify(zstdDecompress);

export const DEFAULT_LEVEL = 3;

function params(level: number): Record<number, number> {
  return { [constants.ZSTD_c_compressionLevel]: level };
}

/** Compresses `data`; resolves undefined when the result would not be smaller ("auto"). */
export async function compressBlob(data: Uint8Array, level = DEFAULT_LEVEL): Promise<Buffer | undefined> {
  if (data.length < 64) return undefined; // frame overhead alone eats the gain
  const out = await compressAsync(data, { params: params(level) });
  return out.length < data.length ? out : undefined;
}

/** Decompresses a blob and checks it has the length the index promised. */
export async function decompressBlob(data: Uint8Array, expectedLength: number, what: string): Promise<Buffer> {
  let out: Buffer;
  try {
    out = await decompressAsync(data, { maxOutputLength: Math.max(expectedLength, 1) });
  } catch (err) {
    throw new IntegrityError(`${what}: zstd data is damaged`, { cause: err });
  }
  if (out.length !== expectedLength) {
    throw new IntegrityError(`${what}: decompressed to ${out.length} bytes, expected ${expectedLength}`);
  }
  return out;
}

export function compressSync(data: Uint8Array, level = DEFAULT_LEVEL): Buffer {
  return zstdCompressSync(data, { params: params(level) });
}

export function decompressSync(data: Uint8Array, what: string): Buffer {
  try {
    return zstdDecompressSync(data);
  } catch (err) {
    throw new IntegrityError(`${what}: zstd data is damaged`, { cause: err });
  }
}
