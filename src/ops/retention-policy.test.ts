// Forget policies against restic's documented behaviour (doc/060_forget.rst and the
// forget man page): the Sunday example, daily/weekly/monthly/yearly buckets, calendar
// arithmetic of --keep-within, tags, unlimited counts, the oldest-snapshot rule and time zones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../core/errors.ts';
import { applyPolicy, formatDuration, groupSnapshots, isEmptyPolicy, isoWeek, parseDuration } from './retention-policy.ts';
import type { ApplyOptions, ExpirePolicy, PolicySnapshot } from './retention-policy.ts';

interface Snap extends PolicySnapshot {
  hostname?: string;
  paths: string[];
}

let seq = 0;
function snap(time: string, extra: Partial<Snap> = {}): Snap {
  seq++;
  return { id: `s${String(seq).padStart(4, '0')}-${time}`, time, date: new Date(time), paths: ['/data'], ...extra };
}

const NOW = new Date('2100-01-01T00:00:00Z');

function kept(snaps: Snap[], p: ExpirePolicy, opts?: ApplyOptions, now = NOW): string[] {
  return applyPolicy(snaps, p, now, opts).filter((d) => d.keep).map((d) => d.snapshot.time as string);
}

/** Every day from `start` for `n` days at the given UTC hour. */
function daily(start: string, n: number, hour = 10): Snap[] {
  const out: Snap[] = [];
  const t0 = Date.parse(`${start}T00:00:00Z`);
  for (let i = 0; i < n; i++) {
    const d = new Date(t0 + i * 86_400_000 + hour * 3_600_000);
    out.push(snap(d.toISOString().replace('.000Z', 'Z')));
  }
  return out;
}

test('parseDuration reads restic durations and rejects malformed ones with a usage error', () => {
  assert.deepEqual(parseDuration('1y2m3d4h'), { years: 1, months: 2, days: 3, hours: 4 });
  assert.deepEqual(parseDuration(' 7d '), { years: 0, months: 0, days: 7, hours: 0 });
  assert.deepEqual(parseDuration('3h2y'), { years: 2, months: 0, days: 0, hours: 3 });
  assert.deepEqual(parseDuration('-1d'), { years: 0, months: 0, days: -1, hours: 0 });
  assert.deepEqual(parseDuration(''), { years: 0, months: 0, days: 0, hours: 0 });
  for (const bad of ['d', '5', '5x', '1.5d', 'y1']) {
    assert.throws(() => parseDuration(bad), (e: unknown) => e instanceof UsageError && e.code === 'usage', bad);
  }
  assert.equal(formatDuration(parseDuration('2y5m7d3h')), '2y5m7d3h');
  assert.equal(formatDuration(parseDuration('0y7d')), '7d');
});

test('isoWeek follows ISO 8601 at year boundaries', () => {
  assert.deepEqual(isoWeek(2020, 12, 31), { year: 2020, week: 53 });
  assert.deepEqual(isoWeek(2021, 1, 3), { year: 2020, week: 53 });
  assert.deepEqual(isoWeek(2021, 1, 4), { year: 2021, week: 1 });
  assert.deepEqual(isoWeek(2018, 12, 31), { year: 2019, week: 1 });
  assert.deepEqual(isoWeek(2025, 6, 15), { year: 2025, week: 24 });
});

test('an empty policy keeps every snapshot; invalid counts are usage errors', () => {
  const snaps = daily('2025-01-01', 5);
  assert.equal(isEmptyPolicy({}), true);
  assert.equal(isEmptyPolicy({ within: '0d', daily: 0 }), true);
  assert.equal(isEmptyPolicy({ tags: [['x']] }), false);
  const d = applyPolicy(snaps, {}, NOW);
  assert.equal(d.length, 5);
  assert.ok(d.every((x) => x.keep && x.reasons[0] === 'policy is empty'));
  assert.throws(() => applyPolicy(snaps, { daily: -2 }, NOW), UsageError);
  assert.throws(() => applyPolicy(snaps, { last: 1.5 }, NOW), UsageError);
  assert.deepEqual(applyPolicy([], { last: 1 }, NOW), []);
});

test('decisions come newest first and keep-last keeps the n most recent', () => {
  const snaps = daily('2025-01-01', 6).reverse(); // input order must not matter
  const d = applyPolicy(snaps, { last: 2 }, NOW, { keepOldest: false });
  assert.deepEqual(d.map((x) => x.snapshot.time), daily('2025-01-01', 6).map((s) => s.time).reverse());
  assert.deepEqual(d.filter((x) => x.keep).map((x) => x.reasons), [['last snapshot'], ['last snapshot']]);
  assert.deepEqual(kept(snaps, { last: 2 }), ['2025-01-06T10:00:00Z', '2025-01-05T10:00:00Z']);
});

