// The n8n source. Without a cached n8n install (test/support/n8n.ts: too heavy for CI) it runs
// against a stand-in of the CLI's export/import commands: the conformance suite, the encryption
// key warning, the key reaching the CLI only through env, imports that deactivate workflows,
// verify, and a drill into a fresh user folder. With n8n 2.41.1 cached, the suite runs against it.
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { cachedN8n, fakeN8nCli } from '../../../test/support/n8n.ts';
import { sourceSuite } from '../../../test/suites/source-suite.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { n8nConfigSchema } from './n8n-config.ts';
import { n8nType } from './n8n-source.ts';

const KEY = 'n8n-enc-key-4c1d';

const workflow = (id: string, active: boolean) => ({
  id, name: `Flow ${id}`, active, updatedAt: '2026-01-01T00:00:00.000Z', versionId: `v-${id}`,
  nodes: [{ id: `${id}-1`, name: 'Cron', type: 'n8n-nodes-base.scheduleTrigger', parameters: { rule: { interval: [{ field: 'hours' }] } } }],
  connections: {}, settings: { executionOrder: 'v1' },
});
const credential = (id: string) => ({ id, name: `Cred ${id}`, type: 'httpBasicAuth', data: `U2FsdGVkX1${id}encrypted==` });

async function fixture(bin?: string, extra: Record<string, unknown> = {}) {
  const tmp = await tempDir('n8n');
  const home = path.join(tmp.path, 'home');
  const cli = bin ?? (await fakeN8nCli(tmp.path));
  const config = n8nConfigSchema.parse({ n8n_bin: cli, user_folder: home, encryption_key: { env: 'N8N_ENCRYPTION_KEY' }, ...extra });
  const source = n8nType.create('automations', config, { runner: localRunner, secrets: async () => KEY, tmpDir: path.join(tmp.path, 'work') });
  const dbFile = path.join(home, '.n8n', 'fake-db.json');
  const db = async (): Promise<{ workflows: Array<{ id: string; active: boolean }>; credentials: unknown[]; calls: Array<{ argv: string[]; key: boolean; dbType: string | null }> }> =>
    JSON.parse(await readFile(dbFile, 'utf8'));
  const setDb = async (workflows: unknown[], credentials: unknown[]): Promise<void> => {
    await mkdir(path.dirname(dbFile), { recursive: true });
    await writeFile(dbFile, JSON.stringify({ workflows, credentials, calls: [] }));
  };
  return { tmp, home, source, db, setDb, cleanup: () => tmp.cleanup() };
}

sourceSuite('n8n (CLI stand-in)', async () => {
  const fx = await fixture();
  return {
    source: fx.source,
    seed: () => fx.setDb([workflow('a1', true), workflow('b2', false)], [credential('c1')]),
    wipe: () => fx.setDb([{ ...workflow('a1', true), nodes: [] }], []),
    cleanup: fx.cleanup,
  };
});

