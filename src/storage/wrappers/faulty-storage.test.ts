import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { LifeboatError } from '../../core/errors.ts';
import { createMemoryStorage } from '../memory/memory-storage.ts';
import type { Handle } from '../storage.ts';
import { storageSuite } from '../../../test/suites/storage-suite.ts';
import { withFaults } from './faulty-storage.ts';

const handle = (type: Handle['type'] = 'data'): Handle => ({ type, name: randomBytes(32).toString('hex') });

async function rejection(p: Promise<unknown>): Promise<LifeboatError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof LifeboatError);
    return err;
  }
  assert.fail('expected a rejection');
}

test('fails only the chosen calls, with the chosen retryability and code', async () => {
  const s = withFaults(createMemoryStorage(), { rules: [{ op: 'save', calls: [2], fault: { kind: 'fail', retryable: false, code: 'storage_full' } }] });
  await s.save(handle(), Buffer.from('1'));
  const err = await rejection(s.save(handle(), Buffer.from('2')));
  assert.equal(err.code, 'storage_full');
  assert.equal(err.retryable, false);
  await s.save(handle(), Buffer.from('3'));
  assert.equal(s.calls.save, 3);
  assert.equal(s.injected, 1);
});

test('a predicate narrows the rule to matching handles, counted among those only', async () => {
  const s = withFaults(createMemoryStorage(), { rules: [{ op: 'save', match: (h) => h.type === 'index', calls: [1], fault: { kind: 'fail', retryable: true } }] });
  await s.save(handle('data'), Buffer.from('d'));
  assert.equal((await rejection(s.save(handle('index'), Buffer.from('i')))).retryable, true);
  await s.save(handle('index'), Buffer.from('i'));
});

test('a failed save stores nothing; a lost reply stores the file and still throws', async () => {
  const inner = createMemoryStorage();
  const s = withFaults(inner, {
    rules: [
      { op: 'save', calls: [1], fault: { kind: 'fail', retryable: true } },
      { op: 'save', calls: [2], fault: { kind: 'lose-reply' } },
    ],
  });
  const a = handle();
  const b = handle();
  await rejection(s.save(a, Buffer.from('a')));
  await rejection(s.save(b, Buffer.from('b')));
  assert.equal((await rejection(inner.stat(a))).code, 'not_found');
  assert.equal((await inner.load(b)).toString(), 'b');
});

test('load corruption: one flipped bit, or a truncated result', async () => {
  const inner = createMemoryStorage();
  const h = handle();
  const data = randomBytes(100);
  await inner.save(h, data);
  const s = withFaults(inner, {
    rules: [
      { op: 'load', calls: [1], fault: { kind: 'flip-bit', offset: 10, bit: 3 } },
      { op: 'load', calls: [2], fault: { kind: 'truncate', length: 40 } },
    ],
  });
  const flipped = await s.load(h);
  const diff = [...flipped].map((b, i) => b ^ data[i]);
  assert.deepEqual(diff.filter((x) => x !== 0), [8]);
  assert.equal(diff.indexOf(8), 10);
  assert.ok((await s.load(h)).equals(data.subarray(0, 40)));
  assert.ok((await s.load(h)).equals(data), 'later loads are clean');
  assert.ok((await inner.load(h)).equals(data), 'the stored bytes are untouched');
});

test('delay waits through the injected sleep before the call', async () => {
  const waited: number[] = [];
  const s = withFaults(createMemoryStorage(), { rules: [{ op: 'stat', fault: { kind: 'delay', ms: 250 } }], sleep: async (ms) => void waited.push(ms) });
  await rejection(s.stat(handle()));
  assert.deepEqual(waited, [250]);
});

test('a list can break after some entries', async () => {
  const inner = createMemoryStorage();
  for (let i = 0; i < 5; i++) await inner.save(handle(), Buffer.from('x'));
  const s = withFaults(inner, { rules: [{ op: 'list', calls: [1], fault: { kind: 'fail', retryable: true, afterItems: 2 } }] });
  const seen: string[] = [];
  const err = await rejection((async () => {
    for await (const fi of s.list('data')) seen.push(fi.name);
  })());
  assert.equal(err.retryable, true);
  assert.equal(seen.length, 2);
  let n = 0;
  for await (const _ of s.list('data')) n++;
  assert.equal(n, 5);
});

// With an empty plan the wrapper is transparent and keeps the whole contract.
storageSuite('memory behind withFaults (no faults)', async () => ({ storage: withFaults(createMemoryStorage(), { rules: [] }), cleanup: async () => {} }));
