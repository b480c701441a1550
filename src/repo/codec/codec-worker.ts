/**
 * A blob codec worker thread: runs blob-codec.ts's encode and decode functions for the codec
 * pool (codec-pool.ts). Requests carry the master key they need (64 bytes, hex), so one
 * worker serves every open repository; key objects are cached per key.
 */
import { parentPort } from 'node:worker_threads';
import { LifeboatError } from '../../core/errors.ts';
import { idOf } from '../../core/ids.ts';
import { FileChunker } from '../chunker/chunk-stream.ts';
import { noteGarbage, release } from '../../util/memory.ts';
import { initCrypto } from '../crypto/crypto.ts';
import type { MasterKey } from '../crypto/crypto.ts';
import { decodeSync, encodeBlobSync, owned } from './blob-codec.ts';
import type { Decoded } from './blob-codec.ts';
import type { CodecReply, CodecRequest, WireError } from './codec-pool.ts';

await initCrypto();
const port = parentPort;
if (!port) throw new Error('codec-worker.ts runs as a worker thread only');

const keys = new Map<string, MasterKey>();
/** Files being chunked here, by the pool's handle. */
const files = new Map<number, FileChunker>();

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

/** The next chunks of a file (opened by the first request), each with its ID. */
function chunk(req: Extract<CodecRequest, { op: 'chunk' | 'chunk-close' }>): { reply: CodecReply; transfer: ArrayBuffer[] } {
  let file = files.get(req.file);
  if (req.op === 'chunk-close') {
    file?.close();
    files.delete(req.file);
    return { reply: { seq: req.seq, op: 'chunk', chunks: [], ids: [], done: true }, transfer: [] };
  }
  let next: { chunks: Buffer[]; done: boolean };
  try {
    if (!file && req.open) {
      file = new FileChunker(req.open.path, req.open.polynomial);
      files.set(req.file, file);
    }
    if (!file) throw new LifeboatError('codec_failed', `file ${req.file} is not open on this codec thread`);
    next = file.next(req.budget);
  } catch (err) {
    files.delete(req.file);
    // A file that cannot be read is that file's problem, as when the main thread reads it.
    if (err instanceof LifeboatError) throw err;
    throw new LifeboatError('io', err instanceof Error ? err.message : String(err));
  }
  if (next.done) files.delete(req.file);
  const chunks = next.chunks.map(owned);
  return {
    reply: { seq: req.seq, op: 'chunk', chunks, ids: chunks.map(idOf), done: next.done },
    transfer: chunks.map((c) => c.buffer as ArrayBuffer),
  };
}

function handle(req: CodecRequest): { reply: CodecReply; transfer: ArrayBuffer[] } {
  if (req.op === 'chunk' || req.op === 'chunk-close') return chunk(req);
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
