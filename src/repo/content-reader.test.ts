import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { IntegrityError } from '../core/errors.ts';
import { createMemoryStorage } from '../storage/memory/memory-storage.ts';
import type { Repository as RepositoryType } from './repository.ts';
import { Repository } from './repository.ts';
import { READ_AHEAD, readContent } from './content-reader.ts';
import { createRepositorySnapshotStore } from './stack/repository-snapshot-store.ts';

/** Counts the loads in flight at once on `repo.loadBlob`. */
function countInFlight(repo: RepositoryType): { max: number } {
  const seen = { max: 0 };
  let now = 0;
  const load = repo.loadBlob.bind(repo);
  repo.loadBlob = async (...args: Parameters<RepositoryType['loadBlob']>) => {
    seen.max = Math.max(seen.max, ++now);
    try {
      await new Promise((r) => setImmediate(r));
      return await load(...args);
    } finally {
      now--;
    }
  };
  return seen;
}

async function repoWithBlobs(n: number): Promise<{ repo: RepositoryType; ids: string[]; blobs: Buffer[] }> {
  const repo = await Repository.init(createMemoryStorage(), 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const blobs = Array.from({ length: n }, (_, i) => Buffer.alloc(1000 + i, i));
  const ids = blobs.map((b) => createHash('sha256').update(b).digest('hex'));
  for (const [i, b] of blobs.entries()) await repo.saveBlob('data', b, ids[i] as string);
  await repo.flush();
  return { repo, ids, blobs };
}

test('readContent hands out the blobs in order with READ_AHEAD loads in flight', async () => {
  const { repo, ids, blobs } = await repoWithBlobs(10);
  const seen = countInFlight(repo);
  const out: Buffer[] = [];
  for await (const b of readContent(repo, ids)) out.push(b);
  assert.deepEqual(Buffer.concat(out), Buffer.concat(blobs));
  assert.equal(seen.max, READ_AHEAD);
});

test('a stack artifact is read with read-ahead and still checked whole against its manifest', async () => {
  const { repo } = await repoWithBlobs(0);
  const store = createRepositorySnapshotStore(repo);
  const w = store.openWriter({ name: 'db', type: 'fake' });
  // 24 MiB of incompressible bytes: several chunks, so several blobs.
  const data = Buffer.concat(Array.from({ length: 24 }, (_, i) => createHash('sha512').update(`${i}`).digest()).map((h) => Buffer.alloc(1 << 20, h)));
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i * 2654435761 >>> 0, i);
  await w.put('big.bin', (async function* () {
    yield data;
  })());
  await w.commit({ fingerprint: {}, commands: [] });
  const [snap] = await store.list();
  const reader = await store.openReader(snap as NonNullable<typeof snap>);
  const seen = countInFlight(repo);
  const parts: Buffer[] = [];
  for await (const c of reader.open('big.bin')) parts.push(Buffer.from(c));
  assert.ok(Buffer.concat(parts).equals(data));
  assert.ok(seen.max > 1, `loads in flight: ${seen.max}`);
  await assert.rejects(async () => {
    for await (const c of (await store.openReader(snap as NonNullable<typeof snap>)).open('missing')) void c;
  }, (e: unknown) => !(e instanceof IntegrityError));
});
