/**
 * verify and scratchTarget of the mysql source against a real MariaDB server: a real dump passes
 * (header, CREATE DATABASE, counts, trailer) with the server unreachable, truncated or foreign
 * dumps are reported per artifact, and a drill round trip (scratch names, restore, fingerprint,
 * cleanup) leaves no drill database behind and the live ones untouched.
 */
import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { SourceError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import type { Fingerprint } from '../../src/core/source.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { mysqlType } from '../../src/sources/mysql/mysql-source.ts';
import { mysqlConfigSchema } from '../../src/sources/mysql/mysql-config.ts';
import type { SecretRef, SourceDeps } from '../../src/sources/source-kit.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import type { MemoryArtifacts } from '../support/memory-artifacts.ts';
import { missingBinaries } from '../support/require.ts';
import { SERVER_BINARIES, startMariadb } from '../support/servers.ts';
import type { MariadbServer } from '../support/servers.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const SEED = `
SET NAMES utf8mb4;
CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE app;
CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, payload TEXT);
INSERT INTO items (name, payload) SELECT CONCAT('item ', seq), REPEAT(MD5(seq), 8) FROM seq_1_to_3000;
CREATE TABLE \`Mixed Case\` (\`Key\` INT PRIMARY KEY);
INSERT INTO \`Mixed Case\` SELECT seq FROM seq_1_to_50;
CREATE VIEW item_names AS SELECT id, UPPER(name) AS name FROM items;
CREATE DATABASE shop;
USE shop;
CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, total DECIMAL(12, 2));
INSERT INTO orders (total) SELECT seq * 1.5 FROM seq_1_to_500;
`;

describe('mysql source: verify and drill', { skip: missingBinaries(...SERVER_BINARIES.mariadb, 'mariadb-dump') }, () => {
  let my: MariadbServer;
  let tmp: TempDir;
  let arts: MemoryArtifacts;
  let backupFp: Fingerprint;

  const deps = (): SourceDeps => ({
    runner: localRunner,
    tmpDir: tmp.path,
    secrets: async (ref: SecretRef) => {
      if ('env' in ref && ref.env === 'MY_PASSWORD') return my.password;
      throw new Error('test secret not set');
    },
  });
  const source = () => mysqlType.create('my', mysqlConfigSchema.parse({ connection: { host: my.host, port: my.port, user: 'root', password: { env: 'MY_PASSWORD' } } }), deps());
  const databases = async () => (await my.sql('SHOW DATABASES;')).trim().split('\n').sort();

  before(async () => {
    my = await startMariadb();
    tmp = await tempDir('mysql-drill');
    await my.sql(SEED);
    arts = await memoryArtifacts();
    backupFp = (await source().backup(arts.sink, testContext())).fingerprint;
  });
  after(async () => {
    await arts?.cleanup();
    await my?.stop();
    await tmp?.cleanup();
  });

  it('passes a real dump without a server: header, CREATE DATABASE, table count, trailer', async () => {
    const offline = mysqlType.create('my', mysqlConfigSchema.parse({ connection: { host: '127.0.0.1', port: 1, user: 'nobody' } }), deps());
    const r = await offline.verify!(arts.reader(), testContext());
    assert.deepEqual(r.problems, []);
    assert.equal(r.checks.length, 2);
    // A view's placeholder is not a CREATE TABLE line: two tables in app.
    assert.match(r.checks[0], /^app\.sql: -- MariaDB dump [\d.]+.*; 2 CREATE TABLE and \d+ INSERT statements, \d+ bytes, ends with "-- Dump completed/);
    assert.match(r.checks[1], /^shop\.sql: .*; 1 CREATE TABLE and \d+ INSERT statements/);
  });

  it('reports truncated dumps, a dump of another database and an empty one, each by name', async () => {
    const bad = await memoryArtifacts();
    const app = arts.get('app.sql')!;
    bad.set('app.sql', app.subarray(0, Math.floor(app.length / 2)));
    bad.set('shop.sql', arts.get('shop.sql')!.subarray(0, arts.get('shop.sql')!.length - 40));
    bad.set('other.sql', arts.get('shop.sql')!);
    bad.set('empty.sql', Buffer.alloc(0));
    const r = await source().verify!(bad.reader(), testContext());
    await bad.cleanup();
    assert.deepEqual(r.problems, [
      'app.sql: does not end with the "-- Dump completed" trailer: it is truncated',
      'shop.sql: does not end with the "-- Dump completed" trailer: it is truncated',
      'other.sql: has no CREATE DATABASE line for "other" (a --databases dump has one; restoring needs it)',
      'empty.sql: is empty',
    ]);
  });

  it('drills: scratch names, restore, equal fingerprints, cleanup drops them, live data untouched', async () => {
    const src = source();
    const ctx = testContext();
    const before_ = await databases();
    const scratch = await src.scratchTarget!(arts.reader(), ctx);
    const pairs = scratch.to.split(',').map((p) => p.split('='));
    assert.deepEqual(pairs.map(([from]) => from), ['app', 'shop']);
    for (const [from, to] of pairs) assert.match(to, new RegExp(`^lifeboat_drill_\\d{8}T\\d{6}_${from}$`));
    assert.match(scratch.description, new RegExp(`^databases lifeboat_drill_.*_app, lifeboat_drill_.*_shop on ${my.host}:${my.port}$`));

    await src.restore(arts.reader(), ctx, { to: scratch.to });
    const after_ = await databases();
    for (const [, to] of pairs) assert.ok(after_.includes(to), `${to} was restored`);
    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx, { to: scratch.to })), []);
    // The drill copy keeps the original character set (the dump's CREATE DATABASE made it).
    const collation = await my.sql(`SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${pairs[0][1]}'`);
    assert.equal(collation.trim(), 'utf8mb4_unicode_ci');

    await scratch.cleanup();
    await scratch.cleanup();
    assert.deepEqual(await databases(), before_, 'every drill database is gone');
    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx)), [], 'the live databases are untouched');
  });

  it('refuses a drill whose scratch name already exists, and leaves that database alone', async () => {
    // A frozen clock makes the drill's name known in advance.
    mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 10, 22, 4, 12, 5) });
    try {
      await my.sql('CREATE DATABASE lifeboat_drill_20261122T041205_shop; CREATE TABLE lifeboat_drill_20261122T041205_shop.keep (x INT);');
      await assert.rejects(source().scratchTarget!(arts.reader(), testContext()), (e: unknown) => {
        assert.ok(e instanceof SourceError, String(e));
        assert.match(e.message, /drill database "lifeboat_drill_20261122T041205_shop" already exists/);
        return true;
      });
      assert.equal((await my.sql(`SHOW TABLES FROM lifeboat_drill_20261122T041205_shop`)).trim(), 'keep');
    } finally {
      mock.timers.reset();
      await my.sql('DROP DATABASE IF EXISTS lifeboat_drill_20261122T041205_shop');
    }
  });
});
