/**
 * The mysql source against a real MariaDB server: seed two databases, back up into memory,
 * drop them, restore, and compare fingerprints and data; restore into other database names;
 * a server killed mid-dump; a wrong password. The server's root password contains quotes,
 * a backslash and "#", to prove the option file carries any password intact.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { SourceError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import type { ArtifactSink, Fingerprint } from '../../src/core/source.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { mysqlType } from '../../src/sources/mysql/mysql-source.ts';
import { mysqlConfigSchema } from '../../src/sources/mysql/mysql-config.ts';
import type { MysqlConfigInput } from '../../src/sources/mysql/mysql-config.ts';
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
CREATE TABLE items (
  id INT AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  data BLOB,
  note TEXT,
  price DECIMAL(10, 2) DEFAULT 0.00,
  KEY name_idx (name)
) ENGINE=InnoDB;
CREATE TRIGGER items_touch BEFORE INSERT ON items FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'touched');
INSERT INTO items (name, data, note, price) VALUES
  ('plain', 0x00FF10, 'first', 1.50),
  ('ünïcødé ✓ 日本 😀', NULL, NULL, NULL),
  ('quote''s "and" tab\tback\\\\slash', X'', 'note', 0),
  ('newline\ninside', REPEAT(0xAB00, 5000), NULL, 99.99);
DELETE FROM items WHERE id = 3;
INSERT INTO items (name) VALUES ('after a gap');
CREATE VIEW item_names AS SELECT id, UPPER(name) AS name FROM items WHERE note IS NOT NULL;
CREATE FUNCTION add_one(x INT) RETURNS INT DETERMINISTIC RETURN x + 1;
CREATE TABLE \`Mixed Case\` (\`Key\` INT PRIMARY KEY, v JSON);
INSERT INTO \`Mixed Case\` SELECT seq, JSON_OBJECT('g', seq) FROM seq_1_to_500;

CREATE DATABASE shop;
USE shop;
CREATE TABLE customers (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE);
CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer BIGINT, total DECIMAL(12, 2), placed DATE DEFAULT '2024-01-01',
  CONSTRAINT orders_customer FOREIGN KEY (customer) REFERENCES customers (id));
INSERT INTO customers (email) SELECT CONCAT('c', seq, '@example.org') FROM seq_1_to_300;
INSERT INTO orders (customer, total) SELECT 1 + seq % 300, seq * 1.25 FROM seq_1_to_2000;
CREATE PROCEDURE order_count(OUT n INT) SELECT COUNT(*) INTO n FROM orders;
CREATE EVENT purge_nothing ON SCHEDULE EVERY 1 DAY DO DELETE FROM orders WHERE id < 0;
`;

/** md5 of every row in key order plus the next AUTO_INCREMENT: equal before and after = same data. */
const DATA_CHECK: Record<string, string> = {
  app: `SET NAMES utf8mb4; SET SESSION group_concat_max_len = 100000000;
    SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, name, HEX(data), IFNULL(note, 'NULL'), IFNULL(price, 'NULL')) ORDER BY id SEPARATOR '\\n')) FROM items;
    SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', \`Key\`, v) ORDER BY \`Key\`)) FROM \`Mixed Case\`;
    SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, name) ORDER BY id)) FROM item_names;
    SELECT add_one(41);`,
  shop: `SET NAMES utf8mb4; SET SESSION group_concat_max_len = 100000000;
    SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, customer, total, placed) ORDER BY id)) FROM orders;
    SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', id, email) ORDER BY id)) FROM customers;`,
};

