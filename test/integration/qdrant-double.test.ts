/**
 * The Qdrant double against Qdrant's OpenAPI document (qdrant/qdrant docs/redoc/master/openapi.json,
 * v1.19 era), so that the qdrant source's tests mean something: every answer the source reads
 * has the schema's required fields and types, and every request the source sends uses an
 * operation and query parameters the document lists. The schemas below are transcribed field by
 * field from components.schemas (the official TypeScript client, @qdrant/js-client-rest, is
 * generated from the same document; it cannot be installed here without downloads).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { qdrantType } from '../../src/sources/qdrant/qdrant-source.ts';
import { qdrantConfigSchema } from '../../src/sources/qdrant/qdrant-config.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import { startQdrantDouble } from '../support/qdrant-double.ts';

type Schema =
  | 'string' | 'number' | 'integer' | 'boolean' | 'any'
  | { readonly nullable: Schema }
  | { readonly enum: readonly string[] }
  | { readonly array: Schema }
  | { readonly anyOf: readonly Schema[] }
  | { readonly required: Readonly<Record<string, Schema>>; readonly optional?: Readonly<Record<string, Schema>> };

/** The problems of `v` against `s`, as "path: what" lines. */
function validate(v: unknown, s: Schema, at = '$'): string[] {
  if (s === 'any') return [];
  if (s === 'string' || s === 'boolean') return typeof v === s ? [] : [`${at}: expected ${s}, got ${JSON.stringify(v)}`];
  if (s === 'number') return typeof v === 'number' ? [] : [`${at}: expected number`];
  if (s === 'integer') return Number.isInteger(v) && (v as number) >= 0 ? [] : [`${at}: expected an unsigned integer, got ${JSON.stringify(v)}`];
  if ('nullable' in s) return v === null ? [] : validate(v, s.nullable, at);
  if ('enum' in s) return s.enum.includes(v as string) ? [] : [`${at}: ${JSON.stringify(v)} not in ${s.enum.join('|')}`];
  if ('array' in s) return Array.isArray(v) ? v.flatMap((x, i) => validate(x, s.array, `${at}[${i}]`)) : [`${at}: expected an array`];
  if ('anyOf' in s) return s.anyOf.some((x) => validate(v, x, at).length === 0) ? [] : [`${at}: matches none of the alternatives`];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`${at}: expected an object`];
  const o = v as Record<string, unknown>;
  const out: string[] = [];
  for (const [k, ks] of Object.entries(s.required)) out.push(...(k in o ? validate(o[k], ks, `${at}.${k}`) : [`${at}.${k}: required, missing`]));
  for (const [k, ks] of Object.entries(s.optional ?? {})) if (k in o && o[k] !== undefined) out.push(...validate(o[k], ks, `${at}.${k}`));
  return out;
}

// components.schemas, as far as the qdrant source reads them.
const VersionInfo: Schema = { required: { title: 'string', version: 'string' }, optional: { commit: { nullable: 'string' } } };
const SnapshotDescription: Schema = { required: { name: 'string', size: 'integer' }, optional: { creation_time: { nullable: 'string' }, checksum: { nullable: 'string' } } };
const Distance: Schema = { enum: ['Cosine', 'Euclid', 'Dot', 'Manhattan'] };
const VectorParams: Schema = { required: { size: 'integer', distance: Distance }, optional: { on_disk: { nullable: 'boolean' } } };
const VectorsConfig: Schema = { anyOf: [VectorParams, { required: {} }] };
const CollectionInfo: Schema = {
  required: {
    status: { enum: ['green', 'yellow', 'grey', 'red'] },
    optimizer_status: { anyOf: [{ enum: ['ok'] }, { required: { error: 'string' } }] },
    segments_count: 'integer',
    payload_schema: { required: {} },
    config: {
      required: {
        params: { required: {}, optional: { vectors: VectorsConfig, shard_number: 'integer', replication_factor: 'integer', write_consistency_factor: 'integer', on_disk_payload: 'boolean', sparse_vectors: { nullable: { required: {} } } } },
        hnsw_config: { required: { m: 'integer', ef_construct: 'integer', full_scan_threshold: 'integer' } },
        optimizer_config: { required: { default_segment_number: 'integer', flush_interval_sec: 'integer' } },
      },
      optional: { wal_config: { nullable: { required: { wal_capacity_mb: 'integer', wal_segments_ahead: 'integer' } } }, quantization_config: 'any' },
    },
  },
  optional: { indexed_vectors_count: { nullable: 'integer' }, points_count: { nullable: 'integer' } },
};
const envelope = (result: Schema): Schema => ({ required: { result, status: { enum: ['ok'] }, time: 'number' } });
const ErrorResponse: Schema = { required: { time: 'number', status: { required: { error: 'string' } } } };
const Accepted: Schema = { required: { time: 'number', status: 'string' } };

