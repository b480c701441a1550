/**
 * The stack reader trusts nothing of the manifest it reads from the repository: a files
 * manifest whose path climbs out with ".." is refused as damage before anything is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { idOf } from '../../core/ids.ts';
import { IntegrityError } from '../../core/errors.ts';
import { Repository } from '../repository.ts';
import { loadSnapshot, saveSnapshot } from '../snapshot/snapshot.ts';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { SnapshotReader } from './stack-reader.ts';
import { SnapshotWriter } from './stack-writer.ts';

const T = '2024-05-06T07:08:09Z';

test('a manifest path with ".." is refused as damage and nothing is restored', async () => {
  const tmp = await tempDir('manifest-path');
  try {
    const repo = await Repository.init(createMemoryStorage(), 'pw');
    const save = async (type: 'tree' | 'data', text: string): Promise<string> => {
      const b = Buffer.from(text);
      await repo.saveBlob(type, b, idOf(b));
      return idOf(b);
    };
    const manifest = JSON.stringify({ version: 1, source: 'app', type: 'files', files: { paths: ['/srv/../../outside'] }, artifacts: [], fingerprint: {} });
    const mBlob = await save('data', manifest);
    const dir = await save('tree', JSON.stringify({ nodes: [{ name: 'manifest.json', type: 'file', mode: 0o644, mtime: T, atime: T, ctime: T, uid: 0, gid: 0, size: manifest.length, content: [mBlob] }] }) + '\n');
    const root = await save('tree', JSON.stringify({ nodes: [{ name: 'app', type: 'dir', mode: 0x80000000 | 0o700, mtime: T, atime: T, ctime: T, uid: 0, gid: 0, content: null, subtree: dir }] }) + '\n');
    await repo.flush();
    const id = await saveSnapshot(repo, { time: T, tree: root, paths: ['/app'], hostname: 'h', username: 'u', tags: ['lifeboat', 'source:app'] });
    const reader = await SnapshotReader.open(repo, await loadSnapshot(repo, id), 'app');
    const target = path.join(tmp.path, 'a', 'b', 'target');
    mkdirSync(target, { recursive: true });
    await assert.rejects(reader.restoreFiles(target), (err: unknown) => err instanceof IntegrityError && /unsafe path/.test(err.message));
    assert.deepEqual(readdirSync(target), []);
    assert.deepEqual(readdirSync(tmp.path), ['a']);
  } finally {
    await tmp.cleanup();
  }
});

test('an artifact with a nested name (data/small/part.bin) reads back byte for byte', async () => {
  const repo = await Repository.init(createMemoryStorage(), 'pw');
  const writer = new SnapshotWriter(repo, { name: 'metrics', type: 'victoriametrics' });
  const bytes = (s: string) => (async function* () {
    yield Buffer.from(s);
  })();
  await writer.put('data/small/2026_12/part/values.bin', bytes('nested'));
  await writer.put('range.json', bytes('flat'));
  const { snapshotId } = await writer.commit({ fingerprint: {}, commands: [] });
  const reader = await SnapshotReader.open(repo, await loadSnapshot(repo, snapshotId), 'metrics');
  const read = async (name: string): Promise<string> => {
    const parts: Buffer[] = [];
    for await (const c of reader.open(name)) parts.push(c);
    return Buffer.concat(parts).toString();
  };
  assert.equal(await read('data/small/2026_12/part/values.bin'), 'nested');
  assert.equal(await read('range.json'), 'flat');
  await assert.rejects(read('data/small/missing.bin'), /is not in snapshot/);
});

test('an artifact whose bytes do not match its manifest fails with an IntegrityError after its last byte, small (hashed here) or large (hashed on a codec thread)', async () => {
  const repo = await Repository.init(createMemoryStorage(), 'pw');
  const writer = new SnapshotWriter(repo, { name: 'db', type: 'command' });
  const small = randomBytes(1000);
  const large = randomBytes(9 * 1024 * 1024);
  for (const [name, bytes] of [['small.bin', small], ['large.bin', large]] as const) {
    await writer.put(name, (async function* () {
      yield bytes;
    })());
  }
  const { snapshotId } = await writer.commit({ fingerprint: {}, commands: [] });
  const reader = await SnapshotReader.open(repo, await loadSnapshot(repo, snapshotId), 'db');
  const read = async (name: string): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const c of reader.open(name)) parts.push(c);
    return Buffer.concat(parts);
  };
  assert.deepEqual(await read('small.bin'), small);
  assert.deepEqual(await read('large.bin'), large);
  // The manifest read back is the reader's: a different hash there stands for bytes that differ.
  for (const info of reader.manifest.artifacts as Array<{ name: string; size: number; sha256: string }>) {
    info.sha256 = createHash('sha256').update('other').digest('hex');
    const pattern = new RegExp(`${info.name.replace('.', '\\.')} of snapshot .* does not match its manifest \\(size ${info.size}/${info.size}, sha256`);
    await assert.rejects(read(info.name), (err: unknown) => err instanceof IntegrityError && pattern.test(err.message));
  }
});
