// The qdrant source against the Qdrant double (test/support/qdrant-double.ts; no Qdrant server
// installs here): the conformance suite, the server's snapshot copies deleted, restore with
// priority=snapshot and the checksum, refusal across minor versions, the api-key sent as a
// header and never in a message, a damaged download refused, verify, and a drill into
// prefixed collections that are removed afterwards.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LifeboatError, SourceError } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { startQdrantDouble, type DoublePoint, type QdrantDouble } from '../../../test/support/qdrant-double.ts';
import { sourceSuite } from '../../../test/suites/source-suite.ts';
import { qdrantConfigSchema } from './qdrant-config.ts';
import { qdrantType } from './qdrant-source.ts';
import { TarChecker, versionMismatch } from './qdrant-snapshot.ts';

const KEY = 'qd-key-7f3a-secret';

function source(url: string, extra: Record<string, unknown> = {}) {
  const config = qdrantConfigSchema.parse({ url, api_key: { env: 'QDRANT_API_KEY' }, ...extra });
  return qdrantType.create('vectors', config, { runner: localRunner, secrets: async () => KEY, tmpDir: '/nonexistent' });
}

async function http(q: QdrantDouble, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${q.url}${path}`, { method, headers: { 'api-key': KEY, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { result: unknown }).result;
}

async function seed(q: QdrantDouble): Promise<void> {
  await http(q, 'PUT', '/collections/code_embeddings', { vectors: { size: 4, distance: 'Cosine' } });
  await http(q, 'PUT', '/collections/doc_embeddings', { vectors: { text: { size: 3, distance: 'Dot' } }, sparse_vectors: { bm25: {} } });
  const points = (n: number, dims: number): DoublePoint[] => Array.from({ length: n }, (_, i) => ({ id: i + 1, vector: Array.from({ length: dims }, (_, d) => (i + d) / 10), payload: { path: `src/f${i}.ts` } }));
  await http(q, 'PUT', '/collections/code_embeddings/points', { points: points(120, 4) });
  await http(q, 'PUT', '/collections/doc_embeddings/points', { points: points(7, 3).map((p) => ({ ...p, vector: { text: p.vector } })) });
}

sourceSuite('qdrant (double)', async () => {
  const q = await startQdrantDouble({ apiKey: KEY });
  return {
    source: source(q.url),
    seed: () => seed(q),
    async wipe() {
      await http(q, 'POST', '/collections/code_embeddings/points/delete', { points: [1, 2, 3] });
      await http(q, 'DELETE', '/collections/doc_embeddings');
    },
    cleanup: () => q.close(),
  };
});

describe('qdrant source against the double', () => {
  test('backup deletes the server\'s snapshots, records checksums; restore uploads with priority=snapshot and the checksum', async () => {
    const q = await startQdrantDouble({ apiKey: KEY });
    const arts = await memoryArtifacts();
    try {
      await seed(q);
      const ctx = testContext();
      const out = await source(q.url, { full_snapshot: true }).backup(arts.sink, ctx);
      assert.equal(out.serverVersion, 'Qdrant 1.12.4');
      assert.deepEqual(out.fingerprint, {
        collections: {
          code_embeddings: { points: 120, vectors: { size: 4, distance: 'Cosine' }, sparse_vectors: null },
          doc_embeddings: { points: 7, vectors: { text: { size: 3, distance: 'Dot' } }, sparse_vectors: { bm25: {} } },
        },
      });
      assert.deepEqual([...q.snapshots.values()].flatMap((m) => [...m.keys()]), [], 'snapshot copies left on the server');
      assert.deepEqual(arts.reader().list().map((a) => a.name).sort(), ['collection-code_embeddings.snapshot', 'collection-doc_embeddings.snapshot', 'full-storage.snapshot', 'qdrant.json']);
      assert.ok(q.requests.every((r) => r.authorized), 'a request went without the api-key');
      assert.ok(!JSON.stringify([out, ctx.infos, ctx.warnings, arts.get('qdrant.json')?.toString()]).includes(KEY));

      // Into a fresh server of the same minor version: both collections come back whole.
      const q2 = await startQdrantDouble({ apiKey: KEY, version: '1.12.6' });
      try {
        const ctx2 = testContext();
        await source(q.url).restore(arts.reader(), ctx2, { to: q2.url });
        assert.deepEqual(q2.priorities, ['snapshot', 'snapshot']);
        const uploads = q2.requests.filter((r) => r.url.includes('/snapshots/upload'));
        assert.equal(uploads.length, 2);
        for (const u of uploads) assert.match(u.url, /[?&]checksum=[0-9a-f]{64}(&|$)/);
        assert.deepEqual(compareFingerprints(out.fingerprint, await source(q.url).fingerprint(testContext(), { to: q2.url })), []);
        assert.ok(!ctx2.warnings.some((w) => w.includes('not in the backup')));
        await http(q2, 'PUT', '/collections/newer', { vectors: { size: 2, distance: 'Dot' } });
        const ctx3 = testContext();
        await source(q.url).restore(arts.reader(), ctx3, { to: q2.url });
        assert.match(ctx3.warnings.join('\n'), /: collections newer are not in the backup and were left as they are/);
        assert.ok(q2.collections.has('newer'));
        assert.match(ctx2.warnings.join('\n'), /aliases live only in the full-storage snapshot full-storage\.snapshot.*--storage-snapshot/);
      } finally {
        await q2.close();
      }
    } finally {
      await arts.cleanup();
      await q.close();
    }
  });

  test('the double keeps Qdrant\'s priority rule: replica (the default) leaves a new collection empty', async () => {
    const q = await startQdrantDouble();
    const arts = await memoryArtifacts();
    try {
      await seed(q);
      await source(q.url).backup(arts.sink, testContext());
      const file = arts.get('collection-code_embeddings.snapshot') as Buffer;
      const form = new FormData();
      form.set('snapshot', new Blob([file]), 'x.snapshot');
      const res = await fetch(`${q.url}/collections/fresh/snapshots/upload?wait=true`, { method: 'POST', body: form });
      assert.equal(res.status, 200);
      assert.equal(q.collections.get('fresh')?.points.size, 0);
      const bad = await fetch(`${q.url}/collections/fresh/snapshots/upload?priority=snapshot&checksum=${'0'.repeat(64)}`, { method: 'POST', body: form });
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { status: { error: string } }).status.error, /checksum mismatch/);
    } finally {
      await arts.cleanup();
      await q.close();
    }
  });

  test('restore into another minor version is refused before anything is uploaded', async () => {
    const q = await startQdrantDouble({ apiKey: KEY, version: '1.12.4' });
    const arts = await memoryArtifacts();
    const newer = await startQdrantDouble({ apiKey: KEY, version: '1.13.0' });
    const older = await startQdrantDouble({ apiKey: KEY, version: '1.12.1' });
    try {
      await seed(q);
      await source(q.url).backup(arts.sink, testContext());
      for (const [target, re] of [[newer, /taken on Qdrant 1\.12\.4 and the target runs 1\.13\.0; Qdrant recovers a snapshot only on the same minor version \(1\.12\.x\)/], [older, /runs the older 1\.12\.1/]] as const) {
        await assert.rejects(source(q.url).restore(arts.reader(), testContext(), { to: target.url }), (err: unknown) => {
          assert.ok(err instanceof SourceError, String(err));
          assert.match(err.message, /^qdrant source vectors \(http:\/\/127\.0\.0\.1:\d+\): refusing the restore: /);
          assert.match(err.message, re);
          assert.match(err.hint ?? '', /Qdrant 1\.12\.x server/);
          return true;
        });
        assert.equal(target.requests.filter((r) => r.method !== 'GET').length, 0);
        assert.equal(target.collections.size, 0);
      }
    } finally {
      await Promise.all([arts.cleanup(), q.close(), newer.close(), older.close()]);
    }
    assert.equal(versionMismatch('1.12.4', '1.12.4'), undefined);
  });

  test('a download that does not match the server\'s checksum fails the backup and still deletes the copy', async () => {
    const q = await startQdrantDouble({ apiKey: KEY });
    const arts = await memoryArtifacts();
    try {
      await seed(q);
      q.corruptDownloads = true;
      await assert.rejects(source(q.url).backup(arts.sink, testContext()), (err: unknown) => {
        assert.ok(err instanceof LifeboatError);
        assert.equal(err.code, 'integrity');
        assert.match(err.message, /collection code_embeddings arrived with SHA-256 [0-9a-f]{64}, the server's checksum is [0-9a-f]{64}/);
        return true;
      });
      assert.deepEqual([...q.snapshots.values()].flatMap((m) => [...m.keys()]), []);
    } finally {
      await arts.cleanup();
      await q.close();
    }
  });

  test('a damaged snapshot file is refused by the server\'s checksum check and the live collection stays', async () => {
    const q = await startQdrantDouble({ apiKey: KEY });
    const arts = await memoryArtifacts();
    try {
      await seed(q);
      const src = source(q.url, { collections: ['code_embeddings'] });
      await src.backup(arts.sink, testContext());
      const file = Buffer.from(arts.get('collection-code_embeddings.snapshot') as Buffer);
      file[600] ^= 1;
      arts.set('collection-code_embeddings.snapshot', file);
      await http(q, 'POST', '/collections/code_embeddings/points/delete', { points: [1] });
      await assert.rejects(src.restore(arts.reader(), testContext()), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.match(err.message, /POST \/collections\/code_embeddings\/snapshots\/upload failed with HTTP 400: Wrong input: Snapshot checksum mismatch/);
        return true;
      });
      assert.equal(q.collections.get('code_embeddings')?.points.size, 119);
    } finally {
      await arts.cleanup();
      await q.close();
    }
  });

  test('a wrong or missing api-key is one line with a hint, without the key', async () => {
    const q = await startQdrantDouble({ apiKey: 'another-key' });
    try {
      await assert.rejects(source(q.url).backup((await memoryArtifacts()).sink, testContext()), (err: unknown) => {
        assert.ok(err instanceof SourceError);
        assert.match(err.message, /GET \/ failed with HTTP 401: Must provide an API key/);
        assert.match(err.hint ?? '', /api_key/);
        assert.ok(!err.message.includes(KEY));
        return true;
      });
    } finally {
      await q.close();
    }
  });

  test('a configured collection that does not exist fails the backup', async () => {
    const q = await startQdrantDouble({ apiKey: KEY });
    try {
      await seed(q);
      await assert.rejects(source(q.url, { collections: ['code_embeddings', 'pattern_cache'] }).backup((await memoryArtifacts()).sink, testContext()), /collection pattern_cache does not exist/);
    } finally {
      await q.close();
    }
  });

  test('verify checks checksums and tar structure; a drill restores into prefixed collections and removes them', async () => {
    const q = await startQdrantDouble({ apiKey: KEY });
    const arts = await memoryArtifacts();
    try {
      await seed(q);
      const src = source(q.url);
      const out = await src.backup(arts.sink, testContext());
      const good = await src.verify!(arts.reader(), testContext());
      assert.deepEqual(good.problems, []);
      assert.match(good.checks.join('\n'), /collection-code_embeddings\.snapshot: SHA-256 matches the server's checksum, tar archive of 3 entries/);

      const scratch = await src.scratchTarget!(arts.reader(), testContext());
      await src.restore(arts.reader(), testContext(), { to: scratch.to });
      assert.deepEqual(compareFingerprints(out.fingerprint, await src.fingerprint(testContext(), { to: scratch.to })), []);
      await scratch.cleanup();
      await scratch.cleanup();
      assert.deepEqual([...q.collections.keys()].sort(), ['code_embeddings', 'doc_embeddings']);

      const file = arts.get('collection-doc_embeddings.snapshot') as Buffer;
      arts.set('collection-doc_embeddings.snapshot', file.subarray(0, 700));
      const bad = await src.verify!(arts.reader(), testContext());
      assert.deepEqual(bad.problems.length, 1);
      assert.match(bad.problems[0], /^collection-doc_embeddings\.snapshot: SHA-256 [0-9a-f]{64}, the server's checksum was/);
    } finally {
      await arts.cleanup();
      await q.close();
    }
  });
});

describe('TarChecker', () => {
  test('finds truncation, a broken header and trailing garbage', async () => {
    const { makeTar } = await import('../../../test/support/qdrant-double.ts');
    const tar = makeTar([['a/config.json', Buffer.from('{"x":1}')], ['b', Buffer.alloc(1500, 1)]]);
    const check = (b: Buffer, step = 100): string | undefined => {
      const t = new TarChecker();
      for (let i = 0; i < b.length; i += step) t.update(b.subarray(i, i + step));
      return t.finish();
    };
    assert.equal(check(tar), undefined);
    assert.equal(check(tar, 7), undefined);
    assert.match(check(tar.subarray(0, 900)) ?? '', /truncated/);
    assert.match(check(tar.subarray(0, tar.length - 1024)) ?? '', /no end-of-archive block/);
    const broken = Buffer.from(tar);
    broken[10] ^= 0xff;
    assert.match(check(broken) ?? '', /not a tar archive \(header 1 fails its checksum\)/);
    assert.match(check(Buffer.concat([tar, tar])) ?? '', /data after its end-of-archive block/);
  });
});
