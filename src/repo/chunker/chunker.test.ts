import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LifeboatError } from '../../core/errors.ts';
import { Chunker, MAX_SIZE, MIN_SIZE } from './chunker.ts';
import { chunkStream } from './chunk-stream.ts';
import { polynomialMod } from './polynomial.ts';

const POL = '3da3358b4dc173';
const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function pseudoRandom(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, size);
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * Random data with the shapes that exercise every cut rule: content-defined cuts (random),
 * cuts at exactly MIN_SIZE (zeros: the fingerprint of 64 zero bytes is 0), cuts at MAX_SIZE
 * (a short period: the fingerprint cycles through few values), and a repeated region.
 */
function mixedInput(): Uint8Array {
  const random = pseudoRandom(5 * MiB, 7);
  const period = pseudoRandom(100, 9);
  const periodic = new Uint8Array(9 * MiB);
  for (let i = 0; i < periodic.length; i += period.length) periodic.set(period.subarray(0, periodic.length - i), i);
  return concat([random, new Uint8Array(2 * MiB), periodic, random.subarray(MiB, 2 * MiB), pseudoRandom(300_000, 11)]);
}

/**
 * A direct transcription of the chunking rules, one byte at a time with a ring window, to
 * check the block-wise WebAssembly version against. Returns chunk lengths.
 */
function referenceLengths(data: Uint8Array, polynomial: string): number[] {
  const pol = BigInt('0x' + polynomial);
  const outHi: number[] = [], outLo: number[] = [], modHi: number[] = [], modLo: number[] = [];
  for (let b = 0; b < 256; b++) {
    let h = BigInt(b);
    for (let i = 0; i < 63; i++) h = polynomialMod(h << 8n, pol);
    outHi.push(Number(h >> 32n));
    outLo.push(Number(h & 0xffffffffn));
    const m = polynomialMod(BigInt(b) << 53n, pol);
    modHi.push(Number(m >> 32n));
    modLo.push(Number(m & 0xffffffffn));
  }
  const lengths: number[] = [];
  let start = 0;
  while (start < data.length) {
    const win = new Uint8Array(64);
    win[0] = 1;
    let wpos = 1, hi = 0, lo = 1;
    let end = data.length;
    for (let i = start + MIN_SIZE - 64; i < data.length; i++) {
      const b = data[i];
      const out = win[wpos];
      win[wpos] = b;
      wpos = (wpos + 1) % 64;
      hi ^= outHi[out];
      lo ^= outLo[out];
      const top = (hi >>> 13) & 0xff;
      hi = ((hi & 0x1fff) * 256 + (lo >>> 24)) ^ modHi[top];
      lo = (((lo << 8) | b) ^ modLo[top]) >>> 0;
      const count = i - start + 1;
      if (count >= MIN_SIZE && ((lo & 0xfffff) === 0 || count >= MAX_SIZE)) {
        end = i + 1;
        break;
      }
    }
    lengths.push(end - start);
    start = end;
  }
  return lengths;
}

async function* reads(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function collect(data: Uint8Array, readSize: number, polynomial = POL): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of chunkStream(reads(data, readSize), polynomial)) chunks.push(chunk);
  return chunks;
}

/** Chunk lengths from Chunker.nextSplitPoint, fed `size` bytes per call. */
function lengthsFedBy(data: Uint8Array, size: number): number[] {
  const chunker = new Chunker(POL);
  const lengths: number[] = [];
  let chunkStart = 0;
  for (let off = 0; off < data.length; off += size) {
    const buf = data.subarray(off, off + size);
    let pos = 0;
    for (let cut = chunker.nextSplitPoint(buf); cut >= 0; cut = chunker.nextSplitPoint(buf, pos)) {
      lengths.push(off + cut - chunkStart);
      chunkStart = off + cut;
      pos = cut;
    }
  }
  if (chunkStart < data.length) lengths.push(data.length - chunkStart);
  return lengths;
}

test('chunks match the reference rules, respect min/max and rebuild the input', async () => {
  const data = mixedInput();
  const chunks = await collect(data, MiB);
  assert.deepEqual(chunks.map((c) => c.length), referenceLengths(data, POL));
  assert.ok(Buffer.concat(chunks).equals(data));
  for (const c of chunks.slice(0, -1)) assert.ok(c.length >= MIN_SIZE && c.length <= MAX_SIZE, `length ${c.length}`);
  // Every rule fired: a content-defined cut, a cut at MIN_SIZE and one at MAX_SIZE.
  assert.ok(chunks.some((c) => c.length > MIN_SIZE && c.length < MAX_SIZE));
  assert.ok(chunks.some((c) => c.length === MIN_SIZE));
  assert.ok(chunks.some((c) => c.length === MAX_SIZE));
});

test('read sizes do not change the chunks', async () => {
  const data = mixedInput();
  const want = await collect(data, MiB);
  const with7k = await collect(data, 7 * 1024);
  assert.deepEqual(with7k.map((c) => c.length), want.map((c) => c.length));
  assert.ok(with7k.every((c, i) => c.equals(want[i])));
  const whole = await collect(data, data.length);
  assert.deepEqual(whole.map((c) => c.length), want.map((c) => c.length));

  // One byte per call, straight into the chunker (an async iteration per byte would be slow):
  // random bytes, then zeros, so there are several cuts.
  const small = concat([pseudoRandom(1_700_000, 13), new Uint8Array(1_100_000), pseudoRandom(200_000, 17)]);
  const byByte = lengthsFedBy(small, 1);
  assert.ok(byByte.length >= 3);
  assert.deepEqual(byByte, lengthsFedBy(small, small.length));
  assert.deepEqual(byByte, referenceLengths(small, POL));
});

test('a different polynomial cuts random data elsewhere', async () => {
  const data = pseudoRandom(8 * MiB, 3);
  const a = await collect(data, MiB, POL);
  const b = await collect(data, MiB, '2482734cacca49');
  assert.deepEqual(b.map((c) => c.length), referenceLengths(data, '2482734cacca49'));
  assert.notDeepEqual(a.map((c) => c.length), b.map((c) => c.length));
});

test('zero bytes split into MIN_SIZE chunks, also when the length is a multiple of it', async () => {
  const chunks = await collect(new Uint8Array(4 * MIN_SIZE), 64 * 1024);
  assert.deepEqual(chunks.map((c) => c.length), [MIN_SIZE, MIN_SIZE, MIN_SIZE, MIN_SIZE]);
});

test('nextSplitPoint returns absolute indexes from start, and reset forgets a partial chunk', () => {
  const data = pseudoRandom(4 * MiB, 5);
  const fresh = new Chunker(POL);
  const first = fresh.nextSplitPoint(data);
  assert.ok(first >= MIN_SIZE);
  const second = fresh.nextSplitPoint(data, first);
  assert.ok(second > first);

  const other = new Chunker(POL);
  assert.equal(other.nextSplitPoint(data.subarray(0, 1000)), -1);
  other.reset();
  assert.equal(other.nextSplitPoint(data), first);
  assert.equal(other.nextSplitPoint(data, first), second);
  assert.throws(() => other.nextSplitPoint(data, data.length + 1), RangeError);
});

test('short and empty inputs', async () => {
  assert.deepEqual(await collect(new Uint8Array(0), 10), []);
  const small = pseudoRandom(1000, 1);
  const chunks = await collect(small, 100);
  assert.equal(chunks.length, 1);
  assert.ok(chunks[0].equals(small));
});

test('an invalid polynomial is a config error', () => {
  assert.throws(() => new Chunker('3da3358b4dc172'), (err) => err instanceof LifeboatError && err.code === 'config');
});
