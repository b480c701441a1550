// The sqlite source: the conformance suite in WAL and rollback-journal mode, a backup taken
// while another connection commits in a loop, and restores that must not replace a target with
// a damaged artifact.
import assert from 'node:assert/strict';
import { writeFile, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { LifeboatError } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { sourceSuite } from '../../../test/suites/source-suite.ts';
import type { SourceDeps } from '../source-kit.ts';
import { sqliteConfigSchema } from './sqlite-config.ts';
import { SqliteSource, sqliteType } from './sqlite-source.ts';

const noSecrets: SourceDeps['secrets'] = async () => {
  throw new Error('no secrets in this test');
};

async function fixture() {
  const tmp = await tempDir('sqlite');
  const file = path.join(tmp.path, 'app.db');
  const deps: SourceDeps = { runner: localRunner, secrets: noSecrets, tmpDir: path.join(tmp.path, 'work') };
  const source = sqliteType.create('appdb', sqliteConfigSchema.parse({ path: file }), deps);
  return { tmp, file, deps, source };
}

for (const mode of ['wal', 'delete'] as const) {
  sourceSuite(`sqlite (${mode} journal)`, async () => {
    const { tmp, file, source } = await fixture();
    return {
      source,
      async seed() {
        const db = new DatabaseSync(file);
        db.exec(`PRAGMA journal_mode=${mode};
          CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
          CREATE INDEX users_name ON users(name);
          CREATE TABLE "odd ""name"""(v BLOB);`);
        const ins = db.prepare('INSERT INTO users(name) VALUES (?)');
        db.exec('BEGIN');
        for (let i = 0; i < 500; i++) ins.run(`user-${i}`);
        db.prepare('INSERT INTO "odd ""name""" VALUES (?)').run(Buffer.alloc(10_000, 7));
        db.exec('COMMIT');
        db.close();
      },
      async wipe() {
        const db = new DatabaseSync(file);
        db.exec('DELETE FROM users WHERE id % 2 = 0');
        db.close();
      },
      cleanup: () => tmp.cleanup(),
    };
  });
}

describe('sqlite source', () => {
  test('config rejects unknown keys and a missing path', () => {
    assert.equal(sqliteConfigSchema.safeParse({ path: '/x.db', user: 'u' }).success, false);
    assert.equal(sqliteConfigSchema.safeParse({}).success, false);
  });

  // A writer commits one row into each of two tables per transaction, so every consistent
  // moment has equal counts; a torn copy would show them unequal (or fail integrity_check).
  for (const mode of ['wal', 'delete'] as const) {
    test(`backup while another connection writes in a loop is one consistent moment (${mode})`, async (t) => {
      const { tmp, file, source } = await fixture();
      const arts = await memoryArtifacts();
      t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
      const db = new DatabaseSync(file);
      db.exec(`PRAGMA journal_mode=${mode};
        CREATE TABLE a(id INTEGER PRIMARY KEY, pad BLOB); CREATE TABLE b(id INTEGER PRIMARY KEY, pad BLOB);`);
      // Enough pages that the copy takes a while compared with one commit.
      const ins = db.prepare('INSERT INTO a(pad) VALUES (randomblob(4000))');
      db.exec('BEGIN');
      for (let i = 0; i < 1000; i++) ins.run();
      db.exec('COMMIT; INSERT INTO b(pad) SELECT pad FROM a');
      db.close();

      const shared = new Int32Array(new SharedArrayBuffer(8)); // [0] stop flag, [1] commits
      const writer = new Worker(
        `const { DatabaseSync } = require('node:sqlite');
         const { workerData } = require('node:worker_threads');
         const s = workerData.shared;
         const db = new DatabaseSync(workerData.file, { timeout: 60000 });
         db.exec('PRAGMA synchronous=OFF');
         const a = db.prepare('INSERT INTO a(pad) VALUES (randomblob(100))');
         const b = db.prepare('INSERT INTO b(pad) VALUES (randomblob(100))');
         while (Atomics.load(s, 0) === 0) {
           db.exec('BEGIN IMMEDIATE'); a.run(); b.run(); db.exec('COMMIT');
           Atomics.add(s, 1, 1);
           Atomics.wait(s, 0, 0, 1); // an application pauses between writes; a hot loop would starve readers
         }
         db.close();`,
        { eval: true, workerData: { file, shared } },
      );
      const exited = new Promise<number>((resolve, reject) => {
        writer.once('error', reject);
        writer.once('exit', resolve);
      });
      try {
        // Wait until the writer is really committing before the copy starts.
        while (Atomics.load(shared, 1) < 20) await new Promise((r) => setImmediate(r));
        const before = Atomics.load(shared, 1);
        const outcome = await source.backup(arts.sink, testContext());
        const after = Atomics.load(shared, 1);
        t.diagnostic(`commits during the backup: ${after - before}`);

        const fp = outcome.fingerprint as { integrity: string; tables: Record<string, number> };
        assert.equal(fp.integrity, 'ok');
        assert.equal(fp.tables.a, fp.tables.b, 'the copy mixes two moments');
        assert.ok(fp.tables.a >= 1000 + before && fp.tables.a <= 1000 + after, `count ${fp.tables.a} is not a moment of the backup`);

        // The stored bytes themselves, opened as a database, say the same.
        const copy = path.join(tmp.path, 'stored.db');
        await writeFile(copy, arts.get('app.db') ?? Buffer.alloc(0));
        const check = new DatabaseSync(copy);
        assert.equal(check.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok');
        assert.equal(check.prepare('SELECT count(*) AS n FROM a').get()?.n, fp.tables.a);
        assert.equal(check.prepare('SELECT count(*) AS n FROM b').get()?.n, fp.tables.b);
        check.close();
      } finally {
        Atomics.store(shared, 0, 1);
        assert.equal(await exited, 0);
      }
    });
  }

  test('restore to `to:` creates another file with equal fingerprint, leaving the original alone', async (t) => {
    const { tmp, file, source } = await fixture();
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const db = new DatabaseSync(file);
    db.exec('PRAGMA journal_mode=wal; CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);');
    const outcome = await source.backup(arts.sink, testContext());
    db.exec('INSERT INTO t VALUES (4)');
    db.close();

    const other = path.join(tmp.path, 'elsewhere', 'copy.db');
    await source.restore(arts.reader(), testContext(), { to: other });
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext(), { to: other })), []);
    assert.notDeepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext())), []);
  });

  test('restore removes a stale -wal of the target instead of replaying it onto the new file', async (t) => {
    const { tmp, file, source } = await fixture();
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const db = new DatabaseSync(file);
    db.exec('PRAGMA journal_mode=wal; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x); INSERT INTO t VALUES (1);');
    const outcome = await source.backup(arts.sink, testContext());
    // Leave un-checkpointed commits in the -wal, then "crash": copy db+wal while open.
    db.exec('INSERT INTO t VALUES (2), (3)');
    const walBytes = await readFile(`${file}-wal`);
    db.close();
    await writeFile(`${file}-wal`, walBytes);
    await source.restore(arts.reader(), testContext());
    await assert.rejects(stat(`${file}-wal`), { code: 'ENOENT' });
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext())), []);
  });

  test('a damaged artifact is refused and the target stays as it was', async (t) => {
    const { tmp, file, source } = await fixture();
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const db = new DatabaseSync(file);
    db.exec('CREATE TABLE t(x); INSERT INTO t VALUES (1);');
    db.close();
    await source.backup(arts.sink, testContext());
    const before = await readFile(file);
    arts.set('app.db', Buffer.from('this is not a database, just some bytes of text'));
    await assert.rejects(source.restore(arts.reader(), testContext()), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'source', String(err));
      assert.match(err.message, /app\.db/);
      return true;
    });
    assert.deepEqual(await readFile(file), before);
  });

  test('backup of a missing or non-database file is a SourceError, nothing stored', async (t) => {
    const { tmp, file } = await fixture();
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const source = new SqliteSource('gone', { path: file }, { runner: localRunner, secrets: noSecrets, tmpDir: tmp.path });
    await assert.rejects(source.backup(arts.sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'source');
      assert.ok(err.message.includes(file));
      return true;
    });
    assert.deepEqual(await source.fingerprint(testContext()), { missing: true });

    await writeFile(file, 'plain text, not a database');
    await assert.rejects(source.backup(arts.sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'source', String(err));
      assert.equal(err.retryable, false);
      return true;
    });
    assert.deepEqual(arts.reader().list(), []);
  });
});
