import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { SourceError } from '../../core/errors.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { crc64 } from './rdb.ts';
import { scratchConfig } from './redis-scratch.ts';
import { redisType } from './redis-source.ts';
import type { RedisConfig } from './redis-config.ts';

/** A synthetic RDB: header, opaque body, EOF opcode, checksum (or zero when disabled). */
function makeRdb(body: Buffer, checksum = true): Buffer {
  const head = Buffer.concat([Buffer.from('REDIS0010', 'latin1'), body, Buffer.from([0xff])]);
  const sum = Buffer.alloc(8);
  if (checksum) sum.writeBigUInt64LE(crc64(head));
  return Buffer.concat([head, sum]);
}

const source = (tmpDir: string, extra: Partial<RedisConfig> = {}) =>
  redisType.create('cache', { url: 'redis://127.0.0.1:1', ...extra }, { runner: localRunner, secrets: async () => 'pw"secret', tmpDir });

describe('redis verify (no server)', () => {
  it('passes an intact RDB and names what it checked', async () => {
    const arts = await memoryArtifacts();
    arts.set('dump.rdb', makeRdb(Buffer.alloc(200_000, 7)));
    const r = await source('/nonexistent').verify!(arts.reader(), testContext());
    assert.deepEqual(r, { checks: ['dump.rdb: RDB version 10, 200018 bytes, header and EOF opcode present, CRC-64 verified'], problems: [] });
    arts.set('dump.rdb', makeRdb(Buffer.from('x'), false));
    assert.match((await source('/nonexistent').verify!(arts.reader(), testContext())).checks[0], /rdbchecksum no/);
    await arts.cleanup();
  });
  it('reports a truncated, an altered and a foreign file by name', async () => {
    const arts = await memoryArtifacts();
    const good = makeRdb(Buffer.alloc(1000, 1));
    const cases: Array<[Buffer, RegExp]> = [
      [good.subarray(0, 500), /^dump\.rdb: does not end with the RDB EOF opcode/],
      [Buffer.concat([good.subarray(0, 100), Buffer.from([2]), good.subarray(101)]), /^dump\.rdb: fails its CRC-64 check/],
      [Buffer.from('PGDMP and more bytes than a header'), /^dump\.rdb: does not start with the RDB magic/],
    ];
    for (const [bytes, re] of cases) {
      arts.set('dump.rdb', bytes);
      const r = await source('/nonexistent').verify!(arts.reader(), testContext());
      assert.deepEqual(r.checks, []);
      assert.match(r.problems[0], re);
    }
    await arts.cleanup();
  });
});

describe('redis scratch server', () => {
  it('keeps the password in the config file, with the ACL user when there is one', () => {
    const conf = scratchConfig(6390, '/tmp/x "y"', { username: 'app', password: 'p"w' });
    assert.match(conf, /^port 6390\nbind 127\.0\.0\.1\n/);
    assert.match(conf, /\ndir "\/tmp\/x \\"y\\""\n/);
    assert.match(conf, /\nsave ""\nappendonly no\n/);
    assert.match(conf, /\nrequirepass "p\\"w"\n/);
    assert.match(conf, /\nuser "app" on ">p\\"w" ~\* &\* \+@all\n/);
    assert.doesNotMatch(scratchConfig(1, '/d', {}), /requirepass|user /);
  });
  it('fails with a SourceError naming a redis_server_bin that does not exist, leaving nothing behind', async () => {
    const tmp = await tempDir('redis-scratch');
    try {
      const bogus = path.join(tmp.path, 'no-such-redis-server');
      const arts = await memoryArtifacts();
      await assert.rejects(source(path.join(tmp.path, 'work'), { redis_server_bin: bogus, password: { env: 'X' } }).scratchTarget!(arts.reader(), testContext()), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.ok(err.message.includes(bogus), err.message);
        assert.match(err.hint ?? '', /install redis-server .* or set redis_server_bin/);
        assert.ok(!err.message.includes('secret'));
        return true;
      });
      assert.deepEqual(await readdir(path.join(tmp.path, 'work')), []);
      await arts.cleanup();
    } finally {
      await tmp.cleanup();
    }
  });
});
