// Restoring into a target that is not empty: what is in the way of a file is replaced only by
// a complete file, a hard link elsewhere is never written through, a directory in the way is
// an error that touches nothing, and no temporary name is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMemoryStorage } from '../storage/memory/memory-storage.ts';
import { Archiver } from './archiver/archiver.ts';
import { Repository } from './repository.ts';
import { loadSnapshot } from './snapshot/snapshot.ts';
import { Restorer } from './restorer.ts';

/** Every name under `dir`, relative, sorted. */
function namesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

test('restore over an existing tree: replaces files whole, never writes through links or into directories', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'lifeboat-restorer-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = path.join(root, 'src');
  mkdirSync(path.join(src, 'sub'), { recursive: true });
  const big = randomBytes(3 * 1024 * 1024); // several blobs: the streamed path
  const files: Record<string, Buffer> = {
    'a.txt': Buffer.from('new content of a\n'),
    'linked.txt': Buffer.from('new content of linked\n'),
    'sub/b.txt': Buffer.from('new b\n'),
    'sub/dir-in-the-way.txt': Buffer.from('cannot land\n'),
    'empty.txt': Buffer.alloc(0),
    'big.bin': big,
  };
  for (const [name, data] of Object.entries(files)) writeFileSync(path.join(src, name), data, { mode: 0o640 });
  // Second names: of a file of several blobs (written by the streaming lane, which the walk
  // does not wait for) and of a small one.
  linkSync(path.join(src, 'big.bin'), path.join(src, 'sub/big-link.bin'));
  linkSync(path.join(src, 'sub/b.txt'), path.join(src, 'b-link.txt'));

  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await Repository.open(storage, 'pw');
  await repo.loadIndex();
  const a = new Archiver(repo);
  const id = await a.finish(await a.saveTargets([src], undefined), [src], {});
  const snap = await loadSnapshot(repo, id);

  // The target already holds older versions, a hard link to a file outside it, and a
  // directory (with content) where the snapshot has a file.
  const target = path.join(root, 'target');
  const inTarget = (name: string): string => path.join(target, src, name);
  mkdirSync(inTarget('sub/dir-in-the-way.txt'), { recursive: true });
  writeFileSync(inTarget('sub/dir-in-the-way.txt/keep.txt'), 'keep me\n');
  writeFileSync(inTarget('a.txt'), 'old a, longer than the new one\n');
  writeFileSync(inTarget('big.bin'), 'old big\n');
  const outside = path.join(root, 'outside.txt');
  writeFileSync(outside, 'outside, must not change\n');
  linkSync(outside, inTarget('linked.txt'));

  const result = await new Restorer(repo).restore(snap, target);

  for (const [name, data] of Object.entries(files)) {
    if (name === 'sub/dir-in-the-way.txt') continue;
    assert.ok(readFileSync(inTarget(name)).equals(data), `${name} restored byte-identical`);
    assert.equal(statSync(inTarget(name)).mode & 0o777, 0o640, `${name} has its mode`);
  }
  assert.equal(readFileSync(outside, 'utf8'), 'outside, must not change\n', 'a hard link in the target was written through');
  assert.equal(statSync(inTarget('linked.txt')).nlink, 1);
  assert.equal(statSync(inTarget('sub/big-link.bin')).ino, statSync(inTarget('big.bin')).ino, 'hard link to a streamed file kept');
  assert.equal(statSync(inTarget('b-link.txt')).ino, statSync(inTarget('sub/b.txt')).ino, 'hard link to a small file kept');
  assert.deepEqual(
    result.errors.map((e) => e.path),
    [inTarget('sub/dir-in-the-way.txt')],
  );
  assert.equal(readFileSync(inTarget('sub/dir-in-the-way.txt/keep.txt'), 'utf8'), 'keep me\n');
  assert.equal(result.files, Object.keys(files).length - 1 + 2);
  assert.deepEqual(
    namesUnder(target).filter((n) => n.includes('.lifeboat-')),
    [],
    'no temporary name left behind',
  );
});
