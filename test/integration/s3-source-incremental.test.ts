/**
 * The s3 source's incremental backups against real S3 servers, through a real repository: a
 * second backup of an unchanged bucket downloads no object (object GETs counted by a proxy in
 * front of the server), a changed object is read again, a deleted one is gone, a retagged one
 * has its new tags, and a restore of the last snapshot gives every object back byte-equal
 * with its headers, metadata and tags. A multipart object (its ETag is no content hash) is
 * part of the bucket, and is checked by the source's own SHA-256.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, HeadObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, GetObjectTaggingCommand,
  ListObjectVersionsCommand, ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { SourceError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import type { SnapshotStore } from '../../src/core/snapshot-store.ts';
import { createRepositorySnapshotStore } from '../../src/repo/stack/repository-snapshot-store.ts';
import { Repository } from '../../src/repo/repository.ts';
import { createMemoryStorage } from '../../src/storage/memory/memory-storage.ts';
import { s3Type } from '../../src/sources/s3/s3-source.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import { randomBucketName, startS3Server } from '../support/s3-server.ts';
import { startSeaweedS3 } from '../support/seaweedfs.ts';

interface Endpoint {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Whether the server gives a multipart object an `<md5 of md5s>-<parts>` ETag (s3rver gives the MD5 of the content). */
  readonly multipartEtags: boolean;
  /** Whether it keeps object versions (s3rver has no ListObjectVersions). */
  readonly versioning: boolean;
  stop(): Promise<void>;
}

/** A pass-through proxy that records each request's method and URL (the Host header is kept, so signatures hold). */
async function countingProxy(target: string): Promise<{ endpoint: string; requests: string[]; close(): Promise<void> }> {
  const t = new URL(target);
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

/** GETs of an object's body: not listings (?list-type), not tags (?tagging), not bucket-level calls. */
function objectGets(requests: readonly string[], bucket: string): string[] {
  return requests.filter((r) => r.startsWith(`GET /${bucket}/`) && !/[?&](tagging|list-type|versions|uploads)\b/.test(r));
}

const MULTIPART_KEY = 'big/multipart.bin';
const PART = 8 * 1024 * 1024;

function bigBody(): Buffer {
  const b = Buffer.alloc(2 * PART + 1_000_003);
  for (let i = 0; i < b.length; i += 4096) b.writeUInt32LE((i * 2654435761) >>> 0, i);
  return b;
}

async function multipartPut(c: S3Client, bucket: string, body: Buffer): Promise<string> {
  const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: MULTIPART_KEY, ContentType: 'application/x-big', Metadata: { parts: '3' } }));
  const parts = [];
  for (let n = 1, at = 0; at < body.length; n++, at += PART) {
    const r = await c.send(new UploadPartCommand({ Bucket: bucket, Key: MULTIPART_KEY, UploadId, PartNumber: n, Body: body.subarray(at, at + PART) }));
    parts.push({ PartNumber: n, ETag: r.ETag });
  }
  const done = await c.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: MULTIPART_KEY, UploadId, MultipartUpload: { Parts: parts } }));
  return done.ETag ?? '';
}

async function snapshotOf(store: SnapshotStore, src: ReturnType<typeof s3Type.create>): Promise<{ id: string; fingerprint: Record<string, unknown>; infos: string[] }> {
  const w = store.openWriter({ name: src.name, type: src.type });
  const ctx = testContext();
  const out = await src.backup(w, ctx);
  const { snapshotId } = await w.commit(out);
  return { id: snapshotId, fingerprint: out.fingerprint, infos: ctx.infos };
}

async function readObject(c: S3Client, bucket: string, key: string) {
  const o = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const t = await c.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  const body = Buffer.from(await o.Body!.transformToByteArray());
  return {
    sha256: createHash('sha256').update(body).digest('hex'),
    size: body.length,
    contentType: o.ContentType,
    metadata: o.Metadata,
    tags: (t.TagSet ?? []).map((x) => `${x.Key ?? ''}=${x.Value ?? ''}`).sort(),
  };
}

async function liveObjects(c: S3Client, bucket: string): Promise<Map<string, Awaited<ReturnType<typeof readObject>>>> {
  const out = new Map<string, Awaited<ReturnType<typeof readObject>>>();
  const l = await c.send(new ListObjectsV2Command({ Bucket: bucket }));
  for (const o of l.Contents ?? []) out.set(o.Key!, await readObject(c, bucket, o.Key!));
  return out;
}

function sourceFor(s3: Endpoint, endpoint: string, bucket: string, versions?: 'all') {
  const secrets: Record<string, string> = { AK: s3.accessKeyId, SK: s3.secretAccessKey };
  return s3Type.create('assets', { endpoint, bucket, versions, access_key_id: { env: 'AK' }, secret_access_key: { env: 'SK' } }, {
    runner: localRunner, secrets: async (ref) => secrets[(ref as { env: string }).env] ?? '', tmpDir: '/nonexistent',
  });
}

