import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IntegrityError } from '../../core/errors.ts';
import { indexFromJSON } from './index-file.ts';

const PACK = 'a'.repeat(64);
const BLOB = 'b'.repeat(64);

test('index documents in restic\'s shape are read, with uncompressed lengths', () => {
  const doc = indexFromJSON({ supersedes: [], packs: [{ id: PACK, blobs: [{ id: BLOB, type: 'data', offset: 0, length: 100, uncompressed_length: 300 }] }] }, 'index x');
  assert.deepEqual(doc.packs[0]?.blobs[0], { id: BLOB, type: 'data', offset: 0, length: 100, uncompressedLength: 300 });
});

test('offsets and lengths that are not small non-negative integers are damage, naming the index file and the blob', () => {
  for (const bad of [{ offset: -1, length: 1 }, { offset: 0, length: '7' }, { offset: 2 ** 32, length: 1 }, { offset: 0, length: 1.5 }, { offset: 0, length: 1, uncompressed_length: -3 }]) {
    assert.throws(
      () => indexFromJSON({ packs: [{ id: PACK, blobs: [{ id: BLOB, type: 'data', ...bad }] }] }, 'index 1234'),
      (err: unknown) => err instanceof IntegrityError && /index 1234/.test(err.message) && err.message.includes(BLOB),
      JSON.stringify(bad),
    );
  }
});
