/**
 * restic's repair commands under lifeboat, restic 0.14 as the oracle: after `repair index`
 * (0.14's `rebuild-index`) restic lists the same blobs and checks clean; after a damaged pack
 * is salvaged (`repair packs`) and the snapshots are repaired (`repair snapshots --forget`),
 * restic checks clean, reads every file byte for byte, and only the damaged blob is gone.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat } from '../support/lifeboat-cli.ts';
import { restic, resticOk } from '../support/restic.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { pseudoRandom } from '../support/corpus.ts';

const PASSWORD = 'correct horse battery staple';

describe('repair index, packs, snapshots', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  let repo: string;
  let src: string;
  const lb = (args: string[]) => lifeboat(['-r', repo, ...args], { password: PASSWORD });
  const rs = (args: string[]) => resticOk(args, { repo, password: PASSWORD });
  const blobs = async (): Promise<string[]> => (await rs(['list', 'blobs'])).stdout.trim().split('\n').sort();

  before(async () => {
    tmp = await tempDir('repair');
    repo = path.join(tmp.path, 'repo');
    src = path.join(tmp.path, 'src');
    await mkdir(path.join(src, 'd'), { recursive: true });
    await writeFile(path.join(src, 'd', 'victim.bin'), pseudoRandom(64 * 1024, 7));
    await writeFile(path.join(src, 'keep.bin'), pseudoRandom(48 * 1024, 8));
    assert.equal((await lb(['init'])).code, 0);
    assert.equal((await lb(['backup', src])).code, 0);
    await writeFile(path.join(src, 'later.txt'), 'second backup\n');
    assert.equal((await lb(['backup', src])).code, 0);
  });
  after(() => tmp.cleanup());

  test('repair index rebuilds a lost index: restic lists the same blobs and checks clean', async () => {
    const before = await blobs();
    for (const f of await readdir(path.join(repo, 'index'))) await rm(path.join(repo, 'index', f));
    assert.notEqual((await restic(['check'], { repo, password: PASSWORD })).code, 0, 'restic sees the damage');
    const r = await lb(['--json', 'repair', 'index']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).packs_read, JSON.parse(r.stdout).packs);
    assert.deepEqual(await blobs(), before);
    const chk = await restic(['check', '--read-data'], { repo, password: PASSWORD });
    assert.equal(chk.code, 0, chk.stdout + chk.stderr);
    // restic 0.14's name works too, and rebuilding a sound index changes no blob.
    const again = await lb(['rebuild-index', '--read-all-packs']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await blobs(), before);

    // A damaged index file is reported and replaced; the packs it listed are read again.
    const [idx] = await readdir(path.join(repo, 'index'));
    const file = path.join(repo, 'index', idx as string);
    const bytes = await readFile(file);
    bytes[40] = (bytes[40] as number) ^ 0xff;
    await writeFile(file, bytes);
    const fixed = await lb(['repair', 'index']);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.match(fixed.stderr, new RegExp(`index ${(idx as string).slice(0, 8)} cannot be read and is replaced`));
    assert.deepEqual(await blobs(), before);
    assert.deepEqual(await readdir(path.join(repo, 'index')).then((l) => l.includes(idx as string)), false);
    const chk2 = await restic(['check'], { repo, password: PASSWORD });
    assert.equal(chk2.code, 0, chk2.stdout + chk2.stderr);
  });

  test('repair packs salvages the readable blobs; repair snapshots --forget drops the lost one; restic checks clean', async () => {
    // The data blob of victim.bin (found with restic's find): damage one byte of it in its pack.
    const fileBlobs = (await rs(['--json', 'find', '--blob', ...(await blobs()).filter((b) => b.startsWith('data')).map((b) => b.slice(5))])).stdout;
    const hit = (JSON.parse(fileBlobs) as Array<{ id: string; path: string }>).find((h) => h.path.endsWith('victim.bin'));
    assert.ok(hit);
    const found = (await lb(['find', '--show-pack-id', '--blob', hit.id])).stdout;
    const packId = /belongs to pack ([0-9a-f]{64})/.exec(found)?.[1] as string;
    assert.ok(packId, found);
    const packFile = path.join(repo, 'data', packId.slice(0, 2), packId);
    const bytes = await readFile(packFile);
    const loc = await packOffset(repo, packId, hit.id);
    bytes[loc + 20] = (bytes[loc + 20] as number) ^ 0xff;
    await writeFile(packFile, bytes);
    assert.notEqual((await restic(['check', '--read-data'], { repo, password: PASSWORD })).code, 0, 'restic sees the damage');

    const before = await blobs();
    const r = await lb(['--json', 'repair', 'packs', packId]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.deepEqual(rep.lost_blobs.map((l: { blob: string }) => l.blob), [hit.id]);
    assert.deepEqual(rep.removed_packs, [packId]);
    // Every other blob of the pack lives on in a new one.
    assert.deepEqual(await blobs(), before.filter((b) => b !== `data ${hit.id}`));

    const fix = await lb(['repair', 'snapshots', '--forget']);
    assert.equal(fix.code, 0, fix.stderr);
    assert.match(fix.stdout, /victim\.bin": removed missing content/);
    assert.match(fix.stdout, /modified 2 snapshots/);
    const chk = await restic(['check', '--read-data'], { repo, password: PASSWORD });
    assert.equal(chk.code, 0, chk.stdout + chk.stderr);
    const target = path.join(tmp.path, 'restored');
    await rs(['restore', 'latest', '--target', target]);
    assert.deepEqual(await readFile(path.join(target, src, 'keep.bin')), await readFile(path.join(src, 'keep.bin')));
    assert.equal((await readFile(path.join(target, src, 'd', 'victim.bin'))).length, 0);
    const snaps = JSON.parse((await rs(['snapshots', '--json'])).stdout) as Array<{ tags?: string[]; original?: string }>;
    assert.equal(snaps.length, 2);
    assert.ok(snaps.every((s) => s.original && !s.tags?.includes('repaired')), 'with --forget the originals are replaced, untagged');
    const nothing = await lb(['repair', 'snapshots']);
    assert.match(nothing.stdout, /no snapshots were modified/);
  });
});

/** Offset of a blob in a pack, from lifeboat's pack header. */
async function packOffset(repo: string, packId: string, blobId: string): Promise<number> {
  const r = await lifeboat(['-r', repo, 'cat', 'pack-header', packId], { password: PASSWORD });
  const entries = JSON.parse(r.stdout) as Array<{ id: string; offset: number }>;
  const e = entries.find((x) => x.id === blobId);
  if (!e) throw new Error(`blob ${blobId} is not in pack ${packId}`);
  return e.offset;
}

