/**
 * The redis source against real redis-server processes: replication-protocol backup,
 * online restore through a temporary master, data_dir restore, password handling, and a
 * server killed mid-transfer. Each round trip compares the fingerprints and every key's
 * DUMP payload and TTL presence before the wipe and after the restore.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { compareFingerprints, type ArtifactSink } from '../../src/core/source.ts';
import { SourceError } from '../../src/core/errors.ts';
import type { SecretResolver } from '../../src/sources/source-kit.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { redisType } from '../../src/sources/redis/redis-source.ts';
import type { RedisConfig } from '../../src/sources/redis/redis-config.ts';
import { RdbChecker } from '../../src/sources/redis/rdb.ts';
import { RedisClient } from '../../src/sources/redis/redis-client.ts';
import type { RespValue } from '../../src/sources/redis/resp.ts';
import { memoryArtifacts, testContext, type MemoryArtifacts } from '../support/memory-artifacts.ts';
import { freePort } from '../support/ports.ts';
import { missingBinaries } from '../support/require.ts';
import { runCommand } from '../support/run-command.ts';
import { startRedis, type RedisServer } from '../support/servers.ts';
import { tempDir } from '../support/tmp.ts';

const secrets: SecretResolver = async (ref) => {
  if ('env' in ref) {
    const v = process.env[ref.env];
    if (v === undefined) throw new Error(`no env ${ref.env}`);
    return v;
  }
  throw new Error('test resolver knows env refs only');
};

async function makeSource(t: TestContext, config: RedisConfig) {
  const tmp = await tempDir('redis-source');
  t.after(() => tmp.cleanup());
  return redisType.create('cache', config, { runner: localRunner, secrets, tmpDir: tmp.path });
}

const urlOf = (s: { port: number }) => `redis://127.0.0.1:${s.port}`;

async function connect(s: RedisServer): Promise<RedisClient> {
  return RedisClient.connect({ host: s.host, port: s.port, db: 0, password: s.password }, { what: `test redis ${s.port}` });
}

/** Every kind of value, two databases, a TTL, binary keys and values. */
async function seed(s: RedisServer): Promise<void> {
  const c = await connect(s);
  try {
    await c.command('SET', 'str', 'hello');
    await c.command('SET', Buffer.from([0xff, 0x00, 0x0d, 0x0a]), Buffer.from([0, 1, 2, 255, 13, 10]));
    await c.command('SET', 'bin', randomBytes(3000));
    await c.command('SET', 'huge', randomBytes(1536 * 1024)); // digested in GETRANGE windows
    await c.command('SET', 'counter', 42);
    await c.command('SET', 'ttl-key', 'soon gone', 'EX', 3600);
    await c.command('RPUSH', 'list', 'a', 'b', Buffer.from([0]), 'a');
    await c.command('SADD', 'set', 'x', 'y', 'z', Buffer.from([1, 2]));
    await c.command('HSET', 'hash', 'f1', 'v1', 'f2', randomBytes(100));
    await c.command('ZADD', 'zset', '1.1', 'one', '-inf', 'low', '2', 'two', '1e300', 'big');
    await c.command('XADD', 'stream', '1-1', 'temp', '21.5');
    await c.command('XADD', 'stream', '*', 'temp', '22', 'hum', '40');
    await c.command('XGROUP', 'CREATE', 'stream', 'workers', '0');
    await c.command('RPUSH', 'biglist', ...Array.from({ length: 200 }, (_, i) => `item-${i}`));
    await c.command('SELECT', 3);
    await c.command('SET', 'in-db3', 'three');
    await c.command('HSET', 'h3', 'k', 'v');
    await c.command('PEXPIRE', 'h3', 86_400_000);
  } finally {
    c.close();
  }
}

