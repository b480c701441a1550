/**
 * A Gitea on PostgreSQL, as the docs advise backing it up: the gitea source with
 * skip_database (files, repositories, config) plus a postgres source for its database, both
 * against real servers. Backup, wipe, restore (database first, Gitea stopped meanwhile) with
 * the Gitea fingerprint equal; the dump holds no database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { collect } from '../process-kit.ts';
import { postgresType } from '../postgres/postgres-source.ts';
import { postgresConfigSchema } from '../postgres/postgres-config.ts';
import { missingGitea, seedGitea, startGitea, wipeGitea, type GiteaServer } from '../../../test/support/gitea.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { startPostgres, type PostgresServer } from '../../../test/support/postgres.ts';
import { missingBinaries } from '../../../test/support/require.ts';
import { tempDir, type TempDir } from '../../../test/support/tmp.ts';
import { DUMP_ARTIFACT, giteaType } from './gitea-source.ts';
import { scanTar } from './gitea-dump.ts';

const skip = (await missingGitea()) || missingBinaries('initdb', 'postgres', 'psql', 'pg_dump', 'pg_restore');

describe('gitea source on PostgreSQL (skip_database + a postgres source)', { skip }, () => {
  let pg: PostgresServer;
  let g: GiteaServer;
  let tmp: TempDir;
  before(async () => {
    pg = await startPostgres();
    await pg.psql('CREATE DATABASE gitea');
    g = await startGitea({ postgres: { host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'gitea' } });
    tmp = await tempDir('gitea-pg');
  });
  after(async () => {
    await g?.stop();
    await pg?.stop();
    await tmp?.cleanup();
  });

  it('backs up files and database apart and restores both with the fingerprint equal', async () => {
    const secrets = async (ref: unknown): Promise<string> => ((ref as { env: string }).env === 'PG_PW' ? pg.password : g.token);
    const deps = { runner: localRunner, secrets, tmpDir: tmp.path };
    const gitea = giteaType.create('code', {
      bin: g.bin, config: g.config, work_path: g.workPath, user: g.user?.name, url: g.url, token: { env: 'GITEA_TOKEN' },
      skip_database: true, stop_command: g.stopCommand, start_command: g.startCommand,
    }, deps);
    // As the loader does: the type's schema fills in the defaults the source relies on.
    const db = postgresType.create('code-db', postgresConfigSchema.parse({
      connection: { host: pg.host, port: pg.port, user: pg.user, password: { env: 'PG_PW' } }, databases: ['gitea'],
    }), deps);
    await seedGitea(g, tmp.path);
    const ctx = testContext();
    const dbArts = await memoryArtifacts();
    const gArts = await memoryArtifacts();
    await db.backup(dbArts.sink, ctx);
    const out = await gitea.backup(gArts.sink, ctx);
    const scan = await scanTar((async function* () { yield gArts.get(DUMP_ARTIFACT) as Buffer; })());
    assert.ok(scan.entries.some((e) => e.name.startsWith('repos/ops/infra.git/')));
    assert.ok(!scan.entries.some((e) => e.name === 'gitea-db.sql'), 'skip_database still dumped the database');
    assert.deepEqual((await gitea.verify!(gArts.reader(), ctx)).problems, []);

    await wipeGitea(g, tmp.path);
    assert.notDeepEqual(compareFingerprints(out.fingerprint, await gitea.fingerprint(ctx)), []);
    // Gitea stopped while its database is replaced; the gitea restore starts it again.
    const stop = await collect(localRunner, { command: 'bash', args: ['-c', g.stopCommand] });
    assert.equal(stop.code, 0, stop.stderr);
    await db.restore(dbArts.reader(), ctx);
    await gitea.restore(gArts.reader(), ctx);
    assert.deepEqual(compareFingerprints(out.fingerprint, await gitea.fingerprint(ctx)), []);
    await dbArts.cleanup();
    await gArts.cleanup();
  });
});
