// The files source: the conformance suite over a directory and a single file, include and
// exclude globs (in what is stored and in the fingerprint), restores that replace what is there,
// and restores relocated under `to:`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { LifeboatError } from '../../core/errors.ts';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { sourceSuite } from '../../../test/suites/source-suite.ts';
import type { SourceDeps } from '../source-kit.ts';
import { filesConfigSchema } from './files-config.ts';
import { filesType, topLevelPaths } from './files-source.ts';

const deps = (tmpDir: string): SourceDeps => ({
  runner: localRunner,
  secrets: async () => {
    throw new Error('no secrets in this test');
  },
  tmpDir,
});

/** A small volume-like tree: nested dirs, an empty dir, a symlink, a binary file. */
/**
 * Mounts a tmpfs of `size` on `dir` (unmounted after the test, then `cleanup`); skips the test,
 * after `cleanup`, when the mount fails. Returns whether it is mounted.
 */
async function mountTmpfs(t: TestContext, dir: string, size: string, cleanup: () => Promise<unknown>): Promise<boolean> {
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', size, 'tmpfs', dir], { encoding: 'utf8' });
  if (mount.status !== 0) {
    t.skip(`cannot mount a tmpfs: ${mount.stderr.trim()}`);
    await cleanup();
    return false;
  }
  t.after(async () => {
    spawnSync('umount', [dir]);
    await cleanup();
  });
  return true;
}

async function seedTree(root: string): Promise<void> {
  await mkdir(path.join(root, 'index', 'shards'), { recursive: true });
  await mkdir(path.join(root, 'empty'), { recursive: true });
  await writeFile(path.join(root, 'index', 'faiss.index'), Buffer.alloc(100_000, 3));
  await writeFile(path.join(root, 'index', 'shards', 'a.bin'), 'shard a');
  await writeFile(path.join(root, 'config.yml'), 'key: value\n');
  await writeFile(path.join(root, 'debug.log'), 'noise\n');
  await symlink('config.yml', path.join(root, 'current.yml'));
}

/** Every entry below dir, relative, with "/" suffix for directories. */
async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(path.relative(dir, path.join(e.parentPath, e.name)) + (e.isDirectory() ? '/' : ''));
  }
  return out.sort();
}

sourceSuite('files', async () => {
  const tmp = await tempDir('files');
  const data = path.join(tmp.path, 'srv', 'data');
  const envFile = path.join(tmp.path, 'app.env');
  const source = filesType.create('volumes', filesConfigSchema.parse({ paths: [data, envFile] }), deps(tmp.path));
  return {
    source,
    async seed() {
      await seedTree(data);
      await writeFile(envFile, 'TOKEN_FILE=/run/secrets/token\n');
    },
    async wipe() {
      await writeFile(path.join(data, 'index', 'shards', 'a.bin'), 'shard A');
      await rm(path.join(data, 'config.yml'));
      await writeFile(path.join(data, 'new-file'), 'appeared after the backup');
    },
    cleanup: () => tmp.cleanup(),
  };
});

