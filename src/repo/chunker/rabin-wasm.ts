/**
 * The Rabin fingerprint inner loop as a tiny WebAssembly module, assembled here from opcodes
 * at load time (no toolchain, no binary blob). WebAssembly has native 64-bit integers, which
 * makes the loop about 1.6 times as fast as the best int32-halves loop in plain JS.
 *
 * One step, for the byte o leaving the 64-byte window and the byte b entering it:
 *     d ^= out[o]                       remove o (out[o] = fingerprint of o and 63 zeros)
 *     t  = d >> 45                      the 8 bits that shifting will push past degree 53
 *     d  = ((d << 8) | b) ^ mod[t]      append b; mod[t] = (t * x^53 mod P) | (t << 53)
 *                                       reduces and clears those 8 bits in one xor
 * Speed is bounded by the chain t -> load mod[t] -> d -> t. The loop shortens it: bits 45..52
 * of the next step's (d ^ out[o']) are
 *     t' = ((d_before_append >> 37) & 0xff) ^ modTop[t] ^ outTop[o']
 * (modTop/outTop: bits 45..52 of mod/out entries), so the next t needs only a byte load
 * from t while the full 64-bit digest is computed alongside.
 *
 * Memory layout (one instance per Chunker, never grown):
 *   OUT_TABLE  256 x i64, MOD_TABLE 256 x i64, MOD_TOP 256 bytes, OUT_TOP 256 bytes
 *   DIGEST     i64        the fingerprint between calls
 *   DATA - 64  64 bytes   the window: the bytes hashed just before DATA, oldest first
 *   DATA       BLOCK_SIZE the bytes being fed
 *
 * Both exported functions take (q, end): q is the address of the byte leaving the window;
 * the byte entering is at q + 64. They hash the bytes entering while q < end.
 *   roll(q, end)  hashes all of them and returns -1;
 *   scan(q, end)  stops after the first byte whose fingerprint has its low 20 bits zero and
 *                 returns the q that follows it, or -1 if there was none.
 * The fingerprint is kept in memory at DIGEST in both cases.
 */
import { polynomialMod, POLYNOMIAL_DEGREE } from './polynomial.ts';
import { i32, i64, mem, name, section, uleb, vec, wasmApi } from '../../util/wasm-encoding.ts';

export const WINDOW = 64;
const OUT_TABLE = 0;
const MOD_TABLE = OUT_TABLE + 256 * 8;
const MOD_TOP = MOD_TABLE + 256 * 8;
const OUT_TOP = MOD_TOP + 256;
/** Tables occupy [0, TABLES_SIZE). */
export const TABLES_SIZE = OUT_TOP + 256;
export const DIGEST = TABLES_SIZE;
export const DATA = 8192;
export const BLOCK_SIZE = 256 * 1024;
const PAGES = Math.ceil((DATA + BLOCK_SIZE) / 65536);

const TOP_SHIFT = BigInt(POLYNOMIAL_DEGREE - 8);
const SPLIT_MASK = (1n << 20n) - 1n;

/** The table region's bytes for polynomial `pol` (degree 53), ready to copy to address 0. */
export function buildTables(pol: bigint): Uint8Array {
  const image = new Uint8Array(TABLES_SIZE);
  const view = new DataView(image.buffer);
  const high = BigInt(POLYNOMIAL_DEGREE);
  for (let b = 0; b < 256; b++) {
    let out = BigInt(b);
    for (let i = 0; i < WINDOW - 1; i++) out = polynomialMod(out << 8n, pol);
    const mod = polynomialMod(BigInt(b) << high, pol);
    view.setBigUint64(OUT_TABLE + 8 * b, out, true);
    view.setBigUint64(MOD_TABLE + 8 * b, mod | (BigInt(b) << high), true);
    image[MOD_TOP + b] = Number(mod >> TOP_SHIFT);
    image[OUT_TOP + b] = Number(out >> TOP_SHIFT);
  }
  return image;
}

