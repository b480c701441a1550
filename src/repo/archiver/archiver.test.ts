// Change detection against the parent snapshot, across more child directories than the walk
// loads ahead (its prefetch of the parent's subtrees), with directories that appeared, went
// away or became files in between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { loadSnapshot } from '../snapshot/snapshot.ts';
import { CodecPool } from '../codec/codec-pool.ts';
import { TreeStore } from '../tree/tree-io.ts';
import { Archiver } from './archiver.ts';

test('a second backup finds every unchanged file through the parent snapshot, dir by dir', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'lifeboat-archiver-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = path.join(root, 'src');
  for (let d = 0; d < 30; d++) {
    for (let s = 0; s < 2; s++) {
      mkdirSync(path.join(src, `d${String(d).padStart(2, '0')}`, `s${s}`), { recursive: true });
      writeFileSync(path.join(src, `d${String(d).padStart(2, '0')}`, `s${s}`, 'f.txt'), `file ${d}/${s}\n`);
    }
  }
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const backup = async (parentId?: string): Promise<{ id: string; a: Archiver }> => {
    const repo = await Repository.open(storage, 'pw');
    await repo.loadIndex();
    const parent = parentId ? await loadSnapshot(repo, parentId) : undefined;
    const a = new Archiver(repo);
    const tree = await a.saveTargets([src], parent);
    return { id: await a.finish(tree, [src], { parent: parent?.id }), a };
  };
  const first = await backup();
  assert.equal(first.a.summary.filesNew, 60);

  // d03 becomes a file, d17 goes away, d31 is new, one file changes in d25.
  rmSync(path.join(src, 'd03'), { recursive: true });
  writeFileSync(path.join(src, 'd03'), 'now a file\n');
  rmSync(path.join(src, 'd17'), { recursive: true });
  mkdirSync(path.join(src, 'd31'));
  writeFileSync(path.join(src, 'd31', 'new.txt'), 'new\n');
  writeFileSync(path.join(src, 'd25', 's1', 'f.txt'), 'changed, and longer than before\n');

  const second = await backup(first.id);
  const s = second.a.summary;
  assert.equal(s.filesUnmodified, 60 - 2 - 2 - 1, 'an unchanged file was read again');
  assert.equal(s.filesChanged, 2); // d25/s1/f.txt, and d03 (a directory in the parent)
  assert.equal(s.filesNew, 1); // d31/new.txt
  assert.equal(s.blobsAdded > 0, true);
});

test('changed large files chunked on a codec thread give the same tree as files chunked here', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'lifeboat-archiver-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = path.join(root, 'src');
  mkdirSync(src);
  const large = Array.from({ length: 5 }, (_, i) => {
    const data = new Uint8Array((2 + i) * 1024 * 1024 + i);
    randomFillSync(data, 0, data.length >> 1);
    writeFileSync(path.join(src, `large-${i}.bin`), data);
    writeFileSync(path.join(src, `small-${i}.txt`), `small ${i}\n`);
    return data;
  });
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const backup = async (offloadBelow: number, parentId?: string): Promise<{ tree: string; id: string; a: Archiver }> => {
    const repo = await Repository.open(storage, 'pw');
    await repo.loadIndex();
    const parent = parentId ? await loadSnapshot(repo, parentId) : undefined;
    const a = new Archiver(repo, { offloadBelow });
    const tree = await a.saveTargets([src], parent);
    const id = await a.finish(tree, [src], { parent: parent?.id });
    assert.deepEqual(a.summary.errors, []);
    return { tree, id, a };
  };
  const first = await backup(0);
  // Every large file changes in its first half (random bytes): new chunks, some known ones.
  large.forEach((data, i) => {
    randomFillSync(data, 1000, 4096);
    writeFileSync(path.join(src, `large-${i}.bin`), data);
  });
  const offloaded = await backup(Number.MAX_SAFE_INTEGER, first.id);
  const here = await backup(0, first.id);
  for (const { a } of [offloaded, here]) {
    assert.equal(a.summary.filesChanged, 5);
    assert.equal(a.summary.bytesRead, 20 * 1024 * 1024 + 10);
  }
  assert.ok(offloaded.a.summary.blobsAdded >= 5);
  assert.equal(here.a.summary.blobsAdded, 0);
  // The trees differ in atimes (the first of the two backups read the files): compare contents.
  const contents = async (tree: string): Promise<Record<string, string[] | null>> => {
    const repo = await Repository.open(storage, 'pw');
    await repo.loadIndex();
    const trees = new TreeStore(repo);
    const out: Record<string, string[] | null> = {};
    const walk = async (id: string, at: string): Promise<void> => {
      for (const n of (await trees.load(id)).nodes) {
        if (n.subtree) await walk(n.subtree, `${at}/${n.name}`);
        else out[`${at}/${n.name}`] = n.content;
      }
    };
    await walk(tree, '');
    return out;
  };
  const want = await contents(here.tree);
  assert.equal(Object.keys(want).length, 10);
  assert.deepEqual(await contents(offloaded.tree), want);
});

