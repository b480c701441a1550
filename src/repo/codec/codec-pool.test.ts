// The codec pool runs blob work on threads, but tree blobs (small JSON) are encoded and decoded
// on the calling thread: a command that only reads and writes trees (a backup where nothing
// changed) must not pay for starting a thread. Runs in its own process, so the shared pool is
// fresh here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { CodecPool } from './codec-pool.ts';
import { decodeSync, decodeYielding, encodeBlobSync } from './blob-codec.ts';
import type { BlobSlice } from './blob-codec.ts';
import { initCrypto, newMasterKey } from '../crypto/crypto.ts';
import { idOf } from '../../core/ids.ts';
import { IntegrityError, LifeboatError } from '../../core/errors.ts';
import { chunkStream } from '../chunker/chunk-stream.ts';
import { randomPolynomial } from '../chunker/polynomial.ts';

test('tree blobs go through the codec inline; data blobs start the codec threads once 16 MiB were encoded here', async (t) => {
  if (CodecPool.shared().threads === 0) t.skip('LIFEBOAT_CODEC_THREADS=0: no threads to start');
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await Repository.open(storage, 'pw');
  await repo.loadIndex();
  const tree = Buffer.from(JSON.stringify({ nodes: [{ name: 'a', type: 'file', content: [] }] }) + '\n');
  const { id } = await repo.saveBlob('tree', tree);
  await repo.flush();
  assert.deepEqual(await repo.loadBlob('tree', id), tree);
  assert.equal(CodecPool.shared().ready, false, 'a tree blob started a codec thread');
  // A backup that adds a few blobs (a dump with a few rows changed) starts no thread.
  const data = randomBytes(100_000);
  const d = await repo.saveBlob('data', data);
  await repo.flush();
  assert.equal(CodecPool.shared().ready, false, 'a few data blobs started a codec thread');
  // One that adds more gets the threads: 17 blobs of 1 MiB. (Checked before reading any back:
  // decoding data starts the threads too.)
  const more = Array.from({ length: 17 }, () => randomBytes(1024 * 1024));
  const ids = await Promise.all(more.map(async (b) => (await repo.saveBlob('data', b)).id));
  await repo.flush();
  assert.equal(CodecPool.shared().ready, true);
  assert.deepEqual(await repo.loadBlob('data', d.id), data);
  for (const [i, id] of ids.entries()) assert.deepEqual(await repo.loadBlob('data', id), more[i]);
});

test('with helpInline, decodes beyond what the threads take run on the caller and give the same verdicts', async () => {
  await initCrypto();
  const key = newMasterKey();
  const pool = CodecPool.shared();
  const blobs = Array.from({ length: 12 }, (_, i) => randomBytes(50_000 + i));
  const jobs = blobs.map((plain, i) => {
    const e = encodeBlobSync(key, plain, true, 3);
    const sealed = Buffer.from(e.sealed);
    if (i % 4 === 3) sealed[100] ^= 1; // every fourth blob damaged
    const loc = { type: 'data' as const, id: idOf(plain), packId: 'p'.repeat(64), offset: 0, length: sealed.length, uncompressedLength: e.uncompressedLength };
    return pool.decode(key, sealed, [{ at: 0, loc }], { keep: true, helpInline: true });
  });
  const results = await Promise.all(jobs);
  results.forEach(({ results: [r] }, i) => {
    if (i % 4 === 3) assert.ok(r instanceof IntegrityError, `blob ${i}: damage not reported`);
    else assert.deepEqual(r, blobs[i]);
  });
});

