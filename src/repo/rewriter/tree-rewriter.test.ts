// The tree rewriter writes only the trees on the way to a change, counts the new tree's
// files, and in a dry run stores nothing at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { TreeStore } from '../tree/tree-io.ts';
import type { TreeNode } from '../tree/node.ts';
import { TreeRewriter } from './tree-rewriter.ts';

const file = (name: string, size: number): TreeNode => ({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, content: [] });

async function fixture(): Promise<{ repo: Repository; root: string; keep: string; storage: ReturnType<typeof createMemoryStorage> }> {
  const storage = createMemoryStorage();
  const repo = await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const trees = new TreeStore(repo);
  const keep = await trees.save({ nodes: [file('a.txt', 3), file('b.txt', 4)] });
  const drop = await trees.save({ nodes: [file('x.log', 5), file('y.txt', 6)] });
  const root = await trees.save({ nodes: [{ name: 'keep', type: 'dir', uid: 0, gid: 0, content: null, subtree: keep }, { name: 'logs', type: 'dir', uid: 0, gid: 0, content: null, subtree: drop }] });
  await repo.flush();
  return { repo, root, keep, storage };
}

const packCount = async (storage: ReturnType<typeof createMemoryStorage>): Promise<number> => {
  let n = 0;
  for await (const _ of storage.list('data')) n++;
  return n;
};

test('excluding a file rewrites its tree and the root, reuses the untouched subtree, and counts what is left', async () => {
  const { repo, root, keep, storage } = await fixture();
  const before = await packCount(storage);
  const r = await new TreeRewriter(repo, { rewriteNode: (n, p) => (p.endsWith('.log') ? undefined : n) }).rewrite(root);
  await repo.flush();
  assert.notEqual(r.tree, root);
  assert.deepEqual({ files: r.files, bytes: r.bytes }, { files: 3, bytes: 3 + 4 + 6 });
  const newRoot = await new TreeStore(repo).load(r.tree);
  assert.equal(newRoot.nodes.find((n) => n.name === 'keep')?.subtree, keep);
  assert.equal(await packCount(storage), before + 1);
  const same = await new TreeRewriter(repo, { rewriteNode: (n) => n }).rewrite(root);
  assert.equal(same.tree, root);
});

test('a dry run works out the new tree ID without storing a tree', async () => {
  const { repo, root, storage } = await fixture();
  const before = await packCount(storage);
  const dry = await new TreeRewriter(repo, { rewriteNode: (n, p) => (p.endsWith('.log') ? undefined : n), dryRun: true }).rewrite(root);
  await repo.flush();
  assert.equal(await packCount(storage), before);
  const real = await new TreeRewriter(repo, { rewriteNode: (n, p) => (p.endsWith('.log') ? undefined : n) }).rewrite(root);
  assert.equal(dry.tree, real.tree);
});
