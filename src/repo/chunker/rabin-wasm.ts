/**
 * The Rabin fingerprint inner loop as a tiny WebAssembly module, assembled here from opcodes
 * at load time (no toolchain, no binary blob). WebAssembly has native 64-bit integers, which
 * runs the loop about a third faster than the best two-halves int32 version in plain JS.
 *
 * Memory layout (one instance per Chunker, never grown):
 *   OUT_TABLE   256 x i64  out[b]: fingerprint of b followed by 63 zero bytes
 *   MOD_TABLE   256 x i64  mod[t]: ((t * x^53) mod polynomial) | (t << 53)
 *   DIGEST      i64        the fingerprint between calls
 *   DATA - 64   64 bytes   the window: the bytes hashed just before DATA, oldest first
 *   DATA        BLOCK_SIZE bytes being fed
 *
 * Both exported functions take (q, end): q is the address of the byte leaving the window;
 * the byte entering is at q + 64. They hash bytes q+64 .. end+63 and require q < end.
 *   roll(q, end)  hashes all of them and returns -1;
 *   scan(q, end)  stops after the first byte whose fingerprint has its low 20 bits zero and
 *                 returns the address just past that byte's q, or -1 if there was none.
 * The fingerprint is kept in memory at DIGEST in both cases.
 */

export const OUT_TABLE = 0;
export const MOD_TABLE = OUT_TABLE + 256 * 8; // directly after the out table
export const DIGEST = 4096;
export const DATA = 8192;
export const BLOCK_SIZE = 256 * 1024;
const PAGES = Math.ceil((DATA + BLOCK_SIZE) / 65536);

/** The fingerprint's degree: the top 8 bits of a 53-bit digest are bits 45..52. */
const TOP_SHIFT = 45n;
const SPLIT_MASK = (1n << 20n) - 1n;

// Opcodes of the WebAssembly 1.0 binary format used below.
const BLOCK = 0x02, LOOP = 0x03, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, RETURN = 0x0f, VOID = 0x40;
const LOCAL_GET = 0x20, LOCAL_SET = 0x21;
const I64_LOAD = 0x29, I32_LOAD8_U = 0x2d, I64_STORE = 0x37;
const I32_CONST = 0x41, I64_CONST = 0x42;
const I32_LT_U = 0x49, I32_GE_U = 0x4f, I64_EQZ = 0x50, I32_ADD = 0x6a, I32_SUB = 0x6b, I32_SHL = 0x74;
const I64_AND = 0x83, I64_OR = 0x84, I64_XOR = 0x85, I64_SHL = 0x86, I64_SHR_U = 0x88;
const I32_WRAP_I64 = 0xa7, I64_EXTEND_I32_U = 0xad;
const I32 = 0x7f, I64 = 0x7e;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = Number(n & 0x7fn);
    n >>= 7n;
    const done = (n === 0n && (byte & 0x40) === 0) || (n === -1n && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const i32 = (v: number): number[] => [I32_CONST, ...sleb(BigInt(v))];
const i64 = (v: bigint): number[] => [I64_CONST, ...sleb(v)];
/** memarg: alignment exponent, then a constant offset added to the address. */
const mem = (align: number, offset: number): number[] => [align, ...uleb(offset)];

const Q = 0, END_Q = 1, D = 2; // locals: the two parameters, then the digest

/** One byte through the window; with `cutDepth`, branch out that many labels on a cut point. */
function step(cutDepth: number | undefined): number[] {
  return [
    // d ^= out[mem[q]]: the leaving byte drops out of the window
    LOCAL_GET, D,
    LOCAL_GET, Q, I32_LOAD8_U, ...mem(0, 0), ...i32(3), I32_SHL, I64_LOAD, ...mem(3, OUT_TABLE),
    I64_XOR, LOCAL_SET, D,
    // d = ((d << 8) | mem[q + 64]) ^ mod[d >> 45]: append the entering byte, then reduce;
    // the table entry also clears the 8 bits pushed above degree 53
    LOCAL_GET, D, ...i64(8n), I64_SHL,
    LOCAL_GET, Q, I32_LOAD8_U, ...mem(0, 64), I64_EXTEND_I32_U, I64_OR,
    LOCAL_GET, D, ...i64(TOP_SHIFT), I64_SHR_U, I32_WRAP_I64, ...i32(3), I32_SHL, I64_LOAD, ...mem(3, MOD_TABLE),
    I64_XOR, LOCAL_SET, D,
    // q += 1
    LOCAL_GET, Q, ...i32(1), I32_ADD, LOCAL_SET, Q,
    ...(cutDepth === undefined ? [] : [LOCAL_GET, D, ...i64(SPLIT_MASK), I64_AND, I64_EQZ, BR_IF, cutDepth]),
  ];
}

/** Bytes per turn of the main loop: fewer loop-condition and interrupt checks per byte. */
const UNROLL = 1;

function loopBody(check: boolean): number[] {
  const storeDigest = [...i32(0), LOCAL_GET, D, I64_STORE, ...mem(3, DIGEST)];
  const code = [
    ...i32(0), I64_LOAD, ...mem(3, DIGEST), LOCAL_SET, D,
    BLOCK, VOID, // cut: depth 2 from inside either loop
    BLOCK, VOID, // main loop done
    LOOP, VOID,
    // leave when fewer than UNROLL bytes remain: end - q < UNROLL
    LOCAL_GET, END_Q, LOCAL_GET, Q, I32_SUB, ...i32(UNROLL), I32_LT_U, BR_IF, 1,
    ...Array.from({ length: UNROLL }, () => step(check ? 2 : undefined)).flat(),
    BR, 0,
    END,
    END,
    BLOCK, VOID, // tail done
    LOOP, VOID,
    LOCAL_GET, Q, LOCAL_GET, END_Q, I32_GE_U, BR_IF, 1,
    ...step(check ? 2 : undefined),
    BR, 0,
    END,
    END,
    // input exhausted
    ...storeDigest, ...i32(-1), RETURN,
    END,
    // cut point
    ...storeDigest, LOCAL_GET, Q,
    END,
  ];
  const body = [...vec([[1, I64]]), ...code];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array {
  const FUNC = 0x60, MEMORY_EXPORT = 0x02, FUNC_EXPORT = 0x00, NO_MAX = 0x00;
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[FUNC, ...vec([[I32], [I32]]), ...vec([[I32]])]])),
    ...section(3, vec([[0], [0]])),
    ...section(5, vec([[NO_MAX, ...uleb(PAGES)]])),
    ...section(7, vec([
      [...name('memory'), MEMORY_EXPORT, 0],
      [...name('roll'), FUNC_EXPORT, 0],
      [...name('scan'), FUNC_EXPORT, 1],
    ])),
    ...section(10, vec([loopBody(false), loopBody(true)])),
  ]);
}

export interface RabinWasm {
  readonly memory: { readonly buffer: ArrayBuffer };
  roll(q: number, end: number): number;
  scan(q: number, end: number): number;
}

/** The slice of the WebAssembly JS API used here (the project's TypeScript libs omit it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | undefined;

/** A fresh instance with its own memory; the caller fills the tables. */
export function instantiateRabin(): RabinWasm {
  compiled ??= new wasmApi.Module(moduleBytes());
  return new wasmApi.Instance(compiled, {}).exports as RabinWasm;
}
