/**
 * Poly1305 (RFC 8439 section 2.5), the one-time authenticator of restic's MAC, with the
 * block loop in a small WebAssembly module assembled here from opcodes (like the chunker's
 * rabin-wasm.ts): no dependency, one page of memory per thread, and no copy of a message
 * into a growing heap.
 *
 * The accumulator h and the key part r are kept as five 26-bit limbs in i64 locals, so each
 * limb product fits 52 bits and a row of five products (with the 5·r terms that fold 2^130
 * back to 5) stays below 2^58. Per 16-byte block:
 *   h += block (+ 2^128 for full blocks), h = h·r mod 2^130 - 5 (partially reduced).
 * The message is fed through the module's memory in windows of WINDOW bytes; the last,
 * partial block is padded with a 1 byte and zeros and processed without the 2^128 bit.
 * The final full reduction and the addition of s run in JS on 32-bit numbers, without
 * branches on secret values.
 */
import { i32, i64, mem, name, section, uleb, vec, wasmApi } from '../../util/wasm-encoding.ts';

// Memory layout: limbs as i64 at fixed offsets, then the message window.
const R = 0; // r0..r4
const S = 40; // s1..s4 = 5·r1..5·r4
const H = 72; // h0..h4
const DATA = 1024;
const WINDOW = 60 * 1024; // multiple of 16; DATA + WINDOW + 16 fits one 64 KiB page
const MASK26 = 0x3ffffff;

// Opcodes of the WebAssembly 1.0 binary format used below.
const BLOCK = 0x02, LOOP = 0x03, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, VOID = 0x40;
const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22;
const I32_LOAD = 0x28, I64_LOAD = 0x29, I64_STORE = 0x37;
const I32_GE_U = 0x4f, I32_ADD = 0x6a, I32_AND = 0x71;
const I64_ADD = 0x7c, I64_MUL = 0x7e, I64_AND = 0x83, I64_OR = 0x84, I64_SHR_U = 0x88;
const I64_EXTEND_I32_U = 0xad;
const I32 = 0x7f, I64 = 0x7e;




// Locals: parameters (ptr, len, hibit), then end, r0..r4, s1..s4, h0..h4, d0..d4, c.
const PTR = 0, LEN = 1, HIBIT = 2, ENDP = 3;
const r = (i: number): number => 4 + i; // 4..8
const s = (i: number): number => 8 + i; // s1..s4 → 9..12
const h = (i: number): number => 13 + i; // 13..17
const d = (i: number): number => 18 + i; // 18..22
const C = 23;

const get = (l: number): number[] => [LOCAL_GET, ...uleb(l)];
const set = (l: number): number[] => [LOCAL_SET, ...uleb(l)];

/** h_i += ((u32 at ptr + byteOffset) >> shift) & 2^26-1 */
function addLimb(i: number, byteOffset: number, shift: number): number[] {
  return [
    ...get(h(i)),
    ...get(PTR), I32_LOAD, ...mem(0, byteOffset), I64_EXTEND_I32_U,
    ...(shift > 0 ? [...i64(shift), I64_SHR_U] : []),
    ...i64(MASK26), I64_AND,
    I64_ADD, ...set(h(i)),
  ];
}

/** d_k = Σ h_i · (r or s)_j over the five terms of row k of the schoolbook product. */
function row(k: number): number[] {
  const code: number[] = [];
  for (let i = 0; i < 5; i++) {
    const j = k - i;
    // i + j = k: r_j; i + j = k + 5 (j < 0): 5·r_{j+5} = s_{j+5}
    const factor = j >= 0 ? r(j) : s(j + 5);
    code.push(...get(h(i)), ...get(factor), I64_MUL);
    if (i > 0) code.push(I64_ADD);
  }
  return [...code, ...set(d(k))];
}

