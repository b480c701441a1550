// verify and scratchTarget of the sqlite source: a good backup passes integrity_check on a
// temporary copy that is deleted after; truncated, overwritten or foreign artifacts are reported
// by name; a drill restores into a scratch file, fingerprints equal, and cleanup removes it while
// the live database stays byte for byte the same.
import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import type { SourceDeps } from '../source-kit.ts';
import { sqliteConfigSchema } from './sqlite-config.ts';
import { sqliteType } from './sqlite-source.ts';

const noSecrets: SourceDeps['secrets'] = async () => {
  throw new Error('no secrets in this test');
};

/** A WAL-mode database with two tables, backed up into memory. */
async function backedUp() {
  const tmp = await tempDir('sqlite-drill');
  const file = path.join(tmp.path, 'app.db');
  const work = path.join(tmp.path, 'work');
  const source = sqliteType.create('appdb', sqliteConfigSchema.parse({ path: file }), { runner: localRunner, secrets: noSecrets, tmpDir: work });
  const db = new DatabaseSync(file);
  db.exec(`PRAGMA journal_mode=wal;
    CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE INDEX users_name ON users(name);
    CREATE TABLE notes(body TEXT);`);
  const ins = db.prepare('INSERT INTO users(name) VALUES (?)');
  db.exec('BEGIN');
  for (let i = 0; i < 2000; i++) ins.run(`user-${i}-${'x'.repeat(50)}`);
  db.exec(`INSERT INTO notes VALUES ('one'); COMMIT;`);
  db.close();
  const arts = await memoryArtifacts();
  const outcome = await source.backup(arts.sink, testContext());
  return {
    source, file, work, arts, fingerprint: outcome.fingerprint,
    cleanup: async () => {
      await arts.cleanup();
      await tmp.cleanup();
    },
  };
}

describe('sqlite source: verify and drill', () => {
  test('verify passes a good backup and leaves no copy behind', async () => {
    const fx = await backedUp();
    try {
      const r = await fx.source.verify!(fx.arts.reader(), testContext());
      assert.deepEqual(r.problems, []);
      assert.match(r.checks[0], /^app\.db: integrity_check ok, \d+ pages, 2 tables, 2001 rows$/);
      assert.deepEqual(await readdir(fx.work), []);
    } finally {
      await fx.cleanup();
    }
  });

  test('verify reports a truncated copy, a damaged page, something that is not a database, and a missing artifact', async () => {
    const fx = await backedUp();
    try {
      const good = fx.arts.get('app.db')!;
      const verify = async (bytes: Buffer) => {
        fx.arts.set('app.db', bytes);
        const r = await fx.source.verify!(fx.arts.reader(), testContext());
        assert.deepEqual(r.checks, []);
        assert.equal(r.problems.length, 1, r.problems.join('\n'));
        return r.problems[0];
      };
      assert.match(await verify(good.subarray(0, Math.floor(good.length / 2))), /^app\.db: (integrity_check reports|not a readable SQLite database)/);
      // Garbage over the middle pages: the header is intact, the b-tree is not.
      const pageSize = good.readUInt16BE(16);
      const smashed = Buffer.from(good);
      smashed.fill(0xa5, pageSize * 3, pageSize * 6);
      assert.match(await verify(smashed), /^app\.db: (integrity_check reports|not a readable SQLite database)/);
      assert.match(await verify(Buffer.from('this is not a database, only text')), /^app\.db: not a readable SQLite database: file is not a database/);
      assert.deepEqual(await readdir(fx.work), [], 'no copy is left behind after a failure either');

      const other = await memoryArtifacts();
      other.set('a.db', good);
      other.set('b.db', good);
      const r = await fx.source.verify!(other.reader(), testContext());
      assert.match(r.problems[0], /the snapshot has no artifact app\.db \(it has a\.db, b\.db\)/);
      await other.cleanup();
    } finally {
      await fx.cleanup();
    }
  });

  test('drill: scratch file, restore, equal fingerprint, cleanup removes it, live file untouched', async () => {
    const fx = await backedUp();
    try {
      const liveBytes = await readFile(fx.file);
      const ctx = testContext();
      const scratch = await fx.source.scratchTarget!(fx.arts.reader(), ctx);
      assert.equal(path.dirname(path.dirname(scratch.to)), fx.work, 'the scratch file is in a temp dir under tmpDir');
      assert.equal(path.basename(scratch.to), 'app.db');
      assert.notEqual(scratch.to, fx.file);
      await fx.source.restore(fx.arts.reader(), ctx, { to: scratch.to });
      assert.deepEqual(compareFingerprints(fx.fingerprint, await fx.source.fingerprint(ctx, { to: scratch.to })), []);
      await scratch.cleanup();
      await scratch.cleanup();
      await assert.rejects(stat(path.dirname(scratch.to)), /ENOENT/);
      assert.deepEqual(await readdir(fx.work), []);
      assert.deepEqual(await readFile(fx.file), liveBytes, 'the live database file is unchanged');
      assert.deepEqual(compareFingerprints(fx.fingerprint, await fx.source.fingerprint(ctx)), []);
    } finally {
      await fx.cleanup();
    }
  });
});
