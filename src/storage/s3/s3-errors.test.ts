import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LifeboatError, NotFoundError } from '../../core/errors.ts';
import { mapS3Error } from './s3-errors.ts';

const ctx = { op: 'load', what: 'data/ab12', location: 's3:http://127.0.0.1:9000/bkt/repo', bucket: 'bkt', key: 'repo/data/ab/ab12' };

/** An error shaped as the AWS SDK v3 throws them. */
function sdkError(name: string, status: number | undefined, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: status === undefined ? {} : { httpStatusCode: status }, $fault: status !== undefined && status >= 500 ? 'server' : 'client' });
}
function netError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

test('missing keys and buckets are NotFoundErrors naming what is missing', () => {
  for (const err of [sdkError('NoSuchKey', 404), sdkError('NotFound', 404, 'UnknownError')]) {
    const e = mapS3Error(err, ctx);
    assert.ok(e instanceof NotFoundError);
    assert.match(e.message, /data\/ab12/);
    assert.match(e.message, /repo\/data\/ab\/ab12/);
    assert.equal(e.retryable, false);
  }
  const b = mapS3Error(sdkError('NoSuchBucket', 404), ctx);
  assert.ok(b instanceof NotFoundError);
  assert.match(b.message, /bucket "bkt" does not exist/);
  assert.equal(b.retryable, false);
});

test('throttling, 5xx, timeouts and broken connections are retryable storage_unavailable', () => {
  const transient = [
    sdkError('SlowDown', 503),
    sdkError('Unknown', 503, 'UnknownError'),
    sdkError('InternalError', 500),
    sdkError('ServiceUnavailable', 503),
    sdkError('Unknown', 502),
    sdkError('RequestTimeout', 400),
    sdkError('Unknown', 429),
    sdkError('TimeoutError', undefined, 'Connection timed out after 10000 ms'),
    sdkError('BadDigest', 400),
    netError('ECONNRESET', 'read ECONNRESET'),
    netError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9000'),
    netError('ETIMEDOUT', 'connect ETIMEDOUT'),
    new Error('socket hang up'),
    netError('EPIPE', 'write EPIPE'),
  ];
  for (const err of transient) {
    const e = mapS3Error(err, ctx);
    assert.equal(e.code, 'storage_unavailable', `${err.name}: ${err.message}`);
    assert.equal(e.retryable, true, err.message);
  }
});

test('denied access is a permanent permission_denied with a credentials hint', () => {
  for (const err of [sdkError('AccessDenied', 403), sdkError('InvalidAccessKeyId', 403), sdkError('SignatureDoesNotMatch', 403), sdkError('Unknown', 403, 'UnknownError'), sdkError('ExpiredToken', 400), sdkError('CredentialsProviderError', undefined, 'Could not load credentials from any providers')]) {
    const e = mapS3Error(err, ctx);
    assert.equal(e.code, 'permission_denied', err.name);
    assert.equal(e.retryable, false);
    assert.match(e.hint ?? '', /AWS_ACCESS_KEY_ID/);
  }
});

test('other answers: conditional write, range, cancellation, permanent 4xx', () => {
  assert.equal(mapS3Error(sdkError('PreconditionFailed', 412), ctx).code, 'already_exists');
  assert.equal(mapS3Error(sdkError('InvalidRange', 416), ctx).code, 'short_read');
  const ac = new AbortController();
  ac.abort();
  assert.equal(mapS3Error(sdkError('AbortError', undefined, 'Request aborted'), { ...ctx, signal: ac.signal }).code, 'cancelled');
  assert.equal(mapS3Error(sdkError('AbortError', undefined, 'Request aborted'), ctx).code, 'cancelled');
  const bad = mapS3Error(sdkError('InvalidArgument', 400), ctx);
  assert.equal(bad.code, 's3_error');
  assert.equal(bad.retryable, false);
  const region = mapS3Error(sdkError('PermanentRedirect', 301), ctx);
  assert.equal(region.retryable, false);
  assert.match(region.hint ?? '', /region/);
  const dns = mapS3Error(netError('ENOTFOUND', 'getaddrinfo ENOTFOUND nohost'), ctx);
  assert.equal(dns.retryable, false);
  // A LifeboatError passes through untouched.
  const own = new LifeboatError('short_read', 'x');
  assert.equal(mapS3Error(own, ctx), own);
});