describe('n8n source (CLI stand-in)', () => {
  test('the key goes to the CLI in env only; a restore names the workflows n8n deactivated', async () => {
    const fx = await fixture();
    const arts = await memoryArtifacts();
    try {
      await fx.setDb([workflow('a1', true), workflow('b2', false)], [credential('c1')]);
      const ctx = testContext();
      const out = await fx.source.backup(arts.sink, ctx);
      assert.deepEqual(ctx.warnings, []);
      assert.deepEqual(Object.keys((out.fingerprint as { workflows: object }).workflows), ['a1', 'b2']);
      assert.deepEqual(JSON.parse(arts.get('credentials.json')?.toString() ?? ''), [credential('c1')]);
      const calls = (await fx.db()).calls;
      assert.deepEqual(calls.map((c) => c.argv[0]), ['export:credentials', 'export:workflow']);
      assert.ok(calls.every((c) => c.key));
      assert.ok(!JSON.stringify([calls, out.commands, ctx.infos]).includes(KEY));

      await fx.setDb([workflow('z9', false)], []);
      const rctx = testContext();
      await fx.source.restore(arts.reader(), rctx);
      assert.deepEqual((await fx.db()).calls.slice(0, 2).map((c) => c.argv[0]), ['import:credentials', 'import:workflow']);
      assert.match(rctx.warnings.join('\n'), /n8n imports workflows inactive; these were active in the backup: a1 \(activate them in the editor\)/);
      assert.match(rctx.warnings.join('\n'), /workflows z9 are not in the backup and were left as they are/);
    } finally {
      await arts.cleanup();
      await fx.cleanup();
    }
  });

  test('without encryption_key the backup warns that the credentials need N8N_ENCRYPTION_KEY', async () => {
    const fx = await fixture(undefined, { encryption_key: undefined });
    const arts = await memoryArtifacts();
    try {
      await fx.setDb([workflow('a1', false)], [credential('c1'), credential('c2')]);
      const ctx = testContext();
      await fx.source.backup(arts.sink, ctx);
      assert.equal(ctx.warnings.length, 1);
      assert.match(ctx.warnings[0], /^n8n source automations: 2 credentials are stored encrypted with the instance's encryption key, which is not in this backup; keep N8N_ENCRYPTION_KEY \(or .*\/home\/\.n8n\/config\) safe elsewhere/);
    } finally {
      await arts.cleanup();
      await fx.cleanup();
    }
  });

  test('verify parses both exports and refuses decrypted credentials; a drill imports into a fresh SQLite user folder', async () => {
    const fx = await fixture();
    const arts = await memoryArtifacts();
    try {
      await fx.setDb([workflow('a1', true)], [credential('c1')]);
      const out = await fx.source.backup(arts.sink, testContext());
      assert.deepEqual(await fx.source.verify!(arts.reader(), testContext()), { checks: ['credentials.json: 1 credentials, encrypted', 'workflows.json: 1 workflows'], problems: [] });

      const scratch = await fx.source.scratchTarget!(arts.reader(), testContext());
      await fx.source.restore(arts.reader(), testContext(), { to: scratch.to });
      assert.deepEqual(compareFingerprints(out.fingerprint, await fx.source.fingerprint(testContext(), { to: scratch.to })), []);
      const scratchDb = JSON.parse(await readFile(path.join(scratch.to, '.n8n', 'fake-db.json'), 'utf8')) as { calls: Array<{ dbType: string }> };
      assert.ok(scratchDb.calls.every((c) => c.dbType === 'sqlite'));
      await scratch.cleanup();

      arts.set('credentials.json', Buffer.from(JSON.stringify([{ id: 'c1', name: 'x', type: 'httpBasicAuth', data: { user: 'u', password: 'p' } }])));
      arts.set('workflows.json', Buffer.from('[{"id":"a1","nodes":[],"connecti'));
      const bad = await fx.source.verify!(arts.reader(), testContext());
      assert.match(bad.problems[0], /^credentials\.json: credential c1 is not encrypted \(exported with --decrypted\?\)/);
      assert.match(bad.problems[1], /^workflows\.json: cannot be read as JSON/);
    } finally {
      await arts.cleanup();
      await fx.cleanup();
    }
  });
});

const real = cachedN8n();
describe('n8n source against n8n 2.41.1', { skip: real === undefined ? 'n8n 2.41.1 is not in the test cache (too heavy for CI: see test/support/n8n.ts)' : false }, () => {
  const dirs: Array<() => Promise<void>> = [];
  after(async () => {
    for (const d of dirs) await d();
  });
  test('export, wipe by importing into a fresh folder, fingerprints equal', async () => {
    const fx = await fixture(real, { env: { N8N_RUNNERS_BROKER_PORT: '0' } });
    dirs.push(fx.cleanup);
    const arts = await memoryArtifacts();
    const wf = path.join(fx.tmp.path, 'seed.json');
    await writeFile(wf, JSON.stringify([workflow('1a2b3c4d5e6f7a8b', false)]));
    const { collect } = await import('../../sources/process-kit.ts');
    const seeded = await collect(localRunner, { command: real as string, args: ['import:workflow', `--input=${wf}`], env: { N8N_USER_FOLDER: fx.home, N8N_ENCRYPTION_KEY: KEY } });
    assert.equal(seeded.code, 0, seeded.stderr);
    const out = await fx.source.backup(arts.sink, testContext());
    const scratch = await fx.source.scratchTarget!(arts.reader(), testContext());
    await fx.source.restore(arts.reader(), testContext(), { to: scratch.to });
    assert.deepEqual(compareFingerprints(out.fingerprint, await fx.source.fingerprint(testContext(), { to: scratch.to })), []);
    await scratch.cleanup();
    await arts.cleanup();
  });
});
