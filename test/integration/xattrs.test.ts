/**
 * Extended attributes survive a backup and restore, with lifeboat and with restic reading
 * lifeboat's repository. Skipped where the optional fs-xattr module did not build or the file
 * system has no user xattrs.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { resticOk } from '../support/restic.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

interface Xattr {
  setAttributeSync(p: string, n: string, v: Buffer): void;
  getAttributeSync(p: string, n: string): Buffer;
}

function loadXattr(): Xattr | undefined {
  try {
    return createRequire(import.meta.url)('fs-xattr') as Xattr;
  } catch {
    return undefined;
  }
}

/** fs-xattr and a temp dir holding `src/dir`; undefined (the test skipped) without fs-xattr. */
async function fixture(t: TestContext, label: string): Promise<{ x: Xattr; tmp: TempDir; src: string } | undefined> {
  const x = loadXattr();
  if (!x) {
    t.skip('the optional fs-xattr module is not installed');
    return undefined;
  }
  const tmp = await tempDir(label);
  const src = path.join(tmp.path, 'src');
  await mkdir(path.join(src, 'dir'), { recursive: true });
  return { x, tmp, src };
}

test('extended attributes of files and directories are backed up and restored', { skip: missingBinaries('restic') }, async (t) => {
  const f = await fixture(t, 'xattr');
  if (!f) return;
  const { x, tmp, src } = f;
  try {
    await writeFile(path.join(src, 'dir', 'file.txt'), 'with attributes\n');
    try {
      x.setAttributeSync(path.join(src, 'dir', 'file.txt'), 'user.lifeboat.test', Buffer.from('file-value'));
      x.setAttributeSync(path.join(src, 'dir'), 'user.lifeboat.dir', Buffer.from([0, 1, 2, 255]));
    } catch {
      return t.skip('this file system does not support user extended attributes');
    }
    const repo = path.join(tmp.path, 'repo');
    const pw = 'xattr-pw';
    assert.equal((await lifeboat(['-r', repo, 'init'], { password: pw })).code, 0);
    const b = await lifeboat(['-r', repo, 'backup', src], { password: pw });
    assert.equal(b.code, 0, b.stderr);
    for (const tool of ['lifeboat', 'restic'] as const) {
      const target = path.join(tmp.path, `out-${tool}`);
      if (tool === 'lifeboat') assert.equal((await lifeboat(['-r', repo, 'restore', 'latest', '--target', target], { password: pw })).code, 0);
      else await resticOk(['restore', 'latest', '--target', target], { repo, password: pw });
      const restored = path.join(target, src);
      assert.equal(x.getAttributeSync(path.join(restored, 'dir', 'file.txt'), 'user.lifeboat.test').toString(), 'file-value', tool);
      assert.deepEqual([...x.getAttributeSync(path.join(restored, 'dir'), 'user.lifeboat.dir')], [0, 1, 2, 255], tool);
    }
  } finally {
    await tmp.cleanup();
  }
});

test('a backup reads the xattrs again of an entry whose ctime changed, and keeps those of unchanged ones', async (t) => {
  const f = await fixture(t, 'xattr-parent');
  if (!f) return;
  const { x, tmp, src } = f;
  try {
    const changed = path.join(src, 'dir', 'changed.txt');
    const kept = path.join(src, 'dir', 'kept.txt');
    await writeFile(changed, 'content stays the same\n');
    await writeFile(kept, 'untouched\n');
    try {
      x.setAttributeSync(changed, 'user.v', Buffer.from('one'));
      x.setAttributeSync(kept, 'user.v', Buffer.from('kept'));
    } catch {
      return t.skip('this file system does not support user extended attributes');
    }
    const repo = path.join(tmp.path, 'repo');
    const pw = 'xattr-pw';
    assert.equal((await lifeboat(['-r', repo, 'init'], { password: pw })).code, 0);
    assert.equal((await lifeboat(['-r', repo, 'backup', src], { password: pw })).code, 0);
    // Only the attributes change (the ctimes of the file and the dir, not their contents).
    await new Promise((r) => setTimeout(r, 20));
    x.setAttributeSync(changed, 'user.v', Buffer.from('two'));
    x.setAttributeSync(path.join(src, 'dir'), 'user.d', Buffer.from('new on the dir'));
    const second = await lifeboat(['-r', repo, 'backup', '--json', src], { password: pw });
    assert.equal(second.code, 0, second.stderr);
    const target = path.join(tmp.path, 'out');
    assert.equal((await lifeboat(['-r', repo, 'restore', 'latest', '--target', target], { password: pw })).code, 0);
    const restored = path.join(target, src);
    assert.equal(x.getAttributeSync(path.join(restored, 'dir', 'changed.txt'), 'user.v').toString(), 'two');
    assert.equal(x.getAttributeSync(path.join(restored, 'dir', 'kept.txt'), 'user.v').toString(), 'kept');
    assert.equal(x.getAttributeSync(path.join(restored, 'dir'), 'user.d').toString(), 'new on the dir');
  } finally {
    await tmp.cleanup();
  }
});
