import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../../test/support/tmp.ts';
import { initRepositoryAt } from '../app/open-repository.ts';
import { backupStack, openStack } from '../app/stack.ts';
import { NotFoundError } from '../core/errors.ts';
import { restorePreview } from './restore-preview.ts';

const PW = 'preview-pw';

test('a restore preview names the snapshot, its artifacts and sizes, and the command; no hook text, nothing restored', async () => {
  const tmp = await tempDir('restore-preview');
  try {
    await initRepositoryAt(`local:${tmp.path}/repo`, PW, { scrypt: { N: 1024, r: 8, p: 1 } });
    const cfg = path.join(tmp.path, 'lifeboat.yml');
    const out = path.join(tmp.path, 'restored.txt');
    await writeFile(cfg, `
repository: { url: ./repo, password: { env: LB_PW } }
state_dir: ./state
sources:
  app:
    type: command
    backup_command: printf 'hello preview'
    restore_command: cat > ${out}
    restore: { hooks: { before: ["echo token=hook-secret-4410"] } }
`);
    const env = { LB_PW: PW, HOME: tmp.path, PATH: process.env.PATH };
    const opts = { configFile: cfg, env, signal: new AbortController().signal, log: { info: () => undefined, warn: () => undefined } };
    const stack = await openStack(opts);
    const r = await backupStack(stack, opts);
    const id = r.sources[0]?.snapshot_id as string;
    const p = await restorePreview(stack, 'app', id.slice(0, 8));
    assert.equal(p.snapshot_id, id);
    assert.equal(p.to, null);
    assert.equal(p.safety_snapshot, true);
    assert.deepEqual(p.hooks, { before: 1, after: 0 });
    assert.equal(p.artifacts.reduce((n, a) => n + a.size, 0), 'hello preview'.length);
    assert.equal(p.command, `lifeboat restore --only app --snapshot ${id.slice(0, 8)}`);
    assert.doesNotMatch(JSON.stringify(p), /hook-secret-4410/);
    await assert.rejects(restorePreview(stack, 'app', 'ffffffff'), NotFoundError);
    await assert.rejects(import('node:fs/promises').then((fs) => fs.access(out)), /ENOENT/);
  } finally {
    await tmp.cleanup();
  }
});
