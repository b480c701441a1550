// Without the optional native package fs-xattr (hidden here by a resolve hook, as when it did
// not build at install time), extended attributes are skipped, and lifeboat says so once per
// run, naming the package and the fix, instead of losing them in silence.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIFEBOAT_BIN } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';

const HIDE_FS_XATTR =
  'data:text/javascript,' +
  encodeURIComponent(`import { registerHooks } from 'node:module';
registerHooks({ resolve(spec, ctx, next) { if (spec === 'fs-xattr') throw new Error('hidden'); return next(spec, ctx); } });`);

const tmp = await tempDir('no-xattr');
after(() => tmp.cleanup());

function lifeboatWithoutXattr(args: string[]) {
  return spawnSync(process.execPath, ['--import', HIDE_FS_XATTR, LIFEBOAT_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LIFEBOAT_PASSWORD: 'no xattr here' },
  });
}

test('a backup without fs-xattr warns once, naming the package and the fix', () => {
  const data = path.join(tmp.path, 'data');
  mkdirSync(path.join(data, 'a', 'b'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(path.join(data, i % 2 ? 'a' : 'a/b', `f${i}`), `file ${i}\n`);
  const repo = path.join(tmp.path, 'repo');
  const init = lifeboatWithoutXattr(['-r', repo, 'init']);
  assert.equal(init.status, 0, init.stderr);
  const backup = lifeboatWithoutXattr(['-r', repo, 'backup', data]);
  assert.equal(backup.status, 0, backup.stderr);
  const lines = backup.stderr.split('\n').filter((l) => l.includes('fs-xattr'));
  assert.equal(lines.length, 1, backup.stderr);
  assert.match(lines[0]!, /extended attributes are not backed up: the optional package fs-xattr could not be loaded/);
  assert.match(lines[0]!, /npm rebuild fs-xattr/);
});

test('the module warns once for many reads and writes, and reports the attributes it could not set', () => {
  const mod = fileURLToPath(new URL('../../src/repo/archiver/xattrs.ts', import.meta.url));
  const file = path.join(tmp.path, 'one');
  writeFileSync(file, 'x');
  const script = `
    const { readXattrsSync, writeXattrsSync, xattrsSupported } = await import(${JSON.stringify(mod)});
    const codes = [];
    process.on('warning', (w) => codes.push(w.code));
    const reads = [0, 1, 2].map(() => readXattrsSync(${JSON.stringify(file)}));
    const failed = writeXattrsSync(${JSON.stringify(file)}, [{ name: 'user.a', value: 'eA==' }]);
    await new Promise((r) => setImmediate(r));
    console.log(JSON.stringify({ supported: xattrsSupported(), reads, failed, codes }));
  `;
  const r = spawnSync(process.execPath, ['--import', HIDE_FS_XATTR, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { supported: boolean; reads: unknown[]; failed: string[]; codes: string[] };
  assert.equal(out.supported, false);
  assert.deepEqual(out.reads, [null, null, null]);
  assert.deepEqual(out.failed, ['user.a']);
  assert.deepEqual(out.codes, ['LIFEBOAT_NO_XATTRS']);
});
