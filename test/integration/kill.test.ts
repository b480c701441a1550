/**
 * SIGKILL at random moments during backup and during prune: afterwards both checkers (ours and
 * the restic CLI) accept the repository, no completed snapshot is lost or damaged, and a rerun
 * completes. 12 backup trials + 8 prune trials in the suite; see below for a longer soak.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lifeboat, spawnLifeboat } from '../support/lifeboat-cli.ts';
import { restic, resticOk } from '../support/restic.ts';
import { missingBinaries } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import type { TempDir } from '../support/tmp.ts';
import { pseudoRandom } from '../support/corpus.ts';

const PASSWORD = 'kill-test-password';
// The suite runs 12 + 8 trials; a soak runs more: KILL_BACKUP_TRIALS=200 KILL_PRUNE_TRIALS=200
// node --test test/integration/kill.test.ts (and KILL_SEED=N replays a failing sequence).
const BACKUP_TRIALS = Number(process.env.KILL_BACKUP_TRIALS ?? 12);
const PRUNE_TRIALS = Number(process.env.KILL_PRUNE_TRIALS ?? 8);

/** A small seeded PRNG so a failing trial can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function killAfter(args: string[], delayMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawnLifeboat(args, { password: PASSWORD });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

async function bothCheckersAccept(repo: string, label: string): Promise<void> {
  const ours = await lifeboat(['-r', repo, 'check'], { password: PASSWORD });
  assert.equal(ours.code, 0, `${label}: lifeboat check failed:\n${ours.stdout}${ours.stderr}`);
  // restic 0.14 refuses to take its exclusive lock while any lock file exists, even one whose
  // process is gone (it wants "restic unlock" first); --no-lock checks without taking one.
  const theirs = await restic(['--no-lock', 'check'], { repo, password: PASSWORD });
  assert.equal(theirs.code, 0, `${label}: restic check failed:\n${theirs.stdout}${theirs.stderr}`);
}

/** Snapshot IDs straight from the repository layout (file names), oldest first by mtime. */
async function snapshotIds(repo: string): Promise<string[]> {
  const dir = path.join(repo, 'snapshots');
  const names = (await readdir(dir)).filter((n) => /^[0-9a-f]{64}$/.test(n));
  const withTime = await Promise.all(names.map(async (n) => ({ n, t: (await stat(path.join(dir, n))).mtimeMs })));
  return withTime.sort((a, b) => a.t - b.t).map((x) => x.n);
}

describe('SIGKILL during backup and prune', { skip: missingBinaries('restic') }, () => {
  let tmp: TempDir;
  let repo: string;
  const seed = Number(process.env.KILL_SEED ?? Date.now() % 100000);
  const rand = rng(seed);
  /** snapshot id → sha256 of its stdin artifact */
  const expected = new Map<string, string>();

  before(async () => {
    tmp = await tempDir('kill');
    repo = path.join(tmp.path, 'repo');
    assert.equal((await lifeboat(['-r', repo, 'init'], { password: PASSWORD })).code, 0);
  });
  after(() => tmp.cleanup());

  test(`${BACKUP_TRIALS} backups killed at random moments (seed ${seed})`, async () => {
    const src = path.join(tmp.path, 'src');
    for (let trial = 0; trial < BACKUP_TRIALS; trial++) {
      await rm(src, { recursive: true, force: true });
      await mkdir(src, { recursive: true });
      // ~18 MiB per generation, half of it new each time, so every backup writes packs.
      for (let f = 0; f < 6; f++) await writeFile(path.join(src, `f${f}.bin`), pseudoRandom(3 * 1024 * 1024, f < 3 ? f + 1 : 1000 * trial + f));
      const before = await snapshotIds(repo);
      const delay = 150 + Math.floor(rand() * 1300);
      const r = await killAfter(['-r', repo, 'backup', src], delay);
      const afterIds = await snapshotIds(repo);
      for (const id of before) assert.ok(afterIds.includes(id), `trial ${trial}: snapshot ${id} lost`);
      if (r.signal === 'SIGKILL') assert.ok(afterIds.length === before.length || afterIds.length === before.length + 1);
      else assert.equal(r.code, 0, r.stderr);
      await bothCheckersAccept(repo, `backup trial ${trial} (killed after ${delay} ms)`);
    }
    // A rerun completes and every snapshot reads back whole.
    const rerun = await lifeboat(['-r', repo, 'backup', src], { password: PASSWORD });
    assert.equal(rerun.code, 0, rerun.stderr);
    const full = await restic(['--no-lock', 'check', '--read-data'], { repo, password: PASSWORD });
    assert.equal(full.code, 0, full.stdout + full.stderr);
  });

  test(`${PRUNE_TRIALS} prunes killed at random moments (seed ${seed})`, async () => {
    for (let trial = 0; trial < PRUNE_TRIALS; trial++) {
      const data = pseudoRandom(4 * 1024 * 1024, 5000 + trial);
      const b = await lifeboat(['-r', repo, 'backup', '--stdin', '--stdin-filename', 'gen.bin', '--json'], { password: PASSWORD, input: data });
      assert.equal(b.code, 0, b.stderr);
      expected.set(JSON.parse(b.stdout.trim()).snapshot_id as string, createHash('sha256').update(data).digest('hex'));
      // Forget the oldest snapshots, leaving the newest few: prune then deletes and repacks.
      const ids = await snapshotIds(repo);
      const drop = ids.slice(0, Math.max(0, ids.length - 4));
      if (drop.length > 0) {
        const f = await lifeboat(['-r', repo, 'forget', ...drop], { password: PASSWORD });
        assert.equal(f.code, 0, f.stderr);
        for (const id of drop) expected.delete(id);
      }
      const delay = 300 + Math.floor(rand() * 1000);
      const r = await killAfter(['-r', repo, 'prune', '--max-unused', '0%'], delay);
      if (r.signal !== 'SIGKILL') assert.equal(r.code, 0, r.stderr);
      const remaining = await snapshotIds(repo);
      for (const id of expected.keys()) assert.ok(remaining.includes(id), `prune trial ${trial}: snapshot ${id} lost`);
      await bothCheckersAccept(repo, `prune trial ${trial} (killed after ${delay} ms)`);
    }
    const p = await lifeboat(['-r', repo, 'prune'], { password: PASSWORD });
    assert.equal(p.code, 0, p.stderr);
    const full = await restic(['--no-lock', 'check', '--read-data'], { repo, password: PASSWORD });
    assert.equal(full.code, 0, full.stdout + full.stderr);
    for (const [id, sha] of expected) {
      const d = await resticOk(['--no-lock', 'dump', id, '/gen.bin'], { repo, password: PASSWORD });
      assert.equal(createHash('sha256').update(d.stdoutBytes).digest('hex'), sha, `snapshot ${id} content changed`);
    }
  });
});
