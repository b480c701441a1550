import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LifeboatError } from '../../core/errors.ts';
import { createS3Storage, s3Location } from './s3-storage.ts';
import { parseS3Url } from './s3-url.ts';

test('parses restic\'s s3: forms', () => {
  assert.deepEqual(parseS3Url('s3:https://minio.example.com:9000/bucket/some/prefix'), {
    endpoint: 'https://minio.example.com:9000',
    bucket: 'bucket',
    prefix: 'some/prefix',
  });
  assert.deepEqual(parseS3Url('s3:http://127.0.0.1:9000/bkt'), { endpoint: 'http://127.0.0.1:9000', bucket: 'bkt', prefix: '' });
  assert.deepEqual(parseS3Url('s3:http://127.0.0.1:9000/bkt/'), { endpoint: 'http://127.0.0.1:9000', bucket: 'bkt', prefix: '' });
  assert.deepEqual(parseS3Url('s3:s3.amazonaws.com/bucket/prefix'), { bucket: 'bucket', prefix: 'prefix' });
  assert.deepEqual(parseS3Url('s3:s3.eu-west-1.amazonaws.com/bucket'), { region: 'eu-west-1', bucket: 'bucket', prefix: '' });
  assert.deepEqual(parseS3Url('s3:s3-us-gov-west-1.amazonaws.com/b/p'), { region: 'us-gov-west-1', bucket: 'b', prefix: 'p' });
  // A bare host that is not AWS means https, as restic takes it.
  assert.deepEqual(parseS3Url('s3:minio.local:9000/bucket/a//b/'), { endpoint: 'https://minio.local:9000', bucket: 'bucket', prefix: 'a/b' });
  assert.deepEqual(parseS3Url('s3://storage.example.org/b'), { endpoint: 'https://storage.example.org', bucket: 'b', prefix: '' });
  assert.deepEqual(parseS3Url('s3:http://[::1]:9000/b/p%20q'), { endpoint: 'http://[::1]:9000', bucket: 'b', prefix: 'p q' });
});

test('refuses malformed locations, and never echoes credentials', () => {
  const bad = ['s3:', 's3:host', 's3:host/', 'local:/x', 's3:http:///bucket', 's3:http://h/b/../c', 's3:http://h/b?x=1', 's3:host name/b'];
  for (const url of bad) assert.throws(() => parseS3Url(url), (err: unknown) => err instanceof LifeboatError && err.code === 'usage', url);
  for (const url of ['s3:http://AKIA:topsecret@host/b', 's3:AKIA:topsecret@host/b']) {
    assert.throws(
      () => parseS3Url(url),
      (err: unknown) => err instanceof LifeboatError && err.code === 'usage' && !err.message.includes('topsecret') && /AWS_ACCESS_KEY_ID/.test(err.message),
    );
  }
});

test('location is restic\'s URL without credentials, and parses back to the same place', () => {
  const loc = s3Location({ endpoint: 'http://127.0.0.1:9000', bucket: 'b', prefix: '/x/y/' });
  assert.equal(loc, 's3:http://127.0.0.1:9000/b/x/y');
  assert.deepEqual(parseS3Url(loc), { endpoint: 'http://127.0.0.1:9000', bucket: 'b', prefix: 'x/y' });
  assert.equal(s3Location({ bucket: 'b' }), 's3:s3.amazonaws.com/b');
  assert.equal(s3Location({ endpoint: 'https://user:pw@h:1/', bucket: 'b', prefix: '' }), 's3:https://h:1/b');
  const s = createS3Storage({ endpoint: 'http://127.0.0.1:1', bucket: 'b', prefix: 'p', credentials: { accessKeyId: 'k', secretAccessKey: 'sekrit' } });
  assert.deepEqual(s.properties, { location: 's3:http://127.0.0.1:1/b/p', connections: 5, canDelete: true });
  assert.ok(!JSON.stringify(s.properties).includes('sekrit'));
  void s.close();
});
