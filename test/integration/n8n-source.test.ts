/**
 * The n8n source against a real n8n 2.41.1 CLI (test/support/n8n.ts installs it on demand),
 * each instance a SQLite database in its own user folder. Each CLI call takes seconds, so the
 * seed is imported by the CLI once and its database copied into each fixture, and the tests
 * damage and inspect that database with SQL. The conformance suite, then the
 * pitfalls of n8n's import: credentials stay encrypted with the instance's key (the warning when
 * that key is not in the backup, the same ciphertext after a drill), workflows come back
 * inactive (named in a warning), and an import overwrites by id and deletes nothing.
 */
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { before, describe, test } from 'node:test';
import { compareFingerprints } from '../../src/core/source.ts';
import { localRunner } from '../../src/transport/local-runner.ts';
import { n8nConfigSchema } from '../../src/sources/n8n/n8n-config.ts';
import { n8nType } from '../../src/sources/n8n/n8n-source.ts';
import { sourceSuite } from '../suites/source-suite.ts';
import { memoryArtifacts, testContext } from '../support/memory-artifacts.ts';
import { installN8n, migratedUserFolder, missingN8n, n8nEnv, runN8n } from '../support/n8n.ts';
import { tempDir } from '../support/tmp.ts';

const KEY = 'n8n-enc-key-4c1d';
const skip = missingN8n();
let bin: string;
/** A user folder whose database holds SEED_CREDENTIAL and SEED_WORKFLOWS, imported by the real CLI. */
let seeded: string;

before(async () => {
  if (skip !== false) return;
  bin = await installN8n();
  const t = await tempDir('n8n-seeded');
  process.once('exit', () => void t.cleanup());
  await cp(path.join(await migratedUserFolder(KEY), '.n8n'), path.join(t.path, '.n8n'), { recursive: true });
  await importJson(t.path, KEY, 'credentials', [credential(C1)]);
  await importJson(t.path, KEY, 'workflow', [workflow(A1), workflow(B2)]);
  seeded = t.path;
}, { timeout: 45 * 60_000 });

const [A1, B2, Z9, C1, C2] = ['a1a1a1a1a1a1a1a1', 'b2b2b2b2b2b2b2b2', 'z9z9z9z9z9z9z9z9', 'c1c1c1c1c1c1c1c1', 'c2c2c2c2c2c2c2c2'];
const workflow = (id: string, hours = 1) => ({
  id, name: `Flow ${id}`, active: false,
  nodes: [{ id: `${id}-node`, name: 'Schedule', type: 'n8n-nodes-base.scheduleTrigger', typeVersion: 1.2, position: [0, 0], parameters: { rule: { interval: [{ field: 'hours', hoursInterval: hours }] } } }],
  connections: {}, settings: { executionOrder: 'v1' },
});
/** Plain `data`: import:credentials encrypts it with the instance's key, as the editor would. */
const credential = (id: string, password = 'pw-1') => ({ id, name: `Cred ${id}`, type: 'httpBasicAuth', data: { user: 'u', password } });

const n8n = runN8n;

async function importJson(home: string, key: string | undefined, kind: 'workflow' | 'credentials', rows: unknown[]): Promise<void> {
  const file = path.join(home, `seed-${kind}.json`);
  await writeFile(file, JSON.stringify(rows));
  await n8n(home, key, `import:${kind}`, `--input=${file}`);
}

/** A source on its own user folder, a copy of the migrated (empty) template. */
async function fixture(extra: Record<string, unknown> = {}) {
  const tmp = await tempDir('n8n');
  const home = path.join(tmp.path, 'home');
  await cp(path.join(await migratedUserFolder(KEY), '.n8n'), path.join(home, '.n8n'), { recursive: true });
  const env = await n8nEnv(home);
  delete env.N8N_USER_FOLDER;
  const config = n8nConfigSchema.parse({ n8n_bin: bin, user_folder: home, encryption_key: { env: 'N8N_ENCRYPTION_KEY' }, env, ...extra });
  const source = n8nType.create('automations', config, { runner: localRunner, secrets: async () => KEY, tmpDir: path.join(tmp.path, 'work') });
  /** Replaces the database with the seeded one. */
  const seed = () => cp(path.join(seeded, '.n8n'), path.join(home, '.n8n'), { recursive: true, force: true });
  /** SQL on the instance's database (n8n is not running: each CLI call opens and closes it). */
  const sql = (statement: string, ...params: string[]): unknown[] => {
    const db = new DatabaseSync(path.join(home, '.n8n', 'database.sqlite'));
    try {
      return db.prepare(statement).all(...params);
    } finally {
      db.close();
    }
  };
  return { tmp, home, source, seed, sql, cleanup: () => tmp.cleanup() };
}