/** A key's whole value, in an order that does not depend on the server's encoding. */
async function valueOf(c: RedisClient, k: Buffer): Promise<string> {
  const hex = (v: RespValue): string => (Buffer.isBuffer(v) ? v.toString('hex') : Array.isArray(v) ? `[${v.map(hex).join(',')}]` : String(v));
  const type = String(await c.command('TYPE', k));
  const sorted = (v: RespValue) => (v as Buffer[]).map((b) => b.toString('hex')).sort().join(',');
  switch (type) {
    case 'string': return hex(await c.command('GET', k));
    case 'list': return hex(await c.command('LRANGE', k, 0, -1));
    case 'set': return sorted(await c.command('SMEMBERS', k));
    case 'hash': {
      const flat = (await c.command('HGETALL', k)) as Buffer[];
      const pairs = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push(`${flat[i].toString('hex')}=${flat[i + 1].toString('hex')}`);
      return pairs.sort().join(',');
    }
    case 'zset': return hex(await c.command('ZRANGE', k, 0, -1, 'WITHSCORES'));
    case 'stream': return `${hex(await c.command('XRANGE', k, '-', '+'))} groups=${hex(await c.command('XINFO', 'GROUPS', k))}`;
    default: throw new Error(`unexpected type ${type}`);
  }
}

/** db → key (hex) → type, whole value and TTL presence: the whole data set, exactly. */
async function dumpAll(s: RedisServer): Promise<Record<string, Record<string, string>>> {
  const c = await connect(s);
  const out: Record<string, Record<string, string>> = {};
  try {
    for (let db = 0; db < 16; db++) {
      await c.command('SELECT', db);
      let cursor = '0';
      const keys: Buffer[] = [];
      do {
        const r = (await c.command('SCAN', cursor, 'COUNT', 1000)) as RespValue[];
        cursor = (r[0] as Buffer).toString();
        keys.push(...(r[1] as Buffer[]));
      } while (cursor !== '0');
      if (keys.length === 0) continue;
      const entries: Record<string, string> = {};
      for (const k of keys.sort(Buffer.compare)) {
        const pttl = (await c.command('PTTL', k)) as number;
        entries[k.toString('hex')] = `${String(await c.command('TYPE', k))} ${await valueOf(c, k)} ttl=${pttl >= 0}`;
      }
      out[String(db)] = entries;
    }
  } finally {
    c.close();
  }
  return out;
}

function assertValidRdb(artifacts: MemoryArtifacts): Buffer {
  const rdb = artifacts.get('dump.rdb');
  assert.ok(rdb, 'dump.rdb stored');
  const checker = new RdbChecker();
  for (let i = 0; i < rdb.length; i += 65536) checker.update(rdb.subarray(i, i + 65536));
  const r = checker.finish();
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.ok && r.checksum, 'verified');
  return rdb;
}

/** Bulk random values (incompressible), pipelined. */
async function seedBulk(s: RedisServer, megabytes: number): Promise<void> {
  const c = await connect(s);
  try {
    const value = 256 * 1024;
    const n = Math.ceil((megabytes * 1024 * 1024) / value);
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => c.command('SET', `bulk:${i + j}`, randomBytes(value))));
    }
  } finally {
    c.close();
  }
}

function ms(t0: number): number {
  return Math.round(performance.now() - t0);
}