test('Sunday-only backups for 12 weeks: keep-daily 4 keeps the last four Sundays', () => {
  // 2025-01-05 is a Sunday.
  const sundays = Array.from({ length: 12 }, (_, i) => snap(new Date(Date.parse('2025-01-05T09:00:00Z') + i * 7 * 86_400_000).toISOString().replace('.000Z', 'Z')));
  const k = kept(sundays, { daily: 4 });
  assert.deepEqual(k, sundays.slice(-4).map((s) => s.time).reverse());
});

test('daily keeps the newest snapshot of each day with a backup', () => {
  const snaps = [
    snap('2025-05-01T08:00:00Z'),
    snap('2025-05-02T08:00:00Z'),
    snap('2025-05-02T11:00:00Z'),
    snap('2025-05-04T09:00:00Z'),
    snap('2025-05-05T10:00:00Z'),
  ];
  // The example from restic's forum/manual discussion of keep vs keep-within.
  assert.deepEqual(kept(snaps, { daily: 4 }).sort(), ['2025-05-01T08:00:00Z', '2025-05-02T11:00:00Z', '2025-05-04T09:00:00Z', '2025-05-05T10:00:00Z']);
  assert.deepEqual(kept(snaps, { withinDaily: '4d' }).sort(), ['2025-05-02T11:00:00Z', '2025-05-04T09:00:00Z', '2025-05-05T10:00:00Z']);
  const reasons = applyPolicy(snaps, { withinDaily: '4d' }, NOW).find((d) => d.snapshot.time === '2025-05-05T10:00:00Z')?.reasons;
  assert.deepEqual(reasons, ['daily within 4d']);
});

test('daily for three years with 7 daily, 5 weekly, 12 monthly, 75 yearly (the manual example, scaled)', () => {
  const snaps = daily('2022-01-01', 3 * 365 + 2); // 2022-01-01 .. 2025-01-01 (2024 is a leap year)
  const d = applyPolicy(snaps, { daily: 7, weekly: 5, monthly: 12, yearly: 75 }, NOW, { keepOldest: false });
  const keep = d.filter((x) => x.keep);
  const byReason = (r: string): number => keep.filter((x) => x.reasons.includes(r)).length;
  assert.equal(byReason('daily snapshot'), 7);
  assert.equal(byReason('weekly snapshot'), 5);
  assert.equal(byReason('monthly snapshot'), 12);
  // 4 calendar years have a snapshot (2022..2025).
  assert.equal(byReason('yearly snapshot'), 4);
  // "7 dailies already include a week": the weekly and daily rule overlap on the newest ones.
  const newest = keep[0];
  assert.deepEqual(newest?.reasons, ['daily snapshot', 'weekly snapshot', 'monthly snapshot', 'yearly snapshot']);
  // Every kept monthly is the last snapshot of its month (or the newest overall).
  for (const x of keep.filter((k) => k.reasons.includes('monthly snapshot')).slice(1)) {
    const t = new Date(x.snapshot.date.getTime() + 86_400_000);
    assert.equal(t.getUTCDate(), 1, `${x.snapshot.time} is the last day of its month`);
  }
  // Kept yearlies are 31 December (and the newest).
  assert.deepEqual(keep.filter((k) => k.reasons.includes('yearly snapshot')).map((k) => k.snapshot.time?.slice(0, 10)), ['2025-01-01', '2024-12-31', '2023-12-31', '2022-12-31']);
  // The weeklies are Sundays (end of ISO week), after the newest one.
  for (const x of keep.filter((k) => k.reasons.includes('weekly snapshot')).slice(1)) assert.equal(x.snapshot.date.getUTCDay(), 0);
  assert.equal(d.length - keep.length, snaps.length - keep.length);
});

test('weekly buckets are ISO weeks, across a year boundary', () => {
  // Mon 2020-12-28 .. Sun 2021-01-03 is ISO week 2020-53; Mon 2021-01-04 opens 2021-01.
  const snaps = ['2020-12-27T12:00:00Z', '2020-12-28T12:00:00Z', '2021-01-01T12:00:00Z', '2021-01-03T12:00:00Z', '2021-01-04T12:00:00Z'].map((t) => snap(t));
  assert.deepEqual(kept(snaps, { weekly: 3 }), ['2021-01-04T12:00:00Z', '2021-01-03T12:00:00Z', '2020-12-27T12:00:00Z']);
});

