import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatNs, parseNs, parseSeconds } from './time.ts';

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
