/**
 * `lifeboat check` through the CLI: a clean repository exits 0; a missing index file, a
 * truncated pack and a corrupted snapshot each give a clear error naming the damage and exit
 * code 5; a stray file is a warning naming it. Also stats, cat and key management.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { makeCorpus } from '../support/corpus.ts';

const PASSWORD = 'check-cli-pw';

describe('check, stats, cat and key through the CLI', () => {
  let tmp: TempDir;
  let repo: string;
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => lifeboat(['-r', repo, ...args], { password: PASSWORD, env });

  /** Copies the repository so each damage test starts clean. */
  async function damaged(label: string): Promise<string> {
    const { cp } = await import('node:fs/promises');
    const copy = path.join(tmp.path, `repo-${label}`);
    await cp(repo, copy, { recursive: true });
    return copy;
  }

  before(async () => {
    tmp = await tempDir('check-cli');
    repo = path.join(tmp.path, 'repo');
    const src = path.join(tmp.path, 'src');
    await makeCorpus(src, { bigSize: 2 * 1024 * 1024 });
    assert.equal((await run(['init'])).code, 0);
    assert.equal((await run(['backup', src])).code, 0);
  });
  after(() => tmp.cleanup());

  test('a clean repository checks with exit 0', async () => {
    const r = await run(['check', '--read-data']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no errors were found/);
  });

  test('a missing index file: exit 5, naming the missing entries and the snapshot', async () => {
    const copy = await damaged('noindex');
    for (const f of await readdir(path.join(copy, 'index'))) await rm(path.join(copy, 'index', f), { force: true });
    const r = await lifeboat(['-r', copy, 'check'], { password: PASSWORD });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /no index lists it|not in (any|the) index|missing/i);
  });

  test('a truncated pack: exit 5 naming the pack', async () => {
    const copy = await damaged('trunc');
    const dataDir = path.join(copy, 'data');
    let p = '';
    let pack = '';
    for (const sub of await readdir(dataDir)) {
      const files = await readdir(path.join(dataDir, sub));
      if (files.length > 0) {
        pack = files[0] as string;
        p = path.join(dataDir, sub, pack);
        break;
      }
    }
    await chmod(p, 0o644);
    await truncate(p, (await stat(p)).size - 100);
    const r = await lifeboat(['-r', copy, 'check'], { password: PASSWORD });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.ok((r.stdout + r.stderr).includes(pack.slice(0, 16)), 'the damaged pack is named');
  });

  test('a corrupted snapshot file: exit 5 naming the snapshot', async () => {
    const copy = await damaged('snap');
    const snap = (await readdir(path.join(copy, 'snapshots')))[0] as string;
    const p = path.join(copy, 'snapshots', snap);
    const bytes = await readFile(p);
    bytes[20] ^= 1;
    await chmod(p, 0o644);
    await writeFile(p, bytes);
    const r = await lifeboat(['-r', copy, 'check'], { password: PASSWORD });
    assert.equal(r.code, 5, r.stdout + r.stderr);
    assert.ok((r.stdout + r.stderr).includes(snap.slice(0, 16)));
  });

  test('a stray file is a warning naming it, exit 0', async () => {
    const copy = await damaged('stray');
    await writeFile(path.join(copy, 'snapshots', 'notes.txt'), 'left here by hand');
    const r = await lifeboat(['-r', copy, 'check'], { password: PASSWORD });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /notes\.txt/);
  });

  test('an empty stdin is refused and writes no snapshot (a failed producer upstream)', async () => {
    const before = (await readdir(path.join(repo, 'snapshots'))).length;
    const r = await run(['backup', '--stdin', '--stdin-filename', 'db.dump']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no data read from stdin/);
    assert.equal((await readdir(path.join(repo, 'snapshots'))).length, before);
  });

  test('stats and cat print what the repository holds', async () => {
    const s = await run(['stats', '--json']);
    assert.equal(s.code, 0, s.stderr);
    // restic's default mode, restore-size: total_size is what a restore writes.
    const stats = JSON.parse(s.stdout) as { snapshots_count: number; total_file_count: number; total_size: number };
    assert.equal(stats.snapshots_count, 1);
    assert.ok(stats.total_file_count > 10 && stats.total_size > 2 * 1024 * 1024);
    const c = await run(['cat', 'config']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((JSON.parse(c.stdout) as { version: number }).version, 2);
  });

  test('key add, list, passwd and remove; the old password stops working', async () => {
    const add = await run(['key', 'add'], { LIFEBOAT_NEW_PASSWORD: 'second-pw' });
    assert.equal(add.code, 0, add.stderr);
    const list = await run(['key', 'list', '--json']);
    const keys = JSON.parse(list.stdout) as Array<{ id: string; current: boolean }>;
    assert.equal(keys.length, 2);
    const viaSecond = await lifeboat(['-r', repo, 'snapshots'], { password: 'second-pw' });
    assert.equal(viaSecond.code, 0, viaSecond.stderr);
    const other = keys.find((k) => !k.current) as { id: string };
    const rm1 = await run(['key', 'remove', other.id.slice(0, 8)]);
    assert.equal(rm1.code, 0, rm1.stderr);
    assert.equal((await lifeboat(['-r', repo, 'snapshots'], { password: 'second-pw' })).code, 12);
    const pw = await run(['key', 'passwd'], { LIFEBOAT_NEW_PASSWORD: 'third-pw' });
    assert.equal(pw.code, 0, pw.stderr);
    assert.equal((await lifeboat(['-r', repo, 'snapshots'], { password: PASSWORD })).code, 12);
    assert.equal((await lifeboat(['-r', repo, 'snapshots'], { password: 'third-pw' })).code, 0);
  });
});
