/**
 * A snapshot whose tree repeats a name (a symlink to outside, then a directory of the same
 * name: the path escape of a hostile repository) through the CLI: `check` exits with the
 * integrity code naming the tree, `restore` exits non-zero naming it and writes nothing
 * outside its target.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { idOf } from '../../src/core/ids.ts';
import { Repository } from '../../src/repo/repository.ts';
import { saveSnapshot } from '../../src/repo/snapshot/snapshot.ts';
import { createLocalStorage } from '../../src/storage/local/local-storage.ts';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PASSWORD = 'damaged-tree-pw';
const T = '2024-05-06T07:08:09Z';

describe('a tree with a repeated name through the CLI', () => {
  let tmp: TempDir;
  let repo: string;
  let outside: string;
  let badTree = '';
  let snapId = '';

  before(async () => {
    tmp = await tempDir('damaged-tree');
    repo = path.join(tmp.path, 'repo');
    outside = path.join(tmp.path, 'outside');
    mkdirSync(outside);
    assert.equal((await lifeboat(['-r', repo, 'init'], { password: PASSWORD })).code, 0);
    const r = await Repository.open(createLocalStorage(repo), PASSWORD);
    await r.loadIndex();
    const save = async (type: 'tree' | 'data', text: string): Promise<string> => {
      const b = Buffer.from(text);
      await r.saveBlob(type, b, idOf(b));
      return idOf(b);
    };
    const data = await save('data', 'written through the link\n');
    const inner = await save('tree', JSON.stringify({ nodes: [{ name: 'pwned', type: 'file', mode: 0o644, mtime: T, atime: T, ctime: T, uid: 0, gid: 0, size: 25, content: [data] }] }) + '\n');
    badTree = await save('tree', JSON.stringify({ nodes: [
      { name: 'a', type: 'symlink', mode: 0x08000000 | 0o777, mtime: T, atime: T, ctime: T, uid: 0, gid: 0, linktarget: outside, content: null },
      { name: 'a', type: 'dir', mode: 0x80000000 | 0o700, mtime: T, atime: T, ctime: T, uid: 0, gid: 0, content: null, subtree: inner },
    ] }) + '\n');
    await r.flush();
    snapId = await saveSnapshot(r, { time: T, tree: badTree, paths: ['/srv'], hostname: 'h', username: 'u' });
  });
  after(() => tmp.cleanup());

  test('check exits 5 naming the tree and the snapshot', async () => {
    const r = await lifeboat(['-r', repo, 'check'], { password: PASSWORD });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, new RegExp(`tree ${badTree}[^\\n]*"a" appears twice`));
    assert.match(r.stdout + r.stderr, new RegExp(`needed by snapshot\\(s\\) ${snapId.slice(0, 8)}`));
  });

  test('restore exits 5 naming the tree, and nothing is written outside the target', async () => {
    const target = path.join(tmp.path, 'target');
    const r = await lifeboat(['-r', repo, 'restore', snapId, '--target', target], { password: PASSWORD });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`tree ${badTree} is damaged`));
    assert.deepEqual(readdirSync(outside), []);
  });
});
