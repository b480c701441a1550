// Prune end to end on a local repository with small packs: five snapshots of evolving
// content plus the leftovers of an interrupted backup; three snapshots are forgotten, then
// the prune must keep every remaining snapshot byte-identical, shrink the storage, converge
// (a second plan has nothing to do), and leave a repository restic checks clean
// (`check --read-data`) and restores to the same bytes. Also: the tolerance for unused
// data, refusal when needed data is missing, and a plan runs once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntegrityError, LifeboatError } from '../../core/errors.ts';
import { createLocalStorage } from '../../storage/local/local-storage.ts';
import { withFaults } from '../../storage/wrappers/faulty-storage.ts';
import { Repository } from '../repository.ts';
import { listSnapshots } from '../snapshot/snapshot.ts';
import { FIXTURE_PACK_SIZE, FIXTURE_PASSWORD, backupGeneration, packBytes, snapshotDigests } from './history-fixture.ts';
import type { MadeSnapshot } from './history-fixture.ts';
import { executePrune, planPrune } from './pruner.ts';

const haveRestic = spawnSync('restic', ['version'], { encoding: 'utf8' }).status === 0;
const resticSkip = !haveRestic && process.env.REQUIRE_SERVERS !== '1' ? 'restic is not on PATH' : false;

let dir = '';
let base = '';
const made: MadeSnapshot[] = [];
/** Snapshots left after forgetting generations 0, 1 and 3. */
let remaining: MadeSnapshot[] = [];
let copies = 0;

