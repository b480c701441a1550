import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import sodium from 'libsodium-wrappers-sumo';
import { IntegrityError } from '../../core/errors.ts';
import {
  CRYPTO_OVERHEAD,
  initCrypto,
  masterKeyFromJSON,
  masterKeyToJSON,
  newMasterKey,
  open,
  seal,
} from './crypto.ts';

before(async () => {
  await initCrypto();
  await initCrypto(); // idempotent
  await sodium.ready; // the independent Poly1305 the layout test compares with
});

const isIntegrity = (err: unknown): boolean => err instanceof IntegrityError && err.code === 'integrity';

test('seal/open round trip for several sizes', () => {
  const key = newMasterKey();
  for (const size of [0, 1, 15, 16, 17, 1000, 65536 + 3]) {
    const pt = randomBytes(size);
    const sealed = seal(key, pt);
    assert.equal(sealed.length, size + CRYPTO_OVERHEAD);
    assert.deepEqual(open(key, sealed), pt);
  }
});

test('each seal uses a fresh IV', () => {
  const key = newMasterKey();
  const pt = Buffer.from('same plaintext');
  const a = seal(key, pt);
  const b = seal(key, pt);
  assert.notDeepEqual(a.subarray(0, 16), b.subarray(0, 16));
  assert.notDeepEqual(a, b);
});

test('IVs drawn from the pooled random bytes never repeat and never read as zero, across refills', () => {
  const key = newMasterKey();
  const seen = new Set<string>();
  const zero = Buffer.alloc(16).toString('hex');
  for (let i = 0; i < 3000; i++) {
    const iv = seal(key, Buffer.from([i & 255])).subarray(0, 16).toString('hex');
    assert.notEqual(iv, zero);
    assert.ok(!seen.has(iv), `IV ${iv} used twice (message ${i})`);
    seen.add(iv);
  }
});

test('layout is IV || AES-256-CTR(ct) || Poly1305-AES MAC over ct', () => {
  const key = newMasterKey();
  const pt = randomBytes(100);
  const sealed = seal(key, pt);
  const iv = sealed.subarray(0, 16);
  const ct = sealed.subarray(16, sealed.length - 16);
  const expectedCt = createCipheriv('aes-256-ctr', key.encrypt, iv).update(pt);
  assert.deepEqual(ct, expectedCt);
  const ecb = createCipheriv('aes-128-ecb', key.mac.k, null);
  ecb.setAutoPadding(false);
  const oneTime = Buffer.concat([key.mac.r, ecb.update(iv)]);
  assert.deepEqual(Buffer.from(sodium.crypto_onetimeauth(ct, oneTime)), sealed.subarray(sealed.length - 16));
});

test('a flipped bit anywhere makes open throw IntegrityError', () => {
  const key = newMasterKey();
  const sealed = seal(key, randomBytes(64));
  for (let i = 0; i < sealed.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const bad = Buffer.from(sealed);
      bad[i] ^= bit;
      assert.throws(() => open(key, bad), isIntegrity, `byte ${i} bit ${bit}`);
    }
  }
});

test('truncated or too short input throws IntegrityError', () => {
  const key = newMasterKey();
  const sealed = seal(key, randomBytes(40));
  for (const len of [0, 1, 16, 31, 32, sealed.length - 1]) {
    assert.throws(() => open(key, sealed.subarray(0, len)), isIntegrity, `length ${len}`);
  }
  assert.throws(() => open(key, sealed.subarray(1)), isIntegrity);
});

test('another key cannot open', () => {
  const sealed = seal(newMasterKey(), Buffer.from('secret'));
  assert.throws(() => open(newMasterKey(), sealed), isIntegrity);
});

test('new master keys have r clamped', () => {
  for (let i = 0; i < 20; i++) {
    const r = newMasterKey().mac.r;
    for (const j of [3, 7, 11, 15]) assert.equal(r[j] & 0xf0, 0);
    for (const j of [4, 8, 12]) assert.equal(r[j] & 0x03, 0);
  }
});

test('master key JSON round trip and validation', () => {
  const key = newMasterKey();
  const json = JSON.parse(JSON.stringify(masterKeyToJSON(key))) as unknown;
  const back = masterKeyFromJSON(json);
  assert.deepEqual(back.encrypt, key.encrypt);
  assert.deepEqual(back.mac.k, key.mac.k);
  assert.deepEqual(back.mac.r, key.mac.r);
  assert.deepEqual(open(back, seal(key, Buffer.from('x'))), Buffer.from('x'));

  const good = masterKeyToJSON(key);
  const cases: unknown[] = [
    null,
    'string',
    {},
    { ...good, encrypt: undefined },
    { ...good, encrypt: Buffer.alloc(31, 1).toString('base64') },
    { ...good, encrypt: Buffer.alloc(32).toString('base64') },
    { ...good, mac: { k: good.mac.k } },
    { ...good, mac: { ...good.mac, r: Buffer.alloc(15, 1).toString('base64') } },
    { ...good, mac: { ...good.mac, k: 42 } },
  ];
  for (const c of cases) assert.throws(() => masterKeyFromJSON(c), isIntegrity, JSON.stringify(c));
});
