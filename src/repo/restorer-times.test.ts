// Restored times are the snapshot's to the nanosecond, as restic restores them: Node's
// utimes takes float seconds and misses by up to a few hundred nanoseconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { idOf } from '../core/ids.ts';
import { createMemoryStorage } from '../storage/memory/memory-storage.ts';
import { parseNs } from '../util/time.ts';
import { exactTimesSupported } from './file-times.ts';
import { Repository } from './repository.ts';
import { Restorer } from './restorer.ts';
import { loadSnapshot, saveSnapshot } from './snapshot/snapshot.ts';
import { encodeTree } from './tree/node.ts';
import type { TreeNode } from './tree/node.ts';

const M = '2024-05-06T07:08:09.123456789Z';
const A = '2023-01-02T03:04:05.987654321Z';
const base = { uid: 0, gid: 0, mtime: M, atime: A, ctime: M };

// Without the optional package the float path is used: skipped then, except where CI requires it.
const skip = exactTimesSupported() || process.env.REQUIRE_SERVERS === '1' ? false : 'the optional package koffi is not installed';

test('files (one blob and several), directories and symlinks get their times to the nanosecond', { skip }, async (t) => {
  assert.ok(exactTimesSupported(), 'koffi loads (npm ci installs it with its prebuilt binary)');
  const root = mkdtempSync(path.join(tmpdir(), 'lifeboat-times-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await Repository.open(storage, 'pw');
  await repo.loadIndex();
  const blob = async (s: string): Promise<string> => {
    const b = Buffer.from(s);
    await repo.saveBlob('data', b, idOf(b));
    return idOf(b);
  };
  const tree = async (nodes: TreeNode[]): Promise<string> => {
    const b = encodeTree({ nodes });
    await repo.saveBlob('tree', b, idOf(b));
    return idOf(b);
  };
  const inner = await tree([{ ...base, name: 'inner', type: 'file', mode: 0o644, size: 2, content: [await blob('i\n')] }]);
  const rootTree = await tree([
    { ...base, name: 'small', type: 'file', mode: 0o644, size: 6, content: [await blob('small\n')] },
    { ...base, name: 'big', type: 'file', mode: 0o600, size: 8, content: [await blob('big1'), await blob('big2')] },
    { ...base, name: 'dir', type: 'dir', mode: (0x80000000 | 0o755) >>> 0, content: null, subtree: inner },
    { ...base, name: 'link', type: 'symlink', mode: (0x08000000 | 0o777) >>> 0, linktarget: 'small', content: null },
  ]);
  await repo.flush();
  const snap = await loadSnapshot(repo, await saveSnapshot(repo, { time: M, tree: rootTree, paths: ['/x'] }));
  const target = path.join(root, 'target');
  const res = await new Restorer(repo).restore(snap, target);
  assert.deepEqual(res.errors, []);
  for (const name of ['small', 'big', 'dir', 'dir/inner', 'link']) {
    const st = lstatSync(path.join(target, name), { bigint: true });
    assert.equal(st.mtimeNs, parseNs(M), `${name} mtime`);
    assert.equal(st.atimeNs, parseNs(A), `${name} atime`);
  }
});
