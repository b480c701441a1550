// What restic 0.14 restores and lifeboat must restore the same: a file whose mode is 0 (Go's
// omitempty drops it from the tree) comes back as ----------, owners by their numeric uid/gid
// even when the recorded name means another uid here, fifos and (as root) character devices
// are recreated with mknod, and a time before 1970 is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { idOf } from '../core/ids.ts';
import { createMemoryStorage } from '../storage/memory/memory-storage.ts';
import { Repository } from './repository.ts';
import { loadSnapshot, saveSnapshot } from './snapshot/snapshot.ts';
import { Restorer } from './restorer.ts';
import { GO_MODE_CHAR_DEVICE, GO_MODE_DEVICE, GO_MODE_NAMED_PIPE } from './tree/node.ts';

const T = '2024-05-06T07:08:09.123456789Z';
const OLD = '1960-05-01T12:00:00.25Z';
const isRoot = process.getuid?.() === 0;

test('mode 0, numeric owners, fifos, devices and pre-1970 times restore as restic restores them', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'lifeboat-meta-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await Repository.open(storage, 'pw');
  await repo.loadIndex();
  const data = Buffer.from('hi\n');
  await repo.saveBlob('data', data, idOf(data));
  const base = { mtime: T, atime: T, ctime: T, uid: 0, gid: 0 };
  const nodes = [
    // "daemon" is uid 1 on Debian; the node's own uid is what restic restores.
    { ...base, name: 'a-named', type: 'file', mode: 0o640, uid: 12345, gid: 23456, user: 'daemon', group: 'daemon', size: 3, content: [idOf(data)] },
    { ...base, name: 'b-zero', type: 'file', size: 3, content: [idOf(data)] },
    { ...base, name: 'c-fifo', type: 'fifo', mode: (GO_MODE_NAMED_PIPE | 0o640) >>> 0, content: null },
    { ...base, name: 'd-null', type: 'chardev', mode: (GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE | 0o620) >>> 0, device: 259, content: null },
    { ...base, name: 'e-old', type: 'file', mode: 0o644, mtime: OLD, atime: OLD, size: 3, content: [idOf(data)] },
  ];
  const tree = Buffer.from(JSON.stringify({ nodes }) + '\n');
  await repo.saveBlob('tree', tree, idOf(tree));
  await repo.flush();
  const snap = await loadSnapshot(repo, await saveSnapshot(repo, { time: T, tree: idOf(tree), paths: ['/x'], hostname: 'h', username: 'u' }));
  const target = path.join(root, 'target');

  const result = await new Restorer(repo).restore(snap, target);
  const at = (name: string) => lstatSync(path.join(target, name), { bigint: true });

  assert.equal(Number(at('b-zero').mode) & 0o7777, 0, 'a file without a mode is mode 0000');
  assert.equal(readFileSync(path.join(target, 'b-zero'), 'utf8'), 'hi\n');
  assert.equal(at('e-old').mtimeNs, -305_121_599_750_000_000n, 'a time before 1970 is kept');
  assert.ok(at('c-fifo').isFIFO(), 'the fifo is recreated');
  assert.equal(Number(at('c-fifo').mode) & 0o7777, 0o640);
  assert.equal(at('c-fifo').mtimeNs, 1_714_979_289_123_456_789n);
  if (isRoot) {
    assert.deepEqual([at('a-named').uid, at('a-named').gid], [12345n, 23456n], 'the numeric owner, not the name\'s');
    assert.ok(at('d-null').isCharacterDevice(), 'the character device is recreated');
    assert.equal(at('d-null').rdev, 259n);
    assert.equal(Number(at('d-null').mode) & 0o7777, 0o620);
    assert.deepEqual(result.errors, []);
  } else {
    assert.deepEqual(result.errors.map((e) => path.basename(e.path)), ['d-null'], 'only root may make a device');
  }
});
