/**
 * The postgres source against a real PostgreSQL server: seed two databases (and a role that
 * owns tables), back up into memory, drop everything, restore, and compare fingerprints and
 * data; restore into other database names; a server killed mid-dump; a wrong password.
 */
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, SourceError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import type { ArtifactSink, Fingerprint } from '../../src/core/source.ts';
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

/** Waits until a session is connected to `db` (the restore must end it). */
async function pollUntilConnected(pg: PostgresServer, db: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await pg.psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${db}'`)).trim() !== '0') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no session on ${db}`);
}

const SEED_APP = `
CREATE SCHEMA app;
CREATE TABLE app.items (
  id serial PRIMARY KEY,
  name text NOT NULL,
  data bytea,
  note text,
  price numeric(10, 2) CHECK (price >= 0)
);
CREATE INDEX items_name_idx ON app.items (lower(name));
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.note := coalesce(NEW.note, 'touched'); RETURN NEW; END $$;
CREATE TRIGGER items_touch BEFORE INSERT ON app.items FOR EACH ROW EXECUTE FUNCTION app.touch();
INSERT INTO app.items (name, data, note, price) VALUES
  ('plain', '\\x00ff10', 'first', 1.50),
  ('ünïcødé ✓ 日本', NULL, NULL, NULL),
  ('quote''s "and" tab	x', '\\x', 'note', 0),
  ('newline
inside', decode(repeat('ab', 5000), 'hex'), NULL, 99.99);
ALTER TABLE app.items ADD COLUMN dropped int;
ALTER TABLE app.items DROP COLUMN dropped;
CREATE VIEW app.item_names AS SELECT id, upper(name) AS name FROM app.items WHERE note IS NOT NULL;
CREATE SEQUENCE app.ticket_seq START 100;
SELECT nextval('app.ticket_seq'), nextval('app.ticket_seq');
CREATE TABLE public.scratch_log (line text);
INSERT INTO public.scratch_log SELECT 'x' FROM generate_series(1, 10);
CREATE TABLE "Mixed Case" ("Key" int PRIMARY KEY, v jsonb);
INSERT INTO "Mixed Case" SELECT g, jsonb_build_object('g', g) FROM generate_series(1, 500) g;
`;

const SEED_SHOP = `
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text UNIQUE NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer bigint REFERENCES customers (id), total numeric, placed date DEFAULT '2024-01-01');
INSERT INTO customers (email) SELECT 'c' || g || '@example.org' FROM generate_series(1, 300) g;
INSERT INTO orders (customer, total) SELECT 1 + g % 300, g * 1.25 FROM generate_series(1, 2000) g;
ALTER TABLE orders OWNER TO shop_owner;
`;

/** md5 of every row of the checked tables in key order: equal before and after = same data. */
const DATA_CHECK: Record<string, string> = {
  app: `SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM app.items t
        UNION ALL SELECT md5(string_agg(t::text, '|' ORDER BY "Key")) FROM "Mixed Case" t
        UNION ALL SELECT last_value::text FROM app.ticket_seq
        UNION ALL SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM app.item_names t`,
  shop: `SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM orders t
         UNION ALL SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM customers t
         UNION ALL SELECT tableowner FROM pg_tables WHERE tablename = 'orders'`,
};

