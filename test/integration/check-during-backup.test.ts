/**
 * `check` while a backup runs: the backup's packs are not indexed yet, which would read as
 * damage, so check takes an exclusive lock as restic's does and exits with the locked code
 * (10) naming the holder. `check --no-lock` is the way round a lock that cannot be taken.
 * The damage hint advises forgetting a snapshot only when the snapshot file is unreadable.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { pseudoRandom } from '../support/corpus.ts';
import { damageHint } from '../../src/cli/commands/check.ts';

const PASSWORD = 'check-during-backup-pw';

async function dataPacks(repo: string): Promise<number> {
  let n = 0;
  for (const sub of await readdir(path.join(repo, 'data'))) n += (await readdir(path.join(repo, 'data', sub))).filter((f) => /^[0-9a-f]{64}$/.test(f)).length;
  return n;
}

describe('check during a backup', () => {
  let tmp: TempDir;
  let repo: string;

  before(async () => {
    tmp = await tempDir('check-busy');
    repo = path.join(tmp.path, 'repo');
    assert.equal((await lifeboat(['-r', repo, 'init'], { password: PASSWORD })).code, 0);
  });
  after(() => tmp.cleanup());

  test('a check while a backup holds its lock exits 11 (locked) and reports no damage', async () => {
    const backup = spawnLifeboat(['-r', repo, 'backup', '--stdin', '--stdin-filename', 'busy.bin'], { password: PASSWORD, stdin: 'pipe' });
    const closed = new Promise<number | null>((resolve) => backup.on('close', (code) => resolve(code)));
    try {
      // Enough for a full pack: the backup writes it and keeps waiting for more input.
      backup.stdin?.write(pseudoRandom(12 * 1024 * 1024, 7));
      for (let i = 0; i < 600 && (await dataPacks(repo)) === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok((await dataPacks(repo)) > 0, 'the backup wrote a pack before its index');
      const r = await lifeboat(['-r', repo, 'check'], { password: PASSWORD });
      assert.equal(r.code, 11, r.stdout + r.stderr);
      assert.match(r.stderr, /locked shared by .*pid/);
      assert.doesNotMatch(r.stdout + r.stderr, /error:|unreferenced|damage|forget/i);
    } finally {
      backup.stdin?.end();
    }
    assert.equal(await closed, 0, 'the backup finishes');
    const after = await lifeboat(['-r', repo, 'check'], { password: PASSWORD });
    assert.equal(after.code, 0, after.stdout + after.stderr);
  });

  test('check --no-lock runs without writing a lock', async () => {
    const r = await lifeboat(['-r', repo, 'check', '--no-lock'], { password: PASSWORD });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(await readdir(path.join(repo, 'locks')), []);
  });

  test('the damage hint advises forget only for unreadable snapshot files', () => {
    const d = (kind: Parameters<typeof damageHint>[0][number]['kind']) => ({ kind, object: 'x', message: 'm', severity: 'error' as const });
    assert.doesNotMatch(damageHint([d('missing_pack')]), /"lifeboat forget" the damaged/);
    assert.match(damageHint([d('missing_pack')]), /new backup.*copy/);
    assert.match(damageHint([d('missing_index_entry')]), /repair index/);
    assert.match(damageHint([d('snapshot')]), /lifeboat forget/);
  });
});
