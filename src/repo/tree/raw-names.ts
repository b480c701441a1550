/**
 * File names and symlink targets are bytes on unix, not text: a name need not be valid UTF-8.
 * restic keeps such bytes exactly (a name is Go-quoted, so byte 0xff is stored as `\xff`; a
 * link target that is not UTF-8 goes to `linktarget_raw` in base64), and so must we.
 *
 * Inside lifeboat a name stays a JavaScript string: valid UTF-8 decodes as usual, and each
 * byte that is not part of a valid UTF-8 sequence becomes the lone surrogate U+DC00+byte
 * (Python's "surrogateescape"). Valid UTF-8 never yields a lone surrogate, so the mapping is
 * one to one: equal strings are equal bytes, and `nameToBytes` gives the bytes back. Paths
 * holding such a name are handed to node:fs as Buffers (`fsPath`).
 */

/** A lone low surrogate in the escape range, i.e. a raw byte (not half of a surrogate pair). */
const ESCAPED = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** The string for raw name bytes; invalid UTF-8 bytes become U+DC80..U+DCFF. */
export function nameFromBytes(b: Buffer): string {
  const s = b.toString('utf8');
  // The decoder writes U+FFFD for invalid input; a real U+FFFD is rare, so decode by hand only then.
  if (!s.includes('\uFFFD')) return s;
  let out = '';
  let i = 0;
  while (i < b.length) {
    const n = validSequence(b, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + (b[i] as number));
      i += 1;
    } else {
      out += b.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence at b[i] (RFC 3629: no overlongs, no surrogates), or 0. */
function validSequence(b: Buffer, i: number): number {
  const c = b[i] as number;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && (b[i + k] as number) >= lo && (b[i + k] as number) <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** Whether a name or path holds raw (non-UTF-8) bytes. */
export function hasRawBytes(s: string): boolean {
  return ESCAPED.test(s);
}

/** The bytes a name (or path) stands for: the inverse of nameFromBytes. */
export function nameToBytes(s: string): Buffer {
  if (!hasRawBytes(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    const paired = u >= 0xdc00 && i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
    if (u >= 0xdc80 && u <= 0xdcff && !paired) {
      parts.push(Buffer.from(run, 'utf8'), Buffer.of(u - 0xdc00));
      run = '';
    } else {
      run += s[i];
    }
  }
  parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

/** A path as node:fs must get it: the string itself, or its bytes when it holds raw bytes. */
export function fsPath(p: string): string | Buffer {
  return hasRawBytes(p) ? nameToBytes(p) : p;
}
