/**
 * A blob codec worker thread: runs blob-codec.ts's encode and decode functions for the codec
 * pool (codec-pool.ts). Requests carry the master key they need (64 bytes, hex), so one
 * worker serves every open repository; key objects are cached per key.
 */
import { parentPort } from 'node:worker_threads';
import { LifeboatError } from '../../core/errors.ts';
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

function handle(req: CodecRequest): { reply: CodecReply; transfer: ArrayBuffer[] } {
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
  noteGarbage(req.op === 'encode' ? req.items.reduce((n, b) => n + 3 * b.byteLength, 0) : 3 * req.buf.byteLength);
});