function blocksBody(): number[] {
  const load = (local: number, offset: number): number[] => [...i32(0), I64_LOAD, ...mem(3, offset), ...set(local)];
  const store = (local: number, offset: number): number[] => [...i32(0), ...get(local), I64_STORE, ...mem(3, offset)];
  const code: number[] = [];
  for (let i = 0; i < 5; i++) code.push(...load(r(i), R + 8 * i), ...load(h(i), H + 8 * i));
  for (let i = 1; i < 5; i++) code.push(...load(s(i), S + 8 * (i - 1)));
  // end = ptr + (len & ~15)
  code.push(...get(PTR), ...get(LEN), ...i32(-16), I32_AND, I32_ADD, ...set(ENDP));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(PTR), ...get(ENDP), I32_GE_U, BR_IF, 1);
  code.push(...addLimb(0, 0, 0), ...addLimb(1, 3, 2), ...addLimb(2, 6, 4), ...addLimb(3, 9, 6));
  // h4 += (u32 at ptr + 12) >> 8 | hibit
  code.push(...get(h(4)), ...get(PTR), I32_LOAD, ...mem(0, 12), I64_EXTEND_I32_U, ...i64(8), I64_SHR_U, ...get(HIBIT), I64_OR, I64_ADD, ...set(h(4)));
  for (let k = 0; k < 5; k++) code.push(...row(k));
  // Carry along d0..d4 into 26-bit limbs; the carry out of d4 re-enters at h0 times 5.
  for (let k = 0; k < 4; k++) {
    code.push(...get(d(k + 1)), ...get(d(k)), ...i64(26), I64_SHR_U, I64_ADD, ...set(d(k + 1)));
    code.push(...get(d(k)), ...i64(MASK26), I64_AND, ...set(h(k)));
  }
  code.push(...get(d(4)), ...i64(26), I64_SHR_U, ...set(C));
  code.push(...get(d(4)), ...i64(MASK26), I64_AND, ...set(h(4)));
  code.push(...get(h(0)), ...get(C), ...i64(5), I64_MUL, I64_ADD, LOCAL_TEE, ...uleb(h(0)));
  code.push(...i64(26), I64_SHR_U, ...set(C));
  code.push(...get(h(0)), ...i64(MASK26), I64_AND, ...set(h(0)));
  code.push(...get(h(1)), ...get(C), I64_ADD, ...set(h(1)));
  code.push(...get(PTR), ...i32(16), I32_ADD, ...set(PTR), BR, 0, END, END);
  for (let i = 0; i < 5; i++) code.push(...store(h(i), H + 8 * i));
  code.push(END);
  // Locals after the 3 parameters: end (i32), then 20 i64.
  const body = [...vec([[1, I32], [20, I64]]), ...code];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array {
  const FUNC = 0x60, MEMORY_EXPORT = 0x02, FUNC_EXPORT = 0x00, NO_MAX = 0x00;
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[FUNC, ...vec([[I32], [I32], [I64]]), ...vec([])]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[NO_MAX, 1]])),
    ...section(7, vec([
      [...name('memory'), MEMORY_EXPORT, 0],
      [...name('blocks'), FUNC_EXPORT, 0],
    ])),
    ...section(10, vec([blocksBody()])),
  ]);
}

interface PolyWasm {
  readonly memory: { readonly buffer: ArrayBuffer };
  blocks(ptr: number, len: number, hibit: bigint): void;
}


let instance: { wasm: PolyWasm; bytes: Uint8Array; view: DataView } | undefined;

function poly(): { wasm: PolyWasm; bytes: Uint8Array; view: DataView } {
  if (!instance) {
    const wasm = new wasmApi.Instance(new wasmApi.Module(moduleBytes()), {}).exports as PolyWasm;
    // One page that never grows, so these views stay valid.
    instance = { wasm, bytes: new Uint8Array(wasm.memory.buffer), view: new DataView(wasm.memory.buffer) };
  }
  return instance;
}

const FULL_BLOCK_BIT = 1n << 24n;

