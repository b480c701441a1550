// A copied snapshot keeps its summary and the fields of newer restic or rustic versions that
// lifeboat does not know.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStorage } from '../../storage/memory/memory-storage.ts';
import { Repository } from '../repository.ts';
import { listSnapshots, loadSnapshot, snapshotDocument } from '../snapshot/snapshot.ts';
import { FIXTURE_PACK_SIZE, backupGeneration } from '../pruner/history-fixture.ts';
import { copySnapshots } from './copier.ts';

const FAST = { scrypt: { N: 16, r: 1, p: 1 } };

test('copy keeps the summary and unknown snapshot fields', async () => {
  const srcStorage = createMemoryStorage();
  await Repository.init(srcStorage, 'a', FAST);
  const src = await Repository.open(srcStorage, 'a', { packSize: FIXTURE_PACK_SIZE });
  await src.loadIndex();
  await backupGeneration(src, 0);
  await src.loadIndex();
  const [base] = await listSnapshots(src);
  assert.ok(base?.summary, 'the archiver writes a summary');
  const newer = await src.saveUnpacked('snapshots', { ...snapshotDocument(base), description: 'from rustic', label: { weekly: true } });
  await srcStorage.remove({ type: 'snapshots', name: base.id });

  const dstStorage = createMemoryStorage();
  await Repository.init(dstStorage, 'b', { ...FAST, polynomial: src.config.chunker_polynomial });
  const dst = await Repository.open(dstStorage, 'b');
  await dst.loadIndex();
  const r = await copySnapshots(src, dst, await listSnapshots(src));
  const copy = await dst.loadUnpacked('snapshots', r.targets[newer] as string) as Record<string, unknown>;
  assert.equal(copy.description, 'from rustic');
  assert.deepEqual(copy.label, { weekly: true });
  assert.deepEqual(copy.summary, base.summary);
  assert.equal((await loadSnapshot(dst, r.targets[newer] as string)).original, newer);
});