describe('recover', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  after(() => tmp?.cleanup());

  test('recover finds the same unreferenced roots as restic 0.14 and restic restores from its snapshot', async () => {
    tmp = await tempDir('recover');
    const repo = path.join(tmp.path, 'repo');
    const src = path.join(tmp.path, 'src');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    await writeFile(path.join(src, 'sub', 'file.txt'), 'precious\n');
    const lb = (r: string, args: string[]) => lifeboat(['-r', r, ...args], { password: PASSWORD });
    assert.equal((await lb(repo, ['init'])).code, 0);
    assert.equal((await lb(repo, ['backup', src])).code, 0);
    await writeFile(path.join(src, 'sub', 'file.txt'), 'precious, second version\n');
    const b = await lb(repo, ['backup', src, '--json']);
    const lost = JSON.parse(b.stdout.trim().split('\n').at(-1) as string).snapshot_id as string;
    await rm(path.join(repo, 'snapshots', lost));

    // Two copies of the same state: restic recovers one, lifeboat the other.
    const copyRestic = path.join(tmp.path, 'copy-restic');
    const copyOurs = path.join(tmp.path, 'copy-ours');
    await import('node:fs/promises').then(async (fs) => {
      await fs.cp(repo, copyRestic, { recursive: true });
      await fs.cp(repo, copyOurs, { recursive: true });
    });

    await resticOk(['recover'], { repo: copyRestic, password: PASSWORD });
    const ours = await lb(copyOurs, ['--json', 'recover']);
    assert.equal(ours.code, 0, ours.stderr);
    assert.match(ours.stderr + ours.stdout, /"roots":\["[0-9a-f]{64}"\]/);
    const { roots, snapshot_id: id } = JSON.parse(ours.stdout) as { roots: string[]; snapshot_id: string };
    const rootsOf = async (repoPath: string, snapId: string): Promise<string[]> => {
      const tree = JSON.parse((await resticOk(['cat', 'snapshot', snapId], { repo: repoPath, password: PASSWORD })).stdout).tree as string;
      return (JSON.parse((await resticOk(['cat', 'blob', tree], { repo: repoPath, password: PASSWORD })).stdout).nodes as Array<{ subtree: string }>).map((n) => n.subtree).sort();
    };
    const theirs = JSON.parse((await resticOk(['snapshots', '--json', '--tag', 'recovered'], { repo: copyRestic, password: PASSWORD })).stdout) as Array<{ id: string }>;
    assert.equal(theirs.length, 1);
    assert.deepEqual(await rootsOf(copyOurs, id), await rootsOf(copyRestic, theirs[0]?.id as string));
    assert.equal(roots.length, 1);

    const chk = await restic(['check', '--read-data'], { repo: copyOurs, password: PASSWORD });
    assert.equal(chk.code, 0, chk.stdout + chk.stderr);
    const target = path.join(tmp.path, 'restored');
    await resticOk(['restore', id, '--target', target], { repo: copyOurs, password: PASSWORD });
    const restored = path.join(target, (roots[0] as string).slice(0, 8), ...src.split('/').filter(Boolean), 'sub', 'file.txt');
    assert.equal(await readFile(restored, 'utf8'), 'precious, second version\n');
    const again = await lb(copyOurs, ['recover']);
    assert.match(again.stdout, /no snapshot to write/);
  });
});

