// The nanosecond time setter and its fallback: without the optional package koffi (hidden
// here by a resolve hook in a child process), times are still set, to the microsecond, and
// one warning says so, however many files are restored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, lstatSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exactTimesSupported, setLinkTimes, setTimesFd } from './file-times.ts';

const A = 1_600_000_000_987_654_321n;
const M = 1_700_000_000_123_456_789n;
/** 1960-05-01T12:00:00.25Z */
const BEFORE_1970 = -305_121_599_750_000_000n;

test('futimens and utimensat set a file\'s and a symlink\'s times to the nanosecond', { skip: exactTimesSupported() || process.env.REQUIRE_SERVERS === '1' ? false : 'koffi is not installed' }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-times-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'f');
  writeFileSync(f, 'x');
  const fd = openSync(f, 'r');
  setTimesFd(fd, A, M);
  closeSync(fd);
  symlinkSync('f', path.join(dir, 'l'));
  setLinkTimes(Buffer.from(path.join(dir, 'l')), M, A);
  const st = lstatSync(f, { bigint: true });
  assert.deepEqual([st.atimeNs, st.mtimeNs], [A, M]);
  const ls = lstatSync(path.join(dir, 'l'), { bigint: true });
  assert.deepEqual([ls.atimeNs, ls.mtimeNs], [M, A]);
  assert.deepEqual([lstatSync(f, { bigint: true }).mtimeNs], [M], 'the link target kept its own times');
  assert.throws(() => setLinkTimes(path.join(dir, 'missing'), A, M), { code: 'ENOENT' });
});

test('without koffi the float calls are used and one warning says so', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-times-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const mod = fileURLToPath(new URL('./file-times.ts', import.meta.url));
  const script = `
    import { registerHooks } from 'node:module';
    registerHooks({ resolve(spec, ctx, next) { if (spec === 'koffi') throw new Error('hidden'); return next(spec, ctx); } });
    const { exactTimesSupported, setTimesFd, setLinkTimes } = await import(${JSON.stringify(mod)});
    const fs = await import('node:fs');
    let warnings = 0;
    process.on('warning', (w) => { if (w.code === 'LIFEBOAT_INEXACT_TIMES') warnings++; });
    for (let i = 0; i < 3; i++) {
      const p = ${JSON.stringify(dir)} + '/f' + i;
      fs.writeFileSync(p, 'x');
      const fd = fs.openSync(p, 'r');
      setTimesFd(fd, ${A}n, ${M}n);
      fs.closeSync(fd);
      fs.symlinkSync('f' + i, p + 'l');
      setLinkTimes(p + 'l', ${A}n, ${M}n);
    }
    const old = ${JSON.stringify(dir)} + '/old';
    fs.writeFileSync(old, 'x');
    const ofd = fs.openSync(old, 'r');
    setTimesFd(ofd, ${BEFORE_1970}n, ${BEFORE_1970}n);
    fs.closeSync(ofd);
    fs.symlinkSync('old', old + 'l');
    setLinkTimes(old + 'l', ${BEFORE_1970}n, ${BEFORE_1970}n);
    await new Promise((r) => setImmediate(r));
    const st = fs.statSync(${JSON.stringify(dir)} + '/f2', { bigint: true });
    const before1970 = [fs.statSync(old, { bigint: true }).mtimeNs, fs.lstatSync(old + 'l', { bigint: true }).mtimeNs].map(String);
    console.log(JSON.stringify({ exact: exactTimesSupported(), warnings, mtime: String(st.mtimeNs), before1970 }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { exact: boolean; warnings: number; mtime: string; before1970: string[] };
  assert.equal(out.exact, false);
  assert.equal(out.warnings, 1);
  assert.ok(BigInt(out.mtime) - M < 1000n && M - BigInt(out.mtime) < 1000n, `mtime ${out.mtime} within a microsecond of ${M}`);
  // Node's float calls turn a negative time into "now"; restic restores it.
  for (const t of out.before1970) assert.ok(BigInt(t) - BEFORE_1970 < 1000n && BEFORE_1970 - BigInt(t) < 1000n, `mtime ${t} within a microsecond of ${BEFORE_1970}`);
});
