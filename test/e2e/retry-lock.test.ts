/**
 * `--retry-lock DURATION` (restic's flag): a command that finds the repository locked keeps
 * trying until the lock is released or the duration has passed, then fails as locked (exit 11, as restic).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { openRepositoryAt } from '../../src/app/open-repository.ts';

const PW = 'retry-lock-pw';

describe('--retry-lock', () => {
  let tmp: TempDir;
  let repo: string;
  const env = (): NodeJS.ProcessEnv => ({ HOME: tmp.path, PATH: process.env.PATH, LIFEBOAT_PASSWORD: PW });

  before(async () => {
    tmp = await tempDir('retry-lock');
    repo = path.join(tmp.path, 'repo');
    const r = await runCli(['-r', repo, 'init'], env());
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => tmp.cleanup());

  const holdLock = () => openRepositoryAt(`local:${repo}`, PW, { lock: 'exclusive', loadIndex: false });

  test('waits for a held lock and runs once it is released', async () => {
    const held = await holdLock();
    const release = setTimeout(() => void held.close(), 1200);
    try {
      const r = await runCli(['-r', repo, '--retry-lock', '1m', 'check'], env());
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /warning: repository .* is locked exclusively by .*; waiting up to 60s for the lock/);
    } finally {
      clearTimeout(release);
      await held.close();
    }
  });

  test('gives up after the duration with the locked exit code; without the flag it does not wait', async () => {
    const held = await holdLock();
    try {
      const r = await runCli(['-r', repo, 'prune', '--retry-lock=1s'], env());
      assert.equal(r.code, 11, r.stderr);
      assert.match(r.stderr, /is locked exclusively by .*\(gave up after waiting 1s\)/);
      const once = await runCli(['-r', repo, 'check'], env());
      assert.equal(once.code, 11);
      assert.doesNotMatch(once.stderr, /waiting|gave up/);
    } finally {
      await held.close();
    }
    const bad = await runCli(['-r', repo, '--retry-lock', '5x', 'check'], env());
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--retry-lock.*"5x" is not a duration like 90m/);
  });
});
