// applyPolicy against the restic CLI as oracle: one repository holds snapshots at many
// irregular times (a few made by `restic backup --time` in a New York time zone, the rest
// written by lifeboat with several UTC offsets), two hosts and some tags. For each policy,
// `restic forget --dry-run --json` decides which IDs it keeps; lifeboat reads the same
// snapshots (Repository.open + listSnapshots), groups them by host and paths and must keep
// exactly the same IDs. restic 0.14 predates the "keep the oldest" rule and "-1 = all",
// so those are compared with keepOldest off and are not used here.
// Skipped when restic is not installed, unless REQUIRE_SERVERS=1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalStorage } from '../../src/storage/local/local-storage.ts';
import { Repository } from '../../src/repo/repository.ts';
import { listSnapshots, saveSnapshot } from '../../src/repo/snapshot/snapshot.ts';
import type { Snapshot } from '../../src/repo/snapshot/snapshot.ts';
import { applyPolicy, groupSnapshots } from '../../src/ops/retention-policy.ts';
import type { ExpirePolicy } from '../../src/ops/retention-policy.ts';

const PASSWORD = 'policy oracle password';
const haveRestic = spawnSync('restic', ['version'], { encoding: 'utf8' }).status === 0;
const skip = !haveRestic && process.env.REQUIRE_SERVERS !== '1' ? 'restic is not on PATH' : false;

let dir = '';
let repoDir = '';
let snapshots: Snapshot[] = [];

