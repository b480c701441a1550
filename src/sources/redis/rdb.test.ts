import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Crc64, RdbChecker, crc64 } from './rdb.ts';

/** A bit-at-a-time reference CRC-64/Jones over BigInt, to check the table-driven one. */
function slowCrc64(data: Uint8Array): bigint {
  const poly = 0x95ac9329ac4bc9b5n;
  let crc = 0n;
  for (const byte of data) {
    crc ^= BigInt(byte);
    for (let i = 0; i < 8; i++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
  }
  return crc;
}

/** A synthetic RDB: header, opaque body, EOF opcode, checksum (or zero when disabled). */
function makeRdb(body: Buffer, opts: { version?: string; checksum?: boolean } = {}): Buffer {
  const head = Buffer.concat([Buffer.from(`REDIS${opts.version ?? '0010'}`, 'latin1'), body, Buffer.from([0xff])]);
  const sum = Buffer.alloc(8);
  if (opts.checksum !== false) sum.writeBigUInt64LE(crc64(head));
  return Buffer.concat([head, sum]);
}

function check(data: Buffer, chunk = 7) {
  const c = new RdbChecker();
  for (let i = 0; i < data.length; i += chunk) c.update(data.subarray(i, i + chunk));
  return c.finish();
}

test('crc64 matches the CRC-64/Jones check value Redis tests with', () => {
  assert.equal(crc64(Buffer.from('123456789')), 0xe9c6d914c4b8d9can);
  assert.equal(crc64(Buffer.alloc(0)), 0n);
});

test('crc64 is split-independent and agrees with a bitwise reference', () => {
  const data = randomBytes(1000);
  const whole = crc64(data);
  assert.equal(whole, slowCrc64(data));
  for (const split of [1, 3, 8, 13, 999]) {
    const c = new Crc64();
    for (let i = 0; i < data.length; i += split) c.update(data.subarray(i, i + split));
    assert.equal(c.digest(), whole, `split ${split}`);
  }
});

test('a valid RDB passes in any chunking', () => {
  const rdb = makeRdb(randomBytes(5000));
  for (const chunk of [1, 5, 8, 9, 64, 100_000]) {
    const r = check(rdb, chunk);
    assert.deepEqual(r, { ok: true, version: 10, size: rdb.length, checksum: 'verified' }, `chunk ${chunk}`);
  }
});

test('an RDB written with rdbchecksum no (stored zero) passes unverified', () => {
  const r = check(makeRdb(randomBytes(100), { checksum: false }));
  assert.equal(r.ok, true);
  assert.equal(r.ok && r.checksum, 'disabled');
});

test('a truncated RDB is rejected at every cut', () => {
  const rdb = makeRdb(randomBytes(300));
  for (const cut of [0, 4, 9, 17, 150, rdb.length - 9, rdb.length - 1]) {
    const r = check(rdb.subarray(0, cut));
    assert.equal(r.ok, false, `cut at ${cut}`);
    assert.match(!r.ok ? r.reason : '', /truncated|EOF opcode|CRC|magic/);
  }
});

test('a flipped byte anywhere fails the CRC', () => {
  const rdb = makeRdb(randomBytes(300));
  for (const at of [5, 9, 100, rdb.length - 10, rdb.length - 3]) {
    const bad = Buffer.from(rdb);
    bad[at] ^= 0x10;
    const r = check(bad);
    assert.equal(r.ok, false, `flip at ${at}`);
  }
  const bad = Buffer.from(rdb);
  bad[150] ^= 1;
  const r = check(bad);
  assert.match(!r.ok ? r.reason : '', /CRC-64/);
});

test('trailing bytes after the checksum are rejected', () => {
  const r = check(Buffer.concat([makeRdb(randomBytes(50)), Buffer.from('\r\n')]));
  assert.equal(r.ok, false);
});

test('a wrong magic or version is reported as soon as it is seen', () => {
  const c = new RdbChecker();
  c.update(Buffer.from('HELLO0009'));
  assert.match(c.failed ?? '', /magic/);
  assert.equal(c.finish().ok, false);
  assert.match(JSON.stringify(check(makeRdb(randomBytes(10), { version: '00x9' }))), /version/);
});

test('pre-checksum RDB versions only need the EOF opcode', () => {
  const ok = Buffer.concat([Buffer.from('REDIS0004'), randomBytes(20), Buffer.from([0xff])]);
  assert.equal(check(ok).ok, true);
  assert.equal(check(ok.subarray(0, ok.length - 1)).ok, false);
});
