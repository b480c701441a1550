import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLocal, formatNs, parseNs, parseSeconds, parseTimeArg } from './time.ts';

test('formatNs writes RFC 3339 in UTC with the fraction trimmed as Go does', () => {
  assert.equal(formatNs(0n), '1970-01-01T00:00:00Z');
  assert.equal(formatNs(1_700_000_000_123_456_789n), '2023-11-14T22:13:20.123456789Z');
  assert.equal(formatNs(1_700_000_000_120_000_000n), '2023-11-14T22:13:20.12Z');
  assert.equal(formatNs(1_700_000_001_000_000_000n), '2023-11-14T22:13:21Z');
  // Before the epoch the fraction still counts forward from the second below.
  assert.equal(formatNs(-1n), '1969-12-31T23:59:59.999999999Z');
});

test('formatNs gives the same text in any order of calls (its cache of the last second)', () => {
  const times = [5n, 1_000_000_000n * 86_400n + 7n, 5n, 999_999_999n, 1_000_000_000n, -1_500_000_000n, 5n];
  const once = times.map((t) => formatNs(t));
  const again = [...times].reverse().map((t) => formatNs(t)).reverse();
  assert.deepEqual(again, once);
  for (const t of times) assert.equal(parseNs(formatNs(t)), t);
});

test('parseSeconds agrees with parseNs to the microsecond, offsets and all', () => {
  const times = [
    '2023-11-14T22:13:20.123456789Z',
    '2023-11-14T22:13:20Z',
    '2023-11-14T23:13:20.5+01:00',
    '2024-07-01T12:00:00.000001-07:30',
    '1969-12-31T23:59:59.25Z',
    '1900-01-01T00:00:00.999999Z',
    '2023-11-14 22:13:20Z', // not restic's shape: parsed the slow way
  ];
  for (const s of times) {
    const want = Number(parseNs(s)) / 1e9;
    assert.ok(Math.abs(parseSeconds(s) - want) < 1e-6, `${s}: ${parseSeconds(s)} vs ${want}`);
  }
  assert.equal(parseSeconds('2023-11-14T22:13:20.5Z'), 1_700_000_000.5);
  assert.throws(() => parseSeconds('2023-11-14T22:13:20.Z'), RangeError);
  assert.throws(() => parseSeconds('yesterday'), RangeError);
});

test('parseTimeArg reads zones, local times and relative times', () => {
  const now = new Date('2026-12-01T12:00:00Z');
  assert.equal(parseTimeArg('2026-12-01T10:00+01:00').toISOString(), '2026-12-01T09:00:00.000Z');
  assert.equal(parseTimeArg('2026-12-01T10:00:30.5-0230').toISOString(), '2026-12-01T12:30:30.500Z');
  assert.equal(parseTimeArg('2026-12-01T09:00Z').toISOString(), '2026-12-01T09:00:00.000Z');
  assert.equal(parseTimeArg('2026-12-01 10:00').getTime(), new Date(2026, 11, 1, 10, 0).getTime());
  assert.equal(parseTimeArg('2026-12-01').getTime(), new Date(2026, 11, 1).getTime());
  assert.equal(parseTimeArg('2h ago', now).toISOString(), '2026-12-01T10:00:00.000Z');
  assert.equal(parseTimeArg('3d ago', now).toISOString(), '2026-11-28T12:00:00.000Z');
  assert.equal(parseTimeArg('90m ago', now).toISOString(), '2026-12-01T10:30:00.000Z');
  assert.equal(parseTimeArg('1h 30m ago', now).toISOString(), '2026-12-01T10:30:00.000Z');
  assert.equal(parseTimeArg('now', now).getTime(), now.getTime());
  for (const bad of ['yesterday', '2h', 'ago', '2026-13-01', '2026-02-31', '2026-12-01T25:00Z', '10:00', '2y ago']) {
    assert.throws(() => parseTimeArg(bad, now), (e: unknown) => e instanceof RangeError && /is not a time; use .*2h ago/.test(e.message), bad);
  }
});

test('formatLocal writes the local time with its offset', () => {
  const tz = process.env.TZ;
  try {
    process.env.TZ = 'Europe/Berlin';
    assert.equal(formatLocal(new Date('2026-12-01T09:00:00Z')), '2026-12-01T10:00:00+01:00');
    assert.equal(formatLocal(new Date('2026-07-01T09:00:00Z')), '2026-07-01T11:00:00+02:00');
    process.env.TZ = 'UTC';
    assert.equal(formatLocal(new Date('2026-12-01T09:00:00Z')), '2026-12-01T09:00:00Z');
    process.env.TZ = 'America/St_Johns';
    assert.equal(formatLocal(new Date('2026-12-01T09:00:00Z')), '2026-12-01T05:30:00-03:30');
  } finally {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  }
});
