// The checker against real damage: a repository with two snapshots (a directory backup and one
// of virtual files sharing the big file's blobs) is copied per test, damaged with node:fs the
// way disks and people damage repositories, and checked. Who needs a blob is computed here
// independently, by a full walk of the pristine repository. The restic CLI is the oracle for
// "clean" and "damaged" (skipped without restic, unless REQUIRE_SERVERS=1).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalStorage } from '../../storage/local/local-storage.ts';
import { filePath } from '../../storage/storage.ts';
import { Archiver } from '../archiver/archiver.ts';
import { Repository } from '../repository.ts';
import { listSnapshots } from '../snapshot/snapshot.ts';
import { TreeStore } from '../tree/tree-io.ts';
import type { BlobLocation } from '../index/master-index.ts';
import { checkRepository, expectedPackSize, selectPacks } from './checker.ts';
import type { CheckReport, Damage } from './checker.ts';

const PW = 'checker test password';
const SCRYPT = { N: 1024, r: 8, p: 1 };
const haveRestic = spawnSync('restic', ['version'], { encoding: 'utf8' }).status === 0;
const resticSkip = !haveRestic && process.env.REQUIRE_SERVERS !== '1' ? 'restic is not on PATH' : false;

let tmp = '';
let pristine = '';
let copies = 0;
let snapA = '';
let snapB = '';
/** Index file written by the first backup (it lists snapshot A's packs). */
let indexA = '';
/** Every pack with its blobs, from the pristine index. */
let packs: Array<{ id: string; blobs: readonly BlobLocation[] }> = [];
/** blob id → snapshots and paths that use it (data blobs and trees). */
const users = new Map<string, { snapshots: Set<string>; files: Set<string> }>();

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lifeboat-checker-'));
  const src = join(tmp, 'src');
  await mkdir(join(src, 'sub', 'deep'), { recursive: true });
  await writeFile(join(src, 'hello.txt'), 'hello\n');
  await writeFile(join(src, 'sub', 'deep', 'notes.md'), randomBytes(20_000).toString('hex'));
  const big = randomBytes(3 * 1024 * 1024);
  await writeFile(join(src, 'big.bin'), big);
  pristine = join(tmp, 'pristine');
  await Repository.init(createLocalStorage(pristine), PW, { scrypt: SCRYPT });
  // Small packs so that the repository has several and a subset can be chosen.
  const repo = await Repository.open(createLocalStorage(pristine), PW, { packSize: 256 * 1024 });
  const a = new Archiver(repo);
  snapA = await a.finish(await a.saveTargets([src]), [src]);
  indexA = (await readdir(join(pristine, 'index')))[0] as string;
  const b = new Archiver(repo);
  const dump = await b.saveContent(chunks(big), 'app.dump');
  const extra = randomBytes(100_000);
  const ex = await b.saveContent(chunks(extra), 'extra.bin');
  const tree = await b.saveVirtualTree([
    { path: 'db/app.dump', content: dump.content, size: dump.size },
    { path: 'db/extra.bin', content: ex.content, size: ex.size },
  ]);
  snapB = await b.finish(tree, ['/db']);

  const check = await Repository.open(createLocalStorage(pristine), PW);
  await check.loadIndex();
  packs = [...check.index.packs()].map(([id, blobs]) => ({ id, blobs }));
  // The reverse map, built the plain way: every path of every snapshot.
  const trees = new TreeStore(check);
  const use = (id: string, snap: string, file: string): void => {
    const u = users.get(id) ?? { snapshots: new Set<string>(), files: new Set<string>() };
    u.snapshots.add(snap);
    u.files.add(file);
    users.set(id, u);
  };
  const walk = async (snap: string, id: string, dir: string): Promise<void> => {
    for (const n of (await trees.load(id)).nodes) {
      const p = `${dir}/${n.name}`;
      for (const c of n.content ?? []) use(c, snap, p);
      if (n.subtree) {
        use(n.subtree, snap, p);
        await walk(snap, n.subtree, p);
      }
    }
  };
  for (const s of await listSnapshots(check)) await walk(s.id, s.tree, '');
});

after(async () => {
  if (tmp !== '') await rm(tmp, { recursive: true, force: true });
});

async function* chunks(buf: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += 256 * 1024) yield buf.subarray(i, i + 256 * 1024);
}

/** A fresh copy of the pristine repository, opened. */
async function copyRepo(): Promise<{ dir: string; repo: Repository }> {
  const dir = join(tmp, `copy-${copies++}`);
  await cp(pristine, dir, { recursive: true });
  return { dir, repo: await Repository.open(createLocalStorage(dir), PW) };
}

