import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../core/errors.ts';
import { backendFor, locationExamples, redactLocation, storageBackends } from './registry.ts';

test('a location finds its backend by scheme; a plain path is local', () => {
  assert.equal(backendFor('rest:http://host:8000/').scheme, 'rest');
  assert.equal(backendFor('s3:https://host/bucket/prefix').scheme, 's3');
  assert.equal(backendFor('local:/srv/repo').scheme, 'local');
  assert.equal(backendFor('/srv/repo').scheme, 'local');
  assert.equal(backendFor('relative/repo').scheme, 'local');
});

test('an unknown scheme is a usage error whose hint lists every registered scheme', () => {
  assert.throws(() => backendFor('ftp://host/repo'), (e: unknown) => e instanceof UsageError
    && e.message === 'repository location scheme "ftp:" is not supported'
    && storageBackends.every((b) => e.hint?.includes(b.example)));
});

test('the list of schemes is derived from the registry, and credentials never show', () => {
  assert.equal(locationExamples(), 'local:/path, s3:https://host/bucket/prefix or rest:http://host:8000/');
  const shown = redactLocation('rest:https://backup:s3cr3t@host:8000/repo/');
  assert.ok(!shown.includes('s3cr3t'), shown);
  assert.equal(redactLocation('ftp://user:s3cr3t@host/'), 'ftp:…');
  assert.throws(() => backendFor('s3:https://host').parse('s3:https://host'), UsageError);
});
