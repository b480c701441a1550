/**
 * The S3 backend against a real S3 implementation on loopback (test/support/s3-server.ts):
 * the storage conformance suite, byte-exact round trips of many sizes (both upload paths),
 * cancellation of a multipart upload, the restic CLI reading what lifeboat writes and the
 * other way round, and fault injection through a proxy (503 SlowDown, dropped connections,
 * lost replies, truncated bodies) with and without the retrying wrapper.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { LifeboatError, NotFoundError } from '../../src/core/errors.ts';
import { createLocalStorage } from '../../src/storage/local/local-storage.ts';
import { Repository } from '../../src/repo/repository.ts';
import { createS3Storage, type S3StorageOptions } from '../../src/storage/s3/s3-storage.ts';
import { FILE_TYPES, filePath } from '../../src/storage/storage.ts';
import type { FileInfo, FileType, Handle, Storage } from '../../src/storage/storage.ts';
import { withRetries } from '../../src/storage/wrappers/retrying-storage.ts';
import { storageSuite } from '../suites/storage-suite.ts';
import { startFlakyProxy, type Fault } from '../support/flaky-proxy.ts';
import { needBinaries } from '../support/require.ts';
import { resticInit, resticJSON, resticOk } from '../support/restic.ts';
import { randomBucketName, startS3Server, type S3Server } from '../support/s3-server.ts';
import { tempDir } from '../support/tmp.ts';

const MIB = 1 << 20;
const PASSWORD = 'correct horse battery staple';
/** Small multipart settings so the 17 and 20 MiB files take the multipart path. */
const MULTIPART = { multipartThreshold: 8 * MIB, partSize: 5 * MIB } as const;

let serverPromise: Promise<S3Server> | undefined;
/** One server for the whole file, started on first use; every test gets its own bucket. */
function server(): Promise<S3Server> {
  serverPromise ??= startS3Server();
  return serverPromise;
}
after(async () => {
  if (serverPromise !== undefined) await (await serverPromise).stop();
});

function s3Options(s3: S3Server, extra: Partial<S3StorageOptions> = {}): S3StorageOptions {
  return { endpoint: s3.endpoint, bucket: randomBucketName(), prefix: `repo/${randomBytes(3).toString('hex')}`, credentials: s3.credentials(), ...MULTIPART, ...extra };
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const randomName = (): string => randomBytes(32).toString('hex');

async function listAll(s: Storage, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of s.list(type)) out.push(fi);
  return out;
}

/** The object's bytes as the server keeps them on disk: a check independent of our client. */
function serverFile(s3: S3Server, opts: S3StorageOptions, h: Handle): Promise<Buffer> {
  const key = `${opts.prefix === undefined || opts.prefix === '' ? '' : `${opts.prefix}/`}${filePath(h)}`;
  return readFile(`${join(s3.dataDir, opts.bucket, key)}._S3rver_object`);
}