const packPath = (dir: string, id: string): string => join(dir, filePath({ type: 'data', name: id }));

/** The data pack holding the most bytes of the big file (shared by both snapshots). */
function bigDataPack(): { id: string; blobs: readonly BlobLocation[] } {
  const shared = packs.filter((p) => p.blobs.some((b) => b.type === 'data' && users.get(b.id)?.snapshots.size === 2));
  const best = shared.sort((x, y) => expectedPackSize(y.blobs) - expectedPackSize(x.blobs))[0];
  assert.ok(best, 'fixture has a data pack shared by both snapshots');
  return best;
}

/** Flips one bit of the middle byte of a (read-only) file; returns the offset. */
async function flipMiddleByte(file: string): Promise<number> {
  const bytes = await readFile(file);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] as number) ^ 0x40;
  await chmod(file, 0o644);
  await writeFile(file, bytes);
  return at;
}

function restic(dir: string, ...args: string[]): number | null {
  const r = spawnSync('restic', ['--no-cache', '-r', dir, ...args], { encoding: 'utf8', env: { ...process.env, RESTIC_PASSWORD: PW } });
  if (r.error) throw r.error;
  return r.status;
}

const kinds = (ds: readonly Damage[]): string[] => ds.map((d) => d.kind);
const find = (r: CheckReport, kind: string, object: string): Damage | undefined => r.errors.find((d) => d.kind === kind && d.object === object);

/** The damage names exactly the snapshots that need the blob and the paths the reference walk found. */
function assertUsers(d: Damage | undefined, blobId: string): void {
  assert.ok(d, `a damage report for ${blobId}`);
  const u = users.get(blobId);
  assert.ok(u, `fixture: some snapshot uses ${blobId}`);
  assert.deepEqual(d.snapshots, [...u.snapshots].sort());
  assert.deepEqual(new Set(d.files), u.files);
}

test('a clean repository has no errors and no warnings', async () => {
  const { repo } = await copyRepo();
  const phases = new Set<string>();
  const r = await checkRepository(repo, { readData: true, onProgress: (p) => phases.add(p.phase) });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.packs, packs.length);
  assert.equal(r.packsRead, packs.length);
  assert.equal(r.snapshots, 2);
  assert.ok(r.trees >= 6, `walked ${r.trees} trees`);
  assert.equal(r.bytesRead, packs.reduce((n, p) => n + expectedPackSize(p.blobs), 0));
  // The packs are read while the trees are walked; the progress line then follows the reading.
  assert.deepEqual([...phases].slice(0, 2), ['index', 'packs']);
  assert.deepEqual([...phases].sort(), ['index', 'packs', 'read-data', 'snapshots']);
  const structural = new Set<string>();
  const s = await checkRepository(repo, { onProgress: (p) => structural.add(p.phase) });
  assert.deepEqual([s.errors, s.packsRead, s.trees], [[], 0, r.trees]);
  assert.deepEqual([...structural], ['index', 'packs', 'snapshots', 'trees']);
});

test('restic check --read-data agrees: the clean copy passes, a flipped byte and a deleted pack fail', { skip: resticSkip }, async () => {
  const clean = await copyRepo();
  assert.equal(restic(clean.dir, 'check', '--read-data'), 0);
  assert.deepEqual((await checkRepository(clean.repo, { readData: true })).errors, []);
  const pack = bigDataPack();
  const flipped = await copyRepo();
  await flipMiddleByte(packPath(flipped.dir, pack.id));
  assert.notEqual(restic(flipped.dir, 'check', '--read-data'), 0);
  assert.notDeepEqual((await checkRepository(flipped.repo, { readData: true })).errors, []);
  const deleted = await copyRepo();
  await unlink(packPath(deleted.dir, pack.id));
  assert.notEqual(restic(deleted.dir, 'check'), 0);
  assert.notDeepEqual((await checkRepository(deleted.repo)).errors, []);
});

test('a repository restic wrote checks clean, with read-data', { skip: resticSkip }, async () => {
  const dir = join(tmp, 'by-restic');
  assert.equal(restic(dir, 'init', '--repository-version', '2'), 0);
  assert.equal(restic(dir, 'backup', '--quiet', join(tmp, 'src')), 0);
  const repo = await Repository.open(createLocalStorage(dir), PW);
  const r = await checkRepository(repo, { readData: true });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings, []);
  assert.equal(r.snapshots, 1);
  assert.equal(r.packsRead, r.packs);
});

