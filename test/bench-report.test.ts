// The benchmark's merge of several rounds: medians per number, a round's failure kept, each
// round's values listed; and the stream its memory-versus-size step generates. (The bench
// itself is not run in the suite: it takes minutes.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { generatedStream } from '../bench/corpus.ts';
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

test('the generated stream of the memory-versus-size step is deterministic, exact in length, half of it hex text', async () => {
  const read = async (bytes: number): Promise<{ data: Buffer; sha: string }> => {
    let sha = '';
    const parts: Buffer[] = [];
    for await (const b of generatedStream(bytes, (h) => (sha = h))) parts.push(b as Buffer);
    return { data: Buffer.concat(parts), sha };
  };
  const size = 3 * 2 ** 20 + 5;
  const a = await read(size);
  const b = await read(size);
  assert.equal(a.data.length, size);
  assert.equal(a.sha, createHash('sha256').update(a.data).digest('hex'));
  assert.equal(b.sha, a.sha);
  const second = a.data.subarray(2 ** 20, 2 ** 21).toString('latin1');
  assert.match(second, /^[0-9a-f]+$/);
  assert.doesNotMatch(a.data.subarray(0, 2 ** 20).toString('latin1'), /^[0-9a-f]+$/);
  // Every block is new: no 1 MiB block repeats another.
  const blocks = new Set([0, 1, 2].map((i) => createHash('sha256').update(a.data.subarray(i * 2 ** 20, (i + 1) * 2 ** 20)).digest('hex')));
  assert.equal(blocks.size, 3);
});
