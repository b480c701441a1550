/**
 * verify and scratchTarget of the redis source against real redis-server processes: a real RDB
 * passes the checker and a truncated or altered one is reported; a drill round trip into a
 * throwaway server (password mirrored, restore_mode data_dir and a TLS-configured source too)
 * gives the backup's fingerprint, and its cleanup closes the port and removes the dir while
 * the live server keeps its data. A bogus redis_server_bin fails with a SourceError naming it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SourceError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import type { Fingerprint, Source } from '../../src/core/source.ts';
import type { SecretResolver } from '../../src/sources/source-kit.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { redisType } from '../../src/sources/redis/redis-source.ts';
import type { RedisConfig } from '../../src/sources/redis/redis-config.ts';
import { memoryArtifacts, testContext, type MemoryArtifacts } from '../support/memory-artifacts.ts';
import { missingBinaries } from '../support/require.ts';
import { isPortOpen, startRedis, type RedisServer } from '../support/servers.ts';
import { tempDir, type TempDir } from '../support/tmp.ts';

const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const secrets: SecretResolver = async (ref) => {
  if ('env' in ref && ref.env === 'REDIS_TEST_PASSWORD') return PASSWORD;
  throw new Error('unknown secret');
};

describe('redis source: verify and drill', { skip: missingBinaries('redis-server', 'redis-cli') }, () => {
  let live: RedisServer;
  let tmp: TempDir;
  let arts: MemoryArtifacts;
  let backupFp: Fingerprint;

  const make = (extra: Partial<RedisConfig> = {}): Source =>
    redisType.create('cache', { url: `redis://127.0.0.1:${live.port}`, password: { env: 'REDIS_TEST_PASSWORD' }, ...extra }, { runner: localRunner, secrets, tmpDir: tmp.path });

  before(async () => {
    live = await startRedis({ password: PASSWORD });
    tmp = await tempDir('redis-drill');
    await live.cli('SET', 'str', 'hello');
    await live.cli('RPUSH', 'list', 'a', 'b', 'c');
    await live.cli('HSET', 'hash', 'f1', 'v1', 'f2', 'v2');
    await live.cli('ZADD', 'zset', '1.5', 'one', '2', 'two');
    await live.cli('SET', 'ttl-key', 'soon', 'EX', '3600');
    await live.cli('-n', '3', 'SET', 'in-db3', 'three');
    await live.cli('EVAL', "for i = 1, 2000 do redis.call('SET', 'bulk:' .. i, string.rep('x', 100)) end", '0');
    arts = await memoryArtifacts();
    backupFp = (await make().backup(arts.sink, testContext())).fingerprint;
  });
  after(async () => {
    await arts?.cleanup();
    await live?.stop();
    await tmp?.cleanup();
  });

  it('passes a real RDB: version, header, EOF opcode, CRC-64', async () => {
    const r = await make().verify!(arts.reader(), testContext());
    assert.deepEqual(r.problems, []);
    assert.match(r.checks[0], /^dump\.rdb: RDB version \d+, \d+ bytes, header and EOF opcode present, CRC-64 verified$/);
  });

  it('reports a truncated RDB, a flipped byte and a missing dump.rdb', async () => {
    const rdb = arts.get('dump.rdb')!;
    const bad = await memoryArtifacts();
    bad.set('dump.rdb', rdb.subarray(0, rdb.length - 100));
    assert.match((await make().verify!(bad.reader(), testContext())).problems[0], /^dump\.rdb: .*(truncated|EOF opcode)/);
    const flipped = Buffer.from(rdb);
    flipped[Math.floor(flipped.length / 2)] ^= 0x01;
    bad.set('dump.rdb', flipped);
    assert.match((await make().verify!(bad.reader(), testContext())).problems[0], /^dump\.rdb: fails its CRC-64 check/);
    const empty = await memoryArtifacts();
    assert.deepEqual((await make().verify!(empty.reader(), testContext())).problems, ['dump.rdb: missing from the snapshot (a redis backup stores one)']);
    await bad.cleanup();
    await empty.cleanup();
  });

  /** scratch → restore → fingerprint → cleanup, asserting the server and its dir are gone after. */
  async function drill(source: Source): Promise<void> {
    const ctx = testContext();
    const scratch = await source.scratchTarget!(arts.reader(), ctx);
    const port = Number(/^redis:\/\/127\.0\.0\.1:(\d+)$/.exec(scratch.to)?.[1]);
    assert.ok(port > 0 && port !== live.port, scratch.to);
    const dir = /dir (.*)\)$/.exec(scratch.description)?.[1] ?? '';
    assert.equal(path.dirname(dir), tmp.path, 'the scratch dir lives under the source tmpDir');
    assert.ok(await isPortOpen(port));
    try {
      await source.restore(arts.reader(), ctx, { to: scratch.to });
      assert.deepEqual(compareFingerprints(backupFp, await source.fingerprint(ctx, { to: scratch.to })), []);
    } finally {
      await scratch.cleanup();
      await scratch.cleanup();
    }
    assert.equal(await isPortOpen(port), false, 'the scratch server is gone');
    await assert.rejects(stat(dir), /ENOENT/);
    assert.deepEqual(compareFingerprints(backupFp, await source.fingerprint(ctx)), [], 'the live server is untouched');
  }

  it('drills into a throwaway server that requires the same password, and removes it after', async () => {
    await drill(make());
    assert.deepEqual(await readdir(tmp.path), [], 'nothing left in the source tmpDir');
  });

  it('drills online also when the source restores through data_dir, and when its own server needs TLS', async () => {
    await drill(make({ restore_mode: 'data_dir', data_dir: tmp.path }));
    // The live URL is plain here, but the source is configured for TLS: only the scratch server is
    // contacted by the drill's restore and fingerprint, and it speaks plain TCP.
    const tlsSource = make({ tls: { insecure: true } });
    const ctx = testContext();
    const scratch = await tlsSource.scratchTarget!(arts.reader(), ctx);
    try {
      await tlsSource.restore(arts.reader(), ctx, { to: scratch.to });
      assert.deepEqual(compareFingerprints(backupFp, await tlsSource.fingerprint(ctx, { to: scratch.to })), []);
    } finally {
      await scratch.cleanup();
    }
  });

  it('drills with an ACL user: the scratch server has that user with the same password', async () => {
    await live.cli('ACL', 'SETUSER', 'drill-user', 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
    try {
      await drill(make({ username: 'drill-user' }));
    } finally {
      await live.cli('ACL', 'DELUSER', 'drill-user');
    }
  });

  it('fails with a SourceError naming a bogus redis_server_bin, leaving nothing behind', async () => {
    const bogus = path.join(tmp.path, 'no-such-redis-server');
    await assert.rejects(make({ redis_server_bin: bogus }).scratchTarget!(arts.reader(), testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.ok(err.message.includes(bogus), err.message);
      assert.match(err.message, /redis source cache: cannot start the scratch server/);
      assert.match(err.hint ?? '', /redis_server_bin/);
      assert.ok(!err.message.includes(PASSWORD));
      return true;
    });
    assert.deepEqual(await readdir(tmp.path), []);
  });
});
