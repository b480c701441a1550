import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LifeboatError } from '../../core/errors.ts';
import { storageSuite } from '../../../test/suites/storage-suite.ts';
import { createMemoryStorage } from './memory-storage.ts';

storageSuite('memory', async () => ({ storage: createMemoryStorage(), cleanup: async () => {} }));

test('memory: names that are not IDs are refused', async () => {
  const s = createMemoryStorage();
  for (const h of [{ type: 'data', name: '../../etc/passwd' }, { type: 'keys', name: 'AB'.repeat(32) }, { type: 'config', name: 'x' }] as const) {
    await assert.rejects(s.save(h, Buffer.from('x')), (err: unknown) => err instanceof LifeboatError && err.code === 'invalid_handle');
  }
});

test('memory: separate storages do not share files', async () => {
  const a = createMemoryStorage();
  const b = createMemoryStorage();
  await a.save({ type: 'config', name: '' }, Buffer.from('c'));
  await b.create(); // no config in b, though a has one
  await assert.rejects(b.stat({ type: 'config', name: '' }), (err: unknown) => err instanceof LifeboatError && err.code === 'not_found');
});
