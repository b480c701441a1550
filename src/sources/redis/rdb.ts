/**
 * RDB file validation without parsing the data: an RDB starts with "REDIS" and a four-digit
 * format version and, since version 5, ends with the EOF opcode 0xFF followed by the
 * CRC-64 of every byte before the checksum, stored little-endian. A checksum of zero means
 * the server ran with `rdbchecksum no` and only the opcode can be checked.
 *
 * The checker is pure and streaming: feed it chunks in any split, then `finish()`. It keeps
 * the last eight bytes back from the checksum because it cannot know where the file ends
 * until it has. That is enough to catch a truncated transfer, a transfer that carried
 * trailing garbage, and any flipped byte.
 *
 * CRC-64/Jones as Redis computes it: reflected input and output, polynomial
 * 0xad93d23594c935a9 (0x95ac9329ac4bc9b5 reflected), initial value 0, no final xor. JS has
 * no fast 64-bit integers, so the register is two uint32 halves, with slicing-by-8 tables.
 */

const REFLECTED_POLY_HI = 0x95ac9329;
const REFLECTED_POLY_LO = 0xac4bc9b5;

/** TABLE_x[k * 256 + b]: slicing-by-8 tables (k = 0 is the classic byte table). */
const TABLE_HI = new Uint32Array(8 * 256);
const TABLE_LO = new Uint32Array(8 * 256);

for (let b = 0; b < 256; b++) {
  let hi = 0;
  let lo = b;
  for (let i = 0; i < 8; i++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | (hi << 31)) >>> 0;
    hi = hi >>> 1;
    if (carry) {
      hi = (hi ^ REFLECTED_POLY_HI) >>> 0;
      lo = (lo ^ REFLECTED_POLY_LO) >>> 0;
    }
  }
  TABLE_HI[b] = hi;
  TABLE_LO[b] = lo;
}
for (let k = 1; k < 8; k++) {
  for (let b = 0; b < 256; b++) {
    // One more zero byte through the byte table: T_k[b] = T_0[T_{k-1}[b] & 0xff] ^ (T_{k-1}[b] >> 8).
    const phi = TABLE_HI[(k - 1) * 256 + b];
    const plo = TABLE_LO[(k - 1) * 256 + b];
    const idx = plo & 0xff;
    TABLE_HI[k * 256 + b] = (TABLE_HI[idx] ^ (phi >>> 8)) >>> 0;
    TABLE_LO[k * 256 + b] = (TABLE_LO[idx] ^ ((plo >>> 8) | (phi << 24))) >>> 0;
  }
}

/** A running CRC-64/Jones (Redis flavour). */
export class Crc64 {
  #hi = 0;
  #lo = 0;

