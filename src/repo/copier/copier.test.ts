// Copying snapshots between two in-memory repositories with different passwords: the copies
// name the same trees, read back byte-identical and carry `original`; a second run copies
// nothing; a re-tagged snapshot is copied again; a failed upload leaves no snapshot behind
// and a retry completes the copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { withFaults } from '../../storage/wrappers/faulty-storage.ts';
import type { Storage } from '../../storage/storage.ts';
import { Repository } from '../repository.ts';
import { listSnapshots, saveSnapshot } from '../snapshot/snapshot.ts';
import { FIXTURE_PACK_SIZE, backupGeneration, snapshotDigests } from '../pruner/history-fixture.ts';
import { copySnapshots, similarSnapshots } from './copier.ts';

const FAST = { scrypt: { N: 16, r: 1, p: 1 } };

async function source(generations: number): Promise<Repository> {
  const storage = createMemoryStorage();
  await Repository.init(storage, 'source password', FAST);
  const opened = await Repository.open(storage, 'source password', { packSize: FIXTURE_PACK_SIZE });
  await opened.loadIndex();
  for (let g = 0; g < generations; g++) await backupGeneration(opened, g);
  await opened.loadIndex();
  return opened;
}

async function target(storage: Storage, polynomial: string): Promise<Repository> {
  await Repository.init(storage, 'target password', { ...FAST, polynomial });
  const repo = await Repository.open(storage, 'target password', { packSize: FIXTURE_PACK_SIZE });
  await repo.loadIndex();
  return repo;
}

test('copies snapshots blob by blob; a second run skips them all', async () => {
  const src = await source(2);
  const dst = await target(createMemoryStorage(), src.config.chunker_polynomial);
  const snaps = await listSnapshots(src);
  const seen: string[] = [];
  const r = await copySnapshots(src, dst, snaps, { onSnapshot: (e) => seen.push(e.source) });
  assert.deepEqual(r.copied, snaps.map((s) => s.id));
  assert.deepEqual(seen, r.copied);
  assert.deepEqual(r.skipped, []);
  assert.ok(r.blobsCopied > 0 && r.bytesCopied > 0);

  // Read back from a fresh handle: what is on storage, not what the writer remembers.
  const reopened = await Repository.open(dst.storage, 'target password');
  await reopened.loadIndex();
  const copies = await listSnapshots(reopened);
  assert.equal(copies.length, snaps.length);
  for (const s of snaps) {
    const c = copies.find((x) => x.id === r.targets[s.id]);
    assert.ok(c, `copy of ${s.id}`);
    assert.equal(c.tree, s.tree);
    assert.equal(c.original, s.id);
    assert.equal(c.parent, undefined);
    assert.ok(similarSnapshots(c, s));
    assert.deepEqual(await snapshotDigests(reopened, c), await snapshotDigests(src, s));
  }
  // Every blob the source has is now in the destination (all of it is referenced).
  for (const [, blobs] of src.index.packs()) {
    for (const b of blobs) assert.ok(reopened.hasBlob(b.type, b.id), `${b.type} blob ${b.id} copied`);
  }

  const again = await copySnapshots(src, reopened, snaps);
  assert.deepEqual(again.copied, []);
  assert.deepEqual(again.skipped, snaps.map((s) => s.id));
  assert.equal(again.blobsCopied, 0);
  assert.equal((await listSnapshots(reopened)).length, snaps.length);
});

test('a re-tagged source snapshot is copied again; its original is kept', async () => {
  const src = await source(1);
  const dst = await target(createMemoryStorage(), src.config.chunker_polynomial);
  const [first] = await listSnapshots(src);
  assert.ok(first);
  await copySnapshots(src, dst, [first]);
  const { id, date: _date, ...doc } = first;
  const retaggedId = await saveSnapshot(src, { ...doc, tags: ['moved'], original: id });
  const retagged = (await listSnapshots(src)).find((s) => s.id === retaggedId);
  assert.ok(retagged);
  const r = await copySnapshots(src, dst, [retagged]);
  assert.deepEqual(r.copied, [retaggedId]);
  assert.equal(r.blobsCopied, 0, 'the data was there already');
  const copy = (await listSnapshots(dst)).find((s) => s.id === r.targets[retaggedId]);
  assert.equal(copy?.original, id);
  assert.deepEqual(copy?.tags, ['moved']);
});

test('a failed upload leaves no snapshot in the destination; a retry completes', async () => {
  const src = await source(2);
  const inner = createMemoryStorage();
  await target(inner, src.config.chunker_polynomial);
  // The third pack upload fails (not retryable): the first snapshot cannot be finished.
  const faulty = withFaults(inner, { rules: [{ op: 'save', match: (h) => h.type === 'data', calls: [3], fault: { kind: 'fail', retryable: false } }] });
  const dst = await Repository.open(faulty, 'target password', { packSize: FIXTURE_PACK_SIZE });
  await dst.loadIndex();
  const snaps = await listSnapshots(src);
  await assert.rejects(copySnapshots(src, dst, snaps), (err: Error & { code?: string }) => {
    assert.match(err.message, /copying snapshot [0-9a-f]{8}/);
    return true;
  });
  assert.equal((await listSnapshots(dst)).length, 0, 'no snapshot without its data');

  const retry = await Repository.open(inner, 'target password', { packSize: FIXTURE_PACK_SIZE });
  await retry.loadIndex();
  const r = await copySnapshots(src, retry, snaps);
  assert.equal(r.copied.length, snaps.length);
  for (const s of snaps) {
    const c = (await listSnapshots(retry)).find((x) => x.id === r.targets[s.id]);
    assert.ok(c);
    assert.deepEqual(await snapshotDigests(retry, c), await snapshotDigests(src, s));
  }
});

test('cancellation stops the copy with the abort reason', async () => {
  const src = await source(1);
  const dst = await target(createMemoryStorage(), src.config.chunker_polynomial);
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  const snaps = await listSnapshots(src);
  await assert.rejects(copySnapshots(src, dst, snaps, { signal: ac.signal }), (err: Error & { code?: string }) => err.code === 'cancelled');
  assert.equal((await listSnapshots(dst)).length, 0);
});
