/**
 * The neo4j source's online mode against a real Neo4j 5.26 Community (test/support/neo4j.ts),
 * which is never stopped: the conformance suite through Bolt (with clear_before_restore), every
 * property type coming back as the same Neo4j type, constraints and indexes recreated, the
 * artifact's bytes equal for an unchanged graph, a restore into a non-empty database refused
 * with one line, a cut-short export named by verify, and the config checks of the two modes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, ConfigError, SourceError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import type { Source } from '../../src/core/source.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { neo4jType } from '../../src/sources/neo4j/neo4j-source.ts';
import type { Neo4jConfig } from '../../src/sources/neo4j/neo4j-config.ts';
import { sourceSuite } from '../suites/source-suite.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import { missingNeo4j, startNeo4j, type Neo4jServer } from '../support/neo4j.ts';
import { tempDir, type TempDir } from '../support/tmp.ts';

const skip = missingNeo4j();
let server: Neo4jServer;
let tmp: TempDir;

before(async () => {
  if (skip !== false) return;
  server = await startNeo4j();
  tmp = await tempDir('neo4j-online');
}, { timeout: 900_000 });
after(async () => {
  await server?.stop();
  await tmp?.cleanup();
});

const make = (extra: Partial<Neo4jConfig> = {}, password = server.password): Source =>
  neo4jType.create('graph', { mode: 'online', url: server.boltUrl, password: { env: 'NEO4J_TEST_PASSWORD' }, ...extra },
    { runner: localRunner, secrets: async () => password, tmpDir: tmp.path });

async function clear(): Promise<void> {
  await server.cypher('neo4j', 'MATCH (n) DETACH DELETE n');
  const [names] = await server.cypher('neo4j', "SHOW CONSTRAINTS YIELD name RETURN name");
  for (const [n] of names) await server.cypher('neo4j', `DROP CONSTRAINT \`${String(n)}\``);
  const [idx] = await server.cypher('neo4j', "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name");
  for (const [n] of idx) await server.cypher('neo4j', `DROP INDEX \`${String(n)}\``);
}

async function seed(): Promise<void> {
  await clear();
  await server.cypher('neo4j', 'CREATE CONSTRAINT person_i FOR (p:Person) REQUIRE p.i IS UNIQUE');
  await server.cypher('neo4j', 'CREATE INDEX city_name FOR (c:City) ON (c.name)');
  await server.cypher('neo4j',
    "UNWIND range(1, 1500) AS i CREATE (p:Person {i: i, name: 'p' + i})-[:LIVES_IN {since: 2000 + i % 20}]->(:City {name: 'c' + i})",
    'MATCH (a:Person), (b:Person) WHERE b.i = a.i + 1 CREATE (a)-[:KNOWS]->(b)',
    'CREATE (:`Odd Label`:Person {i: 0})-[:`odd type`]->(:Unlabelled)');
}

/** Each property type Neo4j has, and what Cypher says its type is after the round trip. */
const TYPED = `CREATE (:Typed {
  big: 9007199254740993, neg: -42, f: 1.0, s: 'x', b: true, ints: [1, 2], floats: [1.5, 2.0], strs: ['a'], empty: [], d: date('2024-02-29'), lt: localtime('12:34:56.123456789'), t: time('12:34:56+02:00'),
  ldt: localdatetime('2024-02-29T12:34:56.5'), dt: datetime('2024-02-29T12:34:56.5+01:00'),
  dtz: datetime({year: 2024, month: 7, day: 1, hour: 9, timezone: 'Europe/Berlin'}),
  dur: duration('P1Y2M3DT4H5M6.7S'), p2: point({x: 1.5, y: 2.5}), p3: point({longitude: 13.4, latitude: 52.5, height: 34.0})})`;
const DESCRIBE = 'MATCH (n:Typed) UNWIND keys(n) AS k WITH n, k ORDER BY k RETURN collect([k, valueType(n[k])]), properties(n), toString(n.big)';

