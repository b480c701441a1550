/**
 * FAISS index files written by hand in the layout of faiss/impl/index_write.cpp (no FAISS
 * install): the header, IndexFlat (codes as a u64 count and float32s), IndexIDMap over a flat.
 */

/** fourcc, d, ntotal, two dummies, is_trained, metric_type (and metric_arg when > 1). */
export function indexHeader(fourcc: string, d: number, ntotal: number, metric: number): Buffer {
  const h = Buffer.alloc(37 + (metric > 1 ? 4 : 0));
  h.write(fourcc, 0, 'latin1');
  h.writeInt32LE(d, 4);
  h.writeBigInt64LE(BigInt(ntotal), 8);
  h.writeBigInt64LE(1n << 20n, 16);
  h.writeBigInt64LE(1n << 20n, 24);
  h[32] = 1;
  h.writeInt32LE(metric, 33);
  if (metric > 1) h.writeFloatLE(3, 37);
  return h;
}

/** An IndexFlat (IxF2 for L2, IxFI for inner product, IxFl otherwise) of `n` random-ish vectors. */
export function flatIndex(d: number, n: number, metric = 1): Buffer {
  const fourcc = metric === 0 ? 'IxFI' : metric === 1 ? 'IxF2' : 'IxFl';
  const count = Buffer.alloc(8);
  count.writeBigUInt64LE(BigInt(d * n));
  const codes = Buffer.alloc(4 * d * n);
  for (let i = 0; i < d * n; i++) codes.writeFloatLE(Math.sin(i), 4 * i);
  return Buffer.concat([indexHeader(fourcc, d, n, metric), count, codes]);
}

export function idMap(d: number, n: number): Buffer {
  const count = Buffer.alloc(8);
  count.writeBigUInt64LE(BigInt(n));
  const ids = Buffer.alloc(8 * n);
  for (let i = 0; i < n; i++) ids.writeBigInt64LE(BigInt(1000 + i), 8 * i);
  return Buffer.concat([indexHeader('IxMp', d, n, 1), flatIndex(d, n), count, ids]);
}
