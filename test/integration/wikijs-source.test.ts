/**
 * The wikijs source against a real PostgreSQL server and a real git clone: the conformance
 * suite (database and git storage wiped together, restored together), a files half that cannot
 * be restored named as such after the database, verify of both halves, and a drill into a
 * scratch database and directory that are removed afterwards.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, describe, test } from 'node:test';
import { SourceError } from '../../src/core/errors.ts';
import { compareFingerprints } from '../../src/core/source.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { filesType } from '../../src/sources/files/files-source.ts';
import { postgresType } from '../../src/sources/postgres/postgres-source.ts';
import { wikijsType as buildWikijsType } from '../../src/sources/wikijs/wikijs-source.ts';

const wikijsType = buildWikijsType({ postgres: postgresType as never, files: filesType as never });
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import { missingBinaries } from '../support/require.ts';
import { SERVER_BINARIES, startPostgres } from '../support/servers.ts';
import type { PostgresServer } from '../support/servers.ts';
import { sourceSuite } from '../suites/source-suite.ts';
import { tempDir } from '../support/tmp.ts';

const run = promisify(execFile);
const skip = missingBinaries(...SERVER_BINARIES.postgres, 'pg_dump', 'pg_restore', 'pg_dumpall', 'git');

/** The Wiki.js 2 tables that hold what the tests change (a subset of its schema). */
const SEED = `
CREATE TABLE users (id serial PRIMARY KEY, email varchar(255) NOT NULL UNIQUE, name varchar(255) NOT NULL);
CREATE TABLE pages (id serial PRIMARY KEY, path varchar(255) NOT NULL, title varchar(255) NOT NULL, content text, "authorId" int REFERENCES users(id));
CREATE TABLE "assetData" (id int PRIMARY KEY, data bytea NOT NULL);
INSERT INTO users (email, name) VALUES ('admin@example.org', 'Admin'), ('ed@example.org', 'Ed');
INSERT INTO pages (path, title, content, "authorId") SELECT 'docs/p' || g, 'Page ' || g, repeat('# Heading ' || g || E'\\n', 20), 1 FROM generate_series(1, 40) g;
INSERT INTO "assetData" VALUES (1, decode(repeat('89504e47', 256), 'hex'));
`;

let pgStarted: Promise<PostgresServer> | undefined;
const pg = (): Promise<PostgresServer> => (pgStarted ??= startPostgres());
after(async () => {
  if (pgStarted) await (await pgStarted).stop();
});

async function git(dir: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-c', 'user.name=wiki', '-c', 'user.email=wiki@example.org', ...args], { cwd: dir });
  return stdout;
}

let n = 0;
/** A fresh Wiki.js database and git storage clone, and a wikijs source over them. */
async function fixture() {
  const server = await pg();
  const db = `wikijs_${process.pid}_${n++}`;
  const tmp = await tempDir('wikijs');
  const repo = path.join(tmp.path, 'data', 'repo');
  const configFile = path.join(tmp.path, 'config.yml');
  await server.psql(`CREATE DATABASE ${db}`);
  await mkdir(path.join(tmp.path, 'work'), { mode: 0o700 });
  const source = wikijsType.create('wiki', {
    database: { connection: { host: server.host, port: server.port, user: server.user, password: { env: 'WIKI_DB_PASS' } }, name: db },
    git_storage: repo,
    config_file: configFile,
  }, {
    runner: localRunner,
    tmpDir: path.join(tmp.path, 'work'),
    secrets: async () => server.password,
  });
  return {
    server, db, repo, tmp, source, configFile,
    async seed() {
      await server.psql(SEED, db);
      await mkdir(path.join(repo, 'docs'), { recursive: true });
      await git(repo, 'init', '-q', '-b', 'main');
      for (let i = 1; i <= 5; i++) await writeFile(path.join(repo, 'docs', `p${i}.md`), `# Page ${i}\n`);
      await git(repo, 'add', '.');
      await git(repo, 'commit', '-q', '-m', 'sync from Wiki.js');
      await writeFile(configFile, `port: 3000\ndb:\n  type: postgres\n  db: ${db}\n`);
    },
    async cleanup() {
      await server.psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await tmp.cleanup();
    },
  };
}

