// A check while a backup finishes: verify checks under a shared lock, so a backup may write its
// index and snapshot while the checker runs. A snapshot written after the checker read the
// index must not read as missing blobs. Regression test for snapshots being listed after the
// index was loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import type { CallOptions, FileInfo, FileType, Storage } from '../../storage/storage.ts';
import { Archiver } from '../archiver/archiver.ts';
import { Repository } from '../repository.ts';
import { checkRepository } from './checker.ts';

const SCRYPT = { N: 1024, r: 8, p: 1 };

/** `inner`, running `hook` once, before the first listing of `type` answers. */
function listingHook(inner: Storage, type: FileType, hook: () => Promise<void>): Storage {
  let pending: (() => Promise<void>) | undefined = hook;
  return {
    properties: inner.properties,
    create: (o) => inner.create(o),
    save: (h, d, o) => inner.save(h, d, o),
    load: (h, o) => inner.load(h, o),
    stat: (h, o) => inner.stat(h, o),
    remove: (h, o) => inner.remove(h, o),
    async *list(t: FileType, o?: CallOptions): AsyncGenerator<FileInfo> {
      if (t === type && pending) {
        const run = pending;
        pending = undefined;
        await run();
      }
      yield* inner.list(t, o);
    },
    close: () => inner.close(),
  };
}

async function backup(repo: Repository, name: string): Promise<string> {
  const a = new Archiver(repo);
  const data = randomBytes(200_000);
  const c = await a.saveContent((async function* () {
    yield data;
  })(), name);
  return a.finish(await a.saveVirtualTree([{ path: name, content: c.content, size: c.size }]), [`/${name}`]);
}

test('a backup that finishes while the checker reads the repository is not damage', async () => {
  const inner = createMemoryStorage();
  await Repository.init(inner, 'pw', { scrypt: SCRYPT });
  const writer = await Repository.open(inner, 'pw');
  await writer.loadIndex();
  await backup(writer, 'first.bin');
  // Between the checker's index load and its listing of packs, another backup completes.
  let late = '';
  const storage = listingHook(inner, 'data', async () => {
    late = await backup(writer, 'late.bin');
  });
  const report = await checkRepository(await Repository.open(storage, 'pw'), {});
  assert.ok(late !== '', 'the concurrent backup ran');
  assert.deepEqual(report.errors.map((e) => `${e.kind}: ${e.message}`), []);
  // Checked again, the late snapshot is there and clean.
  const again = await checkRepository(await Repository.open(inner, 'pw'), {});
  assert.equal(again.snapshots, 2);
  assert.deepEqual(again.errors, []);
});
