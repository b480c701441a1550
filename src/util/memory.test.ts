import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zstdCompressSync } from 'node:zlib';
import { fitted, release, releaseBacking } from './memory.ts';

test('release frees a buffer that owns its ArrayBuffer, and leaves views, pooled and small buffers alone', () => {
  const own = Buffer.allocUnsafeSlow(1 << 20);
  const parent = Buffer.alloc(1 << 20, 7);
  const view = parent.subarray(0, 1 << 19);
  const pooled = Buffer.from('pooled bytes');
  release(own, view, pooled, undefined);
  assert.equal(own.length, 0, 'released buffer reads as empty');
  assert.equal(own.buffer.detached, true);
  assert.equal(view.length, 1 << 19, 'a view into a larger buffer is not released');
  assert.equal(parent[0], 7);
  assert.equal(pooled.toString(), 'pooled bytes');
});

test('release frees small buffers that own their memory, never a slice of the shared pool', () => {
  const own = Buffer.allocUnsafeSlow(5000); // its own ArrayBuffer
  const pooled = Buffer.allocUnsafe(4000); // a slice of a pool Node shares
  pooled.fill(3);
  assert.notEqual(pooled.buffer.byteLength, pooled.length, 'Node pools buffers of this size');
  release(own, pooled);
  assert.equal(own.length, 0);
  assert.equal(pooled.length, 4000);
  assert.equal(pooled[3999], 3);
  const tiny = Buffer.allocUnsafeSlow(100);
  release(tiny);
  assert.equal(tiny.length, 100, 'too small to be worth releasing');
});

test('release of a buffer already released is harmless', () => {
  const b = Buffer.allocUnsafeSlow(1 << 17);
  release(b);
  release(b);
  assert.equal(b.length, 0);
});

test('releaseBacking frees the output buffer behind a zstd result, but not a shared small one', () => {
  const big = zstdCompressSync(Buffer.alloc(1 << 20, 1), { chunkSize: (1 << 20) + 1024 });
  assert.ok(big.buffer.byteLength > big.length, 'zstd returns a slice of a larger buffer');
  releaseBacking(big);
  assert.equal(big.length, 0);
  const small = zstdCompressSync(Buffer.alloc(100, 1));
  const copy = Buffer.from(small);
  releaseBacking(small); // shared 64 KiB output buffer: not ours, left alone
  assert.deepEqual(small, copy);
});

test('fitted moves a slice into a buffer of its own size, keeping the bytes', () => {
  const big = Buffer.allocUnsafeSlow((1 << 20) + 1);
  big.fill(3);
  const slice = big.subarray(0, 1 << 20);
  const fit = fitted(slice);
  assert.equal(fit.length, 1 << 20);
  assert.equal(fit.buffer.byteLength, 1 << 20);
  assert.ok(fit.every((x) => x === 3));
  const exact = Buffer.allocUnsafeSlow(1 << 20);
  assert.equal(fitted(exact), exact, 'an exact buffer is returned as is');
});