function restic(args: string[], env: Record<string, string> = {}, input?: string): string {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RESTIC_')) clean[k] = v;
  const r = spawnSync('restic', ['--no-cache', ...args], {
    encoding: 'utf8',
    input,
    env: { ...clean, RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: PASSWORD, TZ: 'UTC', ...env },
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`restic ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A small deterministic generator (mulberry32) so the times are irregular but repeatable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** RFC 3339 with a fixed offset in minutes (e.g. -300 for New York winter). */
function withOffset(ms: number, offsetMin: number): string {
  const wall = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 19);
  if (offsetMin === 0) return `${wall}Z`;
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${wall}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'lifeboat-policy-oracle-'));
  repoDir = join(dir, 'repo');
  // A lifeboat-made repository (cheap key derivation keeps each restic run fast).
  await Repository.init(createLocalStorage(repoDir), PASSWORD, { scrypt: { N: 1024, r: 8, p: 1 } });
  // A few snapshots made by restic itself, with its own time format and local zone.
  for (const t of ['2024-11-03 00:30:00', '2024-11-03 23:45:00', '2025-03-09 03:30:00']) {
    restic(['backup', '--stdin', '--stdin-filename', 'data', '--host', 'oracle', '--time', t, '-q'], { TZ: 'America/New_York' }, `content ${t}\n`);
  }
  const reopened = await Repository.open(createLocalStorage(repoDir), PASSWORD);
  const first = (await listSnapshots(reopened))[0] as Snapshot;
  // Many more snapshots, irregular: bursts within a day, gaps of weeks, around midnight and
  // the turn of the year, in three UTC offsets.
  const rand = rng(20250101);
  let t = Date.parse('2022-12-20T12:00:00Z');
  const end = Date.parse('2025-06-30T00:00:00Z');
  const offsets = [0, -300, 120];
  let i = 0;
  while (t < end) {
    const r = rand();
    t += r < 0.3 ? rand() * 6 * 3_600_000 : r < 0.85 ? (0.5 + rand() * 3) * 86_400_000 : (7 + rand() * 30) * 86_400_000;
    const host = rand() < 0.2 ? 'other' : 'oracle';
    const tags = rand() < 0.1 ? ['important'] : rand() < 0.1 ? ['important', 'monthly'] : undefined;
    await saveSnapshot(reopened, {
      time: withOffset(Math.round(t / 1000) * 1000, offsets[i++ % offsets.length] as number),
      tree: first.tree,
      paths: ['/data'],
      hostname: host,
      username: 'oracle',
      tags,
    });
  }
  snapshots = await listSnapshots(reopened);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface ResticGroup {
  host: string;
  paths: string[] | null;
  keep: Array<{ id: string }> | null;
  remove: Array<{ id: string }> | null;
}

const policies: Array<{ args: string[]; policy: ExpirePolicy }> = [
  { args: ['--keep-last', '3'], policy: { last: 3 } },
  { args: ['--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '6', '--keep-yearly', '2'], policy: { daily: 7, weekly: 4, monthly: 6, yearly: 2 } },
  { args: ['--keep-hourly', '5', '--keep-daily', '3'], policy: { hourly: 5, daily: 3 } },
  { args: ['--keep-weekly', '12'], policy: { weekly: 12 } },
  { args: ['--keep-daily', '400'], policy: { daily: 400 } },
  { args: ['--keep-weekly', '200', '--keep-yearly', '10'], policy: { weekly: 200, yearly: 10 } },
  { args: ['--keep-monthly', '40'], policy: { monthly: 40 } },
  { args: ['--keep-within', '2m10d'], policy: { within: '2m10d' } },
  { args: ['--keep-within', '1y2m3d4h', '--keep-yearly', '1'], policy: { within: '1y2m3d4h', yearly: 1 } },
  { args: ['--keep-within-daily', '20d', '--keep-within-weekly', '2m', '--keep-within-monthly', '1y', '--keep-within-yearly', '5y'], policy: { withinDaily: '20d', withinWeekly: '2m', withinMonthly: '1y', withinYearly: '5y' } },
  { args: ['--keep-within-hourly', '3d', '--keep-last', '2'], policy: { withinHourly: '3d', last: 2 } },
  { args: ['--keep-tag', 'important,monthly', '--keep-tag', 'nothing', '--keep-last', '1'], policy: { tags: [['important', 'monthly'], ['nothing']], last: 1 } },
];

test('restic saw the snapshots lifeboat reads', { skip }, () => {
  const listed = JSON.parse(restic(['snapshots', '--json'])) as Array<{ id: string; time: string }>;
  assert.deepEqual(listed.map((s) => s.id).sort(), snapshots.map((s) => s.id).sort());
  assert.ok(snapshots.length > 150, `enough snapshots (${snapshots.length})`);
  // restic wrote its times in the New York zone; lifeboat kept the offset.
  assert.ok(snapshots.some((s) => s.time === '2024-11-03T23:45:00-05:00'));
});

for (const { args, policy } of policies) {
  test(`same snapshots kept as restic forget ${args.join(' ')}`, { skip }, () => {
    const groups = JSON.parse(restic(['forget', '--dry-run', '--json', ...args])) as ResticGroup[];
    const resticKeep = new Set(groups.flatMap((g) => (g.keep ?? []).map((s) => s.id)));
    const resticRemove = new Set(groups.flatMap((g) => (g.remove ?? []).map((s) => s.id)));
    const ours = groupSnapshots(snapshots, { host: true, paths: true });
    assert.equal(ours.size, groups.length, 'number of groups');
    const ourKeep = new Set<string>();
    for (const g of ours.values()) {
      for (const d of applyPolicy(g, policy, new Date(), { keepOldest: false })) if (d.keep) ourKeep.add(d.snapshot.id);
    }
    assert.equal(resticKeep.size + resticRemove.size, snapshots.length);
    const onlyRestic = [...resticKeep].filter((id) => !ourKeep.has(id)).map((id) => snapshots.find((s) => s.id === id)?.time);
    const onlyOurs = [...ourKeep].filter((id) => !resticKeep.has(id)).map((id) => snapshots.find((s) => s.id === id)?.time);
    assert.deepEqual({ onlyRestic, onlyOurs }, { onlyRestic: [], onlyOurs: [] });
    assert.ok(ourKeep.size > 0 && ourKeep.size < snapshots.length, `policy decides something (${ourKeep.size} of ${snapshots.length})`);
  });
}
