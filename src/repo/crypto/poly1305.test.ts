import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import sodium from 'libsodium-wrappers-sumo';
import { poly1305 } from './poly1305.ts';

test('RFC 8439 section 2.5.2 test vector', () => {
  const key = Buffer.from('85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b', 'hex');
  const msg = Buffer.from('Cryptographic Forum Research Group', 'ascii');
  assert.equal(poly1305(msg, key).toString('hex'), 'a8061dc1305136c6c22b8baf0c0127a9');
});

test('tags equal libsodium for every length around block and window edges', async () => {
  await sodium.ready;
  const lengths = [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 61439, 61440, 61441, 61456, 122880, 122895, 200001, 1 << 20];
  for (const n of lengths) {
    for (let i = 0; i < 3; i++) {
      const key = randomBytes(32);
      const msg = randomBytes(n);
      assert.deepEqual(poly1305(msg, key), Buffer.from(sodium.crypto_onetimeauth(msg, key)), `length ${n}`);
    }
  }
});

test('edge values: all-ones key and message (h near p) match libsodium', async () => {
  await sodium.ready;
  for (const n of [16, 32, 48, 1024]) {
    const key = Buffer.alloc(32, 0xff);
    const msg = Buffer.alloc(n, 0xff);
    assert.deepEqual(poly1305(msg, key), Buffer.from(sodium.crypto_onetimeauth(msg, key)));
    const zeroR = Buffer.concat([Buffer.alloc(16), Buffer.alloc(16, 0xff)]);
    assert.deepEqual(poly1305(msg, zeroR), Buffer.from(sodium.crypto_onetimeauth(msg, zeroR)));
  }
});

test('a subarray message at an odd offset is read from its own bytes', async () => {
  await sodium.ready;
  const big = randomBytes(5000);
  const key = randomBytes(32);
  const msg = big.subarray(3, 4003);
  assert.deepEqual(poly1305(msg, key), Buffer.from(sodium.crypto_onetimeauth(msg, key)));
});
