// verify and scratchTarget of the files source: verify restores the stored tree into a temp copy,
// fingerprints it exactly as backup fingerprints the live paths, and removes the copy; a tree that
// cannot be restored or lacks a configured path is reported. A drill restores under a scratch dir,
// fingerprints equal, and cleanup removes the dir while the live paths stay as they were.
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { ArtifactReader } from '../../core/source.ts';
import { compareFingerprints } from '../../core/source.ts';
import { localRunner } from '../../transport/local-runner.ts';
import { memoryArtifacts, testContext } from '../../../test/support/memory-artifacts.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import type { SourceDeps } from '../source-kit.ts';
import { filesConfigSchema } from './files-config.ts';
import type { FilesFingerprint } from './files-source.ts';
import { filesType } from './files-source.ts';

async function backedUp() {
  const tmp = await tempDir('files-drill');
  const data = path.join(tmp.path, 'srv', 'data');
  const envFile = path.join(tmp.path, 'app.env');
  const work = path.join(tmp.path, 'work');
  await mkdir(path.join(data, 'index', 'shards'), { recursive: true });
  await writeFile(path.join(data, 'index', 'faiss.index'), Buffer.alloc(100_000, 3));
  await writeFile(path.join(data, 'index', 'shards', 'a.bin'), 'shard a');
  await writeFile(path.join(data, 'debug.log'), 'noise\n');
  await symlink('index/faiss.index', path.join(data, 'current'));
  await writeFile(envFile, 'KEY=value\n');
  const deps: SourceDeps = { runner: localRunner, secrets: async () => '', tmpDir: work };
  const source = filesType.create('volumes', filesConfigSchema.parse({ paths: [data, envFile], exclude: ['*.log'] }), deps);
  const arts = await memoryArtifacts();
  const outcome = await source.backup(arts.sink, testContext());
  return {
    source, data, envFile, work, arts, fingerprint: outcome.fingerprint as unknown as FilesFingerprint,
    cleanup: async () => {
      await arts.cleanup();
      await tmp.cleanup();
    },
  };
}

describe('files source: verify and drill', () => {
  test('verify restores a temp copy, reports the fingerprint the backup recorded, and removes the copy', async () => {
    const fx = await backedUp();
    try {
      const r = await fx.source.verify!(fx.arts.reader(), testContext());
      assert.deepEqual(r.problems, []);
      const fp = fx.fingerprint;
      assert.ok(r.checks.includes(`file tree: fingerprint of the copy: ${fp.files} files, ${fp.bytes} bytes`), r.checks.join('\n'));
      for (const [root, hash] of Object.entries(fp.trees)) assert.ok(r.checks.includes(`file tree: ${root} tree hash ${hash}`), root);
      assert.deepEqual(await readdir(fx.work), []);
    } finally {
      await fx.cleanup();
    }
  });

  test('verify reports a tree that cannot be restored and one that lacks a configured path', async () => {
    const fx = await backedUp();
    try {
      const empty = await memoryArtifacts();
      const r1 = await fx.source.verify!(empty.reader(), testContext());
      assert.deepEqual(r1.problems, ['file tree: cannot be restored: no file tree stored']);
      await empty.cleanup();

      // A reader whose tree lost one of the configured paths (a snapshot of another paths list).
      const real = fx.arts.reader();
      const partial: ArtifactReader = {
        list: () => real.list(),
        open: (name) => real.open(name),
        async restoreFiles(target) {
          const r = await real.restoreFiles(target);
          await rm(path.join(target, fx.envFile));
          return r;
        },
      };
      const r2 = await fx.source.verify!(partial, testContext());
      assert.deepEqual(r2.problems, [`file tree: holds no ${fx.envFile} (a configured path)`]);
      assert.deepEqual(await readdir(fx.work), []);
    } finally {
      await fx.cleanup();
    }
  });

  test('drill: scratch dir, restore, equal fingerprint, cleanup removes it, live paths untouched', async () => {
    const fx = await backedUp();
    try {
      const ctx = testContext();
      const scratch = await fx.source.scratchTarget!(fx.arts.reader(), ctx);
      assert.equal(path.dirname(scratch.to), fx.work);
      await fx.source.restore(fx.arts.reader(), ctx, { to: scratch.to });
      assert.ok((await stat(path.join(scratch.to, fx.data, 'index', 'faiss.index'))).isFile());
      assert.deepEqual(compareFingerprints(fx.fingerprint, await fx.source.fingerprint(ctx, { to: scratch.to })), []);
      await scratch.cleanup();
      await scratch.cleanup();
      await assert.rejects(stat(scratch.to), /ENOENT/);
      assert.deepEqual(compareFingerprints(fx.fingerprint, await fx.source.fingerprint(ctx)), [], 'the live paths are untouched');
      assert.ok((await stat(path.join(fx.data, 'debug.log'))).isFile(), 'an excluded live file is still there');
    } finally {
      await fx.cleanup();
    }
  });
});