describe('repair index with an index entry that lacks a blob', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  after(() => tmp?.cleanup());

  test('the pack is read again because its entry does not account for its size (as restic\'s repo-index-missing-blob)', async () => {
    tmp = await tempDir('repair-partial');
    const repo = path.join(tmp.path, 'repo');
    const src = path.join(tmp.path, 'src');
    await mkdir(path.join(src, 'x', 'y'), { recursive: true });
    await writeFile(path.join(src, 'x', 'y', 'f'), 'f\n');
    assert.equal((await lifeboat(['-r', repo, 'init'], { password: PASSWORD })).code, 0);
    assert.equal((await lifeboat(['-r', repo, 'backup', src], { password: PASSWORD })).code, 0);
    const before = (await resticOk(['list', 'blobs'], { repo, password: PASSWORD })).stdout.trim().split('\n').sort();

    // Rewrite the index without one tree blob of a pack that holds several.
    const { createLocalStorage } = await import('../../src/storage/local/local-storage.ts');
    const { Repository } = await import('../../src/repo/repository.ts');
    const storage = createLocalStorage(repo);
    const r = await Repository.open(storage, PASSWORD);
    const [indexId] = await readdir(path.join(repo, 'index'));
    const doc = await r.loadUnpacked('index', indexId as string) as { packs: Array<{ id: string; blobs: Array<{ type: string }> }> };
    const pack = doc.packs.find((p) => p.blobs.filter((b) => b.type === 'tree').length > 1);
    assert.ok(pack);
    pack.blobs = pack.blobs.slice(1);
    await r.saveUnpacked('index', doc);
    await storage.remove({ type: 'index', name: indexId as string });
    await storage.close();
    assert.notEqual((await restic(['check'], { repo, password: PASSWORD })).code, 0, 'restic sees the missing entry');

    const fixed = await lifeboat(['-r', repo, '--json', 'repair', 'index'], { password: PASSWORD });
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(JSON.parse(fixed.stdout).packs_read, 1);
    assert.deepEqual((await resticOk(['list', 'blobs'], { repo, password: PASSWORD })).stdout.trim().split('\n').sort(), before);
    const chk = await restic(['check', '--read-data'], { repo, password: PASSWORD });
    assert.equal(chk.code, 0, chk.stdout + chk.stderr);
  });
});