describe('postgres source', { skip: missingBinaries(...SERVER_BINARIES.postgres, 'pg_dump', 'pg_restore', 'pg_dumpall') }, () => {
  let pg: PostgresServer;
  let tmp: TempDir;
  const secrets: Record<string, string> = {};

  const deps = (): SourceDeps => ({
    runner: localRunner,
    tmpDir: tmp.path,
    secrets: async (ref: SecretRef) => {
      const value = 'env' in ref ? secrets[ref.env] : undefined;
      if (value === undefined) throw new Error('test secret not set');
      return value;
    },
  });
  const source = (name: string, extra: Partial<PostgresConfigInput> = {}, password = 'PG_TEST_PASSWORD') =>
    postgresType.create(name, postgresConfigSchema.parse({
      connection: { host: pg.host, port: pg.port, user: pg.user, password: { env: password } },
      ...extra,
    }), deps());
  const dataOf = async (db: string, as = db) => pg.psql(DATA_CHECK[as], db);

  before(async () => {
    pg = await startPostgres();
    tmp = await tempDir('pg-source');
    secrets.PG_TEST_PASSWORD = pg.password;
    secrets.PG_WRONG = `${pg.password}-wrong`;
    await pg.psql('CREATE ROLE shop_owner NOLOGIN; CREATE DATABASE app; CREATE DATABASE shop;');
    await pg.psql(SEED_APP, 'app');
    await pg.psql(SEED_SHOP, 'shop');
  });
  after(async () => {
    await pg?.stop();
    await tmp?.cleanup();
  });

  let arts: MemoryArtifacts;
  let backupFp: Fingerprint;
  const before_: Record<string, string> = {};

  it('backs up every database, wipes them, restores them with equal fingerprints and data', async () => {
    const src = source('pg', { databases: 'all', exclude_tables: ['public.scratch_*'] });
    for (const db of ['app', 'shop']) before_[db] = await dataOf(db);
    arts = await memoryArtifacts();
    const ctx = testContext();
    const outcome = await src.backup(arts.sink, ctx);
    backupFp = outcome.fingerprint;

    // The empty maintenance database is skipped; the globals come first.
    assert.deepEqual(arts.reader().list().map((a) => a.name), ['globals.sql', 'app.dump', 'shop.dump']);
    assert.match(outcome.serverVersion ?? '', new RegExp(`^PostgreSQL ${pg.version.replace('.', '\\.')}`));
    assert.ok(outcome.commands.some((c) => c.includes('pg_dump --format=custom --compress=0 --snapshot=')));
    assert.ok(!outcome.commands.join('\n').includes(pg.password));
    const fp = backupFp as { databases: Record<string, { tables: Record<string, number> }> };
    assert.deepEqual(Object.keys(fp.databases), ['app', 'shop']);
    assert.equal(fp.databases.app.tables['app.items'], 4);
    assert.equal(fp.databases.app.tables['public."Mixed Case"'], 500);
    assert.equal(fp.databases.app.tables['public.scratch_log'], undefined, 'excluded table is not fingerprinted');
    assert.equal(fp.databases.shop.tables['public.orders'], 2000);
    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx)), []);

    await pg.psql('DROP DATABASE app; DROP DATABASE shop; DROP ROLE shop_owner;');
    await src.restore(arts.reader(), ctx);

    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx)), []);
    for (const db of ['app', 'shop']) assert.equal(await dataOf(db), before_[db], `data of ${db}`);
    assert.equal((await pg.psql(`SELECT count(*) FROM pg_tables WHERE tablename = 'scratch_log'`, 'app')).trim(), '0');
    // The trigger came back too: it fills a missing note.
    assert.equal((await pg.psql(`INSERT INTO app.items (name) VALUES ('n') RETURNING note`, 'app')).trim(), 'touched');
    await pg.psql(`DELETE FROM app.items WHERE name = 'n'`, 'app');
  });

  it('restores over existing databases and into other names with a mapping', async () => {
    const src = source('pg', { databases: 'all', exclude_tables: ['public.scratch_*'] });
    const ctx = testContext();
    await pg.psql(`DELETE FROM orders WHERE id > 10`, 'shop');
    await src.restore(arts.reader(), ctx);
    assert.equal(await dataOf('shop'), before_.shop);

    await src.restore(arts.reader(), ctx, { to: 'app=app_copy,shop=shop_copy' });
    const copyFp = await src.fingerprint(ctx, { to: 'app=app_copy,shop=shop_copy' });
    assert.deepEqual(compareFingerprints(backupFp, copyFp), []);
    assert.equal(await dataOf('app_copy', 'app'), before_.app);
    assert.equal(await dataOf('shop_copy', 'shop'), before_.shop);
  });

  it('streams a one-database backup into pg_restore (jobs: 1) under another name', async () => {
    const src = source('pg-shop', { databases: ['shop'], jobs: 1 });
    const one = await memoryArtifacts();
    const ctx = testContext();
    const outcome = await src.backup(one.sink, ctx);
    await assert.rejects(src.restore(one.reader(), ctx, { to: 'nope=x' }), (e) => e instanceof SourceError && /not in the backup/.test(e.message));
    await src.restore(one.reader(), ctx, { to: 'shop_single' });
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await src.fingerprint(ctx, { to: 'shop_single' })), []);
    assert.equal(await dataOf('shop_single', 'shop'), before_.shop);
    await one.cleanup();
  });

  it('replaces a database whole with an older snapshot: later tables gone, database properties as in the snapshot', async () => {
    await pg.psql(`CREATE DATABASE props OWNER shop_owner ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
      ALTER DATABASE props SET work_mem = '7MB'; COMMENT ON DATABASE props IS 'as in the snapshot';`);
    await pg.psql('CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept SELECT generate_series(1, 50);', 'props');
    const src = source('pg-props', { databases: ['props'], jobs: 1 });
    const mem = await memoryArtifacts();
    const ctx = testContext();
    const outcome = await src.backup(mem.sink, ctx);
    const propsSql = `SELECT json_build_object('owner', pg_get_userbyid(d.datdba), 'enc', pg_encoding_to_char(d.encoding), 'collate', d.datcollate,
        'conf', (SELECT setconfig FROM pg_db_role_setting WHERE setdatabase = d.oid AND setrole = 0),
        'comment', shobj_description(d.oid, 'pg_database'), 'conn', d.datallowconn) FROM pg_database d WHERE datname = 'props'`;
    const propsBefore = await pg.psql(propsSql);

    // After the snapshot: a new table, more rows, other database settings; and a session that stays connected.
    await pg.psql('CREATE TABLE later (x int); INSERT INTO kept SELECT generate_series(51, 60);', 'props');
    await pg.psql(`ALTER DATABASE props SET work_mem = '9MB'; ALTER DATABASE props OWNER TO postgres; COMMENT ON DATABASE props IS 'changed';`);
    const session = spawn(pg.binDir ? `${pg.binDir}/psql` : 'psql', ['-X', '-d', 'props', '-c', 'SELECT pg_sleep(300)'], { env: { ...process.env, ...pg.env() }, stdio: 'ignore' });
    const sessionEnded = new Promise<number | null>((resolve) => session.on('exit', (code) => resolve(code)));
    const lifeboatDbs = async () => (await pg.psql(`SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_%'`)).trim();
    try {
      await pollUntilConnected(pg, 'props');

      // A copy that does not match the backup's fingerprint never replaces the live database.
      const wrong = structuredClone(outcome.fingerprint) as { databases: { props: { tables: Record<string, number> } } };
      wrong.databases.props.tables['public.kept'] = 49;
      await assert.rejects(src.restore(mem.reader(), ctx, { expected: wrong }), (err: unknown) => {
        assert.ok(err instanceof SourceError, String(err));
        assert.match(err.message, /differs from the backup .* database "props" was not replaced/);
        return true;
      });
      assert.equal((await pg.psql(`SELECT count(*) FROM kept`, 'props')).trim(), '60');
      assert.equal((await pg.psql(`SELECT count(*) FROM pg_tables WHERE tablename = 'later'`, 'props')).trim(), '1');
      assert.equal(await lifeboatDbs(), '0');

      // What a killed restore would have left is named, not touched.
      await pg.psql('CREATE DATABASE "lifeboat_restore_20260101T000000_props"');
      await src.restore(mem.reader(), ctx, { expected: outcome.fingerprint });
      assert.ok(ctx.warnings.some((w) => w.includes('interrupted restore: lifeboat_restore_20260101T000000_props;')), ctx.warnings.join('\n'));
      await pg.psql('DROP DATABASE "lifeboat_restore_20260101T000000_props"');
      assert.deepEqual(compareFingerprints(outcome.fingerprint, await src.fingerprint(ctx)), []);
      assert.equal((await pg.psql(`SELECT count(*) FROM pg_tables WHERE tablename = 'later'`, 'props')).trim(), '0');
      assert.equal((await pg.psql(`SELECT count(*) FROM kept`, 'props')).trim(), '50');
      assert.equal(await pg.psql(propsSql), propsBefore);
      assert.match(propsBefore, /"owner" : "shop_owner", "enc" : "SQL_ASCII", "collate" : "C", "conf" : \["work_mem=7MB"\], "comment" : "as in the snapshot", "conn" : true/);
      assert.equal(await lifeboatDbs(), '0');
      assert.notEqual(await sessionEnded, 0, 'the session on the replaced database was ended');

      // restore.to names another database: created from the snapshot the same way.
      await src.restore(mem.reader(), ctx, { to: 'props_copy', expected: outcome.fingerprint });
      assert.deepEqual(compareFingerprints(outcome.fingerprint, await src.fingerprint(ctx, { to: 'props_copy' })), []);
      assert.match(await pg.psql(propsSql.replace("'props'", "'props_copy'")), /"owner" : "shop_owner", "enc" : "SQL_ASCII"/);

      // With no live database to keep, a copy that differs is still restored (the caller reports the difference).
      await src.restore(mem.reader(), ctx, { to: 'props_lost', expected: wrong });
      assert.equal((await pg.psql(`SELECT count(*) FROM kept`, 'props_lost')).trim(), '50');
    } finally {
      session.kill('SIGKILL');
      await mem.cleanup();
    }
  });

  it('fails with a SourceError naming the source and host, without the password, on a wrong password', async () => {
    const src = source('pg-wrong', {}, 'PG_WRONG');
    const sink = (await memoryArtifacts()).sink;
    await assert.rejects(src.backup(sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /postgres source "pg-wrong"/);
      assert.ok(err.message.includes(pg.host), err.message);
      assert.match(err.message, /password/);
      assert.ok(!err.message.includes(secrets.PG_WRONG) && !err.message.includes(pg.password));
      assert.ok(!JSON.stringify(err.data).includes(secrets.PG_WRONG));
      return true;
    });
  });

  // Cancelling and killing. 200k rows of ~400 bytes: far more than the kernel can buffer between server and pg_dump
  // (socket buffers autotune to tens of MB), so the kill lands while COPY still runs.
  it('rejects the backup when it is cancelled or the server dies in the middle of a dump', async () => {
    await pg.psql('CREATE DATABASE big');
    await pg.psql(`CREATE TABLE big (id int PRIMARY KEY, payload text);
      INSERT INTO big SELECT g, repeat(md5(g::text), 12) FROM generate_series(1, 200000) g;`, 'big');
    const src = source('pg-big', { databases: ['big'] });
    const mem = await memoryArtifacts();

    // Cancelling mid-dump (Ctrl-C) rejects with a CancelledError, not a dump failure.
    const abort = new AbortController();
    const cancelling: ArtifactSink = {
      putFiles: mem.sink.putFiles,
      put: (name, data) => mem.sink.put(name, (async function* () {
        for await (const chunk of data) {
          if (name === 'big.dump') abort.abort();
          yield chunk;
        }
      })()),
    };
    await assert.rejects(src.backup(cancelling, testContext(abort.signal)), (err: unknown) => err instanceof CancelledError);

    let killed = false;
    const sink: ArtifactSink = {
      putFiles: mem.sink.putFiles,
      put: (name, data) => mem.sink.put(name, (async function* () {
        for await (const chunk of data) {
          if (name === 'big.dump' && !killed) {
            killed = true;
            await pg.kill();

          }
          yield chunk;
        }
      })()),
    };
    await assert.rejects(src.backup(sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /pg_dump of database "big" failed/);
      return true;
    });
    assert.ok(killed);
    await mem.cleanup();
    await arts.cleanup();
  });
});
