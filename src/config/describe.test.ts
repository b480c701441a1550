import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { z } from 'zod';
import { registerSourceType, secretRefSchema } from '../sources/source-kit.ts';
import { tempDir } from '../../test/support/tmp.ts';
import type { TempDir } from '../../test/support/tmp.ts';
import { MASK, describeConfig, maskSecrets } from './describe.ts';
import { loadConfig } from './loader.ts';
import { fakeTypes, writeConfig } from './testing-types.ts';

// A type with the kinds of keys a careless adapter might have: plain strings named like secrets.
const leaky = registerSourceType({
  type: 'leaky',
  description: 'a source with plain secret-named strings',
  keys: {
    api_token: z.string().optional(),
    settings: z.strictObject({ secret: z.string(), name: z.string(), key: z.array(z.string()) }).optional(),
    url: z.string(),
    auth: secretRefSchema.optional(),
  },
  create: () => {
    throw new Error('not used');
  },
});
const types = new Map([...fakeTypes, ['leaky', leaky]]);

const TEXT = `repository:
  url: rest:http://backup:s3cr3t-rest@host:8000/
  password: { env: LIFEBOAT_PASSWORD }
defaults: { retention: { keep_daily: 7 }, schedule: "@daily", rpo: 1d }
sources:
  postgres:
    type: postgres
    connection: { host: db, password: { env: PGPASS } }
    rto: 30m
    backup: { hooks: { before: ["sync"] } }
    restore: { hooks: { before: ["docker compose stop wiki"], after: ["docker compose start wiki"] } }
  odd:
    type: leaky
    api_token: tok-VISIBLE-1
    settings: { secret: sec-VISIBLE-2, name: plain-name, key: [k-VISIBLE-3] }
    url: "redis://user:pw-VISIBLE-4@cache:6379/0"
    auth: { command: "pass show cache" }
    depends_on: [postgres]
`;

let dir: TempDir;

describe('describeConfig', () => {
  before(async () => { dir = await tempDir('describe'); });
  after(async () => { await dir.cleanup(); });

  it('shows the resolved plan with secrets as references and secret-named strings masked', async () => {
    const loaded = await loadConfig(await writeConfig(dir.path, TEXT), { types, env: { HOME: '/h' } });
    const plan = describeConfig(loaded);
    const shown = JSON.stringify(plan);
    for (const visible of ['s3cr3t-rest', 'tok-VISIBLE-1', 'sec-VISIBLE-2', 'k-VISIBLE-3', 'pw-VISIBLE-4']) {
      assert.ok(!shown.includes(visible), `${visible} is shown`);
    }
    assert.equal(plan.file, path.join(dir.path, 'lifeboat.yml'));
    assert.equal(plan.state_dir, '/h/.local/state/lifeboat');
    assert.deepEqual(plan.repository, { url: `rest:http://backup:${MASK}@host:8000/`, password: { env: 'LIFEBOAT_PASSWORD' } });

    assert.deepEqual(plan.sources.map((s) => s.name), ['postgres', 'odd']);
    const [pg, odd] = plan.sources;
    assert.deepEqual(pg, {
      name: 'postgres',
      type: 'postgres',
      schedule: '@daily',
      retention: { keep_daily: 7 },
      rpo: '1d',
      rto: '30m',
      depends_on: [],
      tags: [],
      hooks: {
        backup: { before: ['sync'], after: [] },
        restore: { before: ['docker compose stop wiki'], after: ['docker compose start wiki'] },
      },
      restore_to: null,
      keys: { connection: { host: 'db', password: { env: 'PGPASS' } } },
    });
    assert.deepEqual(odd.depends_on, ['postgres']);
    assert.deepEqual(odd.keys, {
      api_token: MASK,
      settings: { secret: MASK, name: 'plain-name', key: [MASK] },
      url: `redis://user:${MASK}@cache:6379/0`,
      auth: { command: 'pass show cache' },
    });
  });

  it('masks without touching the input', () => {
    const input = { password: 'p', nested: { token: 't', list: ['a'] }, ref: { password: { file: '/f' } } };
    const copy = structuredClone(input);
    assert.deepEqual(maskSecrets(input), { password: MASK, nested: { token: MASK, list: ['a'] }, ref: { password: { file: '/f' } } });
    assert.deepEqual(input, copy);
  });
});