test('hourly, monthly and yearly buckets', () => {
  const snaps = ['2024-12-31T22:10:00Z', '2024-12-31T22:50:00Z', '2024-12-31T23:05:00Z', '2025-01-01T00:01:00Z', '2025-01-01T00:30:00Z'].map((t) => snap(t));
  const old = { keepOldest: false };
  assert.deepEqual(kept(snaps, { hourly: 10 }, old), ['2025-01-01T00:30:00Z', '2024-12-31T23:05:00Z', '2024-12-31T22:50:00Z']);
  assert.deepEqual(kept(snaps, { monthly: 10 }, old), ['2025-01-01T00:30:00Z', '2024-12-31T23:05:00Z']);
  // With counts left, the oldest snapshot is kept as well.
  assert.deepEqual(kept(snaps, { monthly: 10 }), ['2025-01-01T00:30:00Z', '2024-12-31T23:05:00Z', '2024-12-31T22:10:00Z']);
  assert.deepEqual(kept(snaps, { yearly: 1 }), ['2025-01-01T00:30:00Z']);
});

test('-1 keeps one snapshot of every period', () => {
  const snaps = [...daily('2025-01-01', 10, 8), ...daily('2025-01-01', 10, 20)];
  const k = kept(snaps, { daily: -1 }, { keepOldest: false });
  assert.equal(k.length, 10);
  assert.ok(k.every((t) => t.endsWith('T20:00:00Z')));
});

test('the oldest snapshot inside a keep-within-* duration is kept as well (restic >= 0.16)', () => {
  const snaps = [snap('2025-03-01T08:00:00Z'), snap('2025-03-01T09:00:00Z'), snap('2025-03-02T09:00:00Z')];
  const d = applyPolicy(snaps, { withinDaily: '7d' }, NOW);
  assert.deepEqual(d.map((x) => [x.snapshot.time, x.keep, x.reasons]), [
    ['2025-03-02T09:00:00Z', true, ['daily within 7d']],
    ['2025-03-01T09:00:00Z', true, ['daily within 7d']],
    ['2025-03-01T08:00:00Z', true, ['oldest daily within 7d']],
  ]);
  assert.deepEqual(kept(snaps, { withinDaily: '7d' }, { keepOldest: false }), ['2025-03-02T09:00:00Z', '2025-03-01T09:00:00Z']);
  // Outside the duration, the oldest is not kept.
  assert.deepEqual(kept(snaps, { withinDaily: '1h' }), ['2025-03-02T09:00:00Z']);
});

test('the oldest snapshot is kept while a counted rule has counts left (restic >= 0.16)', () => {
  const snaps = [snap('2025-03-01T08:00:00Z'), snap('2025-03-01T09:00:00Z'), snap('2025-03-02T09:00:00Z')];
  const d = applyPolicy(snaps, { daily: 5 }, NOW);
  assert.deepEqual(d.map((x) => [x.snapshot.time, x.keep, x.reasons]), [
    ['2025-03-02T09:00:00Z', true, ['daily snapshot']],
    ['2025-03-01T09:00:00Z', true, ['daily snapshot']],
    ['2025-03-01T08:00:00Z', true, ['oldest daily snapshot']],
  ]);
  // restic 0.14 did not have the rule.
  assert.deepEqual(kept(snaps, { daily: 5 }, { keepOldest: false }), ['2025-03-02T09:00:00Z', '2025-03-01T09:00:00Z']);
  // Counts used up: no extra.
  assert.deepEqual(kept(snaps, { daily: 2 }), ['2025-03-02T09:00:00Z', '2025-03-01T09:00:00Z']);
});

test('keep-within uses calendar arithmetic from the newest snapshot, like Go AddDate', () => {
  // One month before 31 March is "31 February" = 3 March (2025 is not a leap year).
  const snaps = ['2025-03-31T10:00:00Z', '2025-03-03T11:00:00Z', '2025-03-03T10:00:00Z', '2025-03-01T10:00:00Z'].map((t) => snap(t));
  assert.deepEqual(kept(snaps, { within: '1m' }), ['2025-03-31T10:00:00Z', '2025-03-03T11:00:00Z']);
  const d = applyPolicy(snaps, { within: '1m' }, NOW);
  assert.deepEqual(d[0]?.reasons, ['within 1m']);
  // Hours are a plain duration after the calendar part.
  assert.deepEqual(kept(snaps, { within: '28d' }), ['2025-03-31T10:00:00Z', '2025-03-03T11:00:00Z']);
  assert.deepEqual(kept(snaps, { within: '28d1h' }), ['2025-03-31T10:00:00Z', '2025-03-03T11:00:00Z', '2025-03-03T10:00:00Z']);
  assert.deepEqual(kept(snaps, { within: '1y' }).length, 4);
});

