import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { zstdDecompressSync } from 'node:zlib';
import { IntegrityError } from '../core/errors.ts';
import { compressBlobSync, decompressBlobSync, zstdEngine } from './compression.ts';
import type { ZstdEngine } from './compression.ts';

/** Text that compresses the way SQL dumps do, with some randomness so no two are alike. */
function textOf(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let at = 0;
  for (let i = 0; at < n; i++) at += b.write(`INSERT INTO t VALUES (${i}, 'row ${(i * 7919 + seed) % 100003}', ${seed});\n`, at);
  return b;
}

const SIZES = [700, 8700, 60_000, 600_000, 3 * 1024 * 1024];
const native = zstdEngine() === 'native';
// CI installs the optional package; without it (no compiler at install) only node:zlib runs.
const requireNative = process.env.REQUIRE_SERVERS === '1';

describe('blob compression', () => {
  it('the native engine is installed where CI expects it', { skip: !requireNative && !native && 'zstd-napi is not installed here' }, () => {
    assert.equal(zstdEngine(), 'native', 'zstd-napi did not load: run "npm ci" with a C++ compiler at hand');
  });

  it('both engines make the same frames, byte for byte, and read each other\'s', { skip: !native && 'zstd-napi is not installed here' }, () => {
    for (const level of [1, 3, 9]) {
      for (const [i, n] of SIZES.entries()) {
        const data = textOf(n, i + level);
        const a = compressBlobSync(data, level, 'native');
        const b = compressBlobSync(data, level, 'zlib');
        assert.ok(a && b, `${n} bytes of text compress`);
        assert.ok(a.equals(b), `level ${level}, ${n} bytes: same frame from both engines`);
        for (const engine of ['native', 'zlib'] as const) {
          assert.ok(decompressBlobSync(a, n, 'blob', engine).equals(data));
        }
      }
    }
  });

  for (const engine of ['native', 'zlib'] as ZstdEngine[]) {
    describe(`with ${engine}`, { skip: engine === 'native' && !native && 'zstd-napi is not installed here' }, () => {
      it('round-trips text; leaves random bytes and tiny blobs uncompressed', () => {
        for (const [i, n] of SIZES.entries()) {
          const data = textOf(n, i);
          const c = compressBlobSync(data, 3, engine);
          assert.ok(c && c.length < n / 2, `${n} bytes of text shrink`);
          // Any zstd decoder reads it, and the frame records the size.
          assert.ok(zstdDecompressSync(c).equals(data));
          const back = decompressBlobSync(c, n, 'blob', engine);
          assert.ok(back.equals(data));
          if (engine === 'native') {
            assert.equal(back.byteOffset, 0);
            assert.equal(back.buffer.byteLength, n, 'the result owns its whole buffer (transferable)');
          }
        }
        assert.equal(compressBlobSync(randomBytes(100_000), 3, engine), undefined);
        assert.equal(compressBlobSync(Buffer.alloc(63), 3, engine), undefined);
      });

      it('refuses frames that are damaged or hold another length than promised', () => {
        const data = textOf(100_000, 9);
        const c = compressBlobSync(data, 3, engine) as Buffer;
        const flipped = Buffer.from(c);
        flipped[Math.floor(c.length / 2)] ^= 0xff;
        assert.throws(() => decompressBlobSync(flipped, data.length, 'data blob x', engine), (e: unknown) => e instanceof IntegrityError && /data blob x/.test(e.message));
        assert.throws(() => decompressBlobSync(c.subarray(0, c.length - 9), data.length, 'data blob x', engine), IntegrityError);
        assert.throws(() => decompressBlobSync(c, data.length - 1, 'data blob x', engine), IntegrityError);
        assert.throws(() => decompressBlobSync(c, data.length + 1, 'data blob x', engine), /expected 100001/);
        assert.throws(() => decompressBlobSync(randomBytes(500), 500, 'data blob x', engine), /zstd data is damaged/);
      });
    });
  }
});