test('a flipped byte in a data pack: structure passes, read-data names pack, blob, snapshots and files', async () => {
  const { dir, repo } = await copyRepo();
  const pack = bigDataPack();
  const at = await flipMiddleByte(packPath(dir, pack.id));
  const hit = pack.blobs.find((b) => b.offset <= at && at < b.offset + b.length);
  assert.ok(hit, 'the middle byte lies in a blob');

  const structure = await checkRepository(repo);
  assert.deepEqual(structure.errors, []);
  const r = await checkRepository(repo, { readData: true });
  const blob = find(r, 'blob', `data blob ${hit.id}`);
  assert.match(blob?.message ?? '', new RegExp(pack.id));
  assertUsers(blob, hit.id);
  assert.deepEqual(blob?.snapshots, [snapA, snapB].sort());
  const hash = find(r, 'pack_hash', `pack ${pack.id}`);
  assertUsers(hash, hit.id);
  assert.deepEqual(kinds(r.errors).sort(), ['blob', 'pack_hash']);
});

test('a truncated pack is a pack_size error naming the pack and who needs its last blob', async () => {
  const { dir, repo } = await copyRepo();
  const pack = bigDataPack();
  const file = packPath(dir, pack.id);
  const size = expectedPackSize(pack.blobs);
  await chmod(file, 0o644);
  await truncate(file, size - 1000);
  const r = await checkRepository(repo);
  const d = find(r, 'pack_size', `pack ${pack.id}`);
  assert.ok(d, JSON.stringify(r.errors));
  assert.match(d.message, new RegExp(`${size - 1000} bytes.*${size}`));
  const last = [...pack.blobs].sort((x, y) => y.offset - x.offset)[0] as BlobLocation;
  assertUsers(d, last.id);
  // Read-data also reports it, as a damaged blob and a wrong hash.
  const rd = await checkRepository(repo, { readData: true });
  assert.ok(find(rd, 'pack_hash', `pack ${pack.id}`));
  assert.ok(rd.errors.some((e) => e.kind === 'pack_header' && e.object === `pack ${pack.id}`));
});

test('a deleted pack: missing_pack, and every blob it held is missing with its snapshots and files', async () => {
  const { dir, repo } = await copyRepo();
  const pack = bigDataPack();
  await unlink(packPath(dir, pack.id));
  const r = await checkRepository(repo);
  const d = find(r, 'missing_pack', `pack ${pack.id}`);
  assert.ok(d);
  assert.deepEqual(d.snapshots, [snapA, snapB].sort());
  for (const b of pack.blobs) {
    const m = find(r, 'missing_blob', `data blob ${b.id}`);
    assert.match(m?.message ?? '', /missing/);
    assertUsers(m, b.id);
  }
  assert.equal(r.errors.length, 1 + pack.blobs.length);
});

test('a deleted index file: its packs are unreferenced and their blobs missing index entries, walked through', async () => {
  const { dir, repo } = await copyRepo();
  await unlink(join(dir, 'index', indexA));
  const r = await checkRepository(repo);
  const packsA = packs.filter((p) => p.blobs.some((b) => users.get(b.id)?.snapshots.has(snapA) && !users.get(b.id)?.snapshots.has(snapB)));
  assert.ok(packsA.length > 0);
  for (const p of packsA) assert.ok(r.warnings.some((w) => w.kind === 'unreferenced_pack' && w.object === `pack ${p.id}`));
  // Snapshot A's root tree is found in an unreferenced pack, so the walk goes on below it.
  for (const p of packsA) {
    for (const b of p.blobs) {
      const object = b.type === 'tree' ? `tree ${b.id}` : `data blob ${b.id}`;
      const m = find(r, 'missing_index_entry', object);
      assert.match(m?.message ?? '', new RegExp(p.id), object);
      if (b.type === 'data') assertUsers(m, b.id);
    }
  }
  // The big file's blobs are shared, so snapshot B is named too.
  assert.ok(r.errors.some((e) => e.kind === 'missing_index_entry' && e.snapshots?.includes(snapB) && e.files?.includes('/db/app.dump')));
  assert.deepEqual([...new Set(kinds(r.errors))], ['missing_index_entry']);
});

