/**
 * A full state dir (an 8 MiB tmpfs filled to the last byte; needs root, skipped otherwise):
 * a stack backup that succeeded stays a success (exit 0) when its run report cannot be
 * written; a warning names the report's path and "no space left", and no partial report is
 * left. A restore into a full target fails naming the file it could not write (exit 1).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { randomBytes } from 'node:crypto';

const PASSWORD = 'full-state-pw';
const isRoot = process.getuid?.() === 0;

describe('a full state dir or restore target', { skip: isRoot ? false : 'needs root to mount a tmpfs' }, () => {
  let tmp: TempDir;
  let mnt: string;
  let cfg: string;
  const env = { LB_PW: PASSWORD };

  async function fill(): Promise<void> {
    const st = await statfs(mnt);
    await writeFile(path.join(mnt, 'fill'), Buffer.alloc(st.bavail * st.bsize)).catch(() => undefined);
    // A last partial page: write until the file system refuses.
    await writeFile(path.join(mnt, 'fill2'), Buffer.alloc(64 * 1024)).catch(() => undefined);
  }

  before(async () => {
    tmp = await tempDir('full-state');
    mnt = path.join(tmp.path, 'mnt');
    await mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    await writeFile(path.join(tmp.path, 'notes.txt'), 'runbook notes\n');
    await writeFile(path.join(tmp.path, 'big.bin'), randomBytes(12 * 1024 * 1024));
    cfg = path.join(tmp.path, 'lifeboat.yml');
    await writeFile(cfg, `
repository:
  url: ./repo
  password: { env: LB_PW }
state_dir: ${path.join(mnt, 'state')}
sources:
  notes:
    type: command
    backup_command: cat notes.txt
    restore_command: cat > notes.txt
`);
    assert.equal((await lifeboat(['-c', cfg, 'init'], { env, cwd: tmp.path })).code, 0);
  });
  after(async () => {
    try {
      execFileSync('umount', [mnt]);
    } finally {
      await tmp.cleanup();
    }
  });

  test('a successful backup whose report cannot be written exits 0 with a warning naming the path', async () => {
    // The state dir exists (its tmp/ too); then the disk fills up.
    assert.equal((await lifeboat(['-c', cfg, 'backup'], { env, cwd: tmp.path })).code, 0);
    await rm(path.join(mnt, 'state', 'reports'), { recursive: true, force: true });
    await mkdir(path.join(mnt, 'state', 'reports'));
    await fill();
    const r = await lifeboat(['-c', cfg, 'backup'], { env, cwd: tmp.path });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`warning: cannot write run report ${path.join(mnt, 'state', 'reports')}/backup-[^ ]+\\.json: no space left on device; free space on`));
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.deepEqual(await readdir(path.join(mnt, 'state', 'reports')), [], 'no partial report');
    const snaps = await lifeboat(['-r', path.join(tmp.path, 'repo'), 'snapshots', '--json'], { password: PASSWORD });
    assert.equal((JSON.parse(snaps.stdout) as unknown[]).length, 2, 'both backups are in the repository');
  });

  test('a restore into a full target: one line naming the target', async () => {
    await rm(path.join(mnt, 'fill'), { force: true });
    await rm(path.join(mnt, 'fill2'), { force: true });
    const repo = path.join(tmp.path, 'repo');
    assert.equal((await lifeboat(['-r', repo, 'backup', path.join(tmp.path, 'big.bin')], { password: PASSWORD })).code, 0);
    const target = path.join(mnt, 'target');
    const r = await lifeboat(['-r', repo, 'restore', 'latest', '--target', target], { password: PASSWORD });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // The file's warning, then the one error line and its hint.
    const lines = r.stderr.trim().split('\n');
    assert.ok(lines.length <= 3, r.stderr);
    assert.match(r.stderr, /no space left on device/);
    assert.ok(r.stderr.includes(target), r.stderr);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
  });
});
