// The files source: the conformance suite over a directory and a single file, include and
// exclude globs (in what is stored and in the fingerprint), restores that replace what is there,
// and restores relocated under `to:`.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
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
    assert.deepEqual((await readdir(tmp.path)).filter((n) => n.startsWith('.lifeboat')), []);
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
});
