/**
 * The neo4j source against a real Neo4j 5.26 Community (test/support/neo4j.ts), stopped and
 * started by the source through stop_command/start_command: the conformance suite (offline dump
 * of system and neo4j, load, fingerprints equal), verify of real and damaged archives, a failing
 * stop_command that dumps nothing, a failing dump after which the DBMS is started again, and a
 * wrong password reported without the secret.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LifeboatError, SourceError } from '../../src/core/errors.ts';
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
  tmp = await tempDir('neo4j-source');
}, { timeout: 900_000 });
after(async () => {
  await server?.stop();
  await tmp?.cleanup();
});

const make = (extra: Partial<Neo4jConfig> = {}, password = server.password): Source =>
  neo4jType.create('graph', {
    url: server.url,
    password: { env: 'NEO4J_TEST_PASSWORD' },
    admin_command: server.adminCommand,
    stop_command: server.stopCommand,
    start_command: server.startCommand,
    ...extra,
  }, { runner: localRunner, secrets: async () => password, tmpDir: tmp.path });

async function seed(): Promise<void> {
  await server.cypher('neo4j',
    'MATCH (n) DETACH DELETE n',
    'UNWIND range(1, 200) AS i CREATE (p:Person {i: i})-[:LIVES_IN]->(:City {i: i})',
    'MATCH (a:Person), (b:Person) WHERE b.i = a.i + 1 CREATE (a)-[:KNOWS]->(b)',
    'CREATE (:`Odd Label`:Person {i: 0})');
}

describe('neo4j source', { skip, timeout: 900_000 }, () => {
  sourceSuite('neo4j', async () => ({
    source: make(),
    seed,
    async wipe() {
      await server.cypher('neo4j', 'MATCH (c:City) WHERE c.i > 150 DETACH DELETE c', 'MATCH ()-[r:KNOWS]->() WITH r LIMIT 5 DELETE r');
    },
    async cleanup() {
      await server.cypher('neo4j', 'MATCH (n) DETACH DELETE n');
    },
  }));

  it('fingerprints per label and per type, and verify describes real archives and names damaged ones', async () => {
    await seed();
    const arts = await memoryArtifacts();
    const source = make();
    const out = await source.backup(arts.sink, testContext());
    assert.deepEqual(out.fingerprint, {
      databases: { neo4j: { nodes: 401, relationships: 399, labels: { City: 200, 'Odd Label': 1, Person: 201 }, types: { KNOWS: 199, LIVES_IN: 200 } } },
    });
    assert.match(out.serverVersion ?? '', /^Neo4j 5\.26\.0 community$/);
    assert.deepEqual(arts.reader().list().map((a) => a.name).sort(), ['neo4j.dump', 'system.dump']);
    assert.ok(!out.commands.join(' ').includes(server.password));

    const ok = await source.verify!(arts.reader(), testContext());
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.checks.map((c) => c.replace(/\d+ store files/, 'N store files')), [
      'system.dump: Neo4j ZSTD Dump, N store files (neo4j-admin database load --info)',
      'neo4j.dump: Neo4j ZSTD Dump, N store files (neo4j-admin database load --info)',
    ]);
    const bad = await memoryArtifacts();
    bad.set('neo4j.dump', Buffer.concat([Buffer.from('PGDMP'), arts.get('neo4j.dump')!.subarray(5)]));
    const r = await source.verify!(bad.reader(), testContext());
    assert.deepEqual(r.problems, ['system.dump: missing from the snapshot', 'neo4j.dump: not a neo4j-admin dump (header "PGDM", expected DZV1 or DGV1)']);
    await Promise.all([arts.cleanup(), bad.cleanup()]);
  });

  it('a failing stop_command dumps nothing and leaves the DBMS running', async () => {
    await seed();
    const arts = await memoryArtifacts();
    await assert.rejects(make({ stop_command: ['false'] }).backup(arts.sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.match(err.message, /^neo4j source graph: stop_command \(false\) exited with code 1$/);
      return true;
    });
    assert.deepEqual(arts.reader().list(), []);
    const [[[n]]] = await server.cypher('neo4j', 'MATCH (n) RETURN count(n)');
    assert.equal(n, 401);
    await arts.cleanup();
  });

  it('a hanging stop_command is stopped after start_timeout, with one line naming it', async () => {
    const arts = await memoryArtifacts();
    await assert.rejects(make({ stop_command: ['sleep', '600'], start_timeout: '1s' }).backup(arts.sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.equal(err.message, 'neo4j source graph: stop_command (sleep 600) did not finish within 1 s and was stopped');
      return true;
    });
    assert.deepEqual(arts.reader().list(), []);
    await arts.cleanup();
  });

  it('a failing dump fails the backup and the DBMS is started again', async () => {
    await seed();
    const arts = await memoryArtifacts();
    const source = make({ admin_command: [...server.adminCommand, '--no-such-option'] });
    const before = await source.fingerprint(testContext());
    await assert.rejects(source.backup(arts.sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'source');
      assert.match(err.message, /^neo4j source graph: dump of database system \(.*neo4j-admin --no-such-option database dump system --to-stdout\) exited with code \d+/);
      return true;
    });
    assert.deepEqual(compareFingerprints(before, await source.fingerprint(testContext())), []);
    await arts.cleanup();
  });

  it('a wrong password is one line without the secret', async () => {
    const wrong = 'wrong-Secret-123';
    await assert.rejects(make({}, wrong).fingerprint(testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.match(err.message, /authentication failed$/);
      assert.ok(!JSON.stringify([err.message, err.hint, err.data]).includes(wrong));
      return true;
    });
  });
});
