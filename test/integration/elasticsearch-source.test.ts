/**
 * The opensearch source against a real Elasticsearch (test/support/elasticsearch.ts: 7.10.2, the
 * newest that installs here), the claim its docs make: the conformance suite through an `fs`
 * snapshot repository under path.repo, nothing left registered or on disk after a backup,
 * verify of the repository Elasticsearch wrote, a drill beside the live indices, and
 * include_global_state bringing an index template back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { compareFingerprints } from '../../src/core/source.ts';
import type { Source } from '../../src/core/source.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { opensearchType } from '../../src/sources/opensearch/opensearch-source.ts';
import type { OpenSearchConfig } from '../../src/sources/opensearch/opensearch-config.ts';
import { sourceSuite } from '../suites/source-suite.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import { missingElasticsearch, startElasticsearch } from '../support/elasticsearch.ts';
import type { OpenSearchServer } from '../support/opensearch.ts';
import { tempDir, type TempDir } from '../support/tmp.ts';

const skip = missingElasticsearch();
let server: OpenSearchServer;
let tmp: TempDir;

before(async () => {
  if (skip !== false) return;
  server = await startElasticsearch();
  tmp = await tempDir('elasticsearch-source');
}, { timeout: 900_000 });
after(async () => {
  await server?.stop();
  await tmp?.cleanup();
});

const secrets = async (): Promise<string> => {
  throw new Error('no secrets in this test');
};
const make = (extra: Partial<OpenSearchConfig>): Source =>
  opensearchType.create('search', { url: server.url, snapshot_dir: server.repoDir, ...extra }, { runner: localRunner, secrets, tmpDir: tmp.path });

const prefix = (): string => `t${randomBytes(4).toString('hex')}-`;

async function seed(p: string): Promise<void> {
  await server.api('PUT', `/${p}books`, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: { properties: { title: { type: 'text' }, year: { type: 'integer' } } } });
  await server.api('PUT', `/${p}logs`, { settings: { number_of_replicas: 0 }, mappings: { properties: { msg: { type: 'keyword' } } } });
  const lines: string[] = [];
  for (let i = 0; i < 300; i++) lines.push(JSON.stringify({ index: { _index: `${p}books`, _id: `b${i}` } }), JSON.stringify({ title: `book ${i}`, year: 1900 + (i % 120) }));
  for (let i = 0; i < 50; i++) lines.push(JSON.stringify({ index: { _index: `${p}logs` } }), JSON.stringify({ msg: `line ${i}` }));
  const r = await server.api('POST', '/_bulk', `${lines.join('\n')}\n`) as { errors: boolean };
  assert.equal(r.errors, false);
}

describe('opensearch source against Elasticsearch', { skip, timeout: 900_000 }, () => {
  sourceSuite('opensearch (Elasticsearch 7.10)', async () => {
    const p = prefix();
    return {
      source: make({ indices: [`${p}*`] }),
      seed: () => seed(p),
      async wipe() {
        await server.api('DELETE', `/${p}books/_doc/b7?refresh=true`);
        await server.api('DELETE', `/${p}logs`);
      },
      async cleanup() {
        await server.api('DELETE', `/${p}*?expand_wildcards=all`).catch(() => undefined);
      },
    };
  });

  it('backs up through an fs repository it removes afterwards; verify passes what Elasticsearch wrote; a drill matches', async () => {
    const p = prefix();
    await seed(p);
    const arts = await memoryArtifacts();
    const source = make({ indices: [`${p}*`] });
    const out = await source.backup(arts.sink, testContext());
    assert.match(out.serverVersion ?? '', /^Elasticsearch 7\.10\.2$/);
    assert.deepEqual(Object.fromEntries(Object.entries(out.fingerprint.indices as Record<string, { count: number }>).map(([k, v]) => [k, v.count])), { [`${p}books`]: 300, [`${p}logs`]: 50 });
    assert.deepEqual(await server.api('GET', '/_snapshot'), {});
    assert.deepEqual(await readdir(server.repoDir), []);
    const ok = await source.verify!(arts.reader(), testContext());
    assert.deepEqual(ok.problems, []);
    assert.match(ok.checks[0], /catalogue index-\d+ lists 2 indices, 3 shards, every file it names is stored/);

    const scratch = await source.scratchTarget!(arts.reader(), testContext());
    try {
      await source.restore(arts.reader(), testContext(), { to: scratch.to });
      assert.deepEqual(compareFingerprints(out.fingerprint, await source.fingerprint(testContext(), { to: scratch.to })), []);
    } finally {
      await scratch.cleanup();
    }
    assert.deepEqual(await server.api('GET', `/${scratch.to}*?expand_wildcards=all`), {});
    await arts.cleanup();
  });

  it('include_global_state brings a deleted index template back', async () => {
    const p = prefix();
    await seed(p);
    await server.api('PUT', `/_index_template/${p}tpl`, { index_patterns: [`${p}future-*`], template: { settings: { number_of_replicas: 0 } } });
    const arts = await memoryArtifacts();
    const source = make({ indices: [`${p}*`], include_global_state: true });
    await source.backup(arts.sink, testContext());
    await server.api('DELETE', `/_index_template/${p}tpl`);
    await source.restore(arts.reader(), testContext());
    const t = await server.api('GET', `/_index_template/${p}tpl`) as { index_templates: Array<{ name: string }> };
    assert.deepEqual(t.index_templates.map((x) => x.name), [`${p}tpl`]);
    await server.api('DELETE', `/_index_template/${p}tpl`);
    await arts.cleanup();
  });
});
