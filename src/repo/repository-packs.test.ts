/**
 * Blob-to-pack assembly is randomised (restic 0.18's fix for the chunking attack): the blobs
 * of one file, saved in order, end up interleaved across pack files instead of filling one
 * pack after another in file order. Every blob still reads back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { idOf } from '../core/ids.ts';
import { createMemoryStorage } from '../storage/memory/memory-storage.ts';
import { Repository } from './repository.ts';

test('the blobs of one file are spread over several packs out of file order, and all read back', async () => {
  const storage = createMemoryStorage();
  await Repository.init(storage, 'pw');
  const repo = await Repository.open(storage, 'pw', { packSize: 64 * 1024 });
  const blobs = Array.from({ length: 96 }, () => randomBytes(4096)); // incompressible: ~4 KiB each
  const ids = blobs.map((b) => idOf(b));
  for (let i = 0; i < blobs.length; i++) await repo.saveBlob('data', blobs[i] as Buffer, ids[i] as string);
  await repo.flush();
  const packOf = ids.map((id) => repo.index.lookup('data', id)[0]?.packId as string);
  assert.ok(packOf.every((p) => p !== undefined));
  // In file order, the pack changes back to one already seen: chunks of two packs interleave.
  const seen = new Set<string>();
  let interleaved = false;
  for (let i = 0; i < packOf.length; i++) {
    const p = packOf[i] as string;
    if (i > 0 && p !== packOf[i - 1] && seen.has(p)) interleaved = true;
    seen.add(p);
  }
  assert.ok(interleaved, `packs in file order: ${packOf.map((p) => p.slice(0, 4)).join(' ')}`);
  for (let i = 0; i < blobs.length; i++) assert.deepEqual(await repo.loadBlob('data', ids[i] as string), blobs[i]);
});
