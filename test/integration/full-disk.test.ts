/**
 * A repository on a full disk (an 8 MiB tmpfs; needs root, skipped otherwise): a backup that
 * runs out of space ends in one line naming the repository and "no space left", exit 1, with
 * no stack trace, its lock released and no temporary file left, wherever the space runs out
 * (pack, index, snapshot, lock). With 0 bytes free, unlock and check --no-lock work, check
 * and prune fail in one line with a hint that names the way out; so does check on a
 * read-only repository.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import type { CliResult } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { pseudoRandom } from '../support/corpus.ts';

const PASSWORD = 'full-disk-pw';
const isRoot = process.getuid?.() === 0;

/** Names of temporary files and lock files anywhere in the repository. */
async function leftovers(repo: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(repo, { recursive: true, withFileTypes: true })) {
    if (e.name.startsWith('.tmp-')) found.push(path.join(e.parentPath, e.name));
  }
  for (const l of await readdir(path.join(repo, 'locks'))) found.push(`locks/${l}`);
  return found;
}

/** One error line (plus its hint), no stack trace. */
function assertOneLine(r: CliResult, label: string): void {
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines.length <= 2, `${label}: ${r.stderr}`);
  assert.match(lines[0] ?? '', /^lifeboat: /, `${label}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at |Unhandled|Node\.js v/m, `${label}: a stack trace`);
}

describe('a repository on a full disk', { skip: isRoot ? false : 'needs root to mount a tmpfs' }, () => {
  let tmp: TempDir;
  let mnt: string;
  let repo: string;
  let src: string;
  let large: string;
  const run = (args: string[]) => lifeboat(['-r', repo, ...args], { password: PASSWORD });

  /** Leaves `bytes` free on the tmpfs (with the repository as it is). */
  async function leaveFree(bytes: number): Promise<void> {
    await rm(path.join(mnt, 'fill'), { force: true });
    const st = await statfs(mnt);
    const avail = st.bavail * st.bsize;
    await writeFile(path.join(mnt, 'fill'), Buffer.alloc(Math.max(0, avail - bytes)));
  }

  before(async () => {
    tmp = await tempDir('full-disk');
    mnt = path.join(tmp.path, 'mnt');
    await mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    repo = path.join(mnt, 'repo');
    src = path.join(tmp.path, 'src');
    await mkdir(src);
    // Several chunks and many small files, so packs fill while others are in flight.
    await writeFile(path.join(src, 'big.bin'), pseudoRandom(5 * 1024 * 1024, 3));
    for (let i = 0; i < 200; i++) await writeFile(path.join(src, `f${i}`), pseudoRandom(100 + i * 13, i + 10));
    large = path.join(tmp.path, 'large.bin');
    await writeFile(large, pseudoRandom(20 * 1024 * 1024, 5));
  });
  after(async () => {
    try {
      execFileSync('umount', [mnt]);
    } finally {
      await tmp.cleanup();
    }
  });

  /** A new, empty repository on the tmpfs (nothing else on it). */
  async function freshRepo(): Promise<void> {
    await rm(repo, { recursive: true, force: true });
    await rm(path.join(mnt, 'fill'), { force: true });
    assert.equal((await run(['init'])).code, 0);
  }

  /** Bytes a complete backup of `src` takes on the tmpfs (measured once). */
  let needed = 0;
  test('a backup that fits measures what it needs', async () => {
    await freshRepo();
    const before = await statfs(mnt);
    assert.equal((await run(['backup', src])).code, 0);
    const after = await statfs(mnt);
    needed = (before.bavail - after.bavail) * before.bsize;
    assert.ok(needed > 4 << 20, String(needed));
  });

  // Space runs out in the packs of a file larger than the disk (chunks in flight when the
  // first pack fails: this ended in an unhandled rejection and a lock left behind), near the
  // end (the last index, snapshot or lock refresh: the run needs a lock page more than it
  // leaves) and at the lock (0 free).
  const trials = [['pack', -1], ['pack-2', -1], ['pack-3', -1], ['end', 4096], ['end-2', 12288], ['lock', Infinity]] as const;
  for (const [label, short] of trials) {
    test(`a backup that runs out of space (${label}): one line, exit 1, nothing left behind`, async () => {
      await freshRepo();
      if (short !== -1) await leaveFree(Math.max(0, needed - short));
      const r = await run(['backup', short === -1 ? large : src]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assertOneLine(r, label);
      assert.match(r.stderr, /no space left on device/);
      assert.ok(r.stderr.includes(repo), 'the message names the repository');
      assert.deepEqual(await leftovers(repo), []);
      // With room again the repository checks clean.
      await rm(path.join(mnt, 'fill'), { force: true });
      const c = await run(['check']);
      assert.equal(c.code, 0, c.stdout + c.stderr);
    });
  }

  test('backup --stdin whose producer goes quiet after the disk filled ends at once, not at the next byte', async () => {
    await freshRepo();
    const child = spawnLifeboat(['-r', repo, 'backup', '--stdin'], { password: PASSWORD, stdin: 'pipe' });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout?.resume();
    child.stdin?.on('error', () => undefined); // lifeboat stops reading: EPIPE is expected
    // Far more than the disk holds (blobs go to two packs at random, so several packs close and
    // the disk fills however the blobs were spread), then silence with
    // stdin left open, as from a producer waiting on a lock.
    child.stdin?.write(pseudoRandom(24_000_000, 31));
    const hung = setTimeout(() => child.kill('SIGKILL'), 30_000);
    // 'exit', not 'close': our end of its stdin stays open.
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(hung);
    child.stdin?.destroy();
    assert.equal(signal, null, `the backup waited for stdin with its repository full:\n${stderr}`);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /no space left on device/);
    assert.deepEqual(await leftovers(repo), []);
  });

  test('with 0 bytes free: unlock and check --no-lock work; check and prune say how to go on', async () => {
    await freshRepo();
    assert.equal((await run(['backup', src])).code, 0);
    await leaveFree(0);
    const u = await run(['unlock']);
    assert.equal(u.code, 0, u.stderr);
    const c = await run(['check', '--no-lock']);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    const locked = await run(['check']);
    assert.equal(locked.code, 1);
    assertOneLine(locked, 'check');
    assert.match(locked.stderr, /no space left.*\n.*check --no-lock/);
    const p = await run(['prune']);
    assert.equal(p.code, 1);
    assertOneLine(p, 'prune');
    assert.match(p.stderr, /prune cannot start\n.*prune needs about .* before it deletes anything/);
    assert.deepEqual(await leftovers(repo), []);
  });

  test('a prune that runs out of space while repacking stops in one line, the repository consistent', async () => {
    await freshRepo();
    const dir = path.join(tmp.path, 'prune-src');
    await mkdir(dir, { recursive: true });
    // Many one-blob files kept and removed alike: their blobs share the packs whichever of the
    // two open data packs each went to, so the prune must repack (about 1.6 MB it cannot write).
    for (let i = 0; i < 20; i++) {
      await writeFile(path.join(dir, `a${i}`), pseudoRandom(80_000, 100 + i));
      await writeFile(path.join(dir, `b${i}`), pseudoRandom(80_000, 200 + i));
    }
    assert.equal((await run(['backup', dir])).code, 0);
    for (let i = 0; i < 20; i++) await rm(path.join(dir, `b${i}`));
    assert.equal((await run(['backup', dir])).code, 0);
    assert.equal((await run(['forget', '--keep-last', '1'])).code, 0);
    // Room for the lock and an index, not for what the repack writes.
    await leaveFree(100_000);
    const p = await run(['prune', '--max-unused', '0%']);
    assert.equal(p.code, 1, p.stdout + p.stderr);
    assertOneLine(p, 'prune');
    assert.match(p.stderr, /no space left on device; prune stopped, the repository is consistent\n/);
    assert.deepEqual(await leftovers(repo), []);
    await rm(path.join(mnt, 'fill'), { force: true });
    const c = await run(['check', '--read-data']);
    assert.equal(c.code, 0, c.stdout + c.stderr);
  });

  test('a read-only repository: check names check --no-lock, which works', async () => {
    await rm(path.join(mnt, 'fill'), { force: true });
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
    try {
      const locked = await run(['check']);
      assert.equal(locked.code, 1);
      assertOneLine(locked, 'check');
      assert.match(locked.stderr, /read-only file system\n.*check --no-lock/);
      const c = await run(['check', '--no-lock']);
      assert.equal(c.code, 0, c.stdout + c.stderr);
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', mnt]);
    }
  });
});
