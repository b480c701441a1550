import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressMeter } from './progress-meter.ts';

const MiB = 1 << 20;

test('the meter paces lines (200 ms) and JSON events (1 s per source) by the time it is given', () => {
  const m = new ProgressMeter();
  // First sight of a source: a line, no event (a fast source prints no progress event at all).
  assert.deepEqual(m.update({ source: 'db', phase: 'backup', bytes: 0 }, 1000), { line: 'db: 0 B 0 B/s' });
  assert.deepEqual(m.update({ source: 'db', phase: 'backup', bytes: MiB }, 1100), {});
  const at2s = m.update({ source: 'db', phase: 'backup', bytes: 4 * MiB, bytes_added: MiB, total: 16 * MiB }, 2000);
  assert.equal(at2s.line, 'db: 4.00 MiB 25% 4.00 MiB/s +1.00 MiB ETA 0:03');
  assert.deepEqual(at2s.event, {
    message_type: 'progress', phase: 'backup', source: 'db', bytes: 4 * MiB, bytes_added: MiB,
    total: 16 * MiB, percent: 25, elapsed_ms: 1000, bytes_per_second: 4 * MiB, eta_seconds: 3,
  });
  // A second source joins the line; each keeps its own start and event pace.
  const both = m.update({ source: 'files', phase: 'backup', bytes: 0 }, 2500);
  assert.equal(both.event, undefined);
  // db's rate is recomputed at the time of the line: 4 MiB in 1.5 s.
  assert.equal(both.line, 'db: 4.00 MiB 25% 2.67 MiB/s +1.00 MiB ETA 0:05  |  files: 0 B 0 B/s');
  m.done('db');
  assert.equal(m.update({ source: 'files', phase: 'backup', bytes: 2 * MiB }, 3500).line, 'files: 2.00 MiB 2.00 MiB/s');
});

test('a restore past its expected total shows no ETA and at most 100 %', () => {
  const m = new ProgressMeter();
  m.update({ source: 'db', phase: 'restore', bytes: 0, total: 100 }, 0);
  const r = m.update({ source: 'db', phase: 'restore', bytes: 150, total: 100 }, 1000);
  assert.equal(r.event?.percent, 100);
  assert.equal(r.event?.eta_seconds, undefined);
  assert.equal(r.line, 'db: 150 B 100% 150 B/s');
});