test('a stream of known blobs is taken over by a codec thread at a chunk boundary and gives the same chunks', async (t) => {
  if (CodecPool.shared().threads === 0) return t.skip('LIFEBOAT_CODEC_THREADS=0: no threads');
  const MiB = 1024 * 1024;
  const data = new Uint8Array(40 * MiB + 5);
  randomFillSync(data);
  async function* pieces(): AsyncGenerator<Uint8Array> {
    // Odd sizes, so that chunk boundaries fall inside pieces.
    for (let at = 0; at < data.length; at += 100_003) yield data.slice(at, at + 100_003);
  }
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const save = async (offloadBelow: number): Promise<{ content: string[]; size: number; a: Archiver }> => {
    const repo = await Repository.open(storage, 'pw');
    await repo.loadIndex();
    const a = new Archiver(repo, { offloadBelow });
    const r = await a.saveContent(pieces(), 'stream', { sha256: false });
    await repo.flush();
    return { ...r, a };
  };
  await save(0);
  assert.ok(CodecPool.shared().ready);
  data.fill(7, 33 * MiB, 34 * MiB); // new bytes, well after the first 16 MiB (the take-over)
  const offloaded = await save(Number.MAX_SAFE_INTEGER);
  const here = await save(0);
  assert.equal(offloaded.size, data.length);
  assert.deepEqual(offloaded.content, here.content);
  assert.ok(offloaded.a.summary.blobsAdded >= 1);
  assert.equal(here.a.summary.blobsAdded, 0);
});

test('every file node keeps its size and its blobs hold exactly that many bytes, duplicates included', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'lifeboat-archiver-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = path.join(root, 'src');
  mkdirSync(src);
  // A file whose blob the repository already has (a duplicate here, a second backup without
  // a parent) is handed over and freed at once: its size must be taken before that.
  const sizes: Record<string, number> = {};
  const write = (name: string, data: Uint8Array): void => {
    writeFileSync(path.join(src, name), data);
    sizes[name] = data.length;
  };
  const same = new Uint8Array(200_000);
  randomFillSync(same);
  write('a-same.bin', same);
  write('b-same.bin', same);
  write('c-empty.txt', new Uint8Array(0));
  write('d-one.txt', Uint8Array.of(42));
  const big = new Uint8Array(3 * 1024 * 1024);
  randomFillSync(big);
  write('e-large.bin', big);
  write('f-large-copy.bin', big);
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  for (const round of ['first', 'again without a parent']) {
    const repo = await Repository.open(storage, 'pw');
    await repo.loadIndex();
    const a = new Archiver(repo);
    const tree = await a.saveTargets([src]);
    await a.finish(tree, [src]);
    assert.deepEqual(a.summary.errors, []);
    const trees = new TreeStore(repo);
    let dir = await trees.load(tree);
    for (const part of src.split('/').filter(Boolean)) {
      const n = dir.nodes.find((x) => x.name === part);
      assert.ok(n?.subtree, `${round}: ${part} is in the tree`);
      dir = await trees.load(n.subtree);
    }
    const got: Record<string, number> = {};
    for (const n of dir.nodes) {
      got[n.name] = n.size ?? 0;
      let held = 0;
      for (const id of n.content ?? []) held += (await repo.loadBlob('data', id)).length;
      assert.equal(held, n.size ?? 0, `${round}: the blobs of ${n.name} hold its size`);
    }
    assert.deepEqual(got, sizes, round);
  }
});
