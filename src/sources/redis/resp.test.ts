import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RespError, RespParser, RespProtocolError, encodeCommand, type RespValue } from './resp.ts';

function parseAll(wire: Buffer, split: number): RespValue[] {
  const p = new RespParser();
  const out: RespValue[] = [];
  for (let i = 0; i < wire.length; i += split) {
    p.push(wire.subarray(i, i + split));
    for (let v = p.next(); v !== undefined; v = p.next()) out.push(v);
  }
  return out;
}

test('commands encode as arrays of binary-safe bulk strings', () => {
  assert.equal(encodeCommand(['SET', 'k', Buffer.from([0, 13, 10]), 5]).toString('latin1'), '*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n\x00\r\n\r\n$1\r\n5\r\n');
});

test('every reply type parses the same in any split', () => {
  const big = Buffer.alloc(100_000, 0x61);
  const wire = Buffer.concat([
    Buffer.from('+OK\r\n-WRONGPASS invalid username-password pair\r\n:42\r\n:-1\r\n$-1\r\n*-1\r\n*0\r\n$0\r\n\r\n'),
    Buffer.from('$4\r\na\r\nb\r\n'),
    Buffer.from(`*3\r\n$1\r\nx\r\n*2\r\n:1\r\n*1\r\n$${big.length}\r\n`),
    big,
    Buffer.from('\r\n+tail\r\n'),
  ]);
  const expected: RespValue[] = [
    'OK', new RespError('WRONGPASS invalid username-password pair'), 42, -1, null, null, [], Buffer.alloc(0), Buffer.from('a\r\nb'),
    [Buffer.from('x'), [1, [big]], 'tail'],
  ];
  for (const split of [1, 2, 7, 1000, wire.length]) assert.deepEqual(parseAll(wire, split), expected, `split ${split}`);
  assert.equal((parseAll(Buffer.from('-NOAUTH Authentication required.\r\n'), 3)[0] as RespError).kind, 'NOAUTH');
});

test('a malformed stream is a protocol error', () => {
  assert.throws(() => parseAll(Buffer.from('?what\r\n'), 100), RespProtocolError);
  assert.throws(() => parseAll(Buffer.from('$3\r\nabcde\r\n'), 100), RespProtocolError);
  assert.throws(() => parseAll(Buffer.from(':1x\r\n'), 100), RespProtocolError);
});