if (skip) {
  describe('wikijs source', { skip }, () => {});
} else {
  sourceSuite('wikijs (PostgreSQL + git storage)', async () => {
    const fx = await fixture();
    return {
      source: fx.source,
      seed: fx.seed,
      async wipe() {
        await fx.server.psql(`DELETE FROM pages WHERE id > 30; UPDATE users SET name = 'x';`, fx.db);
        await git(fx.repo, 'rm', '-q', 'docs/p1.md');
        await git(fx.repo, 'commit', '-q', '-m', 'page deleted');
      },
      cleanup: fx.cleanup,
    };
  });

  describe('wikijs source', () => {
    test('the database and the git storage come back together: rows, the clone\'s HEAD and a working tree', async () => {
      const fx = await fixture();
      const arts = await memoryArtifacts();
      try {
        await fx.seed();
        const head = (await git(fx.repo, 'rev-parse', 'HEAD')).trim();
        const out = await fx.source.backup(arts.sink, testContext());
        assert.deepEqual(arts.reader().list().map((a) => a.name), ['globals.sql', `${fx.db}.dump`]);
        const fp = out.fingerprint as { database: { databases: Record<string, { tables: Record<string, number> }> }; files: { files: number } };
        assert.equal(fp.database.databases[fx.db].tables['public.pages'], 40);
        assert.ok(fp.files.files > 6);

        await fx.server.psql('TRUNCATE pages, "assetData"', fx.db);
        await git(fx.repo, 'commit', '-q', '--allow-empty', '-m', 'later');
        await fx.source.restore(arts.reader(), testContext(), { expected: out.fingerprint });
        assert.equal((await fx.server.psql('SELECT count(*) FROM pages', fx.db)).trim(), '40');
        assert.equal((await fx.server.psql('SELECT length(data) FROM "assetData"', fx.db)).trim(), '1024');
        assert.equal((await git(fx.repo, 'rev-parse', 'HEAD')).trim(), head);
        assert.equal((await git(fx.repo, 'status', '--porcelain')).trim(), '');
      } finally {
        await arts.cleanup();
        await fx.cleanup();
      }
    });

    test('a snapshot without the configured git storage fails after the database, saying which half is restored', async () => {
      const fx = await fixture();
      const arts = await memoryArtifacts();
      try {
        await fx.seed();
        await fx.source.backup(arts.sink, testContext());
        const moved = wikijsType.create('wiki', {
          database: { connection: { host: fx.server.host, port: fx.server.port, user: fx.server.user, password: { env: 'WIKI_DB_PASS' } }, name: fx.db },
          git_storage: path.join(fx.tmp.path, 'elsewhere', 'repo'),
        }, { runner: localRunner, tmpDir: path.join(fx.tmp.path, 'work'), secrets: async () => fx.server.password });
        await assert.rejects(moved.restore(arts.reader(), testContext()), (err: unknown) => {
          assert.ok(err instanceof SourceError, String(err));
          assert.match(err.message, /^wikijs source wiki: the database was restored, the files were not: source wiki: the snapshot holds no .*elsewhere\/repo$/);
          assert.match(err.hint ?? '', /pick a snapshot taken with this `paths` list/);
          return true;
        });
      } finally {
        await arts.cleanup();
        await fx.cleanup();
      }
    });

    test('a database that is not Wiki.js\'s is named in a warning', async () => {
      const fx = await fixture();
      const arts = await memoryArtifacts();
      try {
        await fx.server.psql('CREATE TABLE other (id int)', fx.db);
        await mkdir(fx.repo, { recursive: true });
        await writeFile(fx.configFile, 'db: {}\n');
        const ctx = testContext();
        await fx.source.backup(arts.sink, ctx);
        assert.deepEqual(ctx.warnings, [`wikijs source wiki: database ${fx.db} has no public.pages, public.users: is it Wiki.js's database (db.db in its config.yml)?`]);
      } finally {
        await arts.cleanup();
        await fx.cleanup();
      }
    });

    test('verify reads both halves; a drill restores into a scratch database and directory, equal, then removes them', async () => {
      const fx = await fixture();
      const arts = await memoryArtifacts();
      try {
        await fx.seed();
        const out = await fx.source.backup(arts.sink, testContext());
        const v = await fx.source.verify!(arts.reader(), testContext());
        assert.deepEqual(v.problems, []);
        assert.ok(v.checks.some((c) => c.startsWith(`pg_restore read all of ${fx.db}.dump`)), v.checks.join('\n'));
        assert.ok(v.checks.some((c) => c.includes(`${fx.repo} tree hash`)), v.checks.join('\n'));

        const scratch = await fx.source.scratchTarget!(arts.reader(), testContext());
        const { database, files } = JSON.parse(scratch.to) as { database: string; files: string };
        await fx.source.restore(arts.reader(), testContext(), { to: scratch.to });
        assert.deepEqual(compareFingerprints(out.fingerprint, await fx.source.fingerprint(testContext(), { to: scratch.to })), []);
        await scratch.cleanup();
        const drillDb = database.split('=')[1];
        assert.equal((await fx.server.psql(`SELECT count(*) FROM pg_database WHERE datname = '${drillDb}'`)).trim(), '0');
        await assert.rejects(readdir(files), { code: 'ENOENT' });
      } finally {
        await arts.cleanup();
        await fx.cleanup();
      }
    });
  });
}
