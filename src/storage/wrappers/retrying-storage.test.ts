import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { LifeboatError, NotFoundError } from '../../core/errors.ts';
import { createMemoryStorage } from '../memory/memory-storage.ts';
import type { FileInfo, Handle, Storage } from '../storage.ts';
import { storageSuite } from '../../../test/suites/storage-suite.ts';
import { withFaults } from './faulty-storage.ts';
import type { FaultRule } from './faulty-storage.ts';
import { backoffDelay, isRetryable, withRetries } from './retrying-storage.ts';
import type { RetryOptions } from './retrying-storage.ts';

const dataHandle = (): Handle => ({ type: 'data', name: randomBytes(32).toString('hex') });

/** A memory storage behind faults behind retries; sleeps are recorded, never waited for. */
function setup(rules: FaultRule[], opts: RetryOptions = {}) {
  const inner = createMemoryStorage();
  const faulty = withFaults(inner, { rules });
  const delays: number[] = [];
  const retries: Array<{ code: string; attempt: number; h: Handle | undefined }> = [];
  const storage = withRetries(faulty, {
    sleep: async (ms) => void delays.push(ms),
    onRetry: (err, attempt, h) => retries.push({ code: err.code, attempt, h }),
    ...opts,
  });
  return { inner, faulty, storage, delays, retries };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof LifeboatError, String(err));
    return err.code;
  }
  assert.fail('expected a rejection');
}

async function listAll(s: Storage): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of s.list('data')) out.push(fi);
  return out;
}

// The wrapper must keep the whole contract when nothing fails.
storageSuite('memory behind withRetries', async () => ({ storage: withRetries(createMemoryStorage()), cleanup: async () => {} }));

test('transient failures are retried until the call succeeds', async () => {
  const { inner, faulty, storage, retries, delays } = setup([{ op: 'save', calls: [1, 2, 3], fault: { kind: 'fail', retryable: true } }]);
  const h = dataHandle();
  const data = randomBytes(100);
  await storage.save(h, data);
  assert.equal(faulty.calls.save, 4, 'three failures, then success');
  assert.deepEqual(retries.map((r) => r.attempt), [1, 2, 3]);
  assert.ok(retries.every((r) => r.h === h && r.code === 'injected_fault'));
  assert.equal(delays.length, 3);
  assert.ok((await inner.load(h)).equals(data));
});

test('loads and stats are retried too', async () => {
  const { inner, faulty, storage } = setup([
    { op: 'load', calls: [1], fault: { kind: 'fail', retryable: true } },
    { op: 'stat', calls: [1, 2], fault: { kind: 'fail', retryable: true } },
  ]);
  const h = dataHandle();
  await inner.save(h, Buffer.from('hello'));
  assert.equal((await storage.load(h, { offset: 1, length: 3 })).toString(), 'ell');
  assert.equal((await storage.stat(h)).size, 5);
  assert.equal(faulty.calls.load, 2);
  assert.equal(faulty.calls.stat, 3);
});

test('a permanent failure surfaces at once with its code', async () => {
  const { faulty, storage, retries } = setup([{ op: 'save', fault: { kind: 'fail', retryable: false, code: 'storage_full' } }]);
  assert.equal(await codeOf(storage.save(dataHandle(), Buffer.from('x'))), 'storage_full');
  assert.equal(faulty.calls.save, 1);
  assert.equal(retries.length, 0);
});

test('retries run out: the last error surfaces after 1 + retries attempts', async () => {
  const { faulty, storage } = setup([{ op: 'load', fault: { kind: 'fail', retryable: true, code: 'io_error' } }], { retries: 3 });
  assert.equal(await codeOf(storage.load(dataHandle())), 'io_error');
  assert.equal(faulty.calls.load, 4);
});

