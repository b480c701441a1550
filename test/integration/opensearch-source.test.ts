/**
 * The opensearch source against a real single-node OpenSearch (test/support/opensearch.ts): the
 * conformance suite, verify of a real repository and of damaged ones, a drill beside the live
 * indices, the snapshot repository unregistered and removed after every backup, a snapshot_dir
 * the cluster refuses, restore over an index recreated with another shard count
 * (existing_indices: delete), and include_global_state bringing an index template back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { LifeboatError, SourceError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import type { Source } from '../../src/core/source.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { opensearchType } from '../../src/sources/opensearch/opensearch-source.ts';
import type { OpenSearchConfig } from '../../src/sources/opensearch/opensearch-config.ts';
import { sourceSuite } from '../suites/source-suite.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import { missingOpenSearch, startOpenSearch, type OpenSearchServer } from '../support/opensearch.ts';
import { tempDir, type TempDir } from '../support/tmp.ts';

const skip = missingOpenSearch();
let server: OpenSearchServer;
let tmp: TempDir;

before(async () => {
  if (skip !== false) return;
  server = await startOpenSearch();
  tmp = await tempDir('opensearch-source');
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

/** A fresh lowercase index prefix per fixture, so fixtures share the node but never data. */
const prefix = (): string => `t${randomBytes(4).toString('hex')}-`;

async function seed(p: string): Promise<void> {
  await server.api('PUT', `/${p}books`, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: { properties: { title: { type: 'text' }, year: { type: 'integer' } } } });
  await server.api('PUT', `/${p}logs`, { settings: { number_of_replicas: 0 }, mappings: { properties: { msg: { type: 'keyword' } } } });
  const lines: string[] = [];
  for (let i = 0; i < 300; i++) {
    lines.push(JSON.stringify({ index: { _index: `${p}books`, _id: `b${i}` } }), JSON.stringify({ title: `book ${i}`, year: 1900 + (i % 120) }));
  }
  for (let i = 0; i < 50; i++) lines.push(JSON.stringify({ index: { _index: `${p}logs` } }), JSON.stringify({ msg: `line ${i}` }));
  // No refresh: the fingerprint must count what is indexed but not yet searchable.
  const r = await server.api('POST', '/_bulk', `${lines.join('\n')}\n`) as { errors: boolean };
  assert.equal(r.errors, false);
}

describe('opensearch source', { skip, timeout: 900_000 }, () => {
  sourceSuite('opensearch', async () => {
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

  it('leaves no repository registered and no files in snapshot_dir after a backup', async () => {
    const p = prefix();
    await seed(p);
    const arts = await memoryArtifacts();
    const out = await make({ indices: [`${p}*`] }).backup(arts.sink, testContext());
    assert.deepEqual(Object.keys(out.fingerprint.indices as object), [`${p}books`, `${p}logs`]);
    assert.deepEqual(out.fingerprint.indices, {
      [`${p}books`]: { count: 300, mappings: (out.fingerprint.indices as Record<string, { mappings: string }>)[`${p}books`].mappings },
      [`${p}logs`]: { count: 50, mappings: (out.fingerprint.indices as Record<string, { mappings: string }>)[`${p}logs`].mappings },
    });
    assert.match(out.serverVersion ?? '', /^OpenSearch 2\./);
    assert.ok(arts.reader().list().some((a) => a.name === 'repository/index.latest'));
    assert.deepEqual(await server.api('GET', '/_snapshot'), {});
    assert.deepEqual(await readdir(server.repoDir), []);
    await arts.cleanup();
  });

  it('verify passes the real repository and names a missing shard file and a missing catalogue', async () => {
    const p = prefix();
    await seed(p);
    const arts = await memoryArtifacts();
    const source = make({ indices: [`${p}*`] });
    await source.backup(arts.sink, testContext());
    const ok = await source.verify!(arts.reader(), testContext());
    assert.deepEqual(ok.problems, []);
    assert.match(ok.checks[0], /catalogue index-\d+ lists 2 indices, 3 shards, every file it names is stored/);

    const names = arts.reader().list().map((a) => a.name);
    const shardIndex = names.find((n) => /^repository\/indices\/[^/]+\/1\/index-/.test(n))!;
    const damaged = await memoryArtifacts();
    for (const n of names) if (n !== shardIndex) damaged.set(n, arts.get(n)!);
    const bad = await source.verify!(damaged.reader(), testContext());
    assert.deepEqual(bad.checks, []);
    assert.deepEqual(bad.problems, [`${shardIndex}: missing (shard 1 of index ${p}books)`]);

    const latest = names.find((n) => /^repository\/index-\d+$/.test(n))!;
    const noCatalogue = await memoryArtifacts();
    for (const n of names) if (n !== latest) noCatalogue.set(n, arts.get(n)!);
    assert.match((await source.verify!(noCatalogue.reader(), testContext())).problems[0], /^repository\/index-\d+: missing \(index\.latest names generation/);
    await Promise.all([arts.cleanup(), damaged.cleanup(), noCatalogue.cleanup()]);
  });

  it('drills beside the live indices: same fingerprint, live data untouched, drill indices removed', async () => {
    const p = prefix();
    await seed(p);
    const arts = await memoryArtifacts();
    const source = make({ indices: [`${p}*`] });
    const { fingerprint } = await source.backup(arts.sink, testContext());
    await server.api('POST', `/${p}logs/_doc?refresh=true`, { msg: 'written after the backup' });
    const liveBefore = await source.fingerprint(testContext());
    const scratch = await source.scratchTarget!(arts.reader(), testContext());
    try {
      await source.restore(arts.reader(), testContext(), { to: scratch.to });
      assert.deepEqual(compareFingerprints(fingerprint, await source.fingerprint(testContext(), { to: scratch.to })), []);
      assert.deepEqual(compareFingerprints(liveBefore, await source.fingerprint(testContext())), []);
    } finally {
      await scratch.cleanup();
    }
    assert.deepEqual(await server.api('GET', `/${scratch.to}*?expand_wildcards=all`), {});
    await assert.rejects(source.restore(arts.reader(), testContext(), { to: 'other-index-' }), SourceError);
    await arts.cleanup();
  });

  it('refuses a snapshot_dir outside path.repo with one line naming it, and registers nothing', async () => {
    const p = prefix();
    await seed(p);
    const arts = await memoryArtifacts();
    await assert.rejects(make({ indices: [`${p}*`], snapshot_dir: tmp.path }).backup(arts.sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'source');
      assert.match(err.message, new RegExp(`cannot use ${tmp.path}/lifeboat-[0-9a-f]+ as a snapshot repository`));
      assert.match(err.hint ?? '', /path\.repo/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
    assert.deepEqual(await server.api('GET', '/_snapshot'), {});
    assert.deepEqual(arts.reader().list(), []);
    await arts.cleanup();
  });

  it('restores over an index recreated with another shard count when existing_indices is delete', async () => {
    const p = prefix();
    await seed(p);
    const arts = await memoryArtifacts();
    const source = make({ indices: [`${p}*`], existing_indices: 'delete' });
    const { fingerprint } = await source.backup(arts.sink, testContext());
    await server.api('DELETE', `/${p}books`);
    await server.api('PUT', `/${p}books`, { settings: { number_of_shards: 3, number_of_replicas: 0 }, mappings: { properties: { other: { type: 'keyword' } } } });
    await server.api('POST', `/${p}books/_doc?refresh=true`, { other: 'x' });
    await source.restore(arts.reader(), testContext());
    assert.deepEqual(compareFingerprints(fingerprint, await source.fingerprint(testContext())), []);
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
