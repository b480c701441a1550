// The FAISS index check on files written by hand in the layout of faiss/impl/index_write.cpp:
// flat indexes and ID maps over them are sized exactly, so a truncated or torn file is named;
// other index types get their header checked; foreign files are refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flatIndex, idMap, indexHeader } from '../../../test/support/faiss-files.ts';
import { checkFaissIndex, FAISS_HEAD_BYTES } from './faiss-index.ts';

const check = (b: Buffer) => checkFaissIndex(b.subarray(0, FAISS_HEAD_BYTES), b.length);

describe('checkFaissIndex', () => {
  test('flat indexes of each metric, and an ID map over one, parse with their exact size', () => {
    assert.deepEqual(check(flatIndex(8, 100)), { fourcc: 'IxF2', d: 8, ntotal: 100, metric_type: 1, exact: true });
    assert.deepEqual(check(flatIndex(3, 5, 0)), { fourcc: 'IxFI', d: 3, ntotal: 5, metric_type: 0, exact: true });
    assert.deepEqual(check(flatIndex(3, 5, 4)), { fourcc: 'IxFl', d: 3, ntotal: 5, metric_type: 4, exact: true });
    assert.deepEqual(check(flatIndex(16, 0)), { fourcc: 'IxF2', d: 16, ntotal: 0, metric_type: 1, exact: true });
    assert.deepEqual(check(idMap(4, 9)), { fourcc: 'IxMp', d: 4, ntotal: 9, metric_type: 1, exact: true });
    assert.equal(flatIndex(8, 100).length, 45 + 4 * 8 * 100);
  });

  test('a truncated, extended or torn file is named with its sizes', () => {
    const f = flatIndex(8, 100);
    assert.equal(check(f.subarray(0, f.length - 4)), 'is 3241 bytes where a IxF2 index of d=8, ntotal=100 has 3245: truncated (a copy taken while it was written?)');
    assert.match(String(check(Buffer.concat([f, Buffer.alloc(1)]))), /trailing bytes/);
    assert.match(String(check(f.subarray(0, 20))), /^ends within its header/);
    assert.match(String(check(idMap(4, 9).subarray(0, 300))), /truncated/);
    const torn = Buffer.from(f);
    torn.writeBigUInt64LE(5n, 37);
    assert.equal(check(torn), 'holds 5 vector components where ntotal·d is 800');
  });

  test('other index types get the header checked; foreign files and bad headers are refused', () => {
    const hnsw = Buffer.concat([indexHeader('IHNf', 32, 1000, 1), Buffer.alloc(5000)]);
    assert.deepEqual(check(hnsw), { fourcc: 'IHNf', d: 32, ntotal: 1000, metric_type: 1, exact: false });
    assert.match(String(check(Buffer.from('PK\x03\x04 a zip file, not an index at all.....'))), /does not start with a FAISS index fourcc/);
    assert.match(String(check(Buffer.concat([indexHeader('IxF2', -3, 1, 1), Buffer.alloc(20)]))), /impossible dimension d=-3/);
    assert.match(String(check(Buffer.concat([indexHeader('IxF2', 3, 1, 9), Buffer.alloc(20)]))), /unknown metric_type 9/);
  });
});