describe('files source', () => {
  test('config wants absolute paths and no unknown keys', () => {
    assert.equal(filesConfigSchema.safeParse({ paths: ['relative/dir'] }).success, false);
    assert.equal(filesConfigSchema.safeParse({ paths: [] }).success, false);
    assert.equal(filesConfigSchema.safeParse({ paths: ['/srv'], excludes: ['*.log'] }).success, false);
    assert.equal(filesConfigSchema.safeParse({ paths: ['/srv'], exclude: ['*.log'], include: ['**'] }).success, true);
  });

  test('nested and repeated paths collapse to the outermost', () => {
    assert.deepEqual(topLevelPaths(['/srv/data/sub', '/srv/data', '/srv/data/', '/srv/database', '/etc/app.env']), ['/etc/app.env', '/srv/data', '/srv/database']);
  });

  test('exclude and include select what is stored and what the fingerprint sees', async (t) => {
    const tmp = await tempDir('files');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const data = path.join(tmp.path, 'data');
    await seedTree(data);
    const config = { paths: [data], exclude: ['*.log', path.join(data, 'index', 'shards')], include: ['*.index', '*.yml', '**/empty'] };
    const source = filesType.create('sel', filesConfigSchema.parse(config), deps(tmp.path));
    const outcome = await source.backup(arts.sink, testContext());

    const out = path.join(tmp.path, 'out');
    await arts.reader().restoreFiles(out);
    // Dirs are walked (and kept) whatever `include` says; excluded dirs are not even entered.
    assert.deepEqual(await listTree(path.join(out, data)), ['config.yml', 'current.yml', 'empty/', 'index/', 'index/faiss.index']);
    assert.equal((outcome.fingerprint as { files: number }).files, 3);

    // Changes to excluded or not-included files leave the fingerprint alone; others do not.
    await writeFile(path.join(data, 'debug.log'), 'more noise');
    await writeFile(path.join(data, 'index', 'shards', 'a.bin'), 'changed shard');
    await writeFile(path.join(data, 'notes.txt'), 'not included');
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext())), []);
    await writeFile(path.join(data, 'config.yml'), 'key: other\n');
    assert.notDeepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext())), []);
  });

  test('restore replaces what is there: later files are gone, changed files are back', async (t) => {
    const tmp = await tempDir('files');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const data = path.join(tmp.path, 'data');
    await seedTree(data);
    const source = filesType.create('vol', filesConfigSchema.parse({ paths: [data] }), deps(tmp.path));
    const outcome = await source.backup(arts.sink, testContext());
    const before = await listTree(data);
    await writeFile(path.join(data, 'later'), 'x');
    await writeFile(path.join(data, 'config.yml'), 'damaged');
    await source.restore(arts.reader(), testContext());
    assert.deepEqual(await listTree(data), before);
    assert.equal(await readFile(path.join(data, 'config.yml'), 'utf8'), 'key: value\n');
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext())), []);
    // No staging leftovers next to the target.
    assert.deepEqual((await readdir(tmp.path)).filter((n) => n.includes('.lifeboat-restore-')), []);
  });

  test('restore to `to:` recreates the absolute paths below it, fingerprint equal there', async (t) => {
    const tmp = await tempDir('files');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const data = path.join(tmp.path, 'srv', 'data');
    const envFile = path.join(tmp.path, 'etc', 'app.env');
    await seedTree(data);
    await mkdir(path.dirname(envFile));
    await writeFile(envFile, 'A=1\n');
    const source = filesType.create('vol', filesConfigSchema.parse({ paths: [data, envFile], exclude: ['*.log'] }), deps(tmp.path));
    const outcome = await source.backup(arts.sink, testContext());
    await writeFile(envFile, 'A=2\n'); // the original moves on; the relocated copy must not follow

    const to = path.join(tmp.path, 'drill');
    await source.restore(arts.reader(), testContext(), { to });
    assert.equal(await readFile(path.join(to, envFile), 'utf8'), 'A=1\n');
    assert.deepEqual(await listTree(path.join(to, data)), (await listTree(data)).filter((n) => n !== 'debug.log'));
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext(), { to })), []);
    assert.equal(await readFile(envFile, 'utf8'), 'A=2\n');
  });

  test('a missing path fails the backup; its fingerprint says null', async (t) => {
    const tmp = await tempDir('files');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const gone = path.join(tmp.path, 'not-there');
    const source = filesType.create('vol', filesConfigSchema.parse({ paths: [gone] }), deps(tmp.path));
    await assert.rejects(source.backup(arts.sink, testContext()), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'source');
      assert.ok(err.message.includes(gone));
      return true;
    });
    assert.deepEqual(await source.fingerprint(testContext()), { files: 0, bytes: 0, trees: { [gone]: null } });
  });

  test('restore never touches what the source excludes, wherever it is, and removes later files', async (t) => {
    const tmp = await tempDir('files');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const data = path.join(tmp.path, 'data');
    await seedTree(data);
    await mkdir(path.join(data, 'index', 'cache'), { recursive: true });
    await writeFile(path.join(data, 'index', 'cache', 'blob'), 'cached');
    await writeFile(path.join(data, 'index', 'shards', 'trace.log'), 'deep log');
    const source = filesType.create('vol', filesConfigSchema.parse({ paths: [data], exclude: ['*.log', '**/cache'] }), deps(tmp.path));
    const outcome = await source.backup(arts.sink, testContext());

    // After the snapshot: excluded entries change and appear (also in a new directory), others change too.
    await writeFile(path.join(data, 'debug.log'), 'newer noise');
    await writeFile(path.join(data, 'index', 'cache', 'blob2'), 'more cache');
    await writeFile(path.join(data, 'later'), 'later');
    await writeFile(path.join(data, 'config.yml'), 'damaged');
    const excluded = ['debug.log', 'index/shards/trace.log', 'index/cache/blob', 'index/cache/blob2'];
    const before = new Map<string, { ino: number; text: string }>();
    for (const rel of excluded) before.set(rel, { ino: (await stat(path.join(data, rel))).ino, text: await readFile(path.join(data, rel), 'utf8') });

    await source.restore(arts.reader(), testContext());
    for (const rel of excluded) {
      const p = path.join(data, rel);
      assert.deepEqual({ ino: (await stat(p)).ino, text: await readFile(p, 'utf8') }, before.get(rel), `${rel} untouched`);
    }
    assert.equal(await readFile(path.join(data, 'config.yml'), 'utf8'), 'key: value\n');
    await assert.rejects(stat(path.join(data, 'later')), { code: 'ENOENT' });
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext())), []);
    assert.deepEqual((await readdir(tmp.path)).filter((n) => n.includes('.lifeboat-restore-')), []);

    // A directory created after the snapshot loses what is not excluded, and stays for what is.
    await mkdir(path.join(data, 'later-dir', 'sub'), { recursive: true });
    await writeFile(path.join(data, 'later-dir', 'only.log'), 'log in a new dir');
    await writeFile(path.join(data, 'later-dir', 'file'), 'later, not excluded');
    await source.restore(arts.reader(), testContext());
    assert.deepEqual(await listTree(path.join(data, 'later-dir')), ['only.log']);
    assert.equal(await readFile(path.join(data, 'later-dir', 'only.log'), 'utf8'), 'log in a new dir');
  });

  const isRoot = process.getuid?.() === 0;
  test('a path on another, nearly full filesystem: the restore fails before touching it, then succeeds with room', { skip: !isRoot && 'needs root to mount a tmpfs' }, async (t) => {
    const tmp = await tempDir('files');
    const arts = await memoryArtifacts();
    const vol = path.join(tmp.path, 'vol');
    await mkdir(vol);
    if (!(await mountTmpfs(t, vol, 'size=2m', () => Promise.all([arts.cleanup(), tmp.cleanup()])))) return;
    const local = path.join(tmp.path, 'local');
    const data = path.join(vol, 'data');
    await mkdir(local);
    await writeFile(path.join(local, 'a.txt'), 'local file');
    await mkdir(data);
    await writeFile(path.join(data, 'big.bin'), Buffer.alloc(1_200_000, 7));
    const source = filesType.create('vol', filesConfigSchema.parse({ paths: [local, data] }), deps(tmp.path));
    const outcome = await source.backup(arts.sink, testContext());

    // Later: the big file is replaced by a smaller one, and something else fills the disk.
    await rm(path.join(data, 'big.bin'));
    await writeFile(path.join(data, 'small.bin'), Buffer.alloc(300_000, 1));
    await writeFile(path.join(vol, 'filler'), Buffer.alloc(1_000_000, 2));
    const live = await listTree(vol);
    await assert.rejects(source.restore(arts.reader(), testContext()), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'source', String(err));
      assert.match(err.message, /ENOSPC.*nothing live was changed/);
      assert.ok(err.message.includes(data), err.message);
      return true;
    });
    assert.deepEqual(await listTree(vol), live, 'the live tree on the full disk is as it was, no staging left');
    assert.deepEqual(await readFile(path.join(data, 'small.bin')), Buffer.alloc(300_000, 1));

    await rm(path.join(vol, 'filler'));
    await source.restore(arts.reader(), testContext());
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext())), []);
    assert.deepEqual(await listTree(vol), ['data/', 'data/big.bin']);
  });

  test('a path that is itself a mount point is restored inside it', { skip: !isRoot && 'needs root to mount a tmpfs' }, async (t) => {
    const tmp = await tempDir('files');
    const arts = await memoryArtifacts();
    const data = path.join(tmp.path, 'data');
    await mkdir(data);
    if (!(await mountTmpfs(t, data, 'size=4m', () => Promise.all([arts.cleanup(), tmp.cleanup()])))) return;
    await seedTree(data);
    const source = filesType.create('vol', filesConfigSchema.parse({ paths: [data] }), deps(tmp.path));
    const outcome = await source.backup(arts.sink, testContext());
    const before = await listTree(data);
    await writeFile(path.join(data, 'later'), 'x');
    await rm(path.join(data, 'index'), { recursive: true });
    await source.restore(arts.reader(), testContext());
    assert.deepEqual(await listTree(data), before);
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext())), []);
  });

  test('a filesystem mounted inside a path stays mounted and gets its part of the snapshot', { skip: !isRoot && 'needs root to mount a tmpfs' }, async (t) => {
    const tmp = await tempDir('files');
    const arts = await memoryArtifacts();
    const data = path.join(tmp.path, 'data');
    const vol = path.join(data, 'vol');
    await mkdir(vol, { recursive: true });
    if (!(await mountTmpfs(t, vol, 'size=4m', () => Promise.all([arts.cleanup(), tmp.cleanup()])))) return;
    await writeFile(path.join(data, 'top.txt'), 'top');
    await mkdir(path.join(vol, 'sub'));
    await writeFile(path.join(vol, 'm.txt'), 'on the mount');
    await writeFile(path.join(vol, 'sub', 'x'), 'x');
    const source = filesType.create('vol', filesConfigSchema.parse({ paths: [data] }), deps(tmp.path));
    const outcome = await source.backup(arts.sink, testContext());
    const before = await listTree(data);

    await writeFile(path.join(data, 'top.txt'), 'changed');
    await writeFile(path.join(vol, 'm.txt'), 'changed on the mount');
    await writeFile(path.join(vol, 'later'), 'later');
    await writeFile(path.join(data, 'later'), 'later');
    await source.restore(arts.reader(), testContext());
    assert.deepEqual(await listTree(data), before);
    assert.equal(await readFile(path.join(vol, 'm.txt'), 'utf8'), 'on the mount');
    assert.notEqual((await stat(vol)).dev, (await stat(data)).dev, 'the tmpfs is still mounted there');
    assert.deepEqual(compareFingerprints(outcome.fingerprint, await source.fingerprint(testContext())), []);
  });

  test('a swap that cannot finish puts back what it already swapped', async (t) => {
    const tmp = await tempDir('files');
    const arts = await memoryArtifacts();
    t.after(() => Promise.all([arts.cleanup(), tmp.cleanup()]));
    const data = path.join(tmp.path, 'data');
    await seedTree(data);
    await writeFile(path.join(data, 'x'), 'a file in the snapshot');
    const source = filesType.create('vol', filesConfigSchema.parse({ paths: [data], exclude: ['*.log'] }), deps(tmp.path));
    await source.backup(arts.sink, testContext());

    // Later "x" became a directory holding an excluded file: the snapshot's file cannot go there.
    await rm(path.join(data, 'x'));
    await mkdir(path.join(data, 'x'));
    await writeFile(path.join(data, 'x', 'keep.log'), 'excluded');
    await writeFile(path.join(data, 'config.yml'), 'changed'); // swapped before "x" is reached
    await writeFile(path.join(data, 'later'), 'later');
    const live = await listTree(data);
    await assert.rejects(source.restore(arts.reader(), testContext()), (err: unknown) => {
      assert.ok(err instanceof LifeboatError && err.code === 'source', String(err));
      assert.match(err.message, /x holds entries the source excludes.*the previous content was put back/);
      return true;
    });
    assert.deepEqual(await listTree(data), live);
    assert.equal(await readFile(path.join(data, 'config.yml'), 'utf8'), 'changed');
    assert.equal(await readFile(path.join(data, 'later'), 'utf8'), 'later');
    assert.deepEqual((await readdir(tmp.path)).filter((n) => n.includes('.lifeboat-restore-')), []);
  });
});
