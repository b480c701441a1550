/**
 * The pieces of the WebAssembly 1.0 binary format our hand-assembled modules share (the
 * chunker's Rabin loop, Poly1305): LEB128 numbers, vectors, sections, names, memargs, and the
 * slice of the WebAssembly JS API used to instantiate them (the project's TypeScript libs omit
 * it). Each module keeps its own opcodes and function bodies.
 */

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(value: number | bigint): number[] {
  let n = BigInt(value);
  const out: number[] = [];
  for (;;) {
    const byte = Number(n & 0x7fn);
    n >>= 7n;
    const done = (n === 0n && (byte & 0x40) === 0) || (n === -1n && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
export const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
/** `i32.const v` and `i64.const v`. */
export const i32 = (v: number): number[] => [0x41, ...sleb(v)];
export const i64 = (v: number | bigint): number[] => [0x42, ...sleb(v)];
/** memarg: alignment exponent, then a constant offset added to the address. */
export const mem = (align: number, offset: number): number[] => [align, ...uleb(offset)];

export interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
