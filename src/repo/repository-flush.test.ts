// Several writers share one Repository (stack sources run in parallel). A flush by one must
// index every pack uploaded meanwhile, and must not let a snapshot reference a blob another
// writer is still compressing. Regression test for packs that landed while an index file was
// being written and were then left out of every index file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createMemoryStorage } from '../storage/memory/memory-storage.ts';
import { withFaults } from '../storage/wrappers/faulty-storage.ts';
import { Repository } from './repository.ts';

test('concurrent writers and flushes leave every stored blob in an index file', async () => {
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  // Slow index writes, so packs finish uploading while an index file is being written.
  const slowIndex = withFaults(storage, { rules: [{ op: 'save', match: (h) => h.type === 'index', fault: { kind: 'delay', ms: 15 } }] });
  const small = await Repository.open(slowIndex, 'pw', { packSize: 64 * 1024 });
  await small.loadIndex();
  const ids: string[] = [];
  const writer = async (n: number): Promise<void> => {
    for (let i = 0; i < 40; i++) {
      const r = await small.saveBlob('data', randomBytes(8 * 1024 + n));
      ids.push(r.id);
      if (i % 7 === n % 7) await small.flush();
    }
    await small.flush();
  };
  await Promise.all([writer(1), writer(2), writer(3), writer(4)]);
  // A fresh reader sees only what the index files say.
  const reader = await Repository.open(storage, 'pw');
  await reader.loadIndex();
  for (const id of ids) assert.ok(reader.hasBlob('data', id), `blob ${id} is in no index file`);
});

test('a blob reported as known while another writer compresses it is in a pack after flush', async () => {
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const r = await Repository.open(storage, 'pw');
  await r.loadIndex();
  const blob = randomBytes(200 * 1024);
  const first = r.saveBlob('data', blob); // still compressing
  const second = await r.saveBlob('data', blob);
  assert.equal(second.known, true);
  await r.flush(); // must wait for the first writer's blob
  const reader = await Repository.open(storage, 'pw');
  await reader.loadIndex();
  assert.ok(reader.hasBlob('data', second.id));
  await first;
});
