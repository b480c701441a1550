import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBudget } from './semaphore.ts';

test('ByteBudget admits requests while they fit and wakes waiters in order', async () => {
  const b = new ByteBudget(10);
  await b.acquire(6);
  const order: string[] = [];
  const second = b.acquire(6).then(() => order.push('second'));
  const third = b.acquire(1).then(() => order.push('third'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], 'the 6-byte request waits, and the 1-byte one queues behind it');
  assert.equal(b.used, 6);
  b.release(6);
  await Promise.all([second, third]);
  assert.deepEqual(order, ['second', 'third']);
  assert.equal(b.used, 7);
});

test('ByteBudget lets a request larger than the budget through alone', async () => {
  const b = new ByteBudget(4);
  await b.acquire(100);
  assert.equal(b.used, 100);
  let small = false;
  const p = b.acquire(1).then(() => (small = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(small, false);
  b.release(100);
  await p;
  assert.equal(b.used, 1);
});
