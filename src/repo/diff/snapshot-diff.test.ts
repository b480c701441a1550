// The modifiers of restic's diff on hand-made trees: T (type), M (content), "M?" (content
// changed with identical metadata), U (metadata, only with `metadata`), and added/removed
// directories listed with everything below them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { TreeStore } from '../tree/tree-io.ts';
import type { TreeNode } from '../tree/node.ts';
import { diffTrees } from './snapshot-diff.ts';
import type { DiffChange } from './snapshot-diff.ts';

const f = (name: string, content: string[], mtime = '2024-01-01T00:00:00Z'): TreeNode => ({ name, type: 'file', mode: 0o644, mtime, uid: 0, gid: 0, size: content.length, content });

test('diff reports T, M, M?, U, + and - as restic does, and counts what only one side has', async () => {
  const repo = await Repository.init(createMemoryStorage(), 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const trees = new TreeStore(repo);
  const blob = async (s: string): Promise<string> => (await repo.saveBlob('data', Buffer.from(s))).id;
  const [a, b, c] = [await blob('a'), await blob('b'), await blob('c')];
  const gone = await trees.save({ nodes: [f('inside.txt', [c])] });
  const before = await trees.save({
    nodes: [
      f('bitrot', [a]),
      f('edited', [a], '2024-01-01T00:00:00Z'),
      f('touched', [b]),
      { name: 'became-link', type: 'file', mode: 0o644, uid: 0, gid: 0, content: [] },
      { name: 'old-dir', type: 'dir', mode: 0x800001ed, uid: 0, gid: 0, content: null, subtree: gone },
    ],
  });
  const after = await trees.save({
    nodes: [
      f('bitrot', [b]),
      f('edited', [b], '2024-02-02T00:00:00Z'),
      f('touched', [b], '2024-03-03T00:00:00Z'),
      { name: 'became-link', type: 'symlink', mode: 0x080001ff, uid: 0, gid: 0, linktarget: 'x', content: null },
      f('new.txt', [c]),
    ],
  });
  await repo.flush();

  const run = async (metadata: boolean): Promise<{ changes: DiffChange[]; stats: Awaited<ReturnType<typeof diffTrees>> }> => {
    const changes: DiffChange[] = [];
    const stats = await diffTrees(repo, { name: 'one', tree: before }, { name: 'two', tree: after }, { metadata, onChange: (ch) => changes.push(ch) });
    return { changes, stats };
  };
  const plain = await run(false);
  assert.deepEqual(plain.changes.map((ch) => `${ch.modifier} ${ch.path}`), ['T /became-link', 'M? /bitrot', 'M /edited', '+ /new.txt', '- /old-dir/', '- /old-dir/inside.txt']);
  assert.equal(plain.stats.changed_files, 2);
  // The root trees differ; "a" is used only before ("b" and "c" live on), old-dir's tree goes.
  assert.deepEqual({ ...plain.stats.added, bytes: 0 }, { files: 1, dirs: 0, others: 0, data_blobs: 0, tree_blobs: 1, bytes: 0 });
  assert.deepEqual({ ...plain.stats.removed, bytes: 0 }, { files: 1, dirs: 1, others: 0, data_blobs: 1, tree_blobs: 2, bytes: 0 });
  assert.ok(plain.stats.removed.bytes > 1 && plain.stats.added.bytes > 0);

  const withMeta = await run(true);
  assert.ok(withMeta.changes.some((ch) => ch.path === '/touched' && ch.modifier === 'U'));
  assert.ok(!plain.changes.some((ch) => ch.path === '/touched'));
});
