/**
 * The storage conformance suite: the contract of src/storage/storage.ts as tests. Every
 * backend (memory, local, s3, rest) runs it from its own test file:
 *
 *   storageSuite('local', async () => { const dir = …; return { storage: createLocalStorage(dir), cleanup } });
 *
 * `make` returns a fresh storage that has not been created yet, and a cleanup that removes
 * whatever it left behind. The suite speaks only through the Storage interface, so it holds
 * for any backend.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { LifeboatError, NotFoundError } from '../../src/core/errors.ts';
import { FILE_TYPES } from '../../src/storage/storage.ts';
import type { FileInfo, FileType, Handle, Storage } from '../../src/storage/storage.ts';

export interface StorageFixture {
  storage: Storage;
  cleanup(): Promise<void>;
}

const randomName = (): string => randomBytes(32).toString('hex');
const handle = (type: FileType): Handle => ({ type, name: type === 'config' ? '' : randomName() });
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function listAll(s: Storage, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of s.list(type)) out.push(fi);
  return out;
}

/** A rejection with the given error code (and, for not_found, the NotFoundError class). */
async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof LifeboatError, `expected a LifeboatError with code ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    if (code === 'not_found') assert.ok(err instanceof NotFoundError);
    return true;
  });
}

/** Cancellation: our CancelledError, or a platform AbortError (the contract names neither). */
async function rejectsCancelled(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    const ok = (err instanceof LifeboatError && err.code === 'cancelled') || (err instanceof Error && err.name === 'AbortError');
    assert.ok(ok, `expected a cancellation, got ${String(err)}`);
    return true;
  });
}

export function storageSuite(name: string, make: () => Promise<StorageFixture>): void {
  describe(`storage conformance: ${name}`, () => {
    let fx: StorageFixture;
    let s: Storage;

    beforeEach(async () => {
      fx = await make();
      s = fx.storage;
      await s.create();
    });
    afterEach(async () => {
      await s.close();
      await fx.cleanup();
    });

    test('create makes an empty repository and refuses to run over a config', async () => {
      for (const type of FILE_TYPES) if (type !== 'config') assert.deepEqual(await listAll(s, type), [], type);
      await s.create(); // no config yet: creating the layout again is harmless
      await s.save({ type: 'config', name: '' }, randomBytes(100));
      await rejectsWithCode(s.create(), 'already_exists');
      assert.equal((await s.stat({ type: 'config', name: '' })).size, 100);
    });

    test('save then load returns the same bytes, for every type including config', async () => {
      for (const type of FILE_TYPES) {
        const h = handle(type);
        const data = randomBytes(1 + Math.floor(Math.random() * 5000));
        await s.save(h, data);
        const back = await s.load(h);
        assert.ok(Buffer.isBuffer(back));
        assert.ok(back.equals(data), `${type}: bytes differ`);
        assert.deepEqual(await s.stat(h), { name: h.name, size: data.length });
      }
    });

    test('stored bytes do not change when the caller reuses its buffers', async () => {
      const h = handle('data');
      const data = randomBytes(1000);
      const expected = sha(data);
      await s.save(h, data);
      data.fill(0);
      const first = await s.load(h);
      first.fill(1);
      assert.equal(sha(await s.load(h)), expected);
    });

    test('load returns exactly the requested range', async () => {
      const h = handle('data');
      const data = randomBytes(1000);
      await s.save(h, data);
      const ranges: Array<[number, number | undefined, Buffer]> = [
        [0, 10, data.subarray(0, 10)],
        [100, 200, data.subarray(100, 300)],
        [900, 100, data.subarray(900)],
        [990, undefined, data.subarray(990)],
        [990, 0, data.subarray(990)],
        [0, undefined, data],
        [0, 1000, data],
      ];
      for (const [offset, length, want] of ranges) {
        const got = await s.load(h, { offset, length });
        assert.ok(got.equals(want), `offset ${offset} length ${length}: got ${got.length} bytes`);
      }
    });

    test('a range past the end is a short_read', async () => {
      const h = handle('index');
      await s.save(h, randomBytes(1000));
      await rejectsWithCode(s.load(h, { offset: 990, length: 20 }), 'short_read');
      await rejectsWithCode(s.load(h, { offset: 0, length: 1001 }), 'short_read');
      await rejectsWithCode(s.load(h, { offset: 1001, length: 1 }), 'short_read');
      await rejectsWithCode(s.load(h, { offset: 5000 }), 'short_read');
    });

    test('stat reports sizes', async () => {
      for (const size of [1, 17, 4096, 65_537]) {
        const h = handle('snapshots');
        await s.save(h, randomBytes(size));
        assert.deepEqual(await s.stat(h), { name: h.name, size });
      }
    });

    test('list yields every file of a type once, and only that type', async () => {
      const data = new Map<string, number>();
      for (let i = 0; i < 120; i++) {
        const h = handle('data');
        const size = 1 + (i % 50);
        await s.save(h, randomBytes(size));
        data.set(h.name, size);
      }
      const keys = new Map<string, number>();
      for (let i = 0; i < 3; i++) {
        const h = handle('keys');
        await s.save(h, randomBytes(200 + i));
        keys.set(h.name, 200 + i);
      }
      const listed = await listAll(s, 'data');
      assert.equal(listed.length, data.size, 'each data file exactly once');
      assert.deepEqual(new Map(listed.map((f) => [f.name, f.size])), data);
      assert.ok(new Set(listed.map((f) => f.name.slice(0, 2))).size > 40, 'names spread over many prefixes');
      assert.deepEqual(new Map((await listAll(s, 'keys')).map((f) => [f.name, f.size])), keys);
      assert.deepEqual(await listAll(s, 'locks'), []);
      assert.deepEqual(await listAll(s, 'index'), []);
    });

    test('a removed file is gone from load, stat and list', async () => {
      const h = handle('locks');
      const other = handle('locks');
      await s.save(h, randomBytes(64));
      await s.save(other, randomBytes(64));
      await s.remove(h);
      await rejectsWithCode(s.load(h), 'not_found');
      await rejectsWithCode(s.stat(h), 'not_found');
      assert.deepEqual((await listAll(s, 'locks')).map((f) => f.name), [other.name]);
    });

    test('load, stat and remove of a missing file throw NotFoundError', async () => {
      for (const type of FILE_TYPES) {
        const h = handle(type);
        await rejectsWithCode(s.load(h), 'not_found');
        await rejectsWithCode(s.load(h, { offset: 10, length: 10 }), 'not_found');
        await rejectsWithCode(s.stat(h), 'not_found');
        await rejectsWithCode(s.remove(h), 'not_found');
      }
    });

    test('saving a name that exists fails with already_exists and keeps the first bytes', async () => {
      for (const type of FILE_TYPES) {
        const h = handle(type);
        const first = randomBytes(300);
        await s.save(h, first);
        await rejectsWithCode(s.save(h, randomBytes(300)), 'already_exists');
        await rejectsWithCode(s.save(h, randomBytes(10)), 'already_exists');
        assert.ok((await s.load(h)).equals(first), `${type}: first bytes kept`);
      }
    });

    test('50 concurrent saves from 8 writers all land and list exactly', async () => {
      const files = Array.from({ length: 50 }, (_, i) => ({ h: handle(i % 5 === 0 ? 'index' : 'data'), data: randomBytes(1000 + i * 731) }));
      let next = 0;
      const writer = async (): Promise<void> => {
        while (next < files.length) {
          const f = files[next++];
          await s.save(f.h, f.data);
        }
      };
      await Promise.all(Array.from({ length: 8 }, writer));
      for (const type of ['data', 'index'] as const) {
        const want = new Map(files.filter((f) => f.h.type === type).map((f) => [f.h.name, f.data.length]));
        const listed = await listAll(s, type);
        assert.equal(listed.length, want.size);
        assert.deepEqual(new Map(listed.map((f) => [f.name, f.size])), want);
      }
      const loaded = await Promise.all(files.map((f) => s.load(f.h)));
      loaded.forEach((b, i) => assert.ok(b.equals(files[i].data), `file ${i} bytes differ`));
    });

    test('a 20 MiB file round-trips byte-equal, whole and in ranges', async () => {
      const h = handle('data');
      const data = randomBytes(20 << 20);
      await s.save(h, data);
      assert.equal((await s.stat(h)).size, data.length);
      assert.equal(sha(await s.load(h)), sha(data));
      const mid = await s.load(h, { offset: (10 << 20) - 7, length: 3 << 20 });
      assert.ok(mid.equals(data.subarray((10 << 20) - 7, (13 << 20) - 7)));
      assert.ok((await s.load(h, { offset: data.length - 5 })).equals(data.subarray(-5)));
    });

    test('an aborted signal makes every method reject, and save writes nothing', async () => {
      const existing = handle('data');
      await s.save(existing, randomBytes(10));
      const signal = AbortSignal.abort();
      const h = handle('data');
      await rejectsCancelled(s.save(h, randomBytes(10), { signal }));
      await rejectsWithCode(s.stat(h), 'not_found');
      await rejectsCancelled(s.load(existing, { signal }));
      await rejectsCancelled(s.stat(existing, { signal }));
      await rejectsCancelled(s.remove(existing, { signal }));
      await rejectsCancelled(s.create({ signal }));
      await rejectsCancelled(drainList(s, 'data', signal));
      assert.equal((await s.stat(existing)).size, 10, 'remove with an aborted signal removed nothing');
    });
  });
}

async function drainList(s: Storage, type: FileType, signal: AbortSignal): Promise<void> {
  for await (const _ of s.list(type, { signal })) {
    // drain
  }
}
