import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextRun, parseGoDuration, parseSchedule } from './schedule.ts';

const local = (y: number, mo: number, d: number, h = 0, mi = 0): Date => new Date(y, mo - 1, d, h, mi);

test('parseSchedule reads cron fields with lists, ranges, steps and names', () => {
  const s = parseSchedule('*/20 1,3-5 1 jan-mar,DEC mon-fri');
  assert.equal(s.kind, 'cron');
  if (s.kind !== 'cron') return;
  assert.deepEqual([...s.minutes], [0, 20, 40]);
  assert.deepEqual([...s.hours], [1, 3, 4, 5]);
  assert.deepEqual([...s.months], [1, 2, 3, 12]);
  assert.deepEqual([...s.weekdays], [1, 2, 3, 4, 5]);
  const sunday = parseSchedule('0 0 * * 7');
  assert.ok(sunday.kind === 'cron' && sunday.weekdays.has(0));
  const from5 = parseSchedule('5/15 * * * *');
  assert.ok(from5.kind === 'cron' && [...from5.minutes].join() === '5,20,35,50');
});

test('parseSchedule knows the macros and @every', () => {
  for (const m of ['@hourly', '@daily', '@midnight', '@weekly', '@monthly', '@yearly', '@annually']) assert.equal(parseSchedule(m).kind, 'cron', m);
  assert.deepEqual(parseSchedule('@every 1h30m'), { kind: 'every', ms: 5_400_000 });
  assert.deepEqual(parseSchedule('@every 90m'), { kind: 'every', ms: 5_400_000 });
  assert.equal(parseGoDuration('1.5h'), 5_400_000);
  assert.equal(parseGoDuration('250ms'), 250);
});

test('parseSchedule refuses malformed schedules with a message saying what is wrong', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /has 0 fields/],
    ['* * * *', /has 4 fields; a cron expression has 5/],
    ['60 * * * *', /minute: 60 is out of range 0–59/],
    ['* 24 * * *', /hour: 24 is out of range/],
    ['* * 0 * *', /day of month: 0 is out of range 1–31/],
    ['* * * 13 *', /month: 13 is out of range/],
    ['* * * foo *', /month: "foo" is not a number or a name \(jan–dec\)/],
    ['* * * * 8', /day of week: 8 is out of range 0–7/],
    ['*/0 * * * *', /step "0" must be a whole number above 0/],
    ['5-1 * * * *', /range 5-1 goes backwards/],
    ['1,,2 * * * *', /"" is not a value/],
    ['@dayly', /unknown schedule "@dayly"/],
    ['@every', /missing duration/],
    ['@every 1d', /not a duration like 90m/],
    ['@every 10ms', /at least 1s/],
    ['daily', /has 1 field;/],
  ];
  for (const [text, why] of cases) assert.throws(() => parseSchedule(text), (e: unknown) => e instanceof RangeError && why.test(e.message), text);
});

test('nextRun finds the next matching minute in local time', () => {
  assert.deepEqual(nextRun(parseSchedule('@daily'), local(2026, 3, 1, 10, 30)), local(2026, 3, 2));
  assert.deepEqual(nextRun(parseSchedule('30 2 * * *'), local(2026, 3, 1, 2, 29)), local(2026, 3, 1, 2, 30));
  assert.deepEqual(nextRun(parseSchedule('30 2 * * *'), local(2026, 3, 1, 2, 30)), local(2026, 3, 2, 2, 30));
  assert.deepEqual(nextRun(parseSchedule('0 0 29 2 *'), local(2026, 3, 1)), local(2028, 2, 29));
  // Both day fields restricted: either matches (1 March 2026 is a Sunday; the 15th comes later).
  assert.deepEqual(nextRun(parseSchedule('0 12 15 * mon'), local(2026, 3, 1)), local(2026, 3, 2, 12));
  assert.equal(nextRun(parseSchedule('0 0 31 2 *'), local(2026, 1, 1)), undefined);
  assert.deepEqual(nextRun(parseSchedule('@every 90m'), local(2026, 3, 1)), local(2026, 3, 1, 1, 30));
});

test('nextRun in a named zone follows its wall clock across DST, once per wall time', () => {
  const ny = 'America/New_York';
  const daily = parseSchedule('30 2 * * *');
  // 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist: run at 03:30 EDT (07:30Z).
  assert.equal(nextRun(daily, new Date('2026-03-07T12:00:00Z'), ny)?.toISOString(), '2026-03-08T07:30:00.000Z');
  assert.equal(nextRun(daily, new Date('2026-03-08T07:30:00Z'), ny)?.toISOString(), '2026-03-09T06:30:00.000Z');
  // 2026-11-01: 01:00–02:00 happens twice; a 01:30 job runs once, at the first (EDT, 05:30Z).
  const early = parseSchedule('30 1 * * *');
  assert.equal(nextRun(early, new Date('2026-10-31T12:00:00Z'), ny)?.toISOString(), '2026-11-01T05:30:00.000Z');
  assert.equal(nextRun(early, new Date('2026-11-01T05:30:00Z'), ny)?.toISOString(), '2026-11-02T06:30:00.000Z');
  // The zone in the expression wins over the default; hourly keeps its wall-clock minutes.
  const berlin = parseSchedule('CRON_TZ=Europe/Berlin 0 3 * * *');
  assert.equal(nextRun(berlin, new Date('2026-06-01T00:00:00Z'), ny)?.toISOString(), '2026-06-01T01:00:00.000Z');
  const hourly = parseSchedule('TZ=Asia/Kolkata 0 * * * *');
  assert.equal(nextRun(hourly, new Date('2026-06-01T00:10:00Z'))?.toISOString(), '2026-06-01T00:30:00.000Z');
});

test('parseSchedule refuses an unknown zone and a zone on @every', () => {
  assert.throws(() => parseSchedule('CRON_TZ=Mars/Olympus 0 3 * * *'), /unknown time zone "Mars\/Olympus"/);
  assert.throws(() => parseSchedule('CRON_TZ=UTC @every 1h'), /@every is the same in every zone/);
});