async function memoryStore(): Promise<SnapshotStore> {
  return createRepositorySnapshotStore(await Repository.init(createMemoryStorage(), 'pw', { scrypt: { N: 1024, r: 8, p: 1 } }));
}

/** Each key's versions newest first, by content: what a versions: all restore must reproduce (ids and dates cannot be). */
async function versionHistory(c: S3Client, bucket: string): Promise<string[]> {
  const out: string[] = [];
  const l = await c.send(new ListObjectVersionsCommand({ Bucket: bucket }));
  const all = [...(l.Versions ?? []).map((v) => ({ ...v, marker: false })), ...(l.DeleteMarkers ?? []).map((m) => ({ ...m, marker: true }))]
    .sort((a, b) => (a.Key! < b.Key! ? -1 : a.Key! > b.Key! ? 1 : 0) || b.LastModified!.getTime() - a.LastModified!.getTime() || Number(b.IsLatest) - Number(a.IsLatest));
  for (const v of all) {
    if (v.marker) {
      out.push(`${v.Key!} delete-marker latest=${String(v.IsLatest)}`);
      continue;
    }
    const o = await c.send(new GetObjectCommand({ Bucket: bucket, Key: v.Key, VersionId: v.VersionId }));
    const t = await c.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: v.Key, VersionId: v.VersionId }));
    out.push(`${v.Key!} ${await o.Body!.transformToString()} ${JSON.stringify(o.Metadata)} ${(t.TagSet ?? []).map((x) => `${x.Key}=${x.Value}`).join(',')} latest=${String(v.IsLatest)}`);
  }
  return out;
}