/** paths: operation → query parameters the document lists for it. */
const OPERATIONS: ReadonlyArray<[string, RegExp, readonly string[]]> = [
  ['GET', /^\/$/, []],
  ['GET', /^\/collections$/, []],
  ['GET', /^\/collections\/[^/]+$/, []],
  ['DELETE', /^\/collections\/[^/]+$/, ['timeout']],
  ['POST', /^\/collections\/[^/]+\/points\/count$/, ['consistency', 'timeout']],
  ['POST', /^\/collections\/[^/]+\/snapshots$/, ['wait']],
  ['GET', /^\/collections\/[^/]+\/snapshots$/, []],
  ['GET', /^\/collections\/[^/]+\/snapshots\/(?!upload$)[^/]+$/, []],
  ['DELETE', /^\/collections\/[^/]+\/snapshots\/[^/]+$/, ['wait']],
  ['POST', /^\/collections\/[^/]+\/snapshots\/upload$/, ['wait', 'priority', 'checksum']],
  ['POST', /^\/snapshots$/, ['wait']],
  ['GET', /^\/snapshots$/, []],
  ['GET', /^\/snapshots\/[^/]+$/, []],
  ['DELETE', /^\/snapshots\/[^/]+$/, ['wait']],
];

describe('Qdrant double against the OpenAPI document', () => {
  test('answers carry the documented fields and types', async () => {
    const q = await startQdrantDouble();
    try {
      const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
        const res = await fetch(`${q.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
        return { status: res.status, json: await res.json() };
      };
      const expectOk = async (method: string, path: string, schema: Schema, body?: unknown, status = 200): Promise<unknown> => {
        const r = await call(method, path, body);
        assert.equal(r.status, status, `${method} ${path}`);
        assert.deepEqual(validate(r.json, schema), [], `${method} ${path}: ${JSON.stringify(r.json)}`);
        return r.json;
      };
      await expectOk('GET', '/', VersionInfo);
      await expectOk('PUT', '/collections/c1', envelope('boolean'), { vectors: { size: 3, distance: 'Euclid' } });
      await expectOk('PUT', '/collections/c2', envelope('boolean'), { vectors: { img: { size: 2, distance: 'Cosine' } }, sparse_vectors: { text: {} } });
      await expectOk('GET', '/collections', envelope({ required: { collections: { array: { required: { name: 'string' } } } } }));
      await expectOk('GET', '/collections/c1', envelope(CollectionInfo));
      await expectOk('GET', '/collections/c2', envelope(CollectionInfo));
      await expectOk('POST', '/collections/c1/points/count', envelope({ required: { count: 'integer' } }), { exact: true });
      const created = (await expectOk('POST', '/collections/c1/snapshots?wait=true', envelope(SnapshotDescription))) as { result: { name: string } };
      await expectOk('POST', '/collections/c1/snapshots?wait=false', Accepted, undefined, 202);
      await expectOk('GET', '/collections/c1/snapshots', envelope({ array: SnapshotDescription }));
      await expectOk('DELETE', `/collections/c1/snapshots/${created.result.name}?wait=true`, envelope('boolean'));
      await expectOk('POST', '/snapshots?wait=true', envelope(SnapshotDescription));
      await expectOk('GET', '/snapshots', envelope({ array: SnapshotDescription }));
      await expectOk('GET', '/collections/missing', ErrorResponse, undefined, 404);
      await expectOk('DELETE', '/collections/c2', envelope('boolean'));
    } finally {
      await q.close();
    }
  });

  test('every request of a backup, restore and drill is a documented operation with documented query parameters', async () => {
    const q = await startQdrantDouble();
    const arts = await memoryArtifacts();
    try {
      for (const name of ['a', 'b']) {
        await fetch(`${q.url}/collections/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vectors: { size: 2, distance: 'Dot' } }) });
      }
      const setup = q.requests.length;
      const src = qdrantType.create('v', qdrantConfigSchema.parse({ url: q.url, full_snapshot: true }), { runner: localRunner, secrets: async () => '', tmpDir: '/nonexistent' });
      const ctx = testContext();
      await src.backup(arts.sink, ctx);
      await src.restore(arts.reader(), ctx);
      const scratch = await src.scratchTarget!(arts.reader(), ctx);
      await src.restore(arts.reader(), ctx, { to: scratch.to });
      await src.fingerprint(ctx, { to: scratch.to });
      await scratch.cleanup();
      const undocumented = q.requests.slice(setup).filter((r) => {
        const u = new URL(r.url, 'http://x');
        const op = OPERATIONS.find(([m, re]) => m === r.method && re.test(u.pathname));
        return op === undefined || [...u.searchParams.keys()].some((k) => !op[2].includes(k));
      });
      assert.deepEqual(undocumented, []);
      assert.ok(q.requests.length - setup > 10);
    } finally {
      await arts.cleanup();
      await q.close();
    }
  });
});
