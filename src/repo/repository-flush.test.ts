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
import type { Storage } from '../storage/storage.ts';

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

/** A storage whose data saves wait until `open()` is called: uploads pile up on demand. */
function heldUploads(inner: Storage, connections: number): { storage: Storage; started: () => number; open: () => void } {
  let started = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const storage: Storage = {
    properties: { ...inner.properties, connections },
    create: (o) => inner.create(o),
    save: async (h, data, o) => {
      if (h.type === 'data') {
        started++;
        await gate;
      }
      return inner.save(h, data, o);
    },
    load: (h, o) => inner.load(h, o),
    stat: (h, o) => inner.stat(h, o),
    remove: (h, o) => inner.remove(h, o),
    list: (t, o) => inner.list(t, o),
    close: () => inner.close(),
  };
  return { storage, started: () => started, open: release };
}

test('queueBlob stops accepting blobs while finished packs wait for the storage', async () => {
  const total = 400; // 25 MiB, well past what the codec queue and the waiting packs may hold
  const inner = createMemoryStorage();
  await Repository.init(inner, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const held = heldUploads(inner, 2);
  const repo = await Repository.open(held.storage, 'pw', { packSize: 64 * 1024 });
  await repo.loadIndex();
  let accepted = 0;
  const stored: Array<Promise<unknown>> = [];
  const producer = (async () => {
    for (let i = 0; i < total; i++) {
      // Incompressible 64 KiB blobs: one blob fills one pack.
      const q = await repo.queueBlob('data', randomBytes(64 * 1024));
      stored.push(q.stored);
      accepted++;
    }
  })();
  // Let the producer run as far as it can while no upload finishes: until it stalls.
  for (let last = -1, still = 0; still < 20 && accepted < total; ) {
    await new Promise((r) => setTimeout(r, 10));
    still = accepted === last ? still + 1 : 0;
    last = accepted;
  }
  assert.ok(accepted < total, 'every blob was accepted although no pack could be uploaded');
  assert.ok(held.started() <= 2, `${held.started()} uploads ran at once on a storage that takes 2`);
  held.open();
  await producer;
  await Promise.all(stored);
  await repo.flush();
  const reader = await Repository.open(inner, 'pw');
  await reader.loadIndex();
  assert.equal(reader.index.blobCount, total);
});

test('a blob that fails after queueBlob accepted it fails the flush, naming the cause', async () => {
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const failing = withFaults(storage, { rules: [{ op: 'save', match: (h) => h.type === 'data', fault: { kind: 'fail', retryable: false } }] });
  const repo = await Repository.open(failing, 'pw', { packSize: 16 * 1024 });
  await repo.loadIndex();
  const q = await repo.queueBlob('data', randomBytes(32 * 1024));
  await q.stored; // in a pack; the upload fails behind it
  await assert.rejects(repo.flush(), (err: Error) => /save|data/.test(err.message));
  await assert.rejects(repo.queueBlob('data', randomBytes(100)));
});