test('keep-within measures from the newest snapshot that is not in the future', () => {
  const now = new Date('2025-06-10T00:00:00Z');
  const snaps = ['2030-01-01T00:00:00Z', '2025-06-09T00:00:00Z', '2025-06-05T00:00:00Z', '2025-06-01T00:00:00Z'].map((t) => snap(t));
  assert.deepEqual(kept(snaps, { within: '5d' }, {}, now), ['2030-01-01T00:00:00Z', '2025-06-09T00:00:00Z', '2025-06-05T00:00:00Z']);
});

test('keep-tag keeps snapshots with all tags of one list, uncounted', () => {
  const snaps = [snap('2025-01-01T00:00:00Z', { tags: ['a', 'b'] }), snap('2025-01-02T00:00:00Z', { tags: ['a'] }), snap('2025-01-03T00:00:00Z', { tags: ['c'] }), snap('2025-01-04T00:00:00Z')];
  const d = applyPolicy(snaps, { tags: [['a', 'b'], ['c']] }, NOW);
  assert.deepEqual(d.filter((x) => x.keep).map((x) => [x.snapshot.time, x.reasons]), [
    ['2025-01-03T00:00:00Z', ['has tags c']],
    ['2025-01-01T00:00:00Z', ['has tags a,b']],
  ]);
  // Rules OR together.
  assert.deepEqual(kept(snaps, { tags: [['c']], last: 1 }), ['2025-01-04T00:00:00Z', '2025-01-03T00:00:00Z']);
});

test('buckets use the wall clock recorded in the snapshot time unless told otherwise', () => {
  // 10:00 and 23:30 on 1 January in New York: one local day, two UTC days.
  const snaps = [snap('2025-01-01T10:00:00-05:00'), snap('2025-01-01T23:30:00-05:00')];
  assert.deepEqual(kept(snaps, { daily: 5 }, { keepOldest: false }), ['2025-01-01T23:30:00-05:00']);
  assert.deepEqual(kept(snaps, { daily: 5 }, { tz: 'utc', keepOldest: false }), ['2025-01-01T23:30:00-05:00', '2025-01-01T10:00:00-05:00']);
  // Without a time string the local zone of this process applies (same as tz 'local').
  const bare = snaps.map((s) => ({ id: s.id, date: s.date }));
  assert.deepEqual(
    applyPolicy(bare, { daily: 5 }, NOW, { keepOldest: false }).map((x) => x.keep),
    applyPolicy(snaps, { daily: 5 }, NOW, { keepOldest: false, tz: 'local' }).map((x) => x.keep),
  );
});

test('sub-millisecond times order correctly', () => {
  const snaps = [snap('2025-01-01T00:00:00.000000200Z'), snap('2025-01-01T00:00:00.000000100Z')];
  assert.deepEqual(kept(snaps, { last: 1 }, { keepOldest: false }), ['2025-01-01T00:00:00.000000200Z']);
});

test('groupSnapshots groups by host, paths (order-insensitive) and tags as selected', () => {
  const a = snap('2025-01-01T00:00:00Z', { hostname: 'h1', paths: ['/a', '/b'], tags: ['x'] });
  const b = snap('2025-01-02T00:00:00Z', { hostname: 'h1', paths: ['/b', '/a'] });
  const c = snap('2025-01-03T00:00:00Z', { hostname: 'h2', paths: ['/a', '/b'], tags: ['x'] });
  const sizes = (by: Parameters<typeof groupSnapshots>[1]): number[] => [...groupSnapshots([a, b, c], by).values()].map((g) => g.length);
  assert.deepEqual(sizes({ host: true, paths: true }), [2, 1]);
  assert.deepEqual(sizes({ paths: true }), [3]);
  assert.deepEqual(sizes({ tags: true }), [2, 1]);
  assert.deepEqual(sizes({ host: true, paths: true, tags: true }), [1, 1, 1]);
  assert.deepEqual(sizes({}), [3]);
  const key = [...groupSnapshots([a], { host: true, paths: true }).keys()][0] as string;
  assert.deepEqual(JSON.parse(key), { hostname: 'h1', paths: ['/a', '/b'], tags: null });
});