test('NotFoundError and already_exists are never retried', async () => {
  const { faulty, storage } = setup([]);
  assert.equal(await codeOf(storage.load(dataHandle())), 'not_found');
  assert.equal(await codeOf(storage.stat(dataHandle())), 'not_found');
  const h = dataHandle();
  await storage.save(h, Buffer.from('a'));
  assert.equal(await codeOf(storage.save(h, Buffer.from('b'))), 'already_exists');
  assert.deepEqual([faulty.calls.load, faulty.calls.stat, faulty.calls.save], [1, 1, 2]);
  // Even when mislabelled as retryable at birth.
  assert.equal(isRetryable(new NotFoundError('x', { retryable: true })), false);
  assert.equal(isRetryable(new LifeboatError('already_exists', 'x', { retryable: true })), false);
});

test('a save whose reply was lost succeeds on retry when the stored size matches', async () => {
  const { inner, faulty, storage } = setup([{ op: 'save', calls: [1], fault: { kind: 'lose-reply' } }]);
  const h = dataHandle();
  const data = randomBytes(64);
  await storage.save(h, data);
  assert.equal(faulty.calls.save, 2, 'the retry met already_exists and was accepted');
  assert.ok((await inner.load(h)).equals(data));
});

test('already_exists after a retryable failure still surfaces when the sizes differ', async () => {
  const { inner, storage } = setup([{ op: 'save', calls: [1], fault: { kind: 'fail', retryable: true } }]);
  const h = dataHandle();
  await inner.save(h, randomBytes(10)); // someone else's file under that name
  assert.equal(await codeOf(storage.save(h, randomBytes(11))), 'already_exists');
});

test('a remove whose reply was lost succeeds on retry', async () => {
  const { inner, faulty, storage } = setup([{ op: 'remove', calls: [1], fault: { kind: 'lose-reply' } }]);
  const h = dataHandle();
  await inner.save(h, Buffer.from('x'));
  await storage.remove(h);
  assert.equal(faulty.calls.remove, 2);
  assert.equal(await codeOf(inner.stat(h)), 'not_found');
});

test('a list that breaks midway is restarted and yields each file once', async () => {
  const { inner, faulty, storage } = setup([{ op: 'list', calls: [1, 2], fault: { kind: 'fail', retryable: true, afterItems: 4 } }]);
  const names = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const h = dataHandle();
    await inner.save(h, Buffer.from('x'));
    names.add(h.name);
  }
  const listed = await listAll(storage);
  assert.equal(listed.length, 10);
  assert.deepEqual(new Set(listed.map((f) => f.name)), names);
  assert.equal(faulty.calls.list, 3);
});

test('an abort while waiting to retry stops the loop', async () => {
  const ac = new AbortController();
  const inner = withFaults(createMemoryStorage(), { rules: [{ op: 'stat', fault: { kind: 'fail', retryable: true } }] });
  const storage = withRetries(inner, {
    sleep: async (_ms, signal) => {
      ac.abort();
      signal?.throwIfAborted();
    },
  });
  assert.equal(await codeOf(storage.stat(dataHandle(), { signal: ac.signal })), 'cancelled');
  assert.equal(inner.calls.stat, 1);
});

test('an already aborted signal makes no call at all', async () => {
  const { faulty, storage } = setup([]);
  assert.equal(await codeOf(storage.save(dataHandle(), Buffer.from('x'), { signal: AbortSignal.abort() })), 'cancelled');
  assert.equal(faulty.calls.save, 0);
});

test('backoff grows exponentially up to the cap, with full jitter', () => {
  const top = () => 0.999999;
  assert.deepEqual([1, 2, 3, 4].map((a) => backoffDelay(a, 100, 1000, top)), [99, 199, 399, 799]);
  assert.equal(backoffDelay(20, 100, 1000, top), 999);
  assert.equal(backoffDelay(5, 100, 1000, () => 0), 0);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3, 100, 1000);
    assert.ok(d >= 0 && d < 400);
  }
});

test('delays passed to sleep stay within the configured bounds', async () => {
  const { storage, delays } = setup([{ op: 'stat', fault: { kind: 'fail', retryable: true } }], { retries: 10, baseDelayMs: 50, maxDelayMs: 400 });
  await codeOf(storage.stat(dataHandle()));
  assert.equal(delays.length, 10);
  delays.forEach((d, i) => assert.ok(d >= 0 && d < Math.min(400, 50 * 2 ** i), `delay ${i}: ${d}`));
});
