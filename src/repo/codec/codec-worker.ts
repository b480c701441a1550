/**
 * A blob codec worker thread: runs blob-codec.ts's encode and decode functions for the codec
 * pool (codec-pool.ts). Requests carry the master key they need (64 bytes, hex), so one
 * worker serves every open repository; key objects are cached per key.
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { LifeboatError } from '../../core/errors.ts';
import { idOf } from '../../core/ids.ts';
import { ChunkSplitter, FileChunker } from '../chunker/chunk-stream.ts';
import { noteGarbage, release, releaseBacking } from '../../util/memory.ts';
import { initCrypto } from '../crypto/crypto.ts';
import type { MasterKey } from '../crypto/crypto.ts';
import { decodeSync, encodeBlobSync, owned } from './blob-codec.ts';
import type { Decoded } from './blob-codec.ts';
import type { CodecReply, CodecRequest, WireError } from './codec-pool.ts';

await initCrypto();
const port = parentPort;
if (!port) throw new Error('codec-worker.ts runs as a worker thread only');

const keys = new Map<string, MasterKey>();
/** Files and streams being chunked here, by the pool's handle. */
const files = new Map<number, FileChunker | ChunkSplitter>();
/** Streams being hashed here (`digest` requests), by the pool's handle. */
const digests = new Map<number, { hash: Hash; ring?: Uint8Array }>();

function keyFor(token: string): MasterKey {
  let key = keys.get(token);
  if (!key) {
    const b = Buffer.from(token, 'hex');
    key = { encrypt: b.subarray(0, 32), mac: { k: b.subarray(32, 48), r: b.subarray(48, 64) } };
    keys.set(token, key);
  }
  return key;
}

function wireError(err: unknown): WireError {
  if (err instanceof LifeboatError) return { message: err.message, code: err.code, hint: err.hint, data: err.data };
  return { message: err instanceof Error ? err.message : String(err) };
}

/** Chunks, moved to the reply, with their IDs when `hash`. */
function chunkReply(seq: number, cut: Buffer[], done: boolean, hash: boolean): { reply: CodecReply; transfer: ArrayBuffer[] } {
  const chunks = cut.map(owned);
  return {
    reply: { seq, op: 'chunk', chunks, ids: hash ? chunks.map(idOf) : undefined, done },
    transfer: chunks.map((c) => c.buffer as ArrayBuffer),
  };
}

/** Cuts a file (opened by the first request) or a stream fed piece by piece. */
function chunk(req: Extract<CodecRequest, { op: 'chunk' | 'feed' | 'chunk-close' }>): { reply: CodecReply; transfer: ArrayBuffer[] } {
  const state = files.get(req.file);
  if (req.op === 'chunk-close') {
    state?.close();
    files.delete(req.file);
    return chunkReply(req.seq, [], true, false);
  }
  if (req.op === 'feed') {
    let splitter = state;
    if (!splitter && req.polynomial !== undefined) {
      splitter = new ChunkSplitter(req.polynomial);
      files.set(req.file, splitter);
    }
    if (!(splitter instanceof ChunkSplitter)) throw new LifeboatError('codec_failed', `stream ${req.file} is not open on this codec thread`);
    const cut = req.data ? [...splitter.cut(req.data)] : [];
    // The piece was moved here and is cut (its bytes copied): free it now.
    releaseBacking(req.data);
    if (req.end) {
      const last = splitter.end();
      if (last) cut.push(last);
      files.delete(req.file);
    }
    // A stream's chunks go back unhashed: the thread that fed them only reads meanwhile, so it
    // hashes them while this one cuts the next piece (the two cores split the work).
    return chunkReply(req.seq, cut, req.end, false);
  }
  let next: { chunks: Buffer[]; done: boolean };
  let file = state;
  try {
    if (!file && req.open) {
      file = new FileChunker(req.open.path, req.open.polynomial);
      files.set(req.file, file);
    }
    if (!(file instanceof FileChunker)) throw new LifeboatError('codec_failed', `file ${req.file} is not open on this codec thread`);
    next = file.next(req.budget);
  } catch (err) {
    files.delete(req.file);
    // A file that cannot be read is that file's problem, as when the main thread reads it.
    if (err instanceof LifeboatError) throw err;
    throw new LifeboatError('io', err instanceof Error ? err.message : String(err));
  }
  if (next.done) files.delete(req.file);
  return chunkReply(req.seq, next.chunks, next.done, true);
}

/** Adds a piece of a stream's ring to its hash, or ends the stream with its digest. */
function digest(req: Extract<CodecRequest, { op: 'digest' }>): CodecReply {
  let state = digests.get(req.stream);
  if (!state) {
    state = { hash: createHash('sha256') };
    digests.set(req.stream, state);
  }
  if (req.ring) state.ring = new Uint8Array(req.ring);
  if (req.length > 0) {
    if (!state.ring) throw new LifeboatError('codec_failed', `stream ${req.stream} has no ring on this codec thread`);
    state.hash.update(state.ring.subarray(req.at, req.at + req.length));
  }
  if (!req.end) return { seq: req.seq, op: 'digest' };
  digests.delete(req.stream);
  return { seq: req.seq, op: 'digest', digest: state.hash.digest('hex') };
}

function handle(req: CodecRequest): { reply: CodecReply; transfer: ArrayBuffer[] } {
  if (req.op === 'chunk' || req.op === 'feed' || req.op === 'chunk-close') return chunk(req);
  if (req.op === 'digest') return { reply: digest(req), transfer: [] };
  const key = keyFor(req.key);
  const transfer: ArrayBuffer[] = [];
  if (req.op === 'encode') {
    const sealed: Uint8Array[] = [];
    const lengths: Array<number | undefined> = [];
    for (const item of req.items) {
      const e = encodeBlobSync(key, item, req.compress, req.level);
      release(item); // transferred here: nobody else holds it
      const out = owned(e.sealed);
      sealed.push(out);
      lengths.push(e.uncompressedLength);
      transfer.push(out.buffer as ArrayBuffer);
    }
    return { reply: { seq: req.seq, op: 'encode', sealed, lengths }, transfer };
  }
  let decoded: Decoded;
  try {
    decoded = decodeSync(key, req.buf, req.blobs, req.keep, req.digest);
  } finally {
    release(req.buf);
  }
  const results = decoded.results.map((r): Uint8Array | WireError | null => {
    if (r === null) return null;
    if (r instanceof LifeboatError) return wireError(r);
    const out = owned(r);
    transfer.push(out.buffer as ArrayBuffer);
    return out;
  });
  return { reply: { seq: req.seq, op: 'decode', results, digest: decoded.digest }, transfer };
}

port.on('message', (req: CodecRequest) => {
  let out: { reply: CodecReply; transfer: ArrayBuffer[] };
  try {
    out = handle(req);
  } catch (err) {
    out = { reply: { seq: req.seq, op: 'failed', error: wireError(err) }, transfer: [] };
  }
  port.postMessage(out.reply, out.transfer);
  // The request's buffers and the intermediate ones (zstd output, ciphertext) are garbage now.
  if (req.op === 'encode') noteGarbage(req.items.reduce((n, b) => n + 3 * b.byteLength, 0));
  else if (req.op === 'decode') noteGarbage(3 * req.buf.byteLength);
});
// Loaded and listening: the pool sends work here from now on (until then its thread encodes).
port.postMessage({ seq: 0, op: 'ready' } satisfies CodecReply);
