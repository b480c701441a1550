/**
 * restic's backup flags: --files-from, --exclude-file (comments, $VARS), --exclude-caches,
 * --one-file-system, --skip-if-unchanged and --dry-run.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../support/in-process-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PW = 'backup-flags-pw';

describe('backup flags as restic', () => {
  let tmp: TempDir;
  let repo: string;
  let src: string;
  const env = (): NodeJS.ProcessEnv => ({ HOME: tmp.path, PATH: process.env.PATH, LIFEBOAT_PASSWORD: PW, SKIPDIR: 'skipme' });
  const run = (args: string[]) => runCli(['-r', repo, ...args], env());
  const snapshotCount = async () => (await readdir(path.join(repo, 'snapshots'))).length;
  /** The paths under `src` in the latest snapshot with `tag`. */
  const listed = async (tag: string): Promise<string[]> => {
    const r = await run(['--json', 'ls', 'latest', '--tag', tag]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path?: string; struct_type: string })
      .filter((n) => n.struct_type === 'node' && n.path?.startsWith(`${src}/`)).map((n) => (n.path as string).slice(src.length + 1)).sort();
  };

  before(async () => {
    tmp = await tempDir('backup-flags');
    repo = path.join(tmp.path, 'repo');
    src = path.join(tmp.path, 'src');
    for (const d of ['a', 'b', 'skipme', 'cache']) await mkdir(path.join(src, d), { recursive: true });
    for (const f of ['a/1.txt', 'a/2.log', 'b/3.txt', 'skipme/4.txt', 'cache/5.bin']) await writeFile(path.join(src, f), `${f}\n`);
    await writeFile(path.join(src, 'cache/CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n');
    assert.equal((await run(['init'])).code, 0);
  });
  after(() => tmp.cleanup());

  test('--files-from and --exclude-file (comments, $VARS) choose what restic chooses', async () => {
    const list = path.join(tmp.path, 'files');
    await writeFile(list, `# what to back up\n${src}/a\n\n${src}/skipme\n${src}/b\n`);
    const ex = path.join(tmp.path, 'excludes');
    await writeFile(ex, '# no logs\n*.log\n$SKIPDIR\n');
    const r = await run(['backup', '--tag', 'lists', '--files-from', list, '--exclude-file', ex]);
    assert.equal(r.code, 0, r.stderr);
    // A path named explicitly stays, as restic >= 0.19 keeps it; what is below it matches the pattern.
    assert.deepEqual(await listed('lists'), ['a', 'a/1.txt', 'b', 'b/3.txt', 'skipme']);
  });

  test('--exclude-caches keeps the tag and leaves out the rest of a tagged directory', async () => {
    assert.equal((await run(['backup', '--tag', 'caches', '--exclude-caches', src])).code, 0);
    const got = await listed('caches');
    assert.ok(got.includes('cache/CACHEDIR.TAG') && !got.includes('cache/5.bin') && got.includes('a/2.log'), got.join(' '));
  });

  test('--one-file-system keeps a mount point but not what is mounted there', { skip: statSync('/dev').dev === statSync('/dev/shm').dev ? '/dev/shm is not a mount here' : false }, async () => {
    const r = await run(['--json', 'backup', '--tag', 'xdev', '-x', '/dev']);
    assert.equal(r.code === 0 || r.code === 3, true, r.stderr);
    const ls = await run(['--json', 'ls', 'latest', '--tag', 'xdev']);
    const paths = ls.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { path?: string }).path);
    assert.ok(paths.includes('/dev/shm') && paths.includes('/dev/null'), paths.join(' '));
    assert.ok(!paths.some((p) => p?.startsWith('/dev/shm/') || p?.startsWith('/dev/pts/')), 'nothing below a mount point');
  });

  test('--skip-if-unchanged writes no snapshot when nothing changed, and one when something did', async () => {
    const b = path.join(src, 'b');
    // The tree must not change by itself between the two backups: a relative target keeps the
    // directories above it (/tmp, whose mtime other tests change) out of it, and an atime after
    // the mtime is not updated by the backup's reads (relatime).
    for (const p of [path.join(b, '3.txt'), b]) utimesSync(p, new Date('2031-01-01'), new Date('2021-01-01'));
    const cwd = process.cwd();
    process.chdir(src);
    try {
      assert.equal((await run(['backup', 'b'])).code, 0);
      const before = await snapshotCount();
      const same = await run(['backup', '--skip-if-unchanged', 'b']);
      assert.equal(same.code, 0, same.stderr);
      assert.match(same.stdout, /nothing changed since snapshot/);
      assert.equal(await snapshotCount(), before);
      await writeFile(path.join(b, 'new.txt'), 'new\n');
      assert.equal((await run(['backup', '--skip-if-unchanged', 'b'])).code, 0);
      assert.equal(await snapshotCount(), before + 1);
    } finally {
      process.chdir(cwd);
    }
  });

  test('--dry-run counts and writes nothing', async () => {
    const before = await snapshotCount();
    const packs = (await readdir(path.join(repo, 'data'), { recursive: true })).length;
    const r = await run(['--json', 'backup', '--dry-run', path.join(src, 'a')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { message_type: 'summary', dry_run: true, total_files_processed: 2, total_bytes_processed: 16 });
    assert.equal(await snapshotCount(), before);
    assert.equal((await readdir(path.join(repo, 'data'), { recursive: true })).length, packs);
  });

  test('--limit-upload/--limit-download and --read-concurrency are taken; a rate of 0 is a usage error', async () => {
    const r = await runCli(['-r', repo, '--limit-upload', '100000', '--limit-download', '100000', 'backup', '--read-concurrency', '1', path.join(src, 'a')], env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await runCli(['-r', repo, '--limit-upload', '0', 'snapshots'], env())).code, 2);
    assert.equal((await run(['backup', '--read-concurrency', 'many', src])).code, 2);
  });
});
