/**
 * The s3 source through the CLI (`lifeboat backup`, `restore`, `drill`) against s3rver: the
 * second `backup` of an unchanged bucket downloads no object (GETs counted by a proxy), one
 * changed object is read again, and a restore brings the bucket back to the last snapshot.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, GetObjectTaggingCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import { runCli } from '../support/in-process-cli.ts';
import { randomBucketName, startS3Server } from '../support/s3-server.ts';
import { tempDir } from '../support/tmp.ts';

const tmp = await tempDir('s3-cli');
after(() => tmp.cleanup());

test('lifeboat backup of an s3 source is incremental; restore and drill bring the objects back', async (t) => {
  const s3 = await startS3Server();
  t.after(() => s3.stop());
  const gets: string[] = [];
  const target = new URL(s3.endpoint);
  const proxy = http.createServer((req, res) => {
    if (req.method === 'GET' && !/[?&](tagging|list-type|versions|uploads)\b/.test(req.url ?? '') && (req.url ?? '').split('?')[0]!.split('/').length > 2) gets.push(req.url ?? '');
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok));
  t.after(() => new Promise<void>((ok) => {
    proxy.closeAllConnections();
    proxy.close(() => ok());
  }));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

  const c = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3.credentials() });
  t.after(() => c.destroy());
  const bucket = randomBucketName('cli');
  await c.send(new CreateBucketCommand({ Bucket: bucket }));
  for (let i = 0; i < 5; i++) await c.send(new PutObjectCommand({ Bucket: bucket, Key: `data/${i}.txt`, Body: `object ${i}\n`, Metadata: { n: String(i) } }));
  await c.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: 'data/0.txt', Tagging: { TagSet: [{ Key: 'keep', Value: 'yes' }] } }));

  const config = path.join(tmp.path, 'lifeboat.yml');
  await writeFile(config, `repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ./state
sources:
  assets:
    type: s3
    endpoint: ${endpoint}
    bucket: ${bucket}
    access_key_id: { env: S3_AK }
    secret_access_key: { env: S3_SK }
`);
  const env = { HOME: tmp.path, LB_PW: 'cli-test-pw', S3_AK: s3.accessKeyId, S3_SK: s3.secretAccessKey };
  const run = async (...args: string[]) => {
    const r = await runCli(['-c', config, ...args], env);
    assert.equal(r.code, 0, `lifeboat ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  await run('init');
  await run('backup');
  assert.equal(gets.length, 5, gets.join('\n'));
  gets.length = 0;
  await run('backup');
  assert.equal(gets.length, 0, `the second backup downloaded objects again: ${gets.join(', ')}`);

  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'data/3.txt', Body: 'changed\n' }));
  await run('backup');
  assert.deepEqual(gets.map((g) => g.split('?')[0]), [`/${bucket}/data/3.txt`]);

  await c.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'data/1.txt' }));
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'data/0.txt', Body: 'damaged\n' }));
  await run('restore', '--only', 'assets', '--yes');
  const got = async (key: string) => (await (await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString());
  assert.equal(await got('data/0.txt'), 'object 0\n');
  assert.equal(await got('data/1.txt'), 'object 1\n');
  assert.equal(await got('data/3.txt'), 'changed\n');
  assert.deepEqual((await c.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: 'data/0.txt' }))).TagSet, [{ Key: 'keep', Value: 'yes' }]);
  await run('drill', '--only', 'assets');
});
