/**
 * zstd, as restic's repository format v2 uses it: per-blob compression in "auto" mode (a blob
 * is stored uncompressed when zstd does not make it smaller) and whole-file compression of
 * unpacked files (index, snapshots, locks).
 *
 * Blobs are compressed and decompressed with synchronous calls, on the blob codec's worker
 * threads (codec/codec-pool.ts), which is where the parallelism comes from. Two engines give
 * the same frames, byte for byte:
 * - the optional native package zstd-napi (N-API, built from source at install), whose
 *   contexts live as long as the thread: a blob costs only its compression, measured here on
 *   8.7 KiB of SQL-like text 16 us to compress and 9-14 us to decompress;
 * - node:zlib, when that package is missing: every call there sets up and frees a context of
 *   its own (60 us and 18-32 us on the same blob), which is most of the work on small files.
 * Whole unpacked files (a few per command) always use node:zlib.
 */
import { createRequire } from 'node:module';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { IntegrityError } from '../core/errors.ts';
import { fitted, releaseBacking } from '../util/memory.ts';

/** The part of zstd-napi's low-level binding used here (one context of each per thread). */
interface NativeZstd {
  readonly CCtx: new () => {
    setParameter(param: number, value: number): void;
    compress2(dst: Uint8Array, src: Uint8Array): number;
  };
  readonly DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  readonly CParameter: { readonly compressionLevel: number };
}

export type ZstdEngine = 'native' | 'zlib';

let native: NativeZstd | null | undefined;

function loadNative(): NativeZstd | null {
  if (native !== undefined) return native;
  try {
    native = process.env.LIFEBOAT_ZSTD === 'zlib' ? null : (createRequire(import.meta.url)('zstd-napi/binding.js') as NativeZstd);
  } catch {
    native = null; // the optional package did not build here: node:zlib does the work
  }
  return native;
}

/** Which engine compresses blobs in this process (LIFEBOAT_ZSTD=zlib forces node:zlib). */
export function zstdEngine(): ZstdEngine {
  return loadNative() ? 'native' : 'zlib';
}

export const DEFAULT_LEVEL = 3;

const paramsByLevel = new Map<number, Record<number, number>>();

function params(level: number): Record<number, number> {
  let p = paramsByLevel.get(level);
  if (!p) {
    p = { [constants.ZSTD_c_compressionLevel]: level };
    paramsByLevel.set(level, p);
  }
  return p;
}

/** ZSTD_compressBound: the largest frame zstd makes of `n` bytes, plus a little slack. */
function compressBound(n: number): number {
  return n + (n >>> 8) + (n < 128 * 1024 ? (128 * 1024 - n) >>> 11 : 0) + 64;
}

/** This thread's native contexts, made on first use and kept. */
let cctx: InstanceType<NativeZstd['CCtx']> | undefined;
let cctxLevel = Number.NaN;
let dctx: InstanceType<NativeZstd['DCtx']> | undefined;

/**
 * Compresses a blob; undefined when the result would not be smaller ("auto" mode). The result
 * is a slice of a buffer made for this call: the caller frees it with releaseBacking.
 */
export function compressBlobSync(data: Uint8Array, level = DEFAULT_LEVEL, engine: ZstdEngine = zstdEngine()): Buffer | undefined {
  if (data.length < 64) return undefined; // frame overhead alone eats the gain
  let out: Buffer;
  const z = engine === 'native' ? loadNative() : null;
  if (z) {
    if (!cctx) cctx = new z.CCtx();
    if (cctxLevel !== level) {
      cctx.setParameter(z.CParameter.compressionLevel, level);
      cctxLevel = level;
    }
    // A one-shot compress2 knows the input's size, sizes its tables to it and records it in
    // the frame, as node:zlib does with pledgedSrcSize below.
    const dst = Buffer.allocUnsafeSlow(compressBound(data.length));
    out = dst.subarray(0, cctx.compress2(dst, data));
  } else {
    // The pledged size lets zstd size its window and tables to the blob (a small blob then costs
    // a small context: measured ~25 % faster on 8 KiB blobs, ~6 % on 1 MiB ones); the frame
    // records the size, which every zstd decoder accepts.
    out = zstdCompressSync(data, { params: params(level), chunkSize: compressBound(data.length), pledgedSrcSize: data.length });
  }
  if (out.length < data.length) return out;
  releaseBacking(out);
  return undefined;
}

/**
 * Decompresses a blob and checks it has the length the index promised. The result spans its
 * own ArrayBuffer, so it can move between threads.
 */
export function decompressBlobSync(data: Uint8Array, expectedLength: number, what: string, engine: ZstdEngine = zstdEngine()): Buffer {
  let out: Buffer;
  const z = engine === 'native' ? loadNative() : null;
  try {
    if (z) {
      dctx ??= new z.DCtx();
      // A frame that holds more than promised does not fit and fails as damaged.
      const dst = Buffer.allocUnsafeSlow(expectedLength);
      const n = dctx.decompress(dst, data);
      out = n === expectedLength ? dst : dst.subarray(0, n);
    } else {
      // One byte of headroom so that a frame longer than promised is caught as such.
      out = zstdDecompressSync(data, { chunkSize: Math.max(expectedLength + 1, 64), maxOutputLength: Math.max(expectedLength, 1) });
    }
  } catch (err) {
    throw new IntegrityError(`${what}: zstd data is damaged`, { cause: err });
  }
  if (out.length !== expectedLength) {
    throw new IntegrityError(`${what}: decompressed to ${out.length} bytes, expected ${expectedLength}`);
  }
  // node:zlib's output is a slice one byte short of its buffer: fit it.
  return fitted(out);
}

export function compressSync(data: Uint8Array, level = DEFAULT_LEVEL): Buffer {
  return zstdCompressSync(data, { params: params(level), chunkSize: compressBound(data.length) });
}

export function decompressSync(data: Uint8Array, what: string): Buffer {
  try {
    return zstdDecompressSync(data, { chunkSize: Math.max(64 * 1024, data.length * 4) });
  } catch (err) {
    throw new IntegrityError(`${what}: zstd data is damaged`, { cause: err });
  }
}