  update(data: Uint8Array): this {
    let hi = this.#hi;
    let lo = this.#lo;
    let i = 0;
    const n = data.length;
    const end8 = n - (n % 8);
    for (; i < end8; i += 8) {
      const l = lo ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
      const h = hi ^ (data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24));
      const i7 = 7 * 256 + (l & 0xff);
      const i6 = 6 * 256 + ((l >>> 8) & 0xff);
      const i5 = 5 * 256 + ((l >>> 16) & 0xff);
      const i4 = 4 * 256 + (l >>> 24);
      const i3 = 3 * 256 + (h & 0xff);
      const i2 = 2 * 256 + ((h >>> 8) & 0xff);
      const i1 = 256 + ((h >>> 16) & 0xff);
      const i0 = h >>> 24;
      hi = TABLE_HI[i7] ^ TABLE_HI[i6] ^ TABLE_HI[i5] ^ TABLE_HI[i4] ^ TABLE_HI[i3] ^ TABLE_HI[i2] ^ TABLE_HI[i1] ^ TABLE_HI[i0];
      lo = TABLE_LO[i7] ^ TABLE_LO[i6] ^ TABLE_LO[i5] ^ TABLE_LO[i4] ^ TABLE_LO[i3] ^ TABLE_LO[i2] ^ TABLE_LO[i1] ^ TABLE_LO[i0];
    }
    for (; i < n; i++) {
      const idx = (lo ^ data[i]) & 0xff;
      lo = (TABLE_LO[idx] ^ ((lo >>> 8) | (hi << 24))) >>> 0;
      hi = (TABLE_HI[idx] ^ (hi >>> 8)) >>> 0;
    }
    this.#hi = hi >>> 0;
    this.#lo = lo >>> 0;
    return this;
  }

  /** The checksum as an unsigned 64-bit value. */
  digest(): bigint {
    return (BigInt(this.#hi) << 32n) | BigInt(this.#lo);
  }
}

export function crc64(data: Uint8Array): bigint {
  return new Crc64().update(data).digest();
}

export type RdbCheckResult =
  | { readonly ok: true; readonly version: number; readonly size: number; readonly checksum: 'verified' | 'disabled' | 'absent' }
  | { readonly ok: false; readonly size: number; readonly reason: string };

const MAGIC = Buffer.from('REDIS', 'latin1');
const HEADER = 9; // "REDIS" + four version digits
const TRAILER = 9; // 0xFF + eight checksum bytes
/** RDB format versions this checker knows (1 … 12 today; newer ones keep the same framing). */
const MAX_KNOWN_VERSION = 99;

/**
 * Streaming RDB checker: `update(chunk)` as bytes arrive, `finish()` at the end. Never
 * throws; a problem found early is reported by `finish()` (and is visible as `failed`).
 */
export class RdbChecker {
  readonly #crc = new Crc64();
  #head = Buffer.alloc(0);
  /** The newest bytes, not yet fed to the CRC (they may be the checksum). */
  #tail = Buffer.alloc(0);
  #size = 0;
  #failure: string | undefined;
  /** The last byte that went into the CRC: the EOF opcode once the stream is complete. */
  #lastFed: number | undefined;

  get size(): number {
    return this.#size;
  }

  /** Why the stream is already known to be bad (a wrong header), else undefined. */
  get failed(): string | undefined {
    return this.#failure;
  }

  update(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.#size += data.length;
    if (this.#head.length < HEADER) {
      this.#head = Buffer.concat([this.#head, data.subarray(0, HEADER - this.#head.length)]);
      this.#checkHeader();
    }
    // Keep the last 8 bytes out of the CRC; everything older goes in.
    if (this.#tail.length + data.length <= 8) {
      this.#tail = Buffer.concat([this.#tail, data]);
      return;
    }
    const release = this.#tail.length + data.length - 8;
    const fromTail = Math.min(this.#tail.length, release);
    if (fromTail > 0) this.#feed(this.#tail.subarray(0, fromTail));
    const fromData = release - fromTail;
    if (fromData > 0) this.#feed(data.subarray(0, fromData));
    this.#tail = Buffer.concat([this.#tail.subarray(fromTail), data.subarray(fromData)]);
  }

  #feed(bytes: Buffer): void {
    this.#crc.update(bytes);
    this.#lastFed = bytes[bytes.length - 1];
  }

  #checkHeader(): void {
    if (this.#failure !== undefined) return;
    const got = this.#head.length;
    if (!this.#head.subarray(0, Math.min(got, 5)).equals(MAGIC.subarray(0, Math.min(got, 5)))) {
      this.#failure = 'does not start with the RDB magic "REDIS"';
      return;
    }
    if (got === HEADER && !/^\d{4}$/.test(this.#head.toString('latin1', 5, 9))) {
      this.#failure = 'has no four-digit RDB version after "REDIS"';
    }
  }

  finish(): RdbCheckResult {
    const size = this.#size;
    if (this.#failure !== undefined) return { ok: false, size, reason: this.#failure };
    if (size < HEADER + 1) return { ok: false, size, reason: `is truncated: ${size} bytes is shorter than any RDB file` };
    const version = Number(this.#head.toString('latin1', 5, 9));
    if (version < 1 || version > MAX_KNOWN_VERSION) return { ok: false, size, reason: `has an unknown RDB version ${version}` };
    if (version < 5) {
      // No checksum before version 5: the file just ends with the EOF opcode.
      const last = this.#tail[this.#tail.length - 1];
      if (last !== 0xff) return { ok: false, size, reason: 'does not end with the RDB EOF opcode (truncated?)' };
      return { ok: true, version, size, checksum: 'absent' };
    }
    if (size < HEADER + TRAILER) return { ok: false, size, reason: `is truncated: ${size} bytes is shorter than any RDB file` };
    // The EOF opcode is the last byte that went into the CRC.
    const stored = this.#tail.readBigUInt64LE(0);
    if (this.#lastFed !== 0xff) return { ok: false, size, reason: 'does not end with the RDB EOF opcode and checksum (truncated?)' };
    if (stored === 0n) return { ok: true, version, size, checksum: 'disabled' };
    const computed = this.#crc.digest();
    if (computed !== stored) {
      return { ok: false, size, reason: `fails its CRC-64 check (stored ${hex64(stored)}, computed ${hex64(computed)}): the file is damaged or truncated` };
    }
    return { ok: true, version, size, checksum: 'verified' };
  }
}

function hex64(v: bigint): string {
  return `0x${v.toString(16).padStart(16, '0')}`;
}
