/**
 * Content-defined chunking, byte for byte the way restic cuts files, so that the same input
 * gives the same blobs (and blob IDs) whichever of the two tools backed it up.
 *
 * A Rabin fingerprint runs over a 64-byte sliding window, modulo the repository's degree-53
 * polynomial. A chunk ends after a byte where the low 20 bits of the fingerprint are zero
 * (about one chunk per MiB), but never before MIN_SIZE bytes and always at MAX_SIZE bytes.
 * Quirks that must match restic exactly:
 *  - at each chunk start the window is all zero except that a single byte 1 was slid in
 *    (so it is the newest byte, and the fingerprint is 1);
 *  - the first MIN_SIZE - 64 bytes of a chunk are counted but never hashed; hashing starts
 *    with the window above, so it is full of real bytes exactly at MIN_SIZE;
 *  - the last chunk is whatever is left at the end of the input.
 *
 * The hashing itself runs in a small WebAssembly loop (rabin-wasm.ts); this class copies the
 * bytes to hash into its memory block by block and keeps the chunk bookkeeping.
 */
import { parsePolynomial } from './polynomial.ts';
import { BLOCK_SIZE, buildTables, DATA, DIGEST, instantiateRabin, WINDOW } from './rabin-wasm.ts';
import type { RabinWasm } from './rabin-wasm.ts';

export const MIN_SIZE = 512 * 1024;
export const MAX_SIZE = 8 * 1024 * 1024;

/**
 * Table images by polynomial text, so that a process chunking many files validates and
 * expands its one or two polynomials once.
 */
const tableCache = new Map<string, Uint8Array>();

function tablesFor(polynomial: string): Uint8Array {
  let tables = tableCache.get(polynomial);
  if (!tables) {
    tables = buildTables(parsePolynomial(polynomial));
    tableCache.set(polynomial, tables);
  }
  return tables;
}

export class Chunker {
  readonly #tables: Uint8Array;
  /** Created on the first byte to hash: inputs below MIN_SIZE - 64 bytes never need one. */
  #wasm: RabinWasm | undefined;
  #bytes = new Uint8Array(0);
  #digest = new Int32Array(0);
  /** The window and digest still have to be set to the chunk-start state. */
  #fresh = true;
  /** Bytes of the current chunk seen so far (skipped and hashed). */
  #count = 0;
  /** Bytes still to skip, unhashed, at the start of the current chunk. */
  #pre = 0;

  constructor(polynomial: string) {
    this.#tables = tablesFor(polynomial);
    this.reset();
  }

  /** Forgets the current chunk; the next byte fed starts a new one. */
  reset(): void {
    this.#fresh = true;
    this.#count = 0;
    this.#pre = MIN_SIZE - WINDOW;
  }

  /** The chunk-start state, set when hashing begins (always after the skipped bytes). */
  #startHashing(): RabinWasm {
    if (!this.#wasm) {
      this.#wasm = instantiateRabin();
      this.#bytes = new Uint8Array(this.#wasm.memory.buffer);
      this.#bytes.set(this.#tables, 0);
      this.#digest = new Int32Array(this.#wasm.memory.buffer, DIGEST, 2);
    }
    this.#bytes.fill(0, DATA - WINDOW, DATA - 1);
    this.#bytes[DATA - 1] = 1;
    this.#digest[0] = 1;
    this.#digest[1] = 0;
    this.#fresh = false;
    return this.#wasm;
  }

  /**
   * Feeds buf[start..] for the current chunk. Returns the index in buf just after the end of
   * the current chunk (exclusive), or -1 if buf ran out without a boundary; state carries over
   * to the next call. After a boundary the chunker is reset for the next chunk.
   */
  nextSplitPoint(buf: Uint8Array, start = 0): number {
    const n = buf.length;
    if (!Number.isInteger(start) || start < 0 || start > n) {
      throw new RangeError(`chunker start offset ${start} is outside the buffer of ${n} bytes`);
    }
    let i = start;
    if (this.#pre > 0) {
      const avail = n - i;
      if (this.#pre >= avail) {
        this.#pre -= avail;
        this.#count += avail;
        return -1;
      }
      i += this.#pre;
      this.#count += this.#pre;
      this.#pre = 0;
    }

    if (i === n) return -1;
    const wasm = this.#fresh ? this.#startHashing() : this.#wasm!;
    const bytes = this.#bytes;
    const base = DATA - WINDOW; // q of the first byte of the block
    while (i < n) {
      const len = Math.min(n - i, BLOCK_SIZE, MAX_SIZE - this.#count);
      bytes.set(buf.subarray(i, i + len), DATA);
      // The k-th byte (from 1) may end the chunk only once count + k >= MIN_SIZE.
      const unchecked = Math.min(len, Math.max(0, MIN_SIZE - this.#count - 1));
      if (unchecked > 0) wasm.roll(base, base + unchecked);
      if (unchecked < len) {
        const q = wasm.scan(base + unchecked, base + len);
        if (q >= 0) {
          const used = q - base;
          this.reset();
          return i + used;
        }
      }
      // Slide the window: the 64 bytes ending at the block's end become the history.
      bytes.copyWithin(base, base + len, DATA + len);
      this.#count += len;
      i += len;
      if (this.#count >= MAX_SIZE) {
        this.reset();
        return i;
      }
    }
    return -1;
  }
}