describe('neo4j source, online mode', { skip, timeout: 600_000 }, () => {
  sourceSuite('neo4j online', async () => ({
    source: make({ clear_before_restore: true }),
    seed,
    async wipe() {
      await server.cypher('neo4j', 'MATCH (c:City) WHERE c.name ENDS WITH "7" DETACH DELETE c', 'MATCH ()-[r:KNOWS]->() WITH r LIMIT 5 DELETE r');
    },
    cleanup: clear,
  }));

  it('keeps every property type, the schema, and exports equal bytes for an unchanged graph', async () => {
    await seed();
    await server.cypher('neo4j', TYPED);
    const before = await server.cypher('neo4j', DESCRIBE, 'SHOW CONSTRAINTS YIELD name, createStatement RETURN name, createStatement ORDER BY name',
      "SHOW INDEXES YIELD name, type, createStatement WHERE type <> 'LOOKUP' RETURN name, createStatement ORDER BY name");
    const source = make();
    const [a, b] = [await memoryArtifacts(), await memoryArtifacts()];
    const out = await source.backup(a.sink, testContext());
    await source.backup(b.sink, testContext());
    assert.ok(a.get('neo4j.graph.jsonl')!.equals(b.get('neo4j.graph.jsonl')!), 'two exports of an unchanged graph are byte-equal');
    assert.deepEqual(out.fingerprint, {
      databases: { neo4j: { nodes: 3003, relationships: 3000, labels: { City: 1500, 'Odd Label': 1, Person: 1501, Typed: 1, Unlabelled: 1 }, types: { KNOWS: 1499, LIVES_IN: 1500, 'odd type': 1 } } },
    });
    assert.deepEqual(await source.verify!(a.reader(), testContext()), { checks: ['neo4j.graph.jsonl: 3003 nodes, 3000 relationships, 2 constraints and indexes, complete'], problems: [] });

    await clear();
    const ctx = testContext();
    await source.restore(a.reader(), ctx);
    assert.deepEqual(compareFingerprints(out.fingerprint, await source.fingerprint(testContext())), []);
    assert.deepEqual(await server.cypher('neo4j', DESCRIBE, 'SHOW CONSTRAINTS YIELD name, createStatement RETURN name, createStatement ORDER BY name',
      "SHOW INDEXES YIELD name, type, createStatement WHERE type <> 'LOOKUP' RETURN name, createStatement ORDER BY name"), before);
    const [[[leftovers]]] = await server.cypher('neo4j', 'MATCH (n) WHERE n:__LifeboatImport OR n.__lifeboat_id IS NOT NULL RETURN count(n)');
    assert.equal(leftovers, 0);
    const [[[knows]]] = await server.cypher('neo4j', "MATCH (:Person {i: 7})-[:KNOWS]->(p:Person) RETURN p.name");
    assert.equal(knows, 'p8');
    await Promise.all([a.cleanup(), b.cleanup()]);
  });

  it('refuses a restore into a database that holds nodes, with one line; verify names a cut-short export', async () => {
    await seed();
    const arts = await memoryArtifacts();
    const source = make();
    await source.backup(arts.sink, testContext());
    await assert.rejects(source.restore(arts.reader(), testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.equal(err.message, 'neo4j source graph: database neo4j holds 3002 nodes; an online restore loads only into an empty database');
      assert.match(err.hint ?? '', /clear_before_restore: true/);
      return true;
    });
    const full = arts.get('neo4j.graph.jsonl')!;
    arts.set('neo4j.graph.jsonl', full.subarray(0, full.lastIndexOf('\n', full.length - 2) + 1));
    const r = await source.verify!(arts.reader(), testContext());
    assert.deepEqual(r.problems, ['neo4j.graph.jsonl: incomplete (no trailer after 3002 nodes and 3000 relationships)']);
    await arts.cleanup();
  });

  it('a backup cancelled mid-export fails as cancelled instead of storing a short graph', async () => {
    await seed();
    const ac = new AbortController();
    let chunks = 0;
    const sink = {
      async put(_name: string, data: AsyncIterable<Uint8Array>) {
        for await (const _chunk of data) if (++chunks === 1) ac.abort();
        return { name: _name, size: 0 };
      },
      putFiles: async () => ({ files: 0, bytes: 0 }),
    };
    await assert.rejects(make().backup(sink as never, testContext(ac.signal)), (err: unknown) => err instanceof CancelledError);
    assert.equal(chunks, 1, 'nothing after the abort reached the repository');
  });

  it('checks the keys of each mode when the source is created; a wrong password is one line without the secret', async () => {
    const deps = { runner: localRunner, secrets: async () => 'x', tmpDir: tmp.path };
    assert.throws(() => neo4jType.create('g', { mode: 'online', url: server.url }, deps), (e: unknown) => e instanceof ConfigError && /mode online needs a Bolt url, not http:/.test(e.message));
    assert.throws(() => neo4jType.create('g', { mode: 'online', url: server.boltUrl, databases: ['system', 'neo4j'] }, deps), ConfigError);
    assert.throws(() => neo4jType.create('g', { url: server.url }, deps), (e: unknown) => e instanceof ConfigError && /needs stop_command and start_command/.test(e.message));
    const wrong = 'wrong-Secret-123';
    await assert.rejects(make({}, wrong).fingerprint(testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.match(err.message, /^neo4j source graph: Bolt on database neo4j at bolt:\/\/127\.0\.0\.1:\d+: authentication failed$/);
      assert.ok(!JSON.stringify([err.message, err.hint, err.data]).includes(wrong));
      return true;
    });
  });
});
