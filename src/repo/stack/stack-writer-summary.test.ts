// A stack snapshot's restic-style summary covers both the source's artifacts and the files it
// backed up with a separate archiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { loadSnapshot } from '../snapshot/snapshot.ts';
import { SnapshotWriter } from './stack-writer.ts';

test('the summary of a stack snapshot counts the files of the source and its artifacts', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'lifeboat-stack-summary-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, 'files'));
  for (const n of ['a', 'b', 'c']) writeFileSync(path.join(root, 'files', n), `file ${n}\n`);
  const storage = createMemoryStorage();
  const repo = await Repository.init(storage, 'pw', { scrypt: { N: 1024, r: 8, p: 1 } });
  const w = new SnapshotWriter(repo, { name: 'app', type: 'files' });
  await w.putFiles([path.join(root, 'files')]);
  await w.put('extra.txt', (async function* () {
    yield Buffer.from('an artifact\n');
  })());
  const { snapshotId } = await w.commit({ fingerprint: {}, commands: [] });
  const snap = await loadSnapshot(repo, snapshotId);
  assert.ok(snap.summary);
  // 3 files, the artifact and the manifest.
  assert.equal(snap.summary.total_files_processed, 5);
  assert.equal(snap.summary.files_new, 3);
  assert.ok(snap.summary.data_blobs >= 5);
  assert.match(snap.program_version ?? '', /^lifeboat /);
});