function incrementalSuite(server: string, start: () => Promise<Endpoint | undefined>): void {
  describe(`s3 source, incremental (${server})`, () => {
    let s3: Endpoint | undefined;
    let proxy: Awaited<ReturnType<typeof countingProxy>>;
    before(async () => {
      s3 = await start();
      if (s3) proxy = await countingProxy(s3.endpoint);
    });
    after(async () => {
      await proxy?.close();
      await s3?.stop();
    });

    it('re-reads only changed objects, and the last snapshot restores byte-equal with metadata and tags', async (t) => {
      if (!s3) return t.skip(`${server} is not available`);
      const c = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
      t.after(() => c.destroy());
      const bucket = randomBucketName('inc');
      await c.send(new CreateBucketCommand({ Bucket: bucket }));
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'docs/readme.txt', Body: 'hello', ContentType: 'text/plain', Metadata: { owner: 'ops' } }));
      await c.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'docs/readme.txt', Tagging: { TagSet: [{ Key: 'tier', Value: 'gold' }] } }));
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/a.bin', Body: Buffer.alloc(300_000, 7) }));
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'keep/tagged.txt', Body: 'tags change, bytes do not' }));
      const big = bigBody();
      const bigEtag = await multipartPut(c, bucket, big);
      if (s3.multipartEtags) assert.match(bigEtag, /-3"?$/, 'a multipart upload should have a multipart ETag');

      const src = sourceFor(s3, proxy.endpoint, bucket);
      const store = await memoryStore();

      proxy.requests.length = 0;
      const first = await snapshotOf(store, src);
      assert.equal(objectGets(proxy.requests, bucket).length, 4, 'the first backup reads every object');

      proxy.requests.length = 0;
      const second = await snapshotOf(store, src);
      assert.deepEqual(objectGets(proxy.requests, bucket), [], 'an unchanged bucket was downloaded again');
      assert.deepEqual(second.fingerprint, first.fingerprint);
      assert.match(second.infos.join('\n'), /4 unchanged since the parent snapshot/);

      await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'docs/readme.txt', Body: 'hello, again', ContentType: 'text/markdown', Metadata: { owner: 'dev' } }));
      await c.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'docs/readme.txt', Tagging: { TagSet: [{ Key: 'tier', Value: 'silver' }] } }));
      await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'images/a.bin' }));
      await c.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'keep/tagged.txt', Tagging: { TagSet: [{ Key: 'legal', Value: 'hold' }] } }));
      proxy.requests.length = 0;
      const third = await snapshotOf(store, src);
      assert.deepEqual(objectGets(proxy.requests, bucket).map((r) => r.split('?')[0]), [`GET /${bucket}/docs/readme.txt`], 'only the changed object is read again');
      assert.equal(third.fingerprint.objects, 3);
      const before = await liveObjects(c, bucket);
      assert.deepEqual(before.get('keep/tagged.txt')?.tags, ['legal=hold']);
      assert.equal(before.get(MULTIPART_KEY)?.sha256, createHash('sha256').update(big).digest('hex'));

      // Wipe the bucket, then restore the third snapshot into it.
      for (const k of before.keys()) await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/a.bin', Body: 'not in the snapshot' }));
      const snap = (await store.list()).find((s) => s.id === third.id)!;
      const reader = await store.openReader(snap);
      assert.ok(reader.list().some((a) => a.name === `objects/${MULTIPART_KEY}` && a.size === big.length), 'the multipart object is in the third snapshot');
      assert.deepEqual((await src.verify!(reader, testContext())).problems, []);
      await src.restore(reader, testContext());
      assert.deepEqual(await liveObjects(c, bucket), before);
      // Restored in parts (16 MiB each), so a server that labels multipart objects says so.
      const bigHead = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: MULTIPART_KEY }));
      if (s3.multipartEtags) assert.match(bigHead.ETag ?? '', /-2"?$/);
      assert.deepEqual(compareFingerprints(third.fingerprint, await src.fingerprint(testContext())), []);
    });

    it('a restore whose stored object is shorter than its index entry aborts the upload and leaves no object', async (t) => {
      if (!s3) return t.skip(`${server} is not available`);
      const c = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
      t.after(() => c.destroy());
      const bucket = randomBucketName('short');
      await c.send(new CreateBucketCommand({ Bucket: bucket }));
      const big = bigBody();
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: MULTIPART_KEY, Body: big }));
      const src = sourceFor(s3, s3.endpoint, bucket);
      const arts = await memoryArtifacts();
      t.after(() => arts.cleanup());
      await src.backup(arts.sink, testContext());
      arts.set(`objects/${MULTIPART_KEY}`, big.subarray(0, big.length - 4096));
      const to = randomBucketName('short-to');
      await assert.rejects(src.restore(arts.reader(), testContext(), { to }), (err: unknown) => err instanceof SourceError && /the stored object has \d+ bytes, the index says \d+; the upload was aborted/.test(err.message));
      await assert.rejects(c.send(new HeadObjectCommand({ Bucket: to, Key: MULTIPART_KEY })), (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404);
    });

    it('versions: all keeps every version and delete marker, incrementally, and replays them on restore', async (t) => {
      if (!s3) return t.skip(`${server} is not available`);
      if (!s3.versioning) return t.skip(`${server} has no object versioning (no ListObjectVersions)`);
      const c = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
      t.after(() => c.destroy());
      const bucket = randomBucketName('ver');
      await c.send(new CreateBucketCommand({ Bucket: bucket }));
      await c.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
      // One write a second: some servers list versions by LastModified with a resolution of a second.
      const tick = () => new Promise((ok) => setTimeout(ok, 1100));
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc.txt', Body: 'one', Metadata: { rev: '1' } }));
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'gone.txt', Body: 'deleted later' }));
      await tick();
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'doc.txt', Body: 'two', Metadata: { rev: '2' } }));
      await c.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'doc.txt', Tagging: { TagSet: [{ Key: 'state', Value: 'current' }] } }));
      await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone.txt' }));
      const history = await versionHistory(c, bucket);
      assert.equal(history.length, 4, history.join('\n'));

      const src = sourceFor(s3, proxy.endpoint, bucket, 'all');
      const store = await memoryStore();
      const first = await snapshotOf(store, src);
      assert.equal(first.fingerprint.objects, 4);
      proxy.requests.length = 0;
      const second = await snapshotOf(store, src);
      assert.deepEqual(objectGets(proxy.requests, bucket), [], 'unchanged versions were downloaded again');
      assert.deepEqual(second.fingerprint, first.fingerprint);

      // Wipe every version, leave something that is not in the snapshot, restore.
      const l = await c.send(new ListObjectVersionsCommand({ Bucket: bucket }));
      for (const v of [...(l.Versions ?? []), ...(l.DeleteMarkers ?? [])]) await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: v.Key, VersionId: v.VersionId }));
      await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'stray.txt', Body: 'not in the snapshot' }));
      const reader = await store.openReader((await store.list()).find((x) => x.id === second.id)!);
      assert.deepEqual((await src.verify!(reader, testContext())).problems, []);
      await src.restore(reader, testContext());
      assert.deepEqual(await versionHistory(c, bucket), history);
      assert.deepEqual(compareFingerprints(second.fingerprint, await src.fingerprint(testContext())), []);

      // A drill into a scratch bucket, which is removed with all its versions.
      const target = await src.scratchTarget!(reader, testContext());
      await src.restore(reader, testContext(), { to: target.to });
      assert.deepEqual(compareFingerprints(second.fingerprint, await src.fingerprint(testContext(), { to: target.to })), []);
      await target.cleanup();
      await assert.rejects(c.send(new ListObjectVersionsCommand({ Bucket: target.to })));
    });
  });
}

incrementalSuite('s3rver', async () => {
  const s = await startS3Server();
  return { endpoint: s.endpoint, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, multipartEtags: false, versioning: false, stop: () => s.stop() };
});
incrementalSuite('SeaweedFS', async () => {
  const s = await startSeaweedS3();
  return s && { ...s, multipartEtags: true, versioning: true };
});
