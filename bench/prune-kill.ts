/**
 * Prune kill soak: SIGKILLs a prune running in a child process at random moments, N times,
 * and after each kill proves the repository is still whole: every remaining snapshot reads
 * back byte-identical, `restic check` (when restic is installed) finds no errors, and a
 * second prune completes and leaves nothing to do. Prints in which phase each kill landed.
 *
 * Run: node bench/prune-kill.ts [iterations=20]
 * Exit status 1 on the first repository that is not whole (its directory is kept).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { createLocalStorage } from '../src/storage/local/local-storage.ts';
import { Repository } from '../src/repo/repository.ts';
import { listSnapshots } from '../src/repo/snapshot/snapshot.ts';
import { FIXTURE_PACK_SIZE, FIXTURE_PASSWORD, backupGeneration, snapshotDigests } from '../src/repo/pruner/history-fixture.ts';
import type { MadeSnapshot } from '../src/repo/pruner/history-fixture.ts';
import { executePrune, planPrune } from '../src/repo/pruner/pruner.ts';

async function open(dir: string): Promise<Repository> {
  const repo = await Repository.open(createLocalStorage(dir), FIXTURE_PASSWORD, { packSize: FIXTURE_PACK_SIZE });
  await repo.loadIndex();
  return repo;
}

/** Child: plan, say "ready", execute, reporting each phase step on stdout. */
async function child(dir: string): Promise<void> {
  const repo = await open(dir);
  const plan = await planPrune(repo);
  process.stdout.write('ready\n');
  const t0 = performance.now();
  await executePrune(repo, plan, { indexBlobsPerFile: 20, onProgress: (p) => process.stdout.write(`phase ${p.phase} ${p.done}/${p.total}\n`) });
  process.stdout.write(`done ${Math.round(performance.now() - t0)}\n`);
}

interface ChildRun {
  lastLine: string;
  killed: boolean;
  ms?: number;
}

/** Runs the child prune on `dir`; kills it `killAfterMs` after it is ready (never if undefined). */
function runChild(dir: string, killAfterMs: number | undefined): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastLine = '';
    let buf = '';
    let ms: number | undefined;
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready' && killAfterMs !== undefined) setTimeout(() => p.kill('SIGKILL'), killAfterMs);
        if (line.startsWith('done ')) ms = Number(line.slice(5));
        lastLine = line;
      }
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ lastLine, killed: true });
      else if (code === 0) resolve({ lastLine, killed: false, ms });
      else reject(new Error(`prune child exited with ${code}`));
    });
  });
}

function resticCheck(dir: string): string | undefined {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RESTIC_')) env[k] = v;
  const r = spawnSync('restic', ['--no-cache', 'check'], { encoding: 'utf8', env: { ...env, RESTIC_REPOSITORY: dir, RESTIC_PASSWORD: FIXTURE_PASSWORD } });
  if (r.error) return undefined; // restic not installed
  return r.status === 0 ? undefined : `${r.stdout}\n${r.stderr}`;
}

async function whole(dir: string, remaining: MadeSnapshot[]): Promise<string | undefined> {
  const repo = await open(dir);
  const snaps = await listSnapshots(repo);
  if (!isDeepStrictEqual(snaps.map((s) => s.id).sort(), remaining.map((m) => m.id).sort())) return 'snapshot list changed';
  for (const m of remaining) {
    const s = snaps.find((x) => x.id === m.id);
    if (!s) return `snapshot ${m.id} missing`;
    try {
      if (!isDeepStrictEqual(await snapshotDigests(repo, s), m.files)) return `snapshot ${m.id} reads back different bytes`;
    } catch (err) {
      return `snapshot ${m.id} cannot be read: ${(err as Error).message}`;
    }
  }
  return resticCheck(dir);
}

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 20);
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-prune-kill-'));
  const base = join(root, 'base');
  await Repository.init(createLocalStorage(base), FIXTURE_PASSWORD, { scrypt: { N: 1024, r: 8, p: 1 } });
  const repo = await open(base);
  const made: MadeSnapshot[] = [];
  for (let g = 0; g < 5; g++) made.push(await backupGeneration(repo, g));
  for (const g of [0, 1, 3]) await repo.storage.remove({ type: 'snapshots', name: (made[g] as MadeSnapshot).id });
  const remaining = made.filter((_, g) => g === 2 || g === 4);

  // How long an uninterrupted prune runs, to spread the kills over it.
  const probe = join(root, 'probe');
  cpSync(base, probe, { recursive: true });
  const clean = await runChild(probe, undefined);
  const span = Math.max(5, clean.ms ?? 100);
  process.stdout.write(`uninterrupted prune: ${span} ms\n`);

  const landed = new Map<string, number>();
  for (let i = 1; i <= iterations; i++) {
    const dir = join(root, `run-${i}`);
    cpSync(base, dir, { recursive: true });
    const run = await runChild(dir, Math.random() * span * 1.1);
    const where = run.killed ? (run.lastLine.split(' ')[1] ?? 'before-start') : 'finished';
    landed.set(where, (landed.get(where) ?? 0) + 1);
    let problem = await whole(dir, remaining);
    if (!problem) {
      const again = await open(dir);
      await executePrune(again, await planPrune(again));
      const third = await planPrune(await open(dir));
      if (third.packsToDelete.length + third.packsToRepack.length + third.unreferencedPacks.length + third.indexFilesToReplace.length > 0) problem = 'a third prune still has work';
      problem ??= await whole(dir, remaining);
    }
    if (problem) {
      process.stdout.write(`run ${i} (killed in ${where}): NOT WHOLE, kept at ${dir}\n${problem}\n`);
      process.exit(1);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${iterations} kills, repository whole after each; landed in: ${JSON.stringify(Object.fromEntries(landed))}\n`);
  rmSync(root, { recursive: true, force: true });
}

if (process.argv[2] === '--child') await child(process.argv[3] as string);
else await main();
