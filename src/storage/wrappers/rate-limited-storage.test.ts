// The pacing of withRateLimits with a fake clock: the waits it asks for add up to the bytes
// over the limit, uploads and downloads on their own schedules; no limit, no wrapper.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createMemoryStorage } from '../memory/memory-storage.ts';
import { withRateLimits } from './rate-limited-storage.ts';

test('saves and loads wait for their share of the limit; data passes unchanged', async () => {
  let clock = 0;
  const waits: number[] = [];
  const inner = createMemoryStorage();
  const s = withRateLimits(inner, {
    uploadBytesPerSec: 1024 * 100,
    downloadBytesPerSec: 1024 * 50,
    now: () => clock,
    sleep: async (ms) => {
      waits.push(ms);
      clock += ms;
    },
  });
  const blobs = [randomBytes(51_200), randomBytes(102_400), randomBytes(25_600)];
  const names = blobs.map((_, i) => String(i).repeat(64).slice(0, 64).replace(/./g, 'abcdef'[i] as string));
  for (const [i, b] of blobs.entries()) await s.save({ type: 'data', name: names[i] as string }, b);
  assert.deepEqual(waits, [500, 1000, 250], 'uploads: bytes / (100 KiB/s)');
  waits.length = 0;
  for (const [i, b] of blobs.entries()) assert.ok((await s.load({ type: 'data', name: names[i] as string })).equals(b));
  assert.deepEqual(waits, [1000, 2000, 500], 'downloads: bytes / (50 KiB/s)');
  assert.equal(withRateLimits(inner, {}), inner);
});
