import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { CancelledError } from '../../core/errors.ts';
import { chunkStream } from './chunk-stream.ts';
import { MAX_SIZE } from './chunker.ts';
import { randomPolynomial } from './polynomial.ts';

const MiB = 1024 * 1024;

async function collect(input: AsyncIterable<Uint8Array>, polynomial: string, signal?: AbortSignal): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunkStream(input, polynomial, { signal })) out.push(chunk);
  return out;
}

async function* reads(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

test('chunks survive a producer that reuses its read buffer', async () => {
  // A zero run in the middle guarantees cuts whatever the random bytes and polynomial.
  const data = new Uint8Array(5 * MiB);
  randomFillSync(data, 0, 2 * MiB);
  randomFillSync(data, 3.5 * MiB);
  const pol = randomPolynomial();
  async function* reusing(): AsyncGenerator<Uint8Array> {
    const buf = new Uint8Array(100_000);
    for (let i = 0; i < data.length; i += buf.length) {
      const part = data.subarray(i, i + buf.length);
      buf.set(part);
      yield buf.subarray(0, part.length);
      buf.fill(0xee); // the consumer must already have copied what it keeps
    }
  }
  const want = await collect(reads(data, MiB), pol);
  const got = await collect(reusing(), pol);
  assert.ok(want.length >= 2);
  assert.deepEqual(got.map((c) => c.length), want.map((c) => c.length));
  assert.ok(got.every((c, i) => c.equals(want[i])));
  assert.ok(Buffer.concat(got).equals(data));
  assert.ok(got.every((c) => c.length <= MAX_SIZE));
});

test('empty reads and an empty input', async () => {
  const pol = randomPolynomial();
  assert.deepEqual(await collect(reads(new Uint8Array(0), 1), pol), []);
  async function* empties(): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(0);
    yield Buffer.from('hello');
    yield new Uint8Array(0);
  }
  const chunks = await collect(empties(), pol);
  assert.deepEqual(chunks.map((c) => c.toString()), ['hello']);
});

test('an aborted signal stops chunking with a cancelled error', async () => {
  const pol = randomPolynomial();
  const data = randomFillSync(new Uint8Array(3 * MiB));
  const before = new AbortController();
  before.abort();
  await assert.rejects(collect(reads(data, MiB), pol, before.signal), CancelledError);

  const during = new AbortController();
  let n = 0;
  async function* slow(): AsyncGenerator<Uint8Array> {
    for await (const r of reads(data, 64 * 1024)) {
      if (++n === 5) during.abort();
      yield r;
    }
  }
  await assert.rejects(collect(slow(), pol, during.signal), (err) => err instanceof CancelledError && err.code === 'cancelled');
  assert.ok(n < 10);
});
