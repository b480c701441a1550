import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ConfigError } from '../../core/errors.ts';
import { redisKeys, redisConfigSchema } from './redis-config.ts';
import { parseRedisUrl, redisType } from './redis-source.ts';

const schema = z.strictObject(redisKeys);

test('URLs: redis:// and rediss:// with user and db; passwords and other schemes refused', () => {
  for (const url of ['redis://127.0.0.1:6379', 'redis://cache', 'redis://app@cache:6380/3', 'rediss://[::1]:6380/0']) {
    assert.equal(schema.safeParse({ url }).success, true, url);
  }
  for (const url of ['http://cache:6379', 'redis://:secret@cache', 'redis://u:secret@cache', 'redis://cache/x', 'cache:6379']) {
    const r = schema.safeParse({ url });
    assert.equal(r.success, false, url);
    assert.doesNotMatch(JSON.stringify(r.error?.issues), /secret/);
  }
  assert.deepEqual(parseRedisUrl('rediss://app%40x@[::1]:6380/3'), { host: '::1', port: 6380, db: 3, username: 'app@x', tls: true });
  assert.deepEqual(parseRedisUrl('redis://cache'), { host: 'cache', port: 6379, db: 0, tls: false });
  assert.throws(() => parseRedisUrl('redis://u:pw@cache'), ConfigError);
});

test('keys: unknown keys, inline passwords and a data_dir mode without data_dir are errors', () => {
  assert.equal(schema.safeParse({ url: 'redis://c', pasword: { env: 'X' } }).success, false);
  assert.equal(schema.safeParse({ url: 'redis://c', password: 'hunter2' }).success, false);
  assert.equal(schema.safeParse({ url: 'redis://c', password: { env: 'REDIS_PASSWORD' }, sample_keys: 0, tls: { insecure: true } }).success, true);
  assert.equal(redisConfigSchema.safeParse({ url: 'redis://c', restore_mode: 'data_dir' }).success, false);
  const deps = { runner: { start: () => { throw new Error('unused'); } }, secrets: async () => '', tmpDir: '/nonexistent' };
  assert.throws(() => redisType.create('cache', { url: 'redis://c', restore_mode: 'data_dir' }, deps), ConfigError);
  assert.equal(redisType.create('cache', { url: 'redis://c' }, deps).type, 'redis');
});