function restic(repoDir: string, args: string[]): { code: number | null; out: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RESTIC_')) env[k] = v;
  const r = spawnSync('restic', ['--no-cache', ...args], { encoding: 'utf8', env: { ...env, RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: FIXTURE_PASSWORD } });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

async function open(repoDir: string): Promise<Repository> {
  const repo = await Repository.open(createLocalStorage(repoDir), FIXTURE_PASSWORD, { packSize: FIXTURE_PACK_SIZE });
  await repo.loadIndex();
  return repo;
}

/** A private copy of the prepared repository. */
function copyBase(): string {
  const to = join(dir, `work-${++copies}`);
  cpSync(base, to, { recursive: true });
  return to;
}

async function assertSnapshotsIntact(repo: Repository): Promise<void> {
  const snaps = await listSnapshots(repo);
  assert.deepEqual(snaps.map((s) => s.id).sort(), remaining.map((m) => m.id).sort());
  for (const m of remaining) {
    const s = snaps.find((x) => x.id === m.id);
    assert.ok(s);
    assert.deepEqual(await snapshotDigests(repo, s), m.files, `snapshot ${m.id} restores byte-identical`);
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lifeboat-prune-'));
  base = join(dir, 'base');
  await Repository.init(createLocalStorage(base), FIXTURE_PASSWORD, { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await open(base);
  for (let g = 0; g < 5; g++) made.push(await backupGeneration(repo, g));
  // An interrupted backup: its packs reach storage, its index never does.
  const broken = await Repository.open(
    withFaults(createLocalStorage(base), { rules: [{ op: 'save', match: (h) => h.type === 'index', fault: { kind: 'fail', retryable: false } }] }),
    FIXTURE_PASSWORD,
    { packSize: FIXTURE_PACK_SIZE },
  );
  await broken.loadIndex();
  await assert.rejects(backupGeneration(broken, 7));
  // Forget generations 0, 1 and 3.
  for (const g of [0, 1, 3]) await repo.storage.remove({ type: 'snapshots', name: (made[g] as MadeSnapshot).id });
  remaining = made.filter((_, g) => g === 2 || g === 4);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('prune keeps every remaining snapshot intact, frees space and converges', async () => {
  const work = copyBase();
  const repo = await open(work);
  const sizeBefore = await packBytes(repo);
  const plan = await planPrune(repo);
  // The fixture exercises every kind of pack.
  assert.ok(plan.packsToDelete.length > 0, 'fully unused packs');
  assert.ok(plan.packsToRepack.length > 0, 'partly used packs');
  assert.ok(plan.packsKept > 0, 'fully used packs');
  assert.ok(plan.unreferencedPacks.length > 0, 'packs of the interrupted backup');
  assert.ok(plan.usedBlobs > 0 && plan.unusedBlobs > 0);
  assert.ok(plan.indexFilesToReplace.length >= 5);
  const phases = new Set<string>();
  const result = await executePrune(repo, plan, { onProgress: (p) => phases.add(p.phase) });
  assert.deepEqual([...phases], ['repack', 'write-index', 'delete-index', 'delete-packs']);
  assert.equal(result.packsDeleted, plan.packsToDelete.length + plan.packsToRepack.length + plan.unreferencedPacks.length);
  assert.ok(result.packsWritten > 0);

  const sizeAfter = await packBytes(repo);
  assert.equal(sizeBefore - sizeAfter, result.bytesFreed);
  assert.ok(sizeAfter < sizeBefore, `storage shrank (${sizeBefore} → ${sizeAfter})`);
  // The repository is as small as the tolerance allows: at most 5% unused.
  assert.ok(result.bytesFreed >= plan.bytesToFree * 0.9);

  // The in-memory state matches storage, and a fresh reader sees the same.
  const fresh = await open(work);
  assert.equal(fresh.index.indexFiles.size, 1);
  await assertSnapshotsIntact(fresh);
  const again = await planPrune(fresh);
  assert.deepEqual(
    { del: again.packsToDelete, repack: again.packsToRepack, unref: again.unreferencedPacks, index: again.indexFilesToReplace },
    { del: [], repack: [], unref: [], index: [] },
  );
  // What stays unused is within the default 5% tolerance.
  assert.ok(again.bytesUnused <= 0.05 * (again.bytesUsed + again.bytesUnused), `${again.bytesUnused} of ${again.bytesUsed + again.bytesUnused} bytes unused`);
  assert.equal(again.bytesUsed, plan.bytesUsed);
});

test('restic checks the pruned repository clean and restores the same bytes', { skip: resticSkip }, async () => {
  const work = copyBase();
  const repo = await open(work);
  await executePrune(repo, await planPrune(repo));
  const check = restic(work, ['check', '--read-data']);
  assert.equal(check.code, 0, check.out);
  assert.match(check.out, /no errors were found/);
  assert.doesNotMatch(check.out, /not referenced|additional files/i);
  const target = join(dir, `restore-${copies}`);
  const r = restic(work, ['restore', 'latest', '--target', target]);
  assert.equal(r.code, 0, r.out);
  const latest = remaining.at(-1) as MadeSnapshot;
  for (const [path, sha] of latest.files) {
    assert.equal(createHash('sha256').update(readFileSync(join(target, path))).digest('hex'), sha, path);
  }
});

test('maxUnused decides how much partly used data is repacked', async () => {
  const work = copyBase();
  const repo = await open(work);
  const tolerant = await planPrune(repo, { maxUnused: 1, smallPackSize: 0 });
  const strict = await planPrune(repo, { maxUnused: 0, smallPackSize: 0 });
  // Unlimited tolerance repacks only tree packs; none repacks every partly used pack.
  assert.ok(strict.packsToRepack.length > tolerant.packsToRepack.length);
  assert.ok(strict.bytesToFree > tolerant.bytesToFree);
  assert.deepEqual(tolerant.packsToDelete, strict.packsToDelete);
  for (const id of tolerant.packsToRepack) assert.ok(repo.index.packBlobs(id)?.every((b) => b.type === 'tree'), `${id} is a tree pack`);
  // Executing the tolerant plan still leaves a consistent, smaller repository.
  await executePrune(repo, tolerant);
  await assertSnapshotsIntact(await open(work));
  // A plan runs once.
  await assert.rejects(executePrune(repo, tolerant), (e: unknown) => e instanceof LifeboatError && e.code === 'usage');
  await assert.rejects(planPrune(repo, { maxUnused: -1 }), (e: unknown) => e instanceof LifeboatError && e.code === 'usage');
});

test('prune refuses when a pack a snapshot needs is missing, and changes nothing', async () => {
  const work = copyBase();
  const repo = await open(work);
  const snap = (await listSnapshots(repo)).at(-1);
  assert.ok(snap);
  const tree = repo.index.lookup('tree', snap.tree)[0];
  assert.ok(tree);
  await repo.storage.remove({ type: 'data', name: tree.packId });
  const fresh = await open(work);
  const packsBefore = await packBytes(fresh);
  await assert.rejects(planPrune(fresh), IntegrityError);
  assert.equal(await packBytes(fresh), packsBefore);
});

test('with no snapshots left, prune deletes every pack and leaves an empty index', async () => {
  const work = copyBase();
  const repo = await open(work);
  for (const s of await listSnapshots(repo)) await repo.storage.remove({ type: 'snapshots', name: s.id });
  const plan = await planPrune(repo);
  assert.equal(plan.usedBlobs, 0);
  assert.equal(plan.packsToRepack.length, 0);
  await executePrune(repo, plan);
  assert.equal(await packBytes(repo), 0);
  const fresh = await open(work);
  assert.equal(fresh.index.packCount, 0);
  const again = await planPrune(fresh);
  assert.equal(again.indexFilesToReplace.length, 0);
});
