/**
 * RFC 3339 timestamps with nanoseconds, as Go's time package writes them (restic's trees and
 * snapshots). JS Dates hold milliseconds only; file times keep their nanoseconds as bigint.
 */

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

/** The last second formatted: a walk formats three times per file, mostly of nearby seconds. */
let lastSec = Number.NaN;
let lastBase = '';

/** Formats nanoseconds since the epoch as UTC RFC 3339 with the fraction trimmed like Go's RFC3339Nano. */
export function formatNs(ns: bigint): string {
  let sec = ns / NS_PER_S;
  let frac = ns % NS_PER_S;
  if (frac < 0n) {
    frac += NS_PER_S;
    sec -= 1n;
  }
  const s = Number(sec);
  if (s !== lastSec) {
    lastBase = new Date(s * 1000).toISOString().slice(0, 19);
    lastSec = s;
  }
  const base = lastBase;
  if (frac === 0n) return `${base}Z`;
  const digits = frac.toString().padStart(9, '0').replace(/0+$/, '');
  return `${base}.${digits}Z`;
}

export function formatDate(d: Date): string {
  return formatNs(BigInt(d.getTime()) * NS_PER_MS);
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an RFC 3339 timestamp (any offset, up to nanoseconds) to nanoseconds since the epoch. */
export function parseNs(s: string): bigint {
  const m = RFC3339.exec(s);
  if (!m) {
    const ms = Date.parse(s);
    if (Number.isNaN(ms)) throw new RangeError(`not an RFC 3339 time: ${JSON.stringify(s)}`);
    return BigInt(ms) * NS_PER_MS;
  }
  const ms = Date.parse(`${m[1]}${m[3]}`);
  const frac = BigInt((m[2] ?? '').padEnd(9, '0') || '0');
  return BigInt(ms) * NS_PER_MS + frac;
}

export function parseDate(s: string): Date {
  return new Date(Number(parseNs(s) / NS_PER_MS));
}

/**
 * An RFC 3339 time as seconds since the epoch, a double (to ~0.2 us for today's dates): what
 * utimes takes. restic's shape ("2006-01-02T15:04:05.999999999-07:00") is read without a
 * regular expression or a BigInt, as a restore does once or twice per file; anything else
 * goes through parseNs.
 */
export function parseSeconds(s: string): number {
  if (s.length >= 20 && s.charCodeAt(10) === 84 /* T */ && s.charCodeAt(13) === 58 /* : */) {
    let end = 19;
    let frac = 0;
    if (s.charCodeAt(19) === 46 /* . */) {
      let scale = 0.1;
      for (end = 20; end < s.length; end++) {
        const d = s.charCodeAt(end) - 48;
        if (d < 0 || d > 9) break;
        frac += d * scale;
        scale /= 10;
      }
    }
    const ms = end > 20 || end === 19 ? Date.parse(s.slice(0, 19) + s.slice(end)) : Number.NaN;
    if (!Number.isNaN(ms)) return ms / 1000 + frac;
  }
  return Number(parseNs(s)) / 1e9;
}