test('stray and temporary files are warnings naming the file', async () => {
  const { dir, repo } = await copyRepo();
  await writeFile(join(dir, 'data', 'ab', 'notanid'), 'x');
  await writeFile(join(dir, 'snapshots', 'garbage.txt'), 'x');
  await writeFile(join(dir, 'index', '.tmp-interrupted'), 'x');
  const pack = packs[0] as { id: string };
  const wrong = pack.id.startsWith('00') ? '01' : '00';
  await cp(packPath(dir, pack.id), join(dir, 'data', wrong, pack.id));
  const r = await checkRepository(repo);
  assert.deepEqual(r.errors, []);
  const objects = r.warnings.filter((w) => w.kind === 'stray_file').map((w) => w.object).sort();
  assert.deepEqual(objects, ['data/ab/notanid', `data/${wrong}/${pack.id}`, 'index/.tmp-interrupted', 'snapshots/garbage.txt'].sort());
  assert.ok(r.warnings.every((w) => w.severity === 'warning'));
});

test('a corrupted snapshot file is an error naming the snapshot; the other one still checks', async () => {
  const { dir, repo } = await copyRepo();
  const file = join(dir, 'snapshots', snapA);
  const bytes = await readFile(file);
  bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 1;
  await chmod(file, 0o644);
  await writeFile(file, bytes);
  const r = await checkRepository(repo);
  assert.deepEqual(kinds(r.errors), ['snapshot']);
  assert.equal(r.errors[0]?.object, `snapshot ${snapA}`);
  assert.match(r.errors[0]?.message ?? '', new RegExp(`snapshots/${snapA}`));
  assert.equal(r.snapshots, 1);
});

test('a file whose recorded size differs from its blobs is a tree error naming the file and both sizes', async () => {
  const { repo } = await copyRepo();
  await repo.loadIndex();
  const trees = new TreeStore(repo);
  const snap = (await listSnapshots(repo)).find((s) => s.id === snapB);
  assert.ok(snap);
  // snapshot B's db/extra.bin (100 000 bytes) recorded as 99 999 bytes, in a new snapshot.
  const root = await trees.load(snap.tree);
  const db = root.nodes.find((n) => n.name === 'db');
  assert.ok(db?.subtree);
  const files = await trees.load(db.subtree);
  const liar = files.nodes.map((n) => (n.name === 'extra.bin' ? { ...n, size: 99_999 } : n));
  const sub = await trees.save({ nodes: liar });
  const top = await trees.save({ nodes: [{ ...db, subtree: sub }] });
  const b = new Archiver(repo);
  await b.finish(top, ['/db']);
  const r = await checkRepository(repo);
  assert.deepEqual(kinds(r.errors), ['tree']);
  assert.equal(r.errors[0]?.object, `tree ${sub}`);
  assert.match(r.errors[0]?.message ?? '', /file "extra\.bin" records 99999 bytes but its blobs hold 100000/);
});

test('a damaged index file is an error naming it', async () => {
  const { dir, repo } = await copyRepo();
  const file = join(dir, 'index', indexA);
  await chmod(file, 0o644);
  await writeFile(file, 'not an index');
  const r = await checkRepository(repo);
  const d = find(r, 'index', `index ${indexA}`);
  assert.match(d?.message ?? '', new RegExp(`index/${indexA}`));
});

test('read-data subsets: a fraction reads that share of packs; n/t parts cover every pack once', async () => {
  const { repo } = await copyRepo();
  assert.ok(packs.length >= 4, `fixture has ${packs.length} packs`);
  const half = await checkRepository(repo, { readDataSubset: { fraction: 0.5 } });
  assert.equal(half.packsRead, Math.round(packs.length * 0.5));
  assert.deepEqual(half.errors, []);
  const tiny = await checkRepository(repo, { readDataSubset: { fraction: 0.001 } });
  assert.equal(tiny.packsRead, 1);
  let total = 0;
  for (let n = 1; n <= 3; n++) total += (await checkRepository(repo, { readDataSubset: { nth: [n, 3] } })).packsRead;
  assert.equal(total, packs.length);
  const ids = packs.map((p) => p.id).sort();
  const parts = [1, 2, 3].map((n) => selectPacks(ids, { nth: [n, 3] }));
  assert.deepEqual(parts.flat().sort(), ids);
  await assert.rejects(checkRepository(repo, { readDataSubset: { nth: [4, 3] } }), { code: 'usage' });
  await assert.rejects(checkRepository(repo, { readDataSubset: { fraction: 2 } }), { code: 'usage' });
});

test('an aborted check stops with a cancelled error', async () => {
  const { repo } = await copyRepo();
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(checkRepository(repo, { readData: true, signal: ac.signal }), { code: 'cancelled' });
});
