import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, SourceError } from '../../core/errors.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { testContext } from '../../../test/support/memory-artifacts.ts';
import { canonicalJson } from './opensearch-fingerprint.ts';
import { opensearchType } from './opensearch-source.ts';
import type { OpenSearchConfig } from './opensearch-config.ts';

const SECRET = 'pw-Zq81-never-shown';

/** A cluster that answers 401 to everything, recording what it was sent. */
async function refusingCluster(): Promise<{ url: string; seen: IncomingHttpHeaders[]; close(): Promise<void> }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { type: 'security_exception', reason: 'missing authentication credentials' }, status: 401 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const source = (url: string, extra: Partial<OpenSearchConfig>) =>
  opensearchType.create('search', { url, snapshot_dir: '/nonexistent', ...extra }, { runner: localRunner, secrets: async () => SECRET, tmpDir: '/nonexistent' });

describe('opensearch client', () => {
  it('sends basic auth and api keys as headers, and a 401 is one line without the secret, with a hint', async () => {
    const cluster = await refusingCluster();
    try {
      for (const extra of [{ username: 'backup', password: { env: 'P' } }, { api_key: { env: 'K' } }]) {
        await assert.rejects(source(cluster.url, extra).fingerprint(testContext()), (err: unknown) => {
          assert.ok(err instanceof SourceError);
          assert.match(err.message, /^opensearch source search: GET \/.* answered HTTP 401: security_exception: missing authentication credentials$/);
          assert.match(err.hint ?? '', /manage_snapshots/);
          assert.ok(!JSON.stringify({ m: err.message, h: err.hint, d: err.data }).includes(SECRET));
          return true;
        });
      }
      assert.equal(cluster.seen[0].authorization, `Basic ${Buffer.from(`backup:${SECRET}`).toString('base64')}`);
      assert.equal(cluster.seen[1].authorization, `ApiKey ${SECRET}`);
    } finally {
      await cluster.close();
    }
  });

  it('refuses both api_key and username, and a password without username', async () => {
    await assert.rejects(source('http://127.0.0.1:1', { api_key: { env: 'K' }, username: 'u' }).fingerprint(testContext()), ConfigError);
    await assert.rejects(source('http://127.0.0.1:1', { password: { env: 'P' } }).fingerprint(testContext()), ConfigError);
  });

  it('names an unreachable cluster with a retryable SourceError', async () => {
    await assert.rejects(source('http://127.0.0.1:1', {}).fingerprint(testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError && err.retryable);
      assert.match(err.message, /GET \/.* on http:\/\/127\.0\.0\.1:1 failed/);
      return true;
    });
  });
});

describe('canonical JSON of mappings', () => {
  it('is the same whatever the key order', () => {
    const a = { properties: { b: { type: 'keyword' }, a: { type: 'text', fields: { raw: { type: 'keyword' } } } } };
    const b = { properties: { a: { fields: { raw: { type: 'keyword' } }, type: 'text' }, b: { type: 'keyword' } } };
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.notEqual(canonicalJson(a), canonicalJson({ properties: { a: { type: 'text' }, b: { type: 'keyword' } } }));
  });
});