function assertCode(code: string, retryable?: boolean): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(err instanceof LifeboatError, `expected a LifeboatError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (retryable !== undefined) assert.equal(err.retryable, retryable, err.message);
    return true;
  };
}

storageSuite('s3 (local S3 server)', async () => {
  const s3 = await server();
  // Pages of 50 keys, so the 120-file listing of the suite pages through continuation tokens.
  const opts = s3Options(s3, { listPageSize: 50 });
  return { storage: createS3Storage(opts), cleanup: () => s3.dropBucket(opts.bucket) };
});

describe('s3 storage', () => {
  test('location names endpoint, bucket and prefix, and no credentials', async () => {
    const s3 = await server();
    const opts = s3Options(s3, { credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'not-to-be-shown' } });
    const s = createS3Storage(opts);
    assert.equal(s.properties.location, `s3:${s3.endpoint}/${opts.bucket}/${opts.prefix}`);
    assert.equal(s.properties.canDelete, true);
    assert.equal(s.properties.connections, 5);
    await s.close();
  });

  test('random bytes of many sizes round-trip byte-equal, as stored by the server, whole and in ranges', { timeout: 120_000 }, async (t) => {
    const s3 = await server();
    const opts = s3Options(s3);
    const s = createS3Storage(opts);
    t.after(async () => {
      await s.close();
      await s3.dropBucket(opts.bucket);
    });
    await s.create();
    // 0 and 1 byte, around small powers of two, around the part size, and 17 MiB: four parts.
    const sizes = [0, 1, 2, 255, 256, 4097, 65_537, MIB + 3, 5 * MIB, 5 * MIB + 1, 17 * MIB];
    for (const size of sizes) {
      const h: Handle = { type: 'data', name: randomName() };
      const data = randomBytes(size);
      await s.save(h, data);
      assert.equal((await s.stat(h)).size, size, `stat of ${size} B`);
      assert.equal(sha(await serverFile(s3, opts, h)), sha(data), `${size} B: server holds other bytes`);
      const back = await s.load(h);
      assert.equal(back.length, size);
      assert.equal(sha(back), sha(data), `${size} B: read back other bytes`);
      if (size === 0) continue;
      // Ranges: the first and last byte, a middle slice, across every part boundary, and to the end.
      const ranges: Array<[number, number]> = [
        [0, 1],
        [size - 1, 1],
        [Math.floor(size / 3), Math.max(1, Math.floor(size / 3))],
      ];
      for (let b = 5 * MIB; b < size; b += 5 * MIB) ranges.push([b - 3, Math.min(7, size - (b - 3))]);
      for (const [offset, length] of ranges) {
        const got = await s.load(h, { offset, length });
        assert.ok(got.equals(data.subarray(offset, offset + length)), `${size} B: range ${offset}+${length}`);
      }
      const tailAt = Math.floor(size / 2);
      assert.ok((await s.load(h, { offset: tailAt })).equals(data.subarray(tailAt)), `${size} B: tail from ${tailAt}`);
    }
    const listed = new Map((await listAll(s, 'data')).map((f) => [f.name, f.size]));
    assert.deepEqual([...listed.values()].sort((a, b) => a - b), [...sizes].sort((a, b) => a - b));
  });

  test('a multipart upload cancelled mid-way leaves no visible object, and a failed part none either', { timeout: 60_000 }, async (t) => {
    const s3 = await server();
    const ac = new AbortController();
    const seen: string[] = [];
    // Cancels while part 2 is on its way: part 1 has landed, the rest never will.
    const proxy = await startFlakyProxy(s3.port, (_n, req) => {
      seen.push(`${req.method} ${req.url ?? ''}`);
      if (req.method === 'PUT' && /[?&]partNumber=2(&|$)/.test(req.url ?? '')) ac.abort(new Error('user pressed Ctrl-C'));
      return 'pass';
    });
    const opts = s3Options(s3, { endpoint: proxy.endpoint, partConcurrency: 1 });
    const s = createS3Storage(opts);
    t.after(async () => {
      await s.close();
      await proxy.stop();
      await s3.dropBucket(opts.bucket);
    });
    await s.create();
    const h: Handle = { type: 'data', name: randomName() };
    await assert.rejects(s.save(h, randomBytes(17 * MIB), { signal: ac.signal }), assertCode('cancelled'));
    assert.ok(seen.some((r) => r.startsWith('POST') && r.includes('uploads')), 'a multipart upload was started');
    assert.ok(!seen.some((r) => /[?&]partNumber=3/.test(r)), 'no part was started after the cancel');
    assert.ok(!seen.some((r) => r.startsWith('POST') && r.includes('uploadId=')), 'the upload was never completed');
    assert.ok(seen.some((r) => r.startsWith('DELETE') && r.includes('uploadId=')), 'the upload was aborted');
    await assert.rejects(s.stat(h), NotFoundError);
    assert.deepEqual(await listAll(s, 'data'), []);

    // A part that fails (connection dropped) fails the save, retryable, and publishes nothing.
    proxy.setPlan((_n, req) => (req.method === 'PUT' && /[?&]partNumber=3(&|$)/.test(req.url ?? '') ? 'drop' : 'pass'));
    await assert.rejects(s.save(h, randomBytes(17 * MIB)), assertCode('storage_unavailable', true));
    await assert.rejects(s.stat(h), NotFoundError);
    assert.deepEqual(await listAll(s, 'data'), []);
  });

  test('a truncated response body is a retryable failure, never short data', { timeout: 60_000 }, async (t) => {
    const s3 = await server();
    const proxy = await startFlakyProxy(s3.port, () => 'pass');
    const opts = s3Options(s3, { endpoint: proxy.endpoint });
    const s = createS3Storage(opts);
    t.after(async () => {
      await s.close();
      await proxy.stop();
      await s3.dropBucket(opts.bucket);
    });
    await s.create();
    const h: Handle = { type: 'index', name: randomName() };
    const data = randomBytes(3 * MIB);
    await s.save(h, data);
    proxy.setPlan((_n, req) => (req.method === 'GET' ? 'truncate' : 'pass'));
    await assert.rejects(s.load(h), assertCode('storage_unavailable', true));
    await assert.rejects(s.load(h, { offset: 10, length: 2 * MIB }), assertCode('storage_unavailable', true));
    proxy.setPlan(() => 'pass');
    assert.equal(sha(await s.load(h)), sha(data));
  });

  test('withRetries rides out 503 SlowDown, dropped connections, lost replies and truncated bodies', { timeout: 120_000 }, async (t) => {
    const s3 = await server();
    // Every fourth request fails, cycling through the faults, until 40 faults were injected;
    // an operation of many requests (the multipart upload) may need the faults to run out.
    const faults: Fault[] = ['slowdown', 'drop', 'lose-reply', 'truncate'];
    let injected = 0;
    const proxy = await startFlakyProxy(s3.port, (n) => (n % 4 === 2 && injected < 40 ? faults[injected++ % faults.length] : 'pass'));
    const opts = s3Options(s3, { endpoint: proxy.endpoint });
    const retried: LifeboatError[] = [];
    const s = withRetries(createS3Storage(opts), {
      retries: 40,
      baseDelayMs: 1,
      maxDelayMs: 4,
      onRetry: (err) => retried.push(err),
    });
    t.after(async () => {
      await s.close();
      await proxy.stop();
      await s3.dropBucket(opts.bucket);
    });
    await s.create();
    const files = [
      { h: { type: 'config', name: '' } as Handle, data: randomBytes(155) },
      ...Array.from({ length: 8 }, (_, i) => ({ h: { type: 'data', name: randomName() } as Handle, data: randomBytes(1000 + i * 40_000) })),
      { h: { type: 'data', name: randomName() } as Handle, data: randomBytes(12 * MIB) }, // multipart
      { h: { type: 'keys', name: randomName() } as Handle, data: randomBytes(439) },
    ];
    for (const f of files) await s.save(f.h, f.data);
    for (const f of files) assert.equal(sha(await s.load(f.h)), sha(f.data), `${f.h.type}/${f.h.name}`);
    const big = files[files.length - 2];
    assert.ok((await s.load(big.h, { offset: 5 * MIB - 1, length: 2 })).equals(big.data.subarray(5 * MIB - 1, 5 * MIB + 1)));
    const data = files.filter((f) => f.h.type === 'data');
    assert.deepEqual(new Map((await listAll(s, 'data')).map((f) => [f.name, f.size])), new Map(data.map((f) => [f.h.name, f.data.length])));
    await s.remove(data[0].h);
    await assert.rejects(s.stat(data[0].h), NotFoundError);
    // The bytes on the server are the bytes sent, whatever happened on the way.
    for (const f of files.filter((x) => x.h !== data[0].h)) assert.equal(sha(await serverFile(s3, opts, f.h)), sha(f.data));
    for (const fault of faults) assert.ok(proxy.counts[fault] > 0, `fault ${fault} was injected`);
    assert.ok(retried.length >= 30, `retried ${retried.length} times`);
    for (const err of retried) assert.equal(err.code, 'storage_unavailable', err.message);
    t.diagnostic(`${proxy.requests} requests, faults ${JSON.stringify(proxy.counts)}, ${retried.length} retries`);
  });

  test('unknown credentials end in a permanent permission_denied that does not show the secret', async (t) => {
    const s3 = await server();
    const secret = `wrong-secret-${randomBytes(8).toString('hex')}`;
    const goodOpts = s3Options(s3);
    const good = createS3Storage(goodOpts);
    // The repository exists: only the credentials are wrong.
    await good.create();
    const opts = { ...goodOpts, credentials: { accessKeyId: 'NO-SUCH-KEY', secretAccessKey: secret } };
    let retries = 0;
    const s = withRetries(createS3Storage(opts), { baseDelayMs: 1, maxDelayMs: 2, onRetry: () => retries++ });
    t.after(async () => {
      await s.close();
      await good.close();
      await s3.dropBucket(goodOpts.bucket);
    });
    const h: Handle = { type: 'data', name: randomName() };
    const calls: Array<() => Promise<unknown>> = [() => s.create(), () => s.save(h, randomBytes(10)), () => s.load(h), () => s.stat(h), () => s.remove(h), () => listAll(s, 'data')];
    for (const call of calls) {
      await assert.rejects(call(), (err: unknown) => {
        assertCode('permission_denied', false)(err);
        const e = err as LifeboatError;
        const shown = `${e.message}\n${e.hint ?? ''}\n${JSON.stringify(e.data)}`;
        assert.ok(!shown.includes(secret), 'the secret key appears in the error');
        assert.match(e.hint ?? '', /AWS_SECRET_ACCESS_KEY/);
        return true;
      });
    }
    assert.equal(retries, 0, 'a permanent failure is not retried');
  });

  test('a missing bucket is a permanent not_found naming the bucket', async (t) => {
    const s3 = await server();
    const opts = s3Options(s3);
    const s = createS3Storage(opts);
    t.after(() => s.close());
    const h: Handle = { type: 'snapshots', name: randomName() };
    await assert.rejects(s.save(h, randomBytes(10)), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.equal(err.retryable, false);
      assert.match(err.message, new RegExp(`bucket "${opts.bucket}" does not exist`));
      return true;
    });
    await assert.rejects(listAll(s, 'snapshots'), (err: unknown) => err instanceof NotFoundError && err.message.includes(opts.bucket));
  });

  test('lifeboat lists and loads every file of a repository restic wrote to S3', { timeout: 120_000 }, async (t) => {
    if (!needBinaries(t, 'restic')) return;
    const s3 = await server();
    const bucket = randomBucketName();
    const src = await tempDir('s3-src');
    t.after(async () => {
      await src.cleanup();
      await s3.dropBucket(bucket);
    });
    await writeFile(join(src.path, 'small.txt'), 'hello from restic\n');
    await writeFile(join(src.path, 'random.bin'), randomBytes(3 * MIB));
    const restic = { repo: s3.resticUrl(bucket, 'restic-repo'), password: PASSWORD, env: s3.resticEnv() };
    await resticInit(restic);
    await resticOk(['backup', '--host', 'test', src.path], restic);
    const opts = { endpoint: s3.endpoint, bucket, prefix: 'restic-repo', credentials: s3.credentials() };
    const s = createS3Storage(opts);
    t.after(() => s.close());
    const counts: Record<string, number> = {};
    for (const type of FILE_TYPES) {
      const listed = await listAll(s, type);
      counts[type] = listed.length;
      if (type !== 'locks') {
        const resticNames = type === 'config' ? [''] : (await resticOk(['list', type === 'data' ? 'packs' : type], restic)).stdout.split('\n').filter((l) => l !== '');
        assert.deepEqual(listed.map((f) => f.name).sort(), resticNames.sort(), `${type}: the names restic lists`);
      }
      for (const fi of listed) {
        const h: Handle = { type, name: fi.name };
        const bytes = await s.load(h);
        assert.equal(bytes.length, fi.size, `${type}/${fi.name}: listed size`);
        assert.equal((await s.stat(h)).size, fi.size);
        assert.ok(bytes.equals(await serverFile(s3, opts, h)), `${type}/${fi.name}: bytes differ from the server's`);
        // restic names every file but the config by the SHA-256 of its content.
        if (type !== 'config') assert.equal(sha(bytes), fi.name, `${type}/${fi.name}: content hash`);
      }
    }
    assert.equal(counts.config, 1);
    assert.ok(counts.keys >= 1 && counts.snapshots === 1 && counts.index >= 1 && counts.data >= 1, JSON.stringify(counts));
  });

  test('a repository restic 0.14 made in the legacy S3 layout is named as such, not as a wrong password', { timeout: 120_000 }, async (t) => {
    if (!needBinaries(t, 'restic')) return;
    const s3 = await server();
    const bucket = randomBucketName();
    t.after(() => s3.dropBucket(bucket));
    const restic = { repo: s3.resticUrl(bucket, 'legacy'), password: PASSWORD, env: s3.resticEnv() };
    await resticOk(['init', '-o', 's3.layout=s3legacy'], restic);
    const s = createS3Storage({ endpoint: s3.endpoint, bucket, prefix: 'legacy', credentials: s3.credentials() });
    t.after(() => s.close());
    await assert.rejects(Repository.open(s, PASSWORD), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'legacy_layout', String(err));
      assert.match(err.message, /legacy S3 layout/);
      assert.match(err.hint ?? '', /restic migrate s3_layout/);
      return true;
    });
  });

  test('restic reads a repository lifeboat copied into S3, and checks every byte of it', { timeout: 180_000 }, async (t) => {
    if (!needBinaries(t, 'restic')) return;
    const s3 = await server();
    const local = await tempDir('s3-local-repo');
    const src = await tempDir('s3-src');
    const opts = s3Options(s3, { prefix: 'copied/repo' });
    const s = createS3Storage(opts);
    t.after(async () => {
      await s.close();
      await local.cleanup();
      await src.cleanup();
      await s3.dropBucket(opts.bucket);
    });
    await writeFile(join(src.path, 'a.txt'), 'lifeboat carried this\n');
    // Incompressible, so packs grow past the multipart threshold of this test (8 MiB).
    await writeFile(join(src.path, 'b.bin'), randomBytes(20 * MIB));
    const localRepo = { repo: local.path, password: PASSWORD };
    await resticInit(localRepo);
    await resticOk(['backup', '--host', 'test', src.path], localRepo);
    const from = createLocalStorage(local.path);
    await s.create();
    let copied = 0;
    for (const type of FILE_TYPES) {
      for await (const fi of from.list(type)) {
        const h: Handle = { type, name: fi.name };
        await s.save(h, await from.load(h));
        copied += 1;
      }
    }
    const restic = { repo: s3.resticUrl(opts.bucket, opts.prefix), password: PASSWORD, env: s3.resticEnv() };
    assert.equal((await resticOk(['list', 'keys'], restic)).stdout, (await resticOk(['list', 'keys'], localRepo)).stdout);
    const snaps = await resticJSON<Array<{ id: string }>>(['snapshots'], restic);
    const localSnaps = await resticJSON<Array<{ id: string }>>(['snapshots'], localRepo);
    assert.deepEqual(snaps.map((x) => x.id), localSnaps.map((x) => x.id));
    await resticOk(['check', '--read-data'], restic);
    const dumped = await resticOk(['dump', 'latest', join(src.path, 'a.txt')], restic);
    assert.equal(dumped.stdout, 'lifeboat carried this\n');
    t.diagnostic(`copied ${copied} files; restic check --read-data passed over S3`);
  });
});
