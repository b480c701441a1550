// The benchmark's merge of several rounds: medians per number, a round's failure kept, each
// round's values listed. (The bench itself is not run in the suite: it takes minutes.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeRounds } from '../bench/report.ts';
import type { Entry, Row } from '../bench/report.ts';

const entry = (wallS: number, maxRssKiB: number, ok = true): Entry => ({ wallS, cpuS: wallS * 2, userS: wallS, sysS: wallS, maxRssKiB, ok, ...(ok ? {} : { error: 'exited 1' }) });
const row = (lb: Entry, rs: Entry): Row => ({ id: 'backup-dir', step: 'backup', label: 'first backup', entries: { lifeboat: lb, restic: rs } });

test('rounds merge to the median of each number, and keep every round for the tables', () => {
  const merged = mergeRounds([[row(entry(9, 200), entry(10, 100))], [row(entry(30, 220), entry(8, 90))], [row(entry(8, 210), entry(12, 95))]]);
  const lb = merged[0]?.entries.lifeboat;
  assert.equal(lb?.wallS, 9);
  assert.equal(lb?.cpuS, 18);
  assert.equal(lb?.maxRssKiB, 210);
  assert.deepEqual(lb?.rounds, { wallS: [9, 30, 8], maxRssKiB: [200, 220, 210] });
  assert.equal(merged[0]?.entries.restic?.wallS, 10);
});

test('a step that failed in any round is failed in the merge, with its error', () => {
  const merged = mergeRounds([[row(entry(9, 200), entry(10, 100))], [row(entry(9, 200, false), entry(10, 100))]]);
  assert.equal(merged[0]?.entries.lifeboat?.ok, false);
  assert.equal(merged[0]?.entries.lifeboat?.error, 'exited 1');
  assert.equal(merged[0]?.entries.restic?.ok, true);
});

test('one round is passed through as is', () => {
  const rows = [row(entry(9, 200), entry(10, 100))];
  assert.deepEqual(mergeRounds([rows]), rows);
});
