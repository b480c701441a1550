import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotFoundError } from '../core/errors.ts';
import { createMemorySnapshotStore } from '../../test/support/memory-snapshot-store.ts';
import { addCopiesToReport, runCopies } from './copies.ts';
import type { CopiesDeps } from './copies.ts';
import type { RunReport } from './run-report.ts';

const snaps = (() => {
  const store = createMemorySnapshotStore();
  for (let i = 1; i <= 3; i++) store.add({ id: `${i}`.padEnd(64, '0'), source: 'db', date: new Date(i * 1000) });
  return store.snapshots;
})();
const targets = [{ index: 0, displayLocation: 'rest:http://a/' }, { index: 1, displayLocation: 's3:b' }];

function deps(warnings: string[], failFirstAfter?: number): CopiesDeps {
  return {
    async copyTo(target, list, onSnapshot) {
      if (target.index === 0 && failFirstAfter !== undefined) {
        for (let i = 0; i < failFirstAfter; i++) onSnapshot(i > 0);
        throw new NotFoundError('no repository at copy target rest:http://a/', { hint: 'create it with --init-to' });
      }
      list.forEach(() => onSnapshot(true));
      return { repository: target.displayLocation, copied: list.length, skipped: 0 };
    },
    log: { info: () => undefined, warn: (m) => warnings.push(m) },
    now: () => 0,
  };
}

test('a failed target reports what it got, never stops the next one, and makes an ok backup partial', async () => {
  const warnings: string[] = [];
  const results = await runCopies(targets, snaps, deps(warnings, 2), new AbortController().signal);
  assert.deepEqual(results.map((r) => [r.repository, r.status, r.copied, r.skipped]), [['rest:http://a/', 'failed', 1, 1], ['s3:b', 'ok', 3, 0]]);
  assert.deepEqual(warnings, ['copy to rest:http://a/ failed: no repository at copy target rest:http://a/ (create it with --init-to)']);
  const report = { status: 'ok' } as RunReport;
  assert.equal(addCopiesToReport(report, results).status, 'partial');
  assert.equal(report.copies?.[0]?.error, 'no repository at copy target rest:http://a/');
});

test('all targets ok keep the run ok; a cancellation ends the run', async () => {
  const results = await runCopies(targets, snaps, deps([]), new AbortController().signal);
  assert.equal(addCopiesToReport({ status: 'ok' } as RunReport, results).status, 'ok');
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(runCopies(targets, snaps, deps([], 0), ac.signal), NotFoundError);
});
