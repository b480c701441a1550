/**
 * `lifeboat init` SIGKILLed at several points: a second init either finishes the repository
 * or says it exists, and the repository then takes a backup, checks clean (lifeboat and, when
 * installed, restic) and has exactly one key.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import { restic } from '../support/restic.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PASSWORD = 'init-killed-pw';

describe('init killed with SIGKILL', () => {
  let tmp: TempDir;
  let src: string;
  let hasRestic = false;

  before(async () => {
    tmp = await tempDir('init-killed');
    src = path.join(tmp.path, 'src.txt');
    await writeFile(src, 'backed up after a killed init\n');
    hasRestic = missingBinaries('restic') === false;
  });
  after(() => tmp.cleanup());

  // From before the repository directory exists to after the config is written.
  for (const delay of [150, 300, 450, 600, 800, 1100]) {
    test(`killed after ${delay} ms: a second init finishes it or finds it complete`, async () => {
      const repo = path.join(tmp.path, `repo-${delay}`);
      const child = spawnLifeboat(['-r', repo, 'init'], { password: PASSWORD });
      const timer = setTimeout(() => child.kill('SIGKILL'), delay);
      await new Promise((resolve) => child.on('close', resolve));
      clearTimeout(timer);
      const again = await lifeboat(['-r', repo, 'init'], { password: PASSWORD });
      assert.ok(again.code === 0 || /already exists/.test(again.stderr), again.stderr);
      assert.equal((await readdir(path.join(repo, 'keys'))).filter((f) => /^[0-9a-f]{64}$/.test(f)).length, 1);
      const b = await lifeboat(['-r', repo, 'backup', src], { password: PASSWORD });
      assert.equal(b.code, 0, b.stderr);
      const c = await lifeboat(['-r', repo, 'check'], { password: PASSWORD });
      assert.equal(c.code, 0, c.stdout + c.stderr);
      if (hasRestic) {
        const r = await restic(['check'], { repo, password: PASSWORD });
        assert.equal(r.code, 0, r.stdout + r.stderr);
      }
    });
  }
});
