/**
 * verify and scratchTarget of the postgres source against a real server: a good backup passes
 * pg_restore's checks (even with the server unreachable), a backup cut in its TOC, in its table
 * data or in globals.sql is reported per artifact, and a drill round trip (scratch databases,
 * restore, fingerprint, cleanup) leaves no drill database behind and the live ones untouched.
 */
import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { SourceError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import type { Fingerprint } from '../../src/core/source.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { postgresType } from '../../src/sources/postgres/postgres-source.ts';
import { postgresConfigSchema } from '../../src/sources/postgres/postgres-config.ts';
import type { PostgresConfigInput } from '../../src/sources/postgres/postgres-config.ts';
import type { SecretRef, SourceDeps } from '../../src/sources/source-kit.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import type { MemoryArtifacts } from '../support/memory-artifacts.ts';
import { missingBinaries } from '../support/require.ts';
import { SERVER_BINARIES, startPostgres } from '../support/servers.ts';
import type { PostgresServer } from '../support/servers.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const SEED_APP = `
CREATE SCHEMA app;
CREATE TABLE app.items (id serial PRIMARY KEY, name text NOT NULL, payload text);
INSERT INTO app.items (name, payload) SELECT 'item ' || g, repeat(md5(g::text), 8) FROM generate_series(1, 3000) g;
CREATE TABLE "Mixed Case" ("Key" int PRIMARY KEY);
INSERT INTO "Mixed Case" SELECT generate_series(1, 50);
CREATE TABLE measurements (id int, k int) PARTITION BY RANGE (k);
CREATE TABLE measurements_low PARTITION OF measurements FOR VALUES FROM (0) TO (100);
INSERT INTO measurements SELECT g, g % 100 FROM generate_series(1, 200) g;
`;
const SEED_SHOP = `CREATE TABLE orders (id serial PRIMARY KEY, total numeric);
INSERT INTO orders (total) SELECT g * 1.5 FROM generate_series(1, 500) g;`;

describe('postgres source: verify and drill', { skip: missingBinaries(...SERVER_BINARIES.postgres, 'pg_dump', 'pg_restore', 'pg_dumpall') }, () => {
  let pg: PostgresServer;
  let tmp: TempDir;
  let arts: MemoryArtifacts;
  let backupFp: Fingerprint;

  const deps = (): SourceDeps => ({
    runner: localRunner,
    tmpDir: tmp.path,
    secrets: async (ref: SecretRef) => {
      if ('env' in ref && ref.env === 'PG_TEST_PASSWORD') return pg.password;
      throw new Error('test secret not set');
    },
  });
  const source = (extra: Partial<PostgresConfigInput> = {}) =>
    postgresType.create('pg', postgresConfigSchema.parse({ connection: { host: pg.host, port: pg.port, user: pg.user, password: { env: 'PG_TEST_PASSWORD' } }, ...extra }), deps());
  const databases = async () => (await pg.psql('SELECT datname FROM pg_database ORDER BY datname')).trim().split('\n');

  /** A copy of the backup with some artifacts replaced. */
  async function damaged(replace: Record<string, (b: Buffer) => Buffer>): Promise<MemoryArtifacts> {
    const copy = await memoryArtifacts();
    for (const a of arts.reader().list()) {
      const bytes = arts.get(a.name) ?? Buffer.alloc(0);
      copy.set(a.name, replace[a.name]?.(bytes) ?? bytes);
    }
    return copy;
  }

  before(async () => {
    pg = await startPostgres();
    tmp = await tempDir('pg-drill');
    await pg.psql('CREATE DATABASE app; CREATE DATABASE shop;');
    await pg.psql(SEED_APP, 'app');
    await pg.psql(SEED_SHOP, 'shop');
    arts = await memoryArtifacts();
    backupFp = (await source().backup(arts.sink, testContext())).fingerprint;
  });
  after(async () => {
    await arts?.cleanup();
    await pg?.stop();
    await tmp?.cleanup();
  });

  it('passes a good backup with pg_restore alone, even with the server unreachable', async () => {
    // Port 1: nothing listens there, so any connection attempt would fail the check.
    const offline = postgresType.create('pg', postgresConfigSchema.parse({ connection: { host: '127.0.0.1', port: 1, user: 'nobody', password: { env: 'UNSET' } } }), deps());
    const r = await offline.verify!(arts.reader(), testContext());
    assert.deepEqual(r.problems, []);
    const text = r.checks.join('\n');
    assert.match(text, /globals\.sql: \d+ bytes, ends with pg_dumpall's/);
    // app: items, Mixed Case, the partitioned parent and its partition; only the parent has no data entry.
    assert.match(text, /pg_restore --list: \d+ entries in app\.dump: 4 tables, 3 with a TABLE DATA entry/);
    assert.match(text, /pg_restore --list: \d+ entries in shop\.dump: 1 tables, 1 with a TABLE DATA entry/);
    assert.match(text, /pg_restore read all of app\.dump \(\d+ bytes, data of 3 tables\)/);
  });

  it('reports a dump cut in its table data, one cut in its TOC, and a truncated globals.sql, each by name', async () => {
    const app = arts.get('app.dump')!;
    const bad = await damaged({
      'app.dump': (b) => b.subarray(0, b.length - 2000),
      'shop.dump': (b) => b.subarray(0, 200),
      'globals.sql': (b) => b.subarray(0, b.length - 60),
    });
    assert.ok(app.length > 50_000, 'the app archive has table data past its TOC');
    const r = await source().verify!(bad.reader(), testContext());
    await bad.cleanup();
    const problems = r.problems.join('\n');
    assert.equal(r.problems.length, 3, problems);
    assert.match(problems, /^app\.dump: pg_restore cannot read it to its end \(exit 1\).*end of file/m);
    assert.match(problems, /^shop\.dump: pg_restore --list cannot read its table of contents/m);
    assert.match(problems, /^globals\.sql: does not end with pg_dumpall's/m);
    // The TOC of the data-truncated archive still lists: only the full read catches it.
    assert.match(r.checks.join('\n'), /entries in app\.dump/);
  });

  it('reports an archive renamed to another database and a missing globals.sql', async () => {
    const swapped = await memoryArtifacts();
    swapped.set('app.dump', arts.get('shop.dump')!);
    const r = await source().verify!(swapped.reader(), testContext());
    await swapped.cleanup();
    assert.deepEqual(r.problems, [
      'globals.sql: missing from the snapshot (every postgres backup stores the roles and tablespaces)',
      'app.dump: the archive was dumped from database "shop", not "app"',
    ]);
  });

  it('drills: scratch databases, restore, equal fingerprints, cleanup drops them, live data untouched', async () => {
    const src = source();
    const ctx = testContext();
    const before_ = await databases();
    const scratch = await src.scratchTarget!(arts.reader(), ctx);
    const pairs = scratch.to.split(',').map((p) => p.split('='));
    assert.deepEqual(pairs.map(([from]) => from), ['app', 'shop']);
    for (const [from, to] of pairs) assert.match(to, new RegExp(`^lifeboat_drill_\\d{8}T\\d{6}_${from}$`));
    assert.match(scratch.description, new RegExp(`^databases lifeboat_drill_.*_app, lifeboat_drill_.*_shop on ${pg.host}:${pg.port}$`));
    const during = await databases();
    for (const [, to] of pairs) assert.ok(during.includes(to), `${to} was created`);

    await src.restore(arts.reader(), ctx, { to: scratch.to });
    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx, { to: scratch.to })), []);
    await scratch.cleanup();
    await scratch.cleanup(); // a second call is harmless
    assert.deepEqual(await databases(), before_, 'every drill database is gone');
    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx)), [], 'the live databases are untouched');
  });

  it('cleans up after a restore that failed half way, and while a session is still connected', async () => {
    const src = source({ jobs: 1 });
    const ctx = testContext();
    const before_ = await databases();
    const scratch = await src.scratchTarget!(arts.reader(), ctx);
    const bad = await damaged({ 'shop.dump': (b) => b.subarray(0, b.length - 500) });
    await assert.rejects(src.restore(bad.reader(), ctx, { to: scratch.to }));
    await bad.cleanup();
    // A client still connected to a drill database must not keep it alive (WITH (FORCE)).
    const appScratch = scratch.to.split(',')[0].split('=')[1];
    const holder = localRunner.start({ command: 'psql', args: ['-X', '-q', '-d', appScratch, '-c', 'SELECT pg_sleep(60)'], env: pg.env() as Record<string, string> });
    holder.stdout.resume();
    await pollUntilConnected(pg, appScratch);
    await scratch.cleanup();
    await holder.done;
    assert.deepEqual(await databases(), before_);
  });

  it('refuses a drill whose scratch name already exists, drops only what it created, leaves that database alone', async () => {
    // A frozen clock makes the drill's names known in advance.
    mock.timers.enable({ apis: ['Date'], now: Date.UTC(2026, 10, 22, 4, 12, 5) });
    try {
      await pg.psql('CREATE DATABASE "lifeboat_drill_20261122T041205_shop"');
      const before_ = await databases();
      await assert.rejects(source().scratchTarget!(arts.reader(), testContext()), (e: unknown) => {
        assert.ok(e instanceof SourceError, String(e));
        assert.match(e.message, /creating drill database "lifeboat_drill_20261122T041205_shop".*already exists/);
        return true;
      });
      // app's drill database was created first and dropped again; the existing one stays.
      assert.deepEqual(await databases(), before_);
    } finally {
      mock.timers.reset();
      await pg.psql('DROP DATABASE IF EXISTS "lifeboat_drill_20261122T041205_shop"');
    }
  });
});

/** Waits until a session shows up in the drill database (a real probe, no fixed sleep). */
async function pollUntilConnected(pg: PostgresServer, db: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const n = (await pg.psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${db}'`)).trim();
    if (n !== '0') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no session appeared in ${db}`);
}
