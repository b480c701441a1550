/**
 * restic's restore flags with --target: --dry-run writes nothing, --overwrite
 * always|if-changed|if-newer|never, --delete removes what the snapshot lacks (never through
 * a link), --verify reads restored files back and fails on a difference.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PW = 'restore-flags-pw';

describe('restore flags as restic', () => {
  let tmp: TempDir;
  let repo: string;
  let src: string;
  let n = 0;
  const env = (): NodeJS.ProcessEnv => ({ HOME: tmp.path, PATH: process.env.PATH, LIFEBOAT_PASSWORD: PW });
  const run = (args: string[]) => runCli(['-r', repo, ...args], env());
  /** A fresh target holding `f.txt` (different content, given mtime) where the snapshot has it. */
  const target = async (content: string, mtime: Date): Promise<{ dir: string; file: string }> => {
    const dir = path.join(tmp.path, `t${n++}`);
    const file = path.join(dir, src, 'f.txt');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    await utimes(file, mtime, mtime);
    return { dir, file };
  };
  const SNAP_TIME = new Date('2020-01-01T00:00:00Z');

  before(async () => {
    tmp = await tempDir('restore-flags');
    repo = path.join(tmp.path, 'repo');
    src = path.join(tmp.path, 'src');
    await mkdir(src);
    await writeFile(path.join(src, 'f.txt'), 'snapshot\n');
    await utimes(path.join(src, 'f.txt'), SNAP_TIME, SNAP_TIME);
    await writeFile(path.join(src, 'g.txt'), 'g\n');
    assert.equal((await run(['init'])).code, 0);
    assert.equal((await run(['backup', src])).code, 0);
  });
  after(() => tmp.cleanup());

  test('--dry-run counts and writes nothing', async () => {
    const dir = path.join(tmp.path, 'dry');
    const r = await run(['--json', 'restore', 'latest', '--target', dir, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { files_restored: number; total_bytes: number };
    assert.equal(j.files_restored, 2);
    assert.equal(j.total_bytes, 11);
    assert.equal(existsSync(dir), false);
  });

  test('--overwrite decides per mode whether an existing file is replaced', async () => {
    const newer = new Date('2024-01-01T00:00:00Z');
    const cases: Array<[string, string, Date, string]> = [
      ['always', 'other!!!\n', newer, 'snapshot\n'],
      ['never', 'other!!!\n', SNAP_TIME, 'other!!!\n'],
      ['if-newer', 'other!!!\n', newer, 'other!!!\n'],
      ['if-newer', 'other!!!\n', new Date('2010-01-01T00:00:00Z'), 'snapshot\n'],
      // Same size and mtime: taken as unchanged (restic's check), so left alone.
      ['if-changed', 'other!!!\n', SNAP_TIME, 'other!!!\n'],
      ['if-changed', 'longer other\n', SNAP_TIME, 'snapshot\n'],
    ];
    for (const [mode, content, mtime, want] of cases) {
      const t = await target(content, mtime);
      const r = await run(['restore', 'latest', '--target', t.dir, '--overwrite', mode]);
      assert.equal(r.code, 0, `${mode}: ${r.stderr}`);
      assert.equal(await readFile(t.file, 'utf8'), want, `${mode}, mtime ${mtime.toISOString()}`);
      assert.equal(await readFile(path.join(t.dir, src, 'g.txt'), 'utf8'), 'g\n');
    }
    assert.equal((await run(['restore', 'latest', '--target', tmp.path, '--overwrite', 'sometimes'])).code, 2);
  });

  test('--delete removes what the snapshot lacks, a link itself and never its target', async () => {
    const t = await target('x', SNAP_TIME);
    const outside = path.join(tmp.path, 'outside.txt');
    await writeFile(outside, 'keep\n');
    await writeFile(path.join(path.dirname(t.file), 'extra.txt'), 'extra\n');
    await mkdir(path.join(path.dirname(t.file), 'extra-dir'));
    await symlink(outside, path.join(path.dirname(t.file), 'link'));
    const r = await run(['restore', 'latest', '--target', t.dir, '--delete']);
    assert.equal(r.code, 0, r.stderr);
    for (const gone of ['extra.txt', 'extra-dir', 'link']) assert.equal(existsSync(path.join(path.dirname(t.file), gone)), false, gone);
    assert.equal(await readFile(outside, 'utf8'), 'keep\n');
    assert.equal(await readFile(t.file, 'utf8'), 'snapshot\n');
    await assert.rejects(readlink(path.join(path.dirname(t.file), 'link')));
  });

  test('--verify passes on a good restore and fails naming a file that differs', async () => {
    const good = await run(['restore', 'latest', '--target', path.join(tmp.path, 'verified'), '--verify']);
    assert.equal(good.code, 0, good.stderr);
    const t = await target('other!!!\n', SNAP_TIME);
    const bad = await run(['restore', 'latest', '--target', t.dir, '--overwrite', 'never', '--verify']);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /f\.txt: verify: content differs from the snapshot/);
  });
});
