/**
 * File names and symlink targets that are not UTF-8 (as a Latin-1 or broken system leaves
 * them) are backed up and restored byte for byte, and restic reads lifeboat's snapshot of
 * them and lifeboat restic's. Names travel Go-quoted in both tools; a link target that is not
 * UTF-8 is kept only by restic >= 0.17 (`linktarget_raw`), so with restic 0.14 on either side
 * the target comes out with U+FFFD in place of the bad bytes, as restic itself restores it.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLocalStorage } from '../../src/storage/local/local-storage.ts';
import { Archiver } from '../../src/repo/archiver/archiver.ts';
import { Repository } from '../../src/repo/repository.ts';
import { Restorer } from '../../src/repo/restorer.ts';
import { listSnapshots, loadSnapshot } from '../../src/repo/snapshot/snapshot.ts';
import { resticOk, resticInit } from '../support/restic.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';

const PASSWORD = 'raw names';
const b = (...parts: Array<string | number[]>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
const under = (dir: string, ...names: Buffer[]): Buffer => Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from('/'), n])]);

const FILE = b('f', [0xff], 'o');
const LINK = b('l', [0xfe]);
const DIR = b('d', [0xc3]); // a truncated two-byte sequence
const INNER = b('in', [0x80]);
const FFFD = b('r\uFFFD'); // valid UTF-8 for U+FFFD: must stay distinct from the raw names
const TARGET = b('/t', [0xff, 0xfe], '/x');
/** What restic 0.14 keeps of TARGET: Go's JSON encoder writes U+FFFD for each invalid byte. */
const LOSSY_TARGET = Buffer.from(TARGET.toString('utf8'));

/** Every entry below `dir`, by relative path in hex: type, and content or link target in hex. */
function describe_(dir: Buffer, rel: Buffer[] = [], out = new Map<string, string>()): Map<string, string> {
  for (const name of readdirSync(dir, { encoding: 'buffer' })) {
    const p = Buffer.concat([dir, Buffer.from('/'), name]);
    const key = [...rel, name].map((n) => n.toString('hex')).join('/');
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out.set(key, `link ${readlinkSync(p, { encoding: 'buffer' }).toString('hex')}`);
    else if (st.isDirectory()) {
      out.set(key, 'dir');
      describe_(p, [...rel, name], out);
    } else out.set(key, `file ${readFileSync(p).toString('hex')}`);
  }
  return out;
}

describe('names and link targets that are not UTF-8', () => {
  let tmp: TempDir;
  let src: string;
  before(async () => {
    tmp = await tempDir('raw-names');
    src = path.join(tmp.path, 'src');
    mkdirSync(src);
    writeFileSync(under(src, FILE), 'file\n');
    writeFileSync(under(src, FFFD), 'replacement char\n');
    symlinkSync(TARGET, under(src, LINK));
    mkdirSync(under(src, DIR));
    writeFileSync(under(src, DIR, INNER), 'inner\n');
  });
  after(() => tmp.cleanup());

  const backup = async (repoDir: string): Promise<Repository> => {
    await Repository.init(createLocalStorage(repoDir), PASSWORD, { scrypt: { N: 1024, r: 8, p: 1 } });
    const repo = await Repository.open(createLocalStorage(repoDir), PASSWORD);
    await repo.loadIndex();
    const a = new Archiver(repo);
    await a.finish(await a.saveTargets([src]), [src]);
    assert.deepEqual(a.summary.errors, []);
    return repo;
  };

  test('lifeboat backs them up and restores them byte for byte', async () => {
    const repo = await backup(path.join(tmp.path, 'repo-lb'));
    const [snap] = await listSnapshots(repo);
    const target = path.join(tmp.path, 'lb-restore');
    const res = await new Restorer(repo).restore(await loadSnapshot(repo, (snap as { id: string }).id), target);
    assert.deepEqual(res.errors, []);
    const want = describe_(Buffer.from(src));
    assert.equal(want.size, 5);
    assert.deepEqual(describe_(Buffer.from(path.join(target, src))), want);
  });

  test('restic 0.14 restores lifeboat\'s snapshot: names exact, a raw link target as restic itself keeps it', { skip: missingBinaries('restic') }, async () => {
    const repoDir = path.join(tmp.path, 'repo-lb-restic');
    await backup(repoDir);
    await resticOk(['check', '--read-data'], { repo: repoDir, password: PASSWORD });
    const target = path.join(tmp.path, 'restic-restore');
    await resticOk(['restore', 'latest', '--target', target], { repo: repoDir, password: PASSWORD });
    const got = describe_(Buffer.from(path.join(target, src)));
    const want = describe_(Buffer.from(src));
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'names byte for byte');
    for (const [k, v] of want) if (!v.startsWith('link')) assert.equal(got.get(k), v, `content of ${k}`);
    assert.equal(got.get(LINK.toString('hex')), `link ${LOSSY_TARGET.toString('hex')}`);
  });

  test('lifeboat restores restic\'s snapshot of them: names exact', { skip: missingBinaries('restic') }, async () => {
    const repoDir = path.join(tmp.path, 'repo-restic');
    await resticInit({ repo: repoDir, password: PASSWORD });
    await resticOk(['backup', src], { repo: repoDir, password: PASSWORD });
    const repo = await Repository.open(createLocalStorage(repoDir), PASSWORD);
    await repo.loadIndex();
    const [snap] = await listSnapshots(repo);
    const target = path.join(tmp.path, 'lb-from-restic');
    const res = await new Restorer(repo).restore(await loadSnapshot(repo, (snap as { id: string }).id), target);
    assert.deepEqual(res.errors, []);
    const got = describe_(Buffer.from(path.join(target, src)));
    const want = describe_(Buffer.from(src));
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'names byte for byte');
    for (const [k, v] of want) if (!v.startsWith('link')) assert.equal(got.get(k), v, `content of ${k}`);
    assert.equal(got.get(LINK.toString('hex')), `link ${LOSSY_TARGET.toString('hex')}`);
  });
});
