/**
 * Many hosts, one repository: one s3: repository on the local S3 server, two lifeboat
 * processes backing up different data at the same time (`--host a`, `--host b`, several
 * rounds each, unchanged files deduplicated across rounds) while a third runs
 * `forget --keep-last 1 --prune` over and over.
 *
 * The lock protocol decides who runs: backups share the repository, forget/prune needs it
 * alone, and whoever finds a conflicting lock fails fast with exit code 11 (and is retried
 * here, as a scheduler would). Nothing may be lost: every backup that succeeded left a
 * snapshot, the last one per host survives the final forget, restores byte-identical, and
 * the repository checks clean with `lifeboat check --read-data` and `restic check --read-data`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { lifeboat } from '../support/lifeboat-cli.ts';
import type { CliResult } from '../support/lifeboat-cli.ts';
import { missingBinaries } from '../support/require.ts';
import { resticJSON, resticOk } from '../support/restic.ts';
import { randomBucketName, startS3Server } from '../support/s3-server.ts';
import { tempDir } from '../support/tmp.ts';

const PASSWORD = 'shared-repository-password-3318';
const ROUNDS = 3;
const LOCKED = 11;

async function digests(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = path.join(e.parentPath, e.name);
    out.set(path.relative(dir, abs), createHash('sha256').update(await readFile(abs)).digest('hex'));
  }
  return out;
}

function fail(what: string, r: CliResult): never {
  assert.fail(`${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

test('two hosts back up into one s3: repository while forget --prune runs; locks hold, nothing is lost', { skip: missingBinaries('restic') }, async (t) => {
  const tmp = await tempDir('many-hosts');
  const bucket = randomBucketName('hosts');
  const s3 = await startS3Server({ bucket });
  t.after(async () => {
    await s3.stop();
    await tmp.cleanup();
  });
  const url = s3.resticUrl(bucket, 'shared/repo');
  const env = s3.resticEnv();
  const cli = (args: string[]) => lifeboat(['-r', url, ...args], { password: PASSWORD, env, cwd: tmp.path });
  const init = await cli(['init']);
  if (init.code !== 0) fail('init', init);

  const hosts = ['a', 'b'] as const;
  const dirs = new Map(hosts.map((h) => [h, path.join(tmp.path, `data-${h}`)]));
  for (const h of hosts) {
    const dir = dirs.get(h) as string;
    await mkdir(path.join(dir, 'static'), { recursive: true });
    // Unchanged in every round: later snapshots reuse its blobs after forget dropped the first.
    await writeFile(path.join(dir, 'static', 'base.bin'), randomBytes(1_500_000));
    await writeFile(path.join(dir, 'host.txt'), `host ${h}\n`);
  }

  let backupsDone = false;
  const lockedBackups = { a: 0, b: 0 };
  const forgetRuns = { ok: 0, locked: 0, removed: 0, packsDeleted: 0 };
  /** Per host: every snapshot a backup reported, with the digests of what it read. */
  const made = new Map<string, Array<{ id: string; files: Map<string, string> }>>(hosts.map((h) => [h, []]));

  const backupHost = async (h: 'a' | 'b'): Promise<void> => {
    const dir = dirs.get(h) as string;
    for (let round = 1; round <= ROUNDS; round++) {
      // The previous round's file goes: forgotten snapshots leave packs prune must repack.
      await rm(path.join(dir, `round-${round - 1}.bin`), { force: true });
      await writeFile(path.join(dir, `round-${round}.bin`), randomBytes(400_000));
      await writeFile(path.join(dir, 'host.txt'), `host ${h}, round ${round}\n`);
      const files = await digests(dir);
      for (;;) {
        const r = await cli(['backup', '--host', h, '--json', dir]);
        if (r.code === LOCKED) {
          // forget/prune holds the repository: fail fast, try again, as cron would.
          lockedBackups[h]++;
          await sleep(150);
          continue;
        }
        if (r.code !== 0) fail(`backup of host ${h}, round ${round}`, r);
        const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { snapshot_id: string };
        made.get(h)?.push({ id: summary.snapshot_id, files });
        break;
      }
    }
  };

  const forgetLoop = async (): Promise<void> => {
    // While backups run, forget --prune either gets the repository alone or fails fast.
    // Afterwards it is retried until it has run once with nothing in its way.
    for (let attempt = 0; ; attempt++) {
      const finalRun = backupsDone;
      const r = await cli(['forget', '--keep-last', '1', '--prune', '--json']);
      if (r.code === 0) {
        forgetRuns.ok++;
        for (const line of r.stdout.split('\n').filter((l) => l.startsWith('{'))) {
          const doc = JSON.parse(line) as { message_type: string; removed?: string[]; result?: { packsDeleted: number } };
          if (doc.message_type === 'forget') forgetRuns.removed += doc.removed?.length ?? 0;
          if (doc.message_type === 'prune') forgetRuns.packsDeleted += doc.result?.packsDeleted ?? 0;
        }
        if (finalRun) return;
      } else if (r.code === LOCKED) {
        forgetRuns.locked++;
        assert.match(r.stderr, /locked/);
      } else {
        fail('forget --prune', r);
      }
      assert.ok(attempt < 120, 'forget --prune never got the repository');
      await sleep(100);
    }
  };

  const backups = Promise.all(hosts.map((h) => backupHost(h))).finally(() => {
    backupsDone = true;
  });
  await Promise.all([backups, forgetLoop()]);
  t.diagnostic(`forget --prune: ${forgetRuns.ok} runs, ${forgetRuns.locked} times locked out, ${forgetRuns.removed} snapshots removed, ${forgetRuns.packsDeleted} packs deleted; backups locked out: a ${lockedBackups.a}, b ${lockedBackups.b}`);
  // All but the last snapshot of each host went, and prune did delete (repack) packs.
  assert.equal(forgetRuns.removed, hosts.length * (ROUNDS - 1));
  assert.ok(forgetRuns.packsDeleted > 0, 'prune deleted packs');

  // Every backup produced a snapshot; the last one per host is what forget kept.
  for (const h of hosts) assert.equal(made.get(h)?.length, ROUNDS);
  const left = await resticJSON<Array<{ id: string; hostname: string }>>(['snapshots'], { repo: url, password: PASSWORD, env });
  assert.deepEqual(
    left.map((s) => `${s.hostname} ${s.id}`).sort(),
    hosts.map((h) => `${h} ${made.get(h)?.at(-1)?.id}`).sort(),
  );

  // Each survivor restores to exactly the bytes its backup read.
  for (const h of hosts) {
    const last = made.get(h)?.at(-1) as { id: string; files: Map<string, string> };
    const out = path.join(tmp.path, `restore-${h}`);
    const r = await cli(['restore', last.id, '--target', out]);
    if (r.code !== 0) fail(`restore of host ${h}`, r);
    assert.deepEqual(await digests(path.join(out, dirs.get(h) as string)), last.files, `host ${h} restores byte-identical`);
  }

  const check = await cli(['check', '--read-data']);
  if (check.code !== 0) fail('lifeboat check --read-data', check);
  await resticOk(['check', '--read-data'], { repo: url, password: PASSWORD, env });
});