test('decodeYielding gives decodeSync\'s verdicts and buffer hash, and lets the event loop run while it works', async () => {
  await initCrypto();
  const key = newMasterKey();
  const plains = Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? randomBytes(256 * 1024) : Buffer.alloc(256 * 1024, i)));
  const parts: Buffer[] = [];
  const slices: BlobSlice[] = [];
  let at = 0;
  plains.forEach((plain, i) => {
    const e = encodeBlobSync(key, plain, true, 3);
    const sealed = Buffer.from(e.sealed);
    if (i === 5) sealed[40] ^= 1;
    slices.push({ at, loc: { type: 'data', id: idOf(plain), packId: 'p'.repeat(64), offset: at, length: sealed.length, uncompressedLength: e.uncompressedLength } });
    parts.push(sealed);
    at += sealed.length;
  });
  parts.push(randomBytes(333)); // bytes after the blobs (a pack's header) count in the hash
  const buf = Buffer.concat(parts);
  const sync = decodeSync(key, buf, slices, true, true);
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const yielding = await decodeYielding(key, buf, slices, true, true);
  clearInterval(ticker);
  assert.equal(yielding.digest, idOf(buf));
  assert.equal(yielding.digest, sync.digest);
  assert.equal(yielding.results.length, plains.length);
  yielding.results.forEach((r, i) => {
    if (i === 5) assert.ok(r instanceof IntegrityError && r.message === (sync.results[5] as Error).message, 'the damaged blob is not reported as decodeSync reports it');
    else assert.deepEqual(r, plains[i]);
  });
  assert.ok(turns > 0, 'the event loop did not run while 8 MiB of blobs were decoded');
});

test('a codec thread chunks a file into the chunks this thread cuts, with their IDs; it fails with the file and closes it when left early', async (t) => {
  const pool = CodecPool.shared();
  if (pool.threads === 0) return t.skip('LIFEBOAT_CODEC_THREADS=0: no threads');
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-codec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const MiB = 1024 * 1024;
  const data = new Uint8Array(12 * MiB + 7);
  randomFillSync(data, 0, 5 * MiB);
  randomFillSync(data, 6 * MiB);
  const file = path.join(dir, 'data.bin');
  writeFileSync(file, data);
  const pol = randomPolynomial();
  const want: Buffer[] = [];
  const whole = async function* (): AsyncGenerator<Uint8Array> {
    yield data;
  };
  for await (const c of chunkStream(whole(), pol)) want.push(c);
  assert.ok(want.length >= 4);

  const got = [];
  for await (const c of pool.chunkFile(file, pol) ?? []) got.push(c);
  assert.deepEqual(got.map((c) => c.id), want.map((c) => idOf(c)));
  assert.ok(got.every((c, i) => c.data.equals(want[i] as Buffer)));

  const missing = path.join(dir, 'missing.bin');
  await assert.rejects(
    (async () => {
      for await (const _ of pool.chunkFile(missing, pol) ?? []) assert.fail('a chunk of a missing file');
    })(),
    (err) => err instanceof LifeboatError && err.code === 'io' && err.message.includes('ENOENT') && err.message.includes(missing),
  );

  // Leaving after the first chunk: the thread closes the file (threads share the fd table).
  const isOpen = (): boolean =>
    readdirSync('/proc/self/fd').some((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === file;
      } catch {
        return false;
      }
    });
  for await (const c of pool.chunkFile(file, pol) ?? []) {
    assert.equal(c.id, idOf(want[0] as Buffer));
    assert.ok(isOpen());
    break;
  }
  for (let i = 0; i < 100 && isOpen(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(!isOpen(), 'the file stays open on the codec thread');
});

test('a stream hashed on a codec thread has the SHA-256 of its pieces in order; two streams interleaved keep apart; the caller keeps its buffers', async (t) => {
  const pool = CodecPool.shared();
  if (pool.threads === 0) return t.skip('LIFEBOAT_CODEC_THREADS=0: no threads');
  // More than DIGEST_RING_BYTES, so pieces wrap around the ring and `update` waits for the thread at times.
  const pieces = Array.from({ length: 24 }, (_, i) => randomBytes(1024 * 1024 + i));
  const a = pool.digestStream();
  const b = pool.digestStream();
  assert.ok(a && b);
  for (const [i, p] of pieces.entries()) {
    const before = Buffer.from(p);
    await a.update(p);
    if (i % 2 === 0) await b.update(p);
    assert.deepEqual(p, before, 'a piece given to the thread changed or was detached');
  }
  await a.update(Buffer.alloc(0));
  assert.equal(await a.digest(), createHash('sha256').update(Buffer.concat(pieces)).digest('hex'));
  assert.equal(await b.digest(), createHash('sha256').update(Buffer.concat(pieces.filter((_, i) => i % 2 === 0))).digest('hex'));
  const empty = pool.digestStream();
  assert.equal(await empty?.digest(), createHash('sha256').digest('hex'));
});
