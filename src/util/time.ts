/**
 * RFC 3339 timestamps with nanoseconds, as Go's time package writes them (restic's trees and
 * snapshots). JS Dates hold milliseconds only; file times keep their nanoseconds as bigint.
 */
import { nowDate } from './clock.ts';

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

/** `2026-12-01T10:00:00+01:00`: a Date in the local zone, ISO 8601 with its offset (Z for UTC). */
export function formatLocal(d: Date): string {
  const off = -d.getTimezoneOffset();
  const p = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, '0');
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p(Math.trunc(off / 60))}:${p(off % 60)}`;
  return `${p(d.getFullYear(), 4)}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${zone}`;
}

const RELATIVE_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const POINT = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A point in time as a user writes it on the command line (`--at`): ISO 8601 with a zone
 * (`2026-12-01T10:00+01:00`, `…Z`), a local time without one (`2026-12-01 10:00`, `2026-12-01`
 * = local midnight), `now`, or a time back from `now` (`2h ago`, `3d ago`, `90m ago`, `1h30m ago`;
 * units s m h d w). Throws RangeError saying which forms are accepted.
 */
export function parseTimeArg(text: string, now: Date = nowDate()): Date {
  const s = text.trim();
  if (/^now$/i.test(s)) return new Date(now.getTime());
  const rel = /^((?:\d+[smhdw])+)\s*ago$/i.exec(s.replace(/(\d+)\s*([smhdw])\b\s*/gi, '$1$2'));
  if (rel) {
    let ms = 0;
    for (const m of (rel[1] as string).matchAll(/(\d+)([smhdw])/gi)) ms += Number(m[1]) * (RELATIVE_UNITS[(m[2] as string).toLowerCase()] as number);
    return new Date(now.getTime() - ms);
  }
  const m = POINT.exec(s);
  if (m) {
    const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m as unknown as string[];
    const ms = Number((frac ?? '').padEnd(3, '0').slice(0, 3) || '0');
    const fields = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), ms] as const;
    let t: number;
    if (zone === undefined) t = new Date(...fields).getTime();
    else {
      const z = zone.toUpperCase() === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2)));
      t = Date.UTC(...fields) - z * 60_000;
    }
    const check = new Date(t);
    // Date normalises 2026-02-31 to 3 March: refuse instead of guessing.
    if (!Number.isNaN(t) && Number(mo) >= 1 && Number(mo) <= 12 && Number(d) >= 1 && Number(d) <= 31 && Number(h) < 24 && Number(mi) < 60 && Number(sec) < 60
      && (zone !== undefined || check.getDate() === Number(d))) return check;
  }
  throw new RangeError(`"${text}" is not a time; use 2026-12-01T10:00+01:00, 2026-12-01T09:00Z, 2026-12-01 10:00 (local time) or 2h ago`);
}