describe('mysql source (MariaDB)', { skip: missingBinaries(...SERVER_BINARIES.mariadb, 'mariadb-dump') }, () => {
  let my: MariadbServer;
  let tmp: TempDir;
  const secrets: Record<string, string> = {};
  const password = `p"a'ss\\w #x;${randomBytes(6).toString('hex')}`;

  const deps = (): SourceDeps => ({
    runner: localRunner,
    tmpDir: tmp.path,
    secrets: async (ref: SecretRef) => {
      const value = 'env' in ref ? secrets[ref.env] : undefined;
      if (value === undefined) throw new Error('test secret not set');
      return value;
    },
  });
  const source = (name: string, extra: Partial<MysqlConfigInput> = {}, secret = 'MY_PASSWORD') =>
    mysqlType.create(name, mysqlConfigSchema.parse({ connection: { host: my.host, port: my.port, user: 'root', password: { env: secret } }, ...extra }), deps());
  const dataOf = (db: string, as = db) => my.sql(DATA_CHECK[as], db);

  before(async () => {
    my = await startMariadb({ password });
    tmp = await tempDir('mysql-source');
    secrets.MY_PASSWORD = password;
    secrets.MY_WRONG = `${password}-wrong`;
    await my.sql(SEED);
  });
  after(async () => {
    await my?.stop();
    await tmp?.cleanup();
  });

  let arts: MemoryArtifacts;
  let backupFp: Fingerprint;
  const before_: Record<string, string> = {};

  it('backs up every database, wipes them, restores them with equal fingerprints and data', async () => {
    const src = source('my');
    for (const db of ['app', 'shop']) before_[db] = await dataOf(db);
    arts = await memoryArtifacts();
    const ctx = testContext();
    const outcome = await src.backup(arts.sink, ctx);
    backupFp = outcome.fingerprint;

    assert.deepEqual(arts.reader().list().map((a) => a.name), ['app.sql', 'shop.sql']);
    assert.match(outcome.serverVersion ?? '', /^MariaDB \d+\.\d+/);
    assert.ok(outcome.commands.every((c) => c.startsWith('mariadb-dump --single-transaction') && !c.includes(password)), outcome.commands.join('\n'));
    assert.deepEqual(await readdir(tmp.path), [], 'nothing is written to the temp dir');
    const fp = backupFp as { databases: Record<string, { tables: Record<string, number> }> };
    assert.deepEqual(fp.databases.app.tables, { 'Mixed Case': 500, items: 4 });
    assert.deepEqual(fp.databases.shop.tables, { customers: 300, orders: 2000 });
    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx)), []);

    await my.sql('DROP DATABASE app; DROP DATABASE shop;');
    await src.restore(arts.reader(), ctx);

    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx)), []);
    for (const db of ['app', 'shop']) assert.equal(await dataOf(db), before_[db], `data of ${db}`);
    // AUTO_INCREMENT continues where it was, and the trigger came back.
    await my.sql(`INSERT INTO items (name) VALUES ('next')`, 'app');
    assert.equal((await my.sql(`SELECT CONCAT(id, ' ', note) FROM items WHERE name = 'next'`, 'app')).trim(), '6 touched');
    await my.sql(`DELETE FROM items WHERE name = 'next'`, 'app');
  });

  it('restores into other database names, keeping the character set', async () => {
    const src = source('my');
    const ctx = testContext();
    await src.restore(arts.reader(), ctx, { to: 'app=app_copy,shop=shop_copy' });
    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx, { to: 'app=app_copy,shop=shop_copy' })), []);
    assert.equal(await dataOf('app_copy', 'app'), before_.app);
    assert.equal(await dataOf('shop_copy', 'shop'), before_.shop);
    assert.equal((await my.sql(`SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'app_copy'`)).trim(), 'utf8mb4_unicode_ci');

    const one = source('my-app', { databases: ['app'] });
    await assert.rejects(one.restore(arts.reader(), ctx, { to: 'single' }), (e) => e instanceof SourceError && /2 databases/.test(e.message));
    const single = await memoryArtifacts();
    const outcome = await one.backup(single.sink, ctx);
    await one.restore(single.reader(), ctx, { to: 'app_single' });
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await one.fingerprint(ctx, { to: 'app_single' })), []);
    await single.cleanup();
  });

  it('replaces a database whole with an older snapshot, and leaves it untouched when the copy differs from the backup', async () => {
    const src = source('my', { databases: ['app', 'shop'] });
    const ctx = testContext();
    await my.sql('CREATE TABLE later (x INT); INSERT INTO later VALUES (1); DELETE FROM orders WHERE id > 10;', 'shop');
    const lifeboatDbs = async () => (await my.sql(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'lifeboat\\_%'`)).trim();

    const wrong = structuredClone(backupFp) as { databases: { shop: { tables: Record<string, number> } } };
    wrong.databases.shop.tables.orders = 1999;
    await assert.rejects(src.restore(arts.reader(), ctx, { expected: wrong }), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /differs from the backup .* database "shop" was not replaced/);
      return true;
    });
    assert.equal((await my.sql('SELECT COUNT(*) FROM orders', 'shop')).trim(), '10');
    assert.equal((await my.sql('SELECT COUNT(*) FROM later', 'shop')).trim(), '1');
    assert.equal(await lifeboatDbs(), '0');

    await my.sql('CREATE DATABASE lifeboat_restore_20260101T000000_shop');
    await src.restore(arts.reader(), ctx, { expected: backupFp });
    assert.ok(ctx.warnings.some((w) => w.includes('interrupted restore: lifeboat_restore_20260101T000000_shop;')), ctx.warnings.join('\n'));
    await my.sql('DROP DATABASE lifeboat_restore_20260101T000000_shop');
    assert.deepEqual(compareFingerprints(backupFp, await src.fingerprint(ctx)), []);
    for (const db of ['app', 'shop']) assert.equal(await dataOf(db), before_[db], `data of ${db}`);
    assert.equal((await my.sql(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' AND TABLE_NAME = 'later'`)).trim(), '0');
    assert.equal((await my.sql(`SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'app'`)).trim(), 'utf8mb4_unicode_ci');
    assert.equal(await lifeboatDbs(), '0');

    // With no live database to keep, a copy that differs is still restored (the caller reports the difference).
    await src.restore(arts.reader(), ctx, { to: 'shop=shop_lost', expected: wrong });
    assert.equal((await my.sql('SELECT COUNT(*) FROM orders', 'shop_lost')).trim(), '2000');
    await my.sql('DROP DATABASE shop_lost');
  });

  it('fails with a SourceError naming the source and host, without the password, on a wrong password', async () => {
    const src = source('my-wrong', {}, 'MY_WRONG');
    await assert.rejects(src.backup((await memoryArtifacts()).sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /mysql source "my-wrong"/);
      assert.ok(err.message.includes(my.host), err.message);
      assert.match(err.message, /Access denied/);
      assert.ok(!err.message.includes(secrets.MY_WRONG) && !err.message.includes(password));
      assert.ok(!JSON.stringify(err.data).includes(password));
      return true;
    });
  });

  // ~80 MB of rows: more than the kernel buffers between the server and the dump tool
  // (socket buffers autotune to tens of MB), so the kill lands while rows still stream.
  it('rejects the backup when the server dies in the middle of a dump', async () => {
    await my.sql(`CREATE DATABASE big; USE big; CREATE TABLE big (id INT PRIMARY KEY, payload TEXT) ENGINE=MyISAM;
      INSERT INTO big SELECT seq, REPEAT(MD5(seq), 12) FROM seq_1_to_200000;`);
    const src = source('my-big', { databases: ['big'] });
    const mem = await memoryArtifacts();
    let killed = false;
    const sink: ArtifactSink = {
      putFiles: mem.sink.putFiles,
      put: (name, data) => mem.sink.put(name, (async function* () {
        for await (const chunk of data) {
          if (!killed) {
            killed = true;
            await my.kill();
          }
          yield chunk;
        }
      })()),
    };
    await assert.rejects(src.backup(sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.match(err.message, /dump of database "big" (failed|is truncated)/);
      return true;
    });
    assert.ok(killed);
    await mem.cleanup();
    await arts.cleanup();
  });
});
