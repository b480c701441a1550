/**
 * Chunker throughput: cuts 256 MiB of pseudo-random data with Chunker.nextSplitPoint, fed in
 * 1 MiB reads, and prints MB/s (10^6 bytes per second), by wall clock and by CPU time (the
 * latter is steadier on a shared machine). Fixed polynomial and data, so runs compare.
 * Run: node bench/chunker.ts
 */
import { Chunker } from '../src/repo/chunker/chunker.ts';

const TOTAL = 256 * 1024 * 1024;
const READ = 1024 * 1024;
const ROUNDS = 5;

function pseudoRandom(size: number): Uint8Array {
  const words = new Uint32Array(size / 4);
  let x = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}

const data = pseudoRandom(TOTAL);
const chunker = new Chunker('3da3358b4dc173');

function run(): number {
  chunker.reset();
  let chunks = 0;
  for (let off = 0; off < TOTAL; off += READ) {
    const buf = data.subarray(off, off + READ);
    for (let cut = chunker.nextSplitPoint(buf); cut >= 0; cut = chunker.nextSplitPoint(buf, cut)) chunks++;
  }
  return chunks + 1;
}

run(); // warm-up
let wall = Infinity;
let cpu = Infinity;
let chunks = 0;
for (let r = 0; r < ROUNDS; r++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  chunks = run();
  wall = Math.min(wall, performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpu = Math.min(cpu, (c.user + c.system) / 1000);
}
const rate = (ms: number): string => (TOTAL / 1e6 / (ms / 1000)).toFixed(0);
console.log(`chunker: ${TOTAL / 1048576} MiB, best of ${ROUNDS}: ${rate(wall)} MB/s wall (${wall.toFixed(0)} ms), ` +
  `${rate(cpu)} MB/s CPU; ${chunks} chunks, average ${(TOTAL / chunks / 1048576).toFixed(2)} MiB`);
