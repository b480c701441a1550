// Prune interrupted at every step: the storage fails the k-th save or remove (before it
// takes effect, or after: a lost reply), for k across the whole sequence of a prune. After
// each failure the repository, reopened over plain storage, must still give every remaining
// snapshot byte-identical, restic must check it without errors (unreferenced packs are only
// a warning), and a second prune must complete and leave nothing more to do.
// A sample of call numbers by default; PRUNE_FAULTS=all tries every one (about a minute).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalStorage } from '../../src/storage/local/local-storage.ts';
import { withFaults } from '../../src/storage/wrappers/faulty-storage.ts';
import type { Fault, StorageOp } from '../../src/storage/wrappers/faulty-storage.ts';
import { Repository } from '../../src/repo/repository.ts';
import { listSnapshots } from '../../src/repo/snapshot/snapshot.ts';
import { FIXTURE_PACK_SIZE, FIXTURE_PASSWORD, backupGeneration, snapshotDigests } from '../../src/repo/pruner/history-fixture.ts';
import type { MadeSnapshot } from '../../src/repo/pruner/history-fixture.ts';
import { executePrune, planPrune } from '../../src/repo/pruner/pruner.ts';

const haveRestic = spawnSync('restic', ['version'], { encoding: 'utf8' }).status === 0;
const useRestic = haveRestic || process.env.REQUIRE_SERVERS === '1';

let dir = '';
let base = '';
let remaining: MadeSnapshot[] = [];
let copies = 0;
/** Interrupted states the second prune met, to show the sweep reaches each kind. */
const seen = new Set<string>();
/** Several small index files, so a failure can strike between them. */
const EXEC = { indexBlobsPerFile: 20 };
/** Saves and removes a prune of the base repository makes when nothing fails. */
let cleanCalls = { save: 0, remove: 0 };

