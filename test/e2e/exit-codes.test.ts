/**
 * Exit codes are restic's (0.17+, doc/075_scripting.rst), so a script written for restic
 * handles lifeboat's the same: 10 no repository, 11 locked, 12 wrong password, 130
 * interrupted; lifeboat's own 2 (usage) and 5 (integrity) do not clash with any of them.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { openRepositoryAt } from '../../src/app/open-repository.ts';
import { ExitCode } from '../../src/cli/exit-codes.ts';

const PW = 'exit-codes-pw';

describe('exit codes as restic 0.17+', () => {
  let tmp: TempDir;
  let repo: string;
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HOME: tmp.path, PATH: process.env.PATH, LIFEBOAT_PASSWORD: PW, ...extra });

  before(async () => {
    tmp = await tempDir('exit-codes');
    repo = path.join(tmp.path, 'repo');
    assert.equal((await runCli(['-r', repo, 'init'], env())).code, 0);
  });
  after(() => tmp.cleanup());

  test('the numbers restic scripts branch on', () => {
    assert.deepEqual(
      [ExitCode.ok, ExitCode.failure, ExitCode.partial, ExitCode.noRepository, ExitCode.locked, ExitCode.wrongPassword, ExitCode.cancelled],
      [0, 1, 3, 10, 11, 12, 130],
    );
    const restics = new Set([0, 1, 2, 3, 10, 11, 12, 130]);
    assert.ok(!restics.has(ExitCode.integrity), 'integrity damage has a code restic does not use');
    assert.ok(!restics.has(ExitCode.attention));
  });

  test('a location without a repository exits 10, for every command that opens one', async () => {
    for (const args of [['snapshots'], ['check'], ['backup', tmp.path], ['restore', 'latest', '--target', path.join(tmp.path, 'out')]]) {
      const r = await runCli(['-r', path.join(tmp.path, 'nowhere'), ...args], env());
      assert.equal(r.code, 10, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /no repository at .*nowhere/);
    }
  });

  test('wrong password exits 12, usage 2', async () => {
    const wrong = await runCli(['-r', repo, 'snapshots'], env({ LIFEBOAT_PASSWORD: 'not-it' }));
    assert.equal(wrong.code, 12, wrong.stderr);
    assert.doesNotMatch(wrong.stderr, /not-it/);
    const usage = await runCli(['-r', repo, 'snapshots', '--no-such-flag'], env());
    assert.equal(usage.code, 2, usage.stderr);
  });

  test('a repository locked by another process exits 11', async () => {
    const held = await openRepositoryAt(`local:${repo}`, PW, { lock: 'exclusive', loadIndex: false });
    try {
      const r = await runCli(['-r', repo, 'check'], env());
      assert.equal(r.code, 11, r.stderr);
      assert.match(r.stderr, /locked exclusively/);
    } finally {
      await held.close();
    }
  });

  test('forget without a policy removes nothing and exits 0, as restic', async () => {
    assert.equal((await runCli(['-r', repo, 'backup', path.join(tmp.path, 'repo', 'keys')], env())).code, 0);
    const r = await runCli(['-r', repo, 'forget'], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no policy was specified, no snapshots will be removed/);
    const left = await runCli(['-r', repo, '--json', 'snapshots'], env());
    assert.equal((JSON.parse(left.stdout) as unknown[]).length, 1);
  });

  test('--help ends with the table of exit codes', async () => {
    const r = await runCli(['--help'], env());
    assert.equal(r.code, 0);
    assert.match(r.stdout + r.stderr, /Exit codes[^\n]*\n(.*\n)*\s+10\s+the repository does not exist\n\s+11\s+the repository is locked/);
  });
});
