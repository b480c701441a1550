import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { RedisClient } from './redis-client.ts';
import { SmallestKeys, fingerprintRedis, parseKeyspace } from './redis-fingerprint.ts';
import type { RespValue } from './resp.ts';

type Value = { type: 'string'; v: Buffer } | { type: 'set'; v: Buffer[] } | { type: 'zset'; v: Array<[string, string]> };

/**
 * Just enough of a server for the fingerprint: one database, SCAN pages in a given key order
 * (with a repeat, as SCAN may), and `lyingStrlen` keys that claim to be short.
 */
function fakeClient(data: Map<string, Value>, scanOrder: string[], lyingStrlen = new Set<string>()): RedisClient {
  const pages = [scanOrder.slice(0, 3), [...scanOrder.slice(3), scanOrder[0]]];
  const command = async (...args: Array<string | Buffer | number>): Promise<RespValue> => {
    const [cmd, key] = [String(args[0]), args[1] === undefined ? '' : args[1].toString()];
    const val = data.get(key);
    switch (cmd) {
      case 'INFO': return `# Keyspace\r\ndb0:keys=${data.size},expires=0,avg_ttl=0\r\n`;
      case 'SELECT': return 'OK';
      case 'SCAN': return key === '0' ? [Buffer.from('7'), pages[0].map((k) => Buffer.from(k))] : [Buffer.from('0'), pages[1].map((k) => Buffer.from(k))];
      case 'TYPE': return val?.type ?? 'none';
      case 'PTTL': return val ? -1 : -2;
      case 'STRLEN': return val?.type === 'string' ? (lyingStrlen.has(key) ? 1 : val.v.length) : 0;
      case 'GET': return val?.type === 'string' ? val.v : null;
      case 'GETRANGE': return val?.type === 'string' ? val.v.subarray(Number(args[2]), Number(args[3]) + 1) : null;
      case 'SCARD': return val?.type === 'set' ? val.v.length : 0;
      case 'SMEMBERS': return val?.type === 'set' ? val.v : [];
      case 'ZCARD': return val?.type === 'zset' ? val.v.length : 0;
      case 'ZRANGE': return val?.type === 'zset' ? val.v.flatMap(([m, s]) => [Buffer.from(m), Buffer.from(s)]) : [];
      default: throw new Error(`fake: ${cmd}`);
    }
  };
  const fake = {
    what: 'fake',
    command,
    info: async (section: string) => new Map((String(await command('INFO', section)).split('\r\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]))),
  };
  return fake as unknown as RedisClient;
}

test('the sample is the n smallest keys whatever the SCAN order and repeats', async () => {
  const data = new Map<string, Value>(['d', 'b', 'a', 'e', 'c'].map((k) => [k, { type: 'string', v: Buffer.from(k) }]));
  const one = await fingerprintRedis(fakeClient(data, ['d', 'b', 'a', 'e', 'c']), 3);
  const two = await fingerprintRedis(fakeClient(data, ['c', 'e', 'a', 'b', 'd']), 3);
  assert.deepEqual(one, two);
  const dbs = one.dbs as Record<string, { keys: number; sample: Array<{ key: string }> }>;
  assert.deepEqual(dbs['0'].sample.map((s) => s.key), ['a', 'b', 'c']);
  assert.equal(dbs['0'].keys, 5);
});

test('a huge string digested in GETRANGE windows matches the same value read by GET', async () => {
  const big = randomBytes(2.5 * 1024 * 1024);
  const data = new Map<string, Value>([['x1', { type: 'string', v: big }], ['x2', { type: 'string', v: big }]]);
  const fp = await fingerprintRedis(fakeClient(data, ['x1', 'x2'], new Set(['x2'])), 10);
  const sample = (fp.dbs as Record<string, { sample: Array<{ digest: string }> }>)['0'].sample;
  assert.equal(sample[0].digest, sample[1].digest);
  const other = Buffer.from(big);
  other[big.length - 1] ^= 1;
  const changed = await fingerprintRedis(fakeClient(new Map([['x1', { type: 'string', v: other }]]), ['x1']), 10);
  assert.notEqual((changed.dbs as Record<string, { sample: Array<{ digest: string }> }>)['0'].sample[0].digest, sample[0].digest);
});

test('set order and score spelling do not change the digest', async () => {
  const a = new Map<string, Value>([['s', { type: 'set', v: [Buffer.from('x'), Buffer.from('y')] }], ['z', { type: 'zset', v: [['m', '1.1000000000000001'], ['n', 'inf']] }]]);
  const b = new Map<string, Value>([['s', { type: 'set', v: [Buffer.from('y'), Buffer.from('x')] }], ['z', { type: 'zset', v: [['m', '1.1'], ['n', '+inf']] }]]);
  assert.deepEqual(await fingerprintRedis(fakeClient(a, ['s', 'z']), 10), await fingerprintRedis(fakeClient(b, ['z', 's']), 10));
});

test('SmallestKeys keeps distinct keys in byte order; parseKeyspace reads INFO keyspace', () => {
  const s = new SmallestKeys(2);
  for (const k of ['b', 'a', 'a', '\xff', 'c']) s.offer(Buffer.from(k, 'latin1'));
  assert.deepEqual(s.keys.map((k) => k.toString('latin1')), ['a', 'b']);
  assert.deepEqual([...parseKeyspace(new Map([['db0', 'keys=3,expires=1,avg_ttl=0'], ['db12', 'keys=1,expires=0,avg_ttl=0'], ['x', 'y']]))], [[0, { keys: 3, expires: 1 }], [12, { keys: 1, expires: 0 }]]);
});
