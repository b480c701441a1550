// The `summary` object restic 0.17+ writes into a snapshot: its counts match what the backup
// stored, as the index shows it, and directories count as new, changed or unmodified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { loadSnapshot } from '../snapshot/snapshot.ts';
import type { Snapshot } from '../snapshot/snapshot.ts';
import { Archiver } from './archiver.ts';

const FIELDS = [
  'backup_start', 'backup_end', 'files_new', 'files_changed', 'files_unmodified', 'dirs_new', 'dirs_changed', 'dirs_unmodified',
  'data_blobs', 'tree_blobs', 'data_added', 'data_added_packed', 'total_files_processed', 'total_bytes_processed',
];

test('a snapshot carries restic 0.17+ summary fields that match what the backup stored', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'lifeboat-summary-'));
  const cwd = process.cwd();
  process.chdir(root);
  t.after(() => {
    process.chdir(cwd);
    rmSync(root, { recursive: true, force: true });
  });
  const src = path.join(root, 'src');
  mkdirSync(path.join(src, 'a'), { recursive: true });
  mkdirSync(path.join(src, 'b'));
  writeFileSync(path.join(src, 'a', 'one.txt'), 'one\n');
  writeFileSync(path.join(src, 'b', 'two.txt'), 'two, a little longer\n');
  writeFileSync(path.join(src, 'top.txt'), 'top\n');
  // An atime after the mtime is not updated by reads (relatime), so the trees stay the same.
  const pin = (paths = ['a/one.txt', 'b/two.txt', 'top.txt', 'a', 'b', '.']): void => {
    for (const p of paths) utimesSync(path.join(src, p), new Date('2031-01-01'), new Date('2021-01-01'));
  };
  pin();
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const backup = async (parent?: Snapshot): Promise<{ snap: Snapshot; repo: Repository }> => {
    const repo = await Repository.open(storage, 'pw');
    await repo.loadIndex();
    const a = new Archiver(repo);
    // A relative target: the tree holds src alone, not the directories above it (restic does
    // the same), whose mtimes other tests writing into the temp dir would change meanwhile.
    const tree = await a.saveTargets([path.relative(process.cwd(), src)], parent);
    const id = await a.finish(tree, [src], { parent: parent?.id, programVersion: 'lifeboat 9.9.9' });
    await repo.loadIndex();
    return { snap: await loadSnapshot(repo, id), repo };
  };

  const first = await backup();
  const s1 = first.snap.summary;
  assert.ok(s1);
  assert.deepEqual(Object.keys(s1).sort(), [...FIELDS].sort());
  assert.equal(first.snap.program_version, 'lifeboat 9.9.9');
  const blobs = [...first.repo.index.blobs()];
  const data = blobs.filter((b) => b.type === 'data');
  const trees = blobs.filter((b) => b.type === 'tree');
  assert.equal(s1.files_new, 3);
  // src, a, b (a relative target has no directories on its way).
  const above = 0;
  assert.equal(s1.dirs_new, 3 + above);
  assert.equal(s1.data_blobs, data.length);
  // The snapshot's trees: the root, src, a, b.
  assert.equal(s1.tree_blobs, trees.length);
  assert.equal(s1.data_added_packed, blobs.reduce((n, b) => n + b.length, 0));
  assert.equal(s1.data_added, blobs.reduce((n, b) => n + (b.uncompressedLength ?? b.length - Repository.overhead), 0), 'data_added is the plaintext size');
  assert.equal(s1.total_files_processed, 3);
  assert.equal(s1.total_bytes_processed, 4 + 21 + 4);
  assert.ok(Date.parse(s1.backup_start) <= Date.parse(s1.backup_end));

  const second = await backup(first.snap);
  const s2 = second.snap.summary;
  assert.ok(s2);
  assert.equal(s2.files_unmodified, 3);
  assert.equal(s2.dirs_unmodified, 3 + above);
  assert.equal(s2.data_blobs, 0);
  assert.equal(s2.tree_blobs, 0);
  assert.equal(s2.data_added, 0);

  writeFileSync(path.join(src, 'b', 'two.txt'), 'two, changed\n');
  pin(['b/two.txt']);
  const third = await backup(second.snap);
  const s3 = third.snap.summary;
  assert.ok(s3);
  assert.equal(s3.files_changed, 1);
  assert.equal(s3.dirs_changed, 2 + above); // b and src
  assert.equal(s3.dirs_unmodified, 1); // a
  assert.equal(s3.data_blobs, 1);
});
