import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TAR_END, tarHeader } from './tar-header.ts';

test('a hard-link entry that GNU tar lists and extracts as a second name of the file', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-tar-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tar = Buffer.concat([tarHeader({ name: 'dump.rdb', type: '1', linkname: '.dump.rdb.tmp', mode: 0o640, uid: 999, gid: 998 }), TAR_END]);
  assert.equal(tar.length, 3 * 512);
  writeFileSync(path.join(dir, 'a.tar'), tar);
  const list = spawnSync('tar', ['-tvf', 'a.tar', '--numeric-owner'], { cwd: dir, encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /^hrw-r----- 999\/998 +0 .* dump\.rdb link to \.dump\.rdb\.tmp$/m);
  writeFileSync(path.join(dir, '.dump.rdb.tmp'), 'REDIS0011');
  writeFileSync(path.join(dir, 'dump.rdb'), 'old');
  const x = spawnSync('tar', ['-xf', 'a.tar'], { cwd: dir, encoding: 'utf8' });
  assert.equal(x.status, 0, x.stderr);
  assert.equal(statSync(path.join(dir, 'dump.rdb')).ino, statSync(path.join(dir, '.dump.rdb.tmp')).ino);
});

test('a name longer than the ustar field is refused, never cut', () => {
  assert.throws(() => tarHeader({ name: 'x'.repeat(101), type: '0', mode: 0o600, uid: 0, gid: 0 }), RangeError);
});
