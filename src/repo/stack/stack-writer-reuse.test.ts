// SnapshotWriter.parent and reuse: the newest earlier snapshot of the same source name and type,
// and an artifact stored as the parent's blobs without its bytes being read again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IntegrityError } from '../../core/errors.ts';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { createRepositorySnapshotStore } from './repository-snapshot-store.ts';
import { SnapshotWriter } from './stack-writer.ts';

async function* bytes(s: string | Buffer): AsyncGenerator<Buffer> {
  yield Buffer.from(s);
}

test('reuse stores the parent artifact by reference; parent is the newest snapshot of the same name and type', async () => {
  const repo = await Repository.init(createMemoryStorage(), 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const big = Buffer.alloc(3_000_000);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);

  const first = new SnapshotWriter(repo, { name: 'assets', type: 's3' });
  assert.equal(await first.parent(), undefined, 'an empty repository has no parent');
  await first.put('objects/a.bin', bytes(big));
  await first.commit({ fingerprint: {}, commands: [] });

  assert.equal(await new SnapshotWriter(repo, { name: 'other', type: 's3' }).parent(), undefined, 'another source name');
  assert.equal(await new SnapshotWriter(repo, { name: 'assets', type: 'files' }).parent(), undefined, 'the same name, another type');

  const second = new SnapshotWriter(repo, { name: 'assets', type: 's3' });
  assert.ok((await second.parent())?.list().some((a) => a.name === 'objects/a.bin'));
  const info = await second.reuse('objects/renamed.bin', 'objects/a.bin');
  await assert.rejects(second.reuse('objects/x', 'objects/missing'), (err: unknown) => err instanceof IntegrityError && /no artifact "objects\/missing"/.test(err.message));
  await assert.rejects(second.reuse('../up', 'objects/a.bin'), IntegrityError);
  const done = await second.commit({ fingerprint: {}, commands: [] });
  assert.ok(done.bytesAdded < 10_000, `reusing added ${done.bytesAdded} bytes`);

  const store = createRepositorySnapshotStore(repo);
  const snap = (await store.list()).find((s) => s.id === done.snapshotId)!;
  const reader = await store.openReader(snap);
  assert.deepEqual(reader.list().find((a) => a.name === 'objects/renamed.bin'), info);
  const parts: Buffer[] = [];
  for await (const c of reader.open('objects/renamed.bin')) parts.push(Buffer.from(c));
  assert.ok(Buffer.concat(parts).equals(big));

  // The third writer's parent is the second snapshot, not the first.
  const parentOfThird = await new SnapshotWriter(repo, { name: 'assets', type: 's3' }).parent();
  assert.ok(parentOfThird?.list().some((a) => a.name === 'objects/renamed.bin'));
});

test('a repository whose snapshot listing fails gives no parent, not a failed backup', async () => {
  const storage = createMemoryStorage();
  const repo = await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const first = new SnapshotWriter(repo, { name: 'assets', type: 's3' });
  await first.put('a', bytes('a'));
  await first.commit({ fingerprint: {}, commands: [] });
  const list = storage.list.bind(storage);
  storage.list = (type, opts) => {
    if (type === 'snapshots') throw new Error('listing refused');
    return list(type, opts);
  };
  assert.equal(await new SnapshotWriter(repo, { name: 'assets', type: 's3' }).parent(), undefined);
});