function resticCheck(repoDir: string): void {
  if (!useRestic) return;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RESTIC_')) env[k] = v;
  const r = spawnSync('restic', ['--no-cache', 'check'], { encoding: 'utf8', env: { ...env, RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: FIXTURE_PASSWORD } });
  assert.equal(r.status, 0, `restic check of ${repoDir}:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /no errors were found/);
}

async function open(repoDir: string): Promise<Repository> {
  const repo = await Repository.open(createLocalStorage(repoDir), FIXTURE_PASSWORD, { packSize: FIXTURE_PACK_SIZE });
  await repo.loadIndex();
  return repo;
}

async function assertSnapshotsIntact(repo: Repository, label: string): Promise<void> {
  const snaps = await listSnapshots(repo);
  assert.deepEqual(snaps.map((s) => s.id).sort(), remaining.map((m) => m.id).sort(), label);
  for (const m of remaining) {
    const s = snaps.find((x) => x.id === m.id);
    assert.ok(s, label);
    assert.deepEqual(await snapshotDigests(repo, s), m.files, `${label}: snapshot ${m.id} restores byte-identical`);
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lifeboat-prune-int-'));
  base = join(dir, 'base');
  await Repository.init(createLocalStorage(base), FIXTURE_PASSWORD, { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await open(base);
  const made: MadeSnapshot[] = [];
  for (let g = 0; g < 5; g++) made.push(await backupGeneration(repo, g));
  // Leftovers of an interrupted backup, so the first phase has packs to delete.
  const broken = await Repository.open(
    withFaults(createLocalStorage(base), { rules: [{ op: 'save', match: (h) => h.type === 'index', fault: { kind: 'fail', retryable: false } }] }),
    FIXTURE_PASSWORD,
    { packSize: FIXTURE_PACK_SIZE },
  );
  await broken.loadIndex();
  await assert.rejects(backupGeneration(broken, 6));
  for (const g of [0, 1, 3]) await repo.storage.remove({ type: 'snapshots', name: (made[g] as MadeSnapshot).id });
  remaining = made.filter((_, g) => g === 2 || g === 4);

  // A clean run on a copy counts the calls a fault can hit.
  const work = join(dir, 'count');
  cpSync(base, work, { recursive: true });
  const counting = withFaults(createLocalStorage(work), { rules: [] });
  const r = await Repository.open(counting, FIXTURE_PASSWORD, { packSize: FIXTURE_PACK_SIZE });
  await r.loadIndex();
  const plan = await planPrune(r);
  assert.ok(plan.unreferencedPacks.length > 0 && plan.packsToRepack.length > 0 && plan.packsToDelete.length > 0);
  const start = counting.calls;
  await executePrune(r, plan, EXEC);
  cleanCalls = { save: counting.calls.save - start.save, remove: counting.calls.remove - start.remove };
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** PRUNE_FAULTS=all tries every call number instead of a spread sample. */
const everyCall = process.env.PRUNE_FAULTS === 'all';

/** Picks about `n` call numbers spread over 1..total, always including the first and last. */
function spread(total: number, n: number): number[] {
  if (everyCall || total <= n) return Array.from({ length: total }, (_, i) => i + 1);
  const out = new Set<number>([1, total]);
  for (let i = 1; i < n - 1; i++) out.add(1 + Math.round((i * (total - 1)) / (n - 1)));
  return [...out].sort((a, b) => a - b);
}

async function interruptAt(op: StorageOp, k: number, fault: Fault): Promise<void> {
  const label = `${op} #${k} ${fault.kind}`;
  const work = join(dir, `work-${++copies}`);
  cpSync(base, work, { recursive: true });
  const faulty = withFaults(createLocalStorage(work), { rules: [{ op, calls: [k], fault }] });
  const repo = await Repository.open(faulty, FIXTURE_PASSWORD, { packSize: FIXTURE_PACK_SIZE });
  await repo.loadIndex();
  const plan = await planPrune(repo);
  await assert.rejects(executePrune(repo, plan, EXEC), label);
  assert.equal(faulty.injected, 1, label);

  // The interrupted state: consistent, nothing lost.
  await assertSnapshotsIntact(await open(work), `${label}, interrupted`);
  resticCheck(work);

  // A second prune completes and the repository converges.
  const second = await open(work);
  const plan2 = await planPrune(second);
  if (plan2.duplicateBlobs > 0) seen.add('duplicate blobs');
  if (plan2.unreferencedPacks.length > 0) seen.add('unreferenced packs');
  if (plan2.indexFilesToReplace.length > 0 && plan2.packsToDelete.length + plan2.packsToRepack.length === 0) seen.add('only stale index files');
  await executePrune(second, plan2);
  const fresh = await open(work);
  await assertSnapshotsIntact(fresh, `${label}, after a second prune`);
  const third = await planPrune(fresh);
  assert.deepEqual([third.packsToDelete, third.packsToRepack, third.unreferencedPacks, third.indexFilesToReplace], [[], [], [], []], label);
  resticCheck(work);
  rmSync(work, { recursive: true, force: true });
}

test('the clean run makes saves (packs, index files) and removes (packs, index files)', () => {
  assert.ok(cleanCalls.save >= 8, `saves: ${cleanCalls.save}`);
  assert.ok(cleanCalls.remove >= 10, `removes: ${cleanCalls.remove}`);
});

test('a save failing at any point leaves a consistent repository', async () => {
  for (const k of spread(cleanCalls.save, 6)) await interruptAt('save', k, { kind: 'fail', retryable: true });
  // Failing after the repacked packs were indexed leaves every carried blob twice.
  assert.ok(seen.has('duplicate blobs'), [...seen].join(', '));
  assert.ok(seen.has('unreferenced packs'), [...seen].join(', '));
});

test('a remove failing at any point leaves a consistent repository', async () => {
  for (const k of spread(cleanCalls.remove, 6)) await interruptAt('remove', k, { kind: 'fail', retryable: true });
});

test('a lost reply (the call took effect) at any point leaves a consistent repository', async () => {
  for (const k of spread(cleanCalls.save, 2)) await interruptAt('save', k, { kind: 'lose-reply' });
  for (const k of spread(cleanCalls.remove, 3)) await interruptAt('remove', k, { kind: 'lose-reply' });
  // The new index was complete but old index files stayed: restic would still read them.
  assert.ok(seen.has('only stale index files'), [...seen].join(', '));
});
