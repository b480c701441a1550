/**
 * A check that a file is a whole FAISS index, from its first bytes and its size (no FAISS
 * library). Layout from facebookresearch/faiss faiss/impl/index_write.cpp:
 *
 *   fourcc u32 | d i32 | ntotal i64 | dummy i64 | dummy i64 | is_trained u8 | metric_type i32
 *   | metric_arg f32 (only when metric_type > 1)                              = 37 or 41 bytes
 *
 * IndexFlat (IxF2 L2, IxFI inner product, IxFl other metrics) follows with a u64 count
 * (= ntotal·d) and the vectors, 4 bytes each, so its size is exact: header + 8 + 4·d·ntotal.
 * IndexIDMap (IxMp, IxM2) over a flat index adds the inner index and a u64 count plus ntotal
 * 8-byte ids. `write_index` truncates the file in place (no temp file, no rename), so a copy
 * taken while it writes, or left by a crashed write, is short: the size check catches it for
 * these types; other index types get the header checked only.
 */

export interface FaissIndexInfo {
  readonly fourcc: string;
  readonly d: number;
  readonly ntotal: number;
  readonly metric_type: number;
  /** Whether the size was checked exactly (flat indexes) or only the header. */
  readonly exact: boolean;
}

/** Bytes read from the start of a file: enough for an IDMap header and its inner flat header. */
export const FAISS_HEAD_BYTES = 128;

const FLAT = new Set(['IxF2', 'IxFI', 'IxFl']);
const ID_MAP = new Set(['IxMp', 'IxM2']);

interface Header {
  fourcc: string;
  d: number;
  ntotal: number;
  isTrained: number;
  metric: number;
  /** Offset after the header. */
  end: number;
}

function header(head: Buffer, at: number): Header | string {
  if (head.length < at + 37) return `ends within its header (${head.length - at} bytes)`;
  const fourcc = head.toString('latin1', at, at + 4);
  if (!/^I[A-Za-z0-9]{3}$/.test(fourcc)) return `does not start with a FAISS index fourcc (found ${JSON.stringify(fourcc)})`;
  const d = head.readInt32LE(at + 4);
  const ntotal = head.readBigInt64LE(at + 8);
  const isTrained = head[at + 32];
  const metric = head.readInt32LE(at + 33);
  if (fourcc.startsWith('IB')) return { fourcc, d, ntotal: -1, isTrained: 1, metric: 0, end: at + 4 };
  if (d <= 0 || d > 1 << 20) return `has an impossible dimension d=${d}`;
  if (ntotal < 0n || ntotal > 1n << 40n) return `has an impossible ntotal=${ntotal}`;
  if (isTrained > 1) return `has a corrupt header (is_trained=${isTrained})`;
  if (metric < 0 || (metric > 4 && (metric < 20 || metric > 25))) return `has an unknown metric_type ${metric}`;
  return { fourcc, d, ntotal: Number(ntotal), isTrained, metric, end: at + 37 + (metric > 1 ? 4 : 0) };
}

/** The index's description, or why the file is not a whole FAISS index. */
export function checkFaissIndex(head: Buffer, size: number): FaissIndexInfo | string {
  const h = header(head, 0);
  if (typeof h === 'string') return h;
  if (h.fourcc.startsWith('IB')) return { fourcc: h.fourcc, d: h.d, ntotal: -1, metric_type: 0, exact: false };
  const info = { fourcc: h.fourcc, d: h.d, ntotal: h.ntotal, metric_type: h.metric };
  let expected: number | undefined;
  if (FLAT.has(h.fourcc)) {
    expected = h.end + 8 + 4 * h.d * h.ntotal;
    if (size >= h.end + 8 && head.length >= h.end + 8 && Number(head.readBigUInt64LE(h.end)) !== h.d * h.ntotal) {
      return `holds ${head.readBigUInt64LE(h.end)} vector components where ntotal·d is ${h.d * h.ntotal}`;
    }
  } else if (ID_MAP.has(h.fourcc)) {
    const inner = header(head, h.end);
    if (typeof inner !== 'string' && FLAT.has(inner.fourcc)) {
      if (inner.ntotal !== h.ntotal || inner.d !== h.d) return `wraps a ${inner.fourcc} index of d=${inner.d}, ntotal=${inner.ntotal} under an ID map of d=${h.d}, ntotal=${h.ntotal}`;
      expected = inner.end + 8 + 4 * inner.d * inner.ntotal + 8 + 8 * h.ntotal;
    }
  }
  if (expected === undefined) {
    if (size < h.end) return `is truncated (${size} bytes, the header alone is ${h.end})`;
    return { ...info, exact: false };
  }
  if (size !== expected) return `is ${size} bytes where a ${h.fourcc} index of d=${h.d}, ntotal=${h.ntotal} has ${expected}: ${size < expected ? 'truncated (a copy taken while it was written?)' : 'trailing bytes'}`;
  return { ...info, exact: true };
}