// Opcodes of the WebAssembly 1.0 binary format used below.
const BLOCK = 0x02, LOOP = 0x03, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, RETURN = 0x0f, VOID = 0x40;
const LOCAL_GET = 0x20, LOCAL_SET = 0x21;
const I64_LOAD = 0x29, I32_LOAD8_U = 0x2d, I64_STORE = 0x37;
const I32_GE_U = 0x4f, I64_EQZ = 0x50, I32_ADD = 0x6a, I32_AND = 0x71, I32_XOR = 0x73, I32_SHL = 0x74;
const I64_AND = 0x83, I64_OR = 0x84, I64_XOR = 0x85, I64_SHL = 0x86, I64_SHR_U = 0x88;
const I32_WRAP_I64 = 0xa7, I64_EXTEND_I32_U = 0xad;
const I32 = 0x7f, I64 = 0x7e;




// Locals: the two parameters, then the digest, the digest with the leaving byte removed, and t.
const Q = 0, END_Q = 1, D = 2, DX = 3, T = 4;

/** out[mem[q + ahead]] as an i64. */
const outOf = (ahead: number): number[] =>
  [LOCAL_GET, Q, I32_LOAD8_U, ...mem(0, ahead), ...i32(3), I32_SHL, I64_LOAD, ...mem(3, OUT_TABLE)];

function functionBody(check: boolean): number[] {
  const storeDigest = [...i32(0), LOCAL_GET, D, I64_STORE, ...mem(3, DIGEST)];
  const code = [
    ...i32(0), I64_LOAD, ...mem(3, DIGEST), LOCAL_SET, D,
    // t = (d ^ out[mem[q]]) >> 45
    LOCAL_GET, D, ...outOf(0), I64_XOR, ...i64(TOP_SHIFT), I64_SHR_U, I32_WRAP_I64, LOCAL_SET, T,
    BLOCK, VOID, // branch target of a cut point (depth 2 inside the loop)
    BLOCK, VOID, // branch target when q reaches end (depth 1)
    LOOP, VOID,
    LOCAL_GET, Q, LOCAL_GET, END_Q, I32_GE_U, BR_IF, 1,
    // dx = d ^ out[mem[q]]
    LOCAL_GET, D, ...outOf(0), I64_XOR, LOCAL_SET, DX,
    // d = ((dx << 8) | mem[q + 64]) ^ mod[t]
    LOCAL_GET, DX, ...i64(8n), I64_SHL,
    LOCAL_GET, Q, I32_LOAD8_U, ...mem(0, WINDOW), I64_EXTEND_I32_U, I64_OR,
    LOCAL_GET, T, ...i32(3), I32_SHL, I64_LOAD, ...mem(3, MOD_TABLE),
    I64_XOR, LOCAL_SET, D,
    // t = outTop[mem[q + 1]] ^ ((dx >> 37) & 0xff) ^ modTop[t], the load from t xor-ed last.
    // On the last byte this reads one byte past the window's next position: still inside
    // memory, and the value is unused because the prologue recomputes t.
    LOCAL_GET, Q, I32_LOAD8_U, ...mem(0, 1), I32_LOAD8_U, ...mem(0, OUT_TOP),
    LOCAL_GET, DX, ...i64(TOP_SHIFT - 8n), I64_SHR_U, I32_WRAP_I64, ...i32(0xff), I32_AND, I32_XOR,
    LOCAL_GET, T, I32_LOAD8_U, ...mem(0, MOD_TOP), I32_XOR, LOCAL_SET, T,
    // q += 1
    LOCAL_GET, Q, ...i32(1), I32_ADD, LOCAL_SET, Q,
    ...(check ? [LOCAL_GET, D, ...i64(SPLIT_MASK), I64_AND, I64_EQZ, BR_IF, 2] : []),
    BR, 0,
    END,
    END,
    // q reached end
    ...storeDigest, ...i32(-1), RETURN,
    END,
    // cut point
    ...storeDigest, LOCAL_GET, Q,
    END,
  ];
  const body = [...vec([[2, I64], [1, I32]]), ...code];
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
    ...section(10, vec([functionBody(false), functionBody(true)])),
  ]);
}

export interface RabinWasm {
  readonly memory: { readonly buffer: ArrayBuffer };
  roll(q: number, end: number): number;
  scan(q: number, end: number): number;
}


let compiled: object | undefined;

/** A fresh instance with its own memory; the caller copies the tables in. */
export function instantiateRabin(): RabinWasm {
  compiled ??= new wasmApi.Module(moduleBytes());
  return new wasmApi.Instance(compiled, {}).exports as RabinWasm;
}