/** A throwaway CA and a server certificate for localhost / 127.0.0.1. */
async function makeCerts(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => path.join(dir, n);
  const ssl = async (...args: string[]) => {
    const r = await runCommand('openssl', args, { cwd: dir });
    if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=lifeboat test CA');
  await ssl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
  await writeFile(f('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '1', '-extfile', f('san.ext'));
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

describe('redis source', { skip: missingBinaries('redis-server', 'redis-cli'), timeout: 120_000 }, () => {
  test('backup, FLUSHALL, online restore: fingerprints and every value equal; restore.to another server', async (t) => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    t.after(() => Promise.all([a.stop(), b.stop()]));
    await seed(a);
    const before = await dumpAll(a);
    const source = await makeSource(t, { url: urlOf(a) });
    const artifacts = await memoryArtifacts();
    t.after(() => artifacts.cleanup());
    const ctx = testContext();

    let t0 = performance.now();
    const outcome = await source.backup(artifacts.sink, ctx);
    t.diagnostic(`backup ${ms(t0)} ms`);
    const rdb = assertValidRdb(artifacts);
    assert.match(outcome.serverVersion ?? '', /^(Redis|Valkey) \d+\./);
    assert.deepEqual(artifacts.reader().list().map((x) => x.name), ['dump.rdb']);
    const fp = outcome.fingerprint as { dbs: Record<string, { keys: number; expires: number; sample: Array<{ type: string; ttl: boolean }> }> };
    assert.deepEqual(Object.keys(fp.dbs), ['0', '3']);
    assert.equal(fp.dbs['0'].keys, 12);
    assert.equal(fp.dbs['0'].expires, 1);
    assert.deepEqual(new Set(fp.dbs['0'].sample.map((s) => s.type)), new Set(['string', 'list', 'set', 'hash', 'zset', 'stream']));
    assert.equal(fp.dbs['3'].sample.filter((s) => s.ttl).length, 1);
    assert.doesNotMatch(outcome.commands.join('\n'), /password|AUTH/i);

    // A damaged artifact is refused before the target is touched.
    const flipped = Buffer.from(rdb);
    flipped[Math.floor(rdb.length / 2)] ^= 0x04;
    artifacts.set('dump.rdb', flipped);
    await assert.rejects(source.restore(artifacts.reader(), ctx), (err: unknown) => err instanceof SourceError && /CRC-64/.test(err.message));
    assert.deepEqual(await dumpAll(a), before, 'target untouched by a refused restore');
    artifacts.set('dump.rdb', rdb);

    await a.cli('FLUSHALL');
    assert.deepEqual(await dumpAll(a), {});
    t0 = performance.now();
    await source.restore(artifacts.reader(), ctx);
    t.diagnostic(`online restore ${ms(t0)} ms`);
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(ctx)), []);
    assert.deepEqual(await dumpAll(a), before);
    assert.match(await a.cli('INFO', 'replication'), /role:master/, 'target promoted back');

    // restore.to: another server; the configured one is not involved.
    await source.restore(artifacts.reader(), ctx, { to: urlOf(b) });
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(ctx, { to: urlOf(b) })), []);
    assert.deepEqual(await dumpAll(b), before);
    assert.match(await b.cli('INFO', 'replication'), /role:master/);
  });

  test('password from a secret: disk-based transfer and restore work, a wrong password never shows', async (t) => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    // Disk-based replication: the "$<len>" framing (and keep-alives while the server saves).
    const s = await startRedis({ password, extraConfig: ['repl-diskless-sync no'] });
    t.after(() => s.stop());
    await seed(s);
    const before = await dumpAll(s);
    const env = `LIFEBOAT_TEST_REDIS_PW_${process.pid}`;
    process.env[env] = password;
    t.after(() => void delete process.env[env]);
    const source = await makeSource(t, { url: urlOf(s), password: { env } });
    const artifacts = await memoryArtifacts();
    t.after(() => artifacts.cleanup());
    const ctx = testContext();
    const outcome = await source.backup(artifacts.sink, ctx);
    assertValidRdb(artifacts);
    assert.doesNotMatch(JSON.stringify(outcome) + ctx.infos.join('\n'), new RegExp(password));

    // Replicated setups set masterauth: the temporary master mirrors it.
    await s.cli('CONFIG', 'SET', 'masterauth', password);
    await s.cli('FLUSHALL');
    await source.restore(artifacts.reader(), ctx);
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(ctx)), []);
    assert.deepEqual(await dumpAll(s), before);

    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    process.env[env] = wrong;
    const bad = await makeSource(t, { url: urlOf(s), password: { env } });
    await assert.rejects(bad.backup((await memoryArtifacts()).sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /authentication failed/);
      assert.doesNotMatch(`${err.message} ${err.hint} ${JSON.stringify(err.data)}`, new RegExp(`${wrong}|${password}`));
      return true;
    });
    const none = await makeSource(t, { url: urlOf(s) });
    await assert.rejects(none.fingerprint(testContext()), (err: unknown) => err instanceof SourceError && /NOAUTH/.test(err.message) && /password/.test(err.hint ?? ''));
  });

  test('data_dir restore: refused while the server runs, then a fresh server loads the dump', async (t) => {
    const s = await startRedis();
    t.after(() => s.stop());
    await seed(s);
    const before = await dumpAll(s);
    const backupSource = await makeSource(t, { url: urlOf(s) });
    const artifacts = await memoryArtifacts();
    t.after(() => artifacts.cleanup());
    const ctx = testContext();
    const outcome = await backupSource.backup(artifacts.sink, ctx);

    const dir = await tempDir('redis-data');
    t.after(() => dir.cleanup());
    const running = await makeSource(t, { url: urlOf(s), restore_mode: 'data_dir', data_dir: dir.path });
    await assert.rejects(running.restore(artifacts.reader(), ctx), (err: unknown) => err instanceof SourceError && /still running/.test(err.message));
    assert.deepEqual(await readdir(dir.path), []);

    const port = await freePort();
    const stopped = await makeSource(t, { url: `redis://127.0.0.1:${port}`, restore_mode: 'data_dir', data_dir: dir.path });
    await stopped.restore(artifacts.reader(), ctx);
    assert.deepEqual(await readdir(dir.path), ['dump.rdb'], 'no temp file left');

    const fresh = await startRedis({ extraConfig: [`dir "${dir.path}"`] });
    t.after(() => fresh.stop());
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await stopped.fingerprint(ctx, { to: urlOf(fresh) })), []);
    assert.deepEqual(await dumpAll(fresh), before);
  });

  test('a 50 MB RDB streams through; a server killed mid-transfer fails the backup', async (t) => {
    const s = await startRedis();
    t.after(() => s.stop());
    let t0 = performance.now();
    await seedBulk(s, 50);
    t.diagnostic(`seeded 50 MB in ${ms(t0)} ms`);
    const source = await makeSource(t, { url: urlOf(s) });

    const ok = await memoryArtifacts();
    t.after(() => ok.cleanup());
    t0 = performance.now();
    const okCtx = testContext();
    await source.backup(ok.sink, okCtx);
    const took = performance.now() - t0;
    t.diagnostic(okCtx.infos.join('; '));
    const rdb = assertValidRdb(ok);
    t.diagnostic(`backup of ${(rdb.length / 1e6).toFixed(1)} MB RDB in ${Math.round(took)} ms (${(rdb.length / 1e6 / (took / 1000)).toFixed(0)} MB/s incl. fingerprint)`);

    // The sink kills the server as the first bytes arrive.
    const seen = { bytes: 0 };
    const killing: ArtifactSink = {
      async put(name, data) {
        let killed: Promise<void> | undefined;
        for await (const chunk of data) {
          seen.bytes += chunk.length;
          killed ??= s.kill();
        }
        await killed;
        return { name, size: seen.bytes, sha256: '' };
      },
      putFiles: () => Promise.reject(new Error('not used')),
    };
    await assert.rejects(source.backup(killing, testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /broke off|not an RDB|truncated/);
      return true;
    });
    assert.ok(seen.bytes > 0 && seen.bytes < rdb.length, `got ${seen.bytes} of ${rdb.length} bytes before the kill`);
  });

  test('TLS (rediss://, tls.ca_file): backup and online restore round trip; an unknown CA is refused', { skip: missingBinaries('openssl') }, async (t) => {
    const dir = await tempDir('redis-tls');
    t.after(() => dir.cleanup());
    const certs = await makeCerts(dir.path);
    const tlsPort = await freePort();
    const s = await startRedis({
      extraConfig: [`tls-port ${tlsPort}`, `tls-cert-file "${certs.cert}"`, `tls-key-file "${certs.key}"`, `tls-ca-cert-file "${certs.ca}"`, 'tls-auth-clients no'],
    });
    t.after(() => s.stop());
    await seed(s);
    const before = await dumpAll(s);
    const source = await makeSource(t, { url: `rediss://localhost:${tlsPort}`, tls: { ca_file: certs.ca } });
    const artifacts = await memoryArtifacts();
    t.after(() => artifacts.cleanup());
    const ctx = testContext();
    const outcome = await source.backup(artifacts.sink, ctx);
    assertValidRdb(artifacts);
    await s.cli('FLUSHALL');
    await source.restore(artifacts.reader(), ctx);
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(ctx)), []);
    assert.deepEqual(await dumpAll(s), before);

    const untrusting = await makeSource(t, { url: `rediss://localhost:${tlsPort}` });
    await assert.rejects(untrusting.fingerprint(testContext()), (err: unknown) => err instanceof SourceError && /cannot connect/.test(err.message));
    const insecure = await makeSource(t, { url: `rediss://localhost:${tlsPort}`, tls: { insecure: true } });
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await insecure.fingerprint(testContext())), []);
  });
});
