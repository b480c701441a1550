// The codec pool runs blob work on threads, but tree blobs (small JSON) are encoded and decoded
// on the calling thread: a command that only reads and writes trees (a backup where nothing
// changed) must not pay for starting a thread. Runs in its own process, so the shared pool is
// fresh here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { CodecPool } from './codec-pool.ts';
import { encodeBlobSync } from './blob-codec.ts';
import { initCrypto, newMasterKey } from '../crypto/crypto.ts';
import { idOf } from '../../core/ids.ts';
import { IntegrityError } from '../../core/errors.ts';

test('tree blobs go through the codec inline; data blobs start the codec threads', async (t) => {
  if (CodecPool.shared().threads === 0) t.skip('LIFEBOAT_CODEC_THREADS=0: no threads to start');
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await Repository.open(storage, 'pw');
  await repo.loadIndex();
  const tree = Buffer.from(JSON.stringify({ nodes: [{ name: 'a', type: 'file', content: [] }] }) + '\n');
  const { id } = await repo.saveBlob('tree', tree);
  await repo.flush();
  assert.deepEqual(await repo.loadBlob('tree', id), tree);
  assert.equal(CodecPool.shared().started, false, 'a tree blob started a codec thread');
  const data = randomBytes(100_000);
  const d = await repo.saveBlob('data', data);
  await repo.flush();
  assert.deepEqual(await repo.loadBlob('data', d.id), data);
  assert.equal(CodecPool.shared().started, true);
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