/** The 16-byte Poly1305 tag of `msg` under the 32-byte one-time key `r || s`. */
export function poly1305(msg: Uint8Array, key: Uint8Array): Buffer {
  if (key.length !== 32) throw new RangeError(`Poly1305 key must be 32 bytes, got ${key.length}`);
  const { wasm, bytes, view } = poly();
  const kv = new DataView(key.buffer, key.byteOffset, 32);
  const le = (o: number): number => kv.getUint32(o, true);
  // r, clamped, as 26-bit limbs; 5·r for the wrapped terms.
  const rl = [le(0) & 0x3ffffff, (le(3) >>> 2) & 0x3ffff03, (le(6) >>> 4) & 0x3ffc0ff, (le(9) >>> 6) & 0x3f03fff, (le(12) >>> 8) & 0x00fffff];
  for (let i = 0; i < 5; i++) {
    view.setUint32(R + 8 * i, rl[i] as number, true);
    view.setUint32(R + 8 * i + 4, 0, true);
    view.setBigUint64(H + 8 * i, 0n, true);
  }
  for (let i = 1; i < 5; i++) view.setBigUint64(S + 8 * (i - 1), BigInt((rl[i] as number) * 5), true);
  let pos = 0;
  while (msg.length - pos >= 16) {
    const n = Math.min(WINDOW, (msg.length - pos) & ~15);
    bytes.set(msg.subarray(pos, pos + n), DATA);
    wasm.blocks(DATA, n, FULL_BLOCK_BIT);
    pos += n;
  }
  const rest = msg.length - pos;
  if (rest > 0) {
    bytes.set(msg.subarray(pos), DATA);
    bytes[DATA + rest] = 1;
    bytes.fill(0, DATA + rest + 1, DATA + 16);
    wasm.blocks(DATA, 16, 0n);
  }
  let h0 = view.getUint32(H, true), h1 = view.getUint32(H + 8, true), h2 = view.getUint32(H + 16, true);
  let h3 = view.getUint32(H + 24, true), h4 = view.getUint32(H + 32, true);
  // Full carry, then h - p computed as h + 5 - 2^130; keep it when it does not go negative.
  let c = h1 >>> 26; h1 &= MASK26;
  h2 += c; c = h2 >>> 26; h2 &= MASK26;
  h3 += c; c = h3 >>> 26; h3 &= MASK26;
  h4 += c; c = h4 >>> 26; h4 &= MASK26;
  h0 += c * 5; c = h0 >>> 26; h0 &= MASK26;
  h1 += c;
  let g0 = h0 + 5; c = g0 >>> 26; g0 &= MASK26;
  let g1 = h1 + c; c = g1 >>> 26; g1 &= MASK26;
  let g2 = h2 + c; c = g2 >>> 26; g2 &= MASK26;
  let g3 = h3 + c; c = g3 >>> 26; g3 &= MASK26;
  let g4 = (h4 + c - (1 << 26)) | 0;
  const useG = (g4 >>> 31) - 1; // all ones when h >= p, zero otherwise
  g0 &= useG; g1 &= useG; g2 &= useG; g3 &= useG; g4 &= useG;
  const useH = ~useG;
  h0 = (h0 & useH) | g0; h1 = (h1 & useH) | g1; h2 = (h2 & useH) | g2; h3 = (h3 & useH) | g3; h4 = (h4 & useH) | g4;
  // h mod 2^128 as four 32-bit words, plus s.
  const w = [(h0 | (h1 << 26)) >>> 0, ((h1 >>> 6) | (h2 << 20)) >>> 0, ((h2 >>> 12) | (h3 << 14)) >>> 0, ((h3 >>> 18) | (h4 << 8)) >>> 0];
  const out = Buffer.allocUnsafe(16);
  let carry = 0;
  for (let i = 0; i < 4; i++) {
    const f = (w[i] as number) + le(16 + 4 * i) + carry;
    out.writeUInt32LE(f >>> 0, 4 * i);
    carry = Math.floor(f / 0x100000000);
  }
  return out;
}
