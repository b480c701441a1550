/**
 * Chunker throughput: cuts 256 MiB of random data with Chunker.nextSplitPoint, fed in 1 MiB
 * reads, and prints MB/s. Run: node bench/chunker.ts
 */
import { randomFillSync } from 'node:crypto';
import { Chunker } from '../src/repo/chunker/chunker.ts';
import { randomPolynomial } from '../src/repo/chunker/polynomial.ts';

const TOTAL = 256 * 1024 * 1024;
const READ = 1024 * 1024;

const data = new Uint8Array(TOTAL);
for (let off = 0; off < TOTAL; off += 1 << 16) randomFillSync(data, off, 1 << 16);

const chunker = new Chunker(randomPolynomial());

function run(): { ms: number; chunks: number } {
  chunker.reset();
  let chunks = 0;
  const t0 = performance.now();
  for (let off = 0; off < TOTAL; off += READ) {
    const buf = data.subarray(off, off + READ);
    let pos = 0;
    for (;;) {
      const cut = chunker.nextSplitPoint(buf, pos);
      if (cut < 0) break;
      chunks++;
      pos = cut;
    }
  }
  return { ms: performance.now() - t0, chunks: chunks + 1 };
}

run(); // warm-up, lets the JIT optimize the loop
const rounds = 3;
let best = Infinity;
let chunks = 0;
for (let r = 0; r < rounds; r++) {
  const res = run();
  best = Math.min(best, res.ms);
  chunks = res.chunks;
}
const mbps = TOTAL / 1e6 / (best / 1000);
console.log(`chunker: ${(TOTAL / 1048576).toFixed(0)} MiB in ${best.toFixed(0)} ms (best of ${rounds}), ` +
  `${mbps.toFixed(0)} MB/s, ${chunks} chunks, average ${(TOTAL / chunks / 1048576).toFixed(2)} MiB`);
