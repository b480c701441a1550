import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CancelledError } from '../../core/errors.ts';
import { chunkStream, FileChunker } from './chunk-stream.ts';
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

/** Files this process has open, by path. */
function openFiles(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

test('FileChunker cuts a file into the chunks chunkStream cuts, in batches of about the budget', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-chunker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const data = new Uint8Array(9 * MiB + 12345);
  randomFillSync(data, 0, 3 * MiB);
  randomFillSync(data, 4 * MiB); // a zero run makes sure of a cut
  const file = path.join(dir, 'data.bin');
  writeFileSync(file, data);
  const pol = randomPolynomial();
  const want = await collect(reads(data, 100_000), pol);
  assert.ok(want.length >= 3);
  for (const budget of [1, 2 * MiB, 64 * MiB]) {
    const fc = new FileChunker(file, pol);
    const got: Buffer[] = [];
    let batches = 0;
    for (;;) {
      const { chunks, done } = fc.next(budget);
      batches++;
      got.push(...chunks);
      if (done) break;
      assert.ok(chunks.length > 0, 'a batch of a file not yet done is never empty');
    }
    assert.deepEqual(got.map((c) => c.length), want.map((c) => c.length), `budget ${budget}`);
    assert.ok(got.every((c, i) => c.equals(want[i])));
    if (budget === 1) assert.ok(batches >= want.length, 'a budget of one byte gives a chunk per batch');
    if (budget === 64 * MiB) assert.equal(batches, 1);
    assert.ok(!openFiles().includes(file), 'the file is closed once done');
  }
  // Closed early: the file is closed and nothing more comes.
  const fc = new FileChunker(file, pol);
  assert.ok(fc.next(1).chunks.length === 1);
  assert.ok(openFiles().includes(file));
  fc.close();
  fc.close();
  assert.ok(!openFiles().includes(file));
  // An empty file: done at once, with no chunk.
  writeFileSync(path.join(dir, 'empty'), '');
  assert.deepEqual(new FileChunker(path.join(dir, 'empty'), pol).next(MiB), { chunks: [], done: true });
  assert.throws(() => new FileChunker(path.join(dir, 'missing'), pol), { code: 'ENOENT' });
});