describe('n8n source against n8n 2.41.1', { skip, timeout: 10 * 60_000 }, () => {
  sourceSuite('n8n', async () => {
    const fx = await fixture();
    return {
      source: fx.source,
      seed: fx.seed,
      async wipe() {
        fx.sql("UPDATE workflow_entity SET nodes = '[]' WHERE id = ?", A1);
        fx.sql("UPDATE credentials_entity SET data = 'damaged' WHERE id = ?", C1);
      },
      cleanup: fx.cleanup,
    };
  });

  test('restore overwrites by id, deletes nothing, and names the workflows n8n deactivated; a drill keeps the ciphertext', async () => {
    const fx = await fixture();
    const arts = await memoryArtifacts();
    try {
      await fx.seed();
      // An active workflow, as the editor leaves it: import cannot make one (it deactivates).
      fx.sql('UPDATE workflow_entity SET active = 1 WHERE id = ?', A1);
      const ctx = testContext();
      const out = await fx.source.backup(arts.sink, ctx);
      assert.deepEqual(ctx.warnings, []);
      assert.ok(!JSON.stringify([out.commands, ctx.infos]).includes(KEY), 'the key reaches the CLI only through env');
      const [cred] = JSON.parse(arts.get('credentials.json')!.toString()) as Array<{ data: unknown }>;
      assert.equal(typeof cred.data, 'string', 'credentials are stored encrypted');
      assert.ok(!arts.get('credentials.json')!.toString().includes('pw-1'));

      await importJson(fx.home, KEY, 'workflow', [workflow(A1, 6), workflow(Z9)]);
      const rctx = testContext();
      await fx.source.restore(arts.reader(), rctx);
      assert.match(rctx.warnings.join('\n'), /n8n imports workflows inactive; these were active in the backup: a1a1a1a1a1a1a1a1 \(activate them in the editor\)/);
      assert.match(rctx.warnings.join('\n'), /workflows z9z9z9z9z9z9z9z9 are not in the backup and were left as they are/);
      assert.deepEqual(fx.sql('SELECT id, active FROM workflow_entity ORDER BY id').map((r) => Object.values(r as object)), [[A1, 0], [B2, 0], [Z9, 0]]);
      const fp = (await fx.source.fingerprint(testContext())) as { workflows: Record<string, string> };
      assert.equal(fp.workflows.a1a1a1a1a1a1a1a1, (out.fingerprint as { workflows: Record<string, string> }).workflows.a1a1a1a1a1a1a1a1, 'a1 is back as it was in the backup');

      const scratch = await fx.source.scratchTarget!(arts.reader(), testContext());
      await fx.source.restore(arts.reader(), testContext(), { to: scratch.to });
      assert.deepEqual(compareFingerprints(out.fingerprint, await fx.source.fingerprint(testContext(), { to: scratch.to })), []);
      const file = path.join(scratch.to, 'decrypted.json');
      await n8n(scratch.to, KEY, 'export:credentials', '--all', '--decrypted', `--output=${file}`);
      const decrypted = JSON.parse(await readFile(file, 'utf8')) as Array<{ data: { password: string } }>;
      assert.equal(decrypted[0].data.password, 'pw-1', 'the drill instance decrypts the credential with the same key');
      await scratch.cleanup();
    } finally {
      await arts.cleanup();
      await fx.cleanup();
    }
  });

  test('without encryption_key the backup warns that the credentials need the instance key, and the key is not in the backup', async () => {
    const fx = await fixture({ encryption_key: undefined });
    const arts = await memoryArtifacts();
    try {
      await importJson(fx.home, undefined, 'credentials', [credential(C1), credential(C2)]);
      const ctx = testContext();
      await fx.source.backup(arts.sink, ctx);
      const instanceKey = (JSON.parse(await readFile(path.join(fx.home, '.n8n', 'config'), 'utf8')) as { encryptionKey: string }).encryptionKey;
      assert.equal(ctx.warnings.length, 1);
      assert.match(ctx.warnings[0], /^n8n source automations: 2 credentials are stored encrypted with the instance's encryption key, which is not in this backup; keep N8N_ENCRYPTION_KEY \(or .*\/home\/\.n8n\/config\) safe elsewhere/);
      assert.ok(!arts.get('credentials.json')!.toString().includes(instanceKey));
    } finally {
      await arts.cleanup();
      await fx.cleanup();
    }
  });
});
