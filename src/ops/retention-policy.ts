/**
 * Forget policies: which snapshots of a group to keep, with restic's semantics
 * (`restic forget --keep-*`), pure and deterministic.
 *
 * The algorithm walks the snapshots newest first. Each counted rule (last, hourly, daily,
 * weekly, monthly, yearly) owns a bucket function (the hour, day, ISO week, month or year
 * of the snapshot's wall-clock time) and a count: a snapshot is kept when its bucket value
 * differs from the last one that rule kept and the rule has counts left (-1 = unlimited).
 * Only periods that have a snapshot count, so a week without backups keeps nothing alive
 * for longer. When a rule still has counts left at the oldest snapshot, that one is kept
 * too (restic >= 0.16), which keeps the longest history the counts allow; so is the oldest
 * snapshot inside a `within-*` duration.
 * `within*` durations are measured back from the newest snapshot that is not in the
 * future, with calendar arithmetic (one month back from 31 March is 3 March, as Go's
 * AddDate normalises). `tags` keep every snapshot holding all tags of one list.
 * An empty policy keeps everything: forgetting all snapshots takes an explicit list.
 *
 * Wall-clock time: restic buckets by the UTC offset written in the snapshot (Go keeps the
 * offset it parsed), which for restic-made snapshots is the local zone of the backup host.
 * That is the default here ('recorded'); 'local' and 'utc' override it.
 */
import { UsageError } from '../core/errors.ts';
import { parseNs } from '../util/time.ts';

export interface ExpirePolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** Keep every snapshot within this duration ("1y2m3d4h") of the newest one. */
  within?: string;
  withinHourly?: string;
  withinDaily?: string;
  withinWeekly?: string;
  withinMonthly?: string;
  withinYearly?: string;
  /** Keep snapshots that carry all tags of at least one list. */
  tags?: string[][];
}

export type GroupBy = { host?: boolean; paths?: boolean; tags?: boolean };

export interface KeepDecision<S> {
  snapshot: S;
  keep: boolean;
  /** Why the snapshot is kept ("last snapshot", "daily snapshot", "within 7d", "has tags x,y"); empty when removed. */
  reasons: string[];
}

/** restic's duration: calendar years, months, days and hours (each may be negative). */
export interface PolicyDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

export interface ApplyOptions {
  /** Which wall clock buckets use: the offset recorded in `time` (default), the local zone, or UTC. */
  tz?: 'recorded' | 'local' | 'utc';
  /** Keep the oldest snapshot when a counted rule has counts left (restic >= 0.16; default true). */
  keepOldest?: boolean;
}

/** What applyPolicy reads of a snapshot; `time` is the RFC 3339 string with its offset. */
export interface PolicySnapshot {
  id: string;
  date: Date;
  tags?: readonly string[];
  time?: string;
}

/** Parses restic's "1y2m3d4h" (any subset, any order, numbers may be negative). */
export function parseDuration(s: string): PolicyDuration {
  const d: PolicyDuration = { years: 0, months: 0, days: 0, hours: 0 };
  let rest = s.trim();
  while (rest !== '') {
    const m = /^(-?)(\d+)(.?)/.exec(rest);
    if (!m) throw new UsageError(`invalid duration ${JSON.stringify(s)}: no number at ${JSON.stringify(rest)}`, { hint: 'write a duration like 1y2m3d4h (years, months, days, hours)' });
    const num = Number(m[2]) * (m[1] === '-' ? -1 : 1);
    const unit = m[3];
    if (unit === '') throw new UsageError(`invalid duration ${JSON.stringify(s)}: no unit after ${num}`, { hint: 'units are y, m, d and h, e.g. 7d or 1y6m' });
    if (unit === 'y') d.years = num;
    else if (unit === 'm') d.months = num;
    else if (unit === 'd') d.days = num;
    else if (unit === 'h') d.hours = num;
    else throw new UsageError(`invalid duration ${JSON.stringify(s)}: unknown unit ${JSON.stringify(unit)}`, { hint: 'units are y (years), m (months), d (days) and h (hours)' });
    rest = rest.slice(m[0].length);
  }
  return d;
}

/** Formats a duration as restic prints it (zero parts left out). */
export function formatDuration(d: PolicyDuration): string {
  let s = '';
  if (d.years !== 0) s += `${d.years}y`;
  if (d.months !== 0) s += `${d.months}m`;
  if (d.days !== 0) s += `${d.days}d`;
  if (d.hours !== 0) s += `${d.hours}h`;
  return s;
}

const isZero = (d: PolicyDuration): boolean => d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;

const COUNTS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
const WITHINS = ['withinHourly', 'withinDaily', 'withinWeekly', 'withinMonthly', 'withinYearly'] as const;

/** True when the policy keeps everything by default (no counts, durations or tags). */
export function isEmptyPolicy(p: ExpirePolicy): boolean {
  if (p.tags && p.tags.length > 0) return false;
  if (COUNTS.some((k) => (p[k] ?? 0) !== 0)) return false;
  const durations = [p.within, ...WITHINS.map((k) => p[k])];
  return durations.every((d) => d === undefined || isZero(parseDuration(d)));
}

/** A moment as wall-clock fields in some zone, plus how to get back to an instant. */
interface WallClock {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  /** The same wall-clock moment shifted by calendar units, back to an instant (ms). */
  shift(years: number, months: number, days: number): number;
}

const OFFSET_RE = /(Z|[+-]\d{2}:\d{2})$/i;

/** Offset east of UTC in minutes recorded in an RFC 3339 string, or undefined. */
function recordedOffset(time: string | undefined): number | undefined {
  const m = time === undefined ? null : OFFSET_RE.exec(time.trim());
  if (!m) return undefined;
  const o = m[1] as string;
  if (o.toUpperCase() === 'Z') return 0;
  const sign = o[0] === '-' ? -1 : 1;
  return sign * (Number(o.slice(1, 3)) * 60 + Number(o.slice(4, 6)));
}

function fixedWallClock(ms: number, offsetMin: number): WallClock {
  const w = new Date(ms + offsetMin * 60_000);
  return {
    year: w.getUTCFullYear(),
    month: w.getUTCMonth() + 1,
    day: w.getUTCDate(),
    hour: w.getUTCHours(),
    shift: (y, mo, d) =>
      Date.UTC(w.getUTCFullYear() + y, w.getUTCMonth() + mo, w.getUTCDate() + d, w.getUTCHours(), w.getUTCMinutes(), w.getUTCSeconds(), w.getUTCMilliseconds()) -
      offsetMin * 60_000,
  };
}

function localWallClock(ms: number): WallClock {
  const w = new Date(ms);
  return {
    year: w.getFullYear(),
    month: w.getMonth() + 1,
    day: w.getDate(),
    hour: w.getHours(),
    shift: (y, mo, d) => new Date(w.getFullYear() + y, w.getMonth() + mo, w.getDate() + d, w.getHours(), w.getMinutes(), w.getSeconds(), w.getMilliseconds()).getTime(),
  };
}

function wallClockOf(s: PolicySnapshot, tz: NonNullable<ApplyOptions['tz']>): WallClock {
  const ms = s.date.getTime();
  if (tz === 'utc') return fixedWallClock(ms, 0);
  if (tz === 'recorded') {
    const off = recordedOffset(s.time);
    if (off !== undefined) return fixedWallClock(ms, off);
  }
  return localWallClock(ms);
}

/** ISO 8601 week-numbering year and week of a calendar date (as Go's Time.ISOWeek). */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const t = new Date(Date.UTC(year, month - 1, day));
  const dow = (t.getUTCDay() + 6) % 7; // Monday = 0
  // The Thursday of this week decides the year.
  t.setUTCDate(t.getUTCDate() - dow + 3);
  const isoYear = t.getUTCFullYear();
  const jan1 = Date.UTC(isoYear, 0, 1);
  return { year: isoYear, week: Math.floor((t.getTime() - jan1) / 86_400_000 / 7) + 1 };
}

type Bucker = (w: WallClock, nr: number) => number;
const always: Bucker = (_w, nr) => nr;
const ymdh: Bucker = (w) => w.year * 1_000_000 + w.month * 10_000 + w.day * 100 + w.hour;
const ymd: Bucker = (w) => w.year * 10_000 + w.month * 100 + w.day;
const yw: Bucker = (w) => {
  const iw = isoWeek(w.year, w.month, w.day);
  return iw.year * 100 + iw.week;
};
const ym: Bucker = (w) => w.year * 100 + w.month;
const y: Bucker = (w) => w.year;

/** Nanoseconds since the epoch, from `time` when it parses (finer than the Date). */
function instantNs(s: PolicySnapshot): bigint {
  if (s.time !== undefined) {
    try {
      return parseNs(s.time);
    } catch {
      // fall back to the Date below
    }
  }
  return BigInt(s.date.getTime()) * 1_000_000n;
}

function checkCount(name: string, v: number | undefined): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < -1) {
    throw new UsageError(`invalid keep-${name} count ${String(v)}`, { hint: 'counts are whole numbers; -1 keeps all' });
  }
  return n;
}

/**
 * Decides for each snapshot of one group whether the policy keeps it. Returns one decision
 * per snapshot, newest first. `now` bounds the reference for `within*`: snapshots dated in
 * the future do not count as the newest.
 */
export function applyPolicy<S extends PolicySnapshot>(snapshots: S[], policy: ExpirePolicy, now: Date, opts: ApplyOptions = {}): KeepDecision<S>[] {
  const tz = opts.tz ?? 'recorded';
  const keepOldest = opts.keepOldest ?? true;
  // Newest first; a stable sort keeps the input order of equal times, as restic's does.
  const list = snapshots
    .map((s) => ({ s, ns: instantNs(s) }))
    .sort((a, b) => (a.ns === b.ns ? 0 : a.ns > b.ns ? -1 : 1));
  const buckets = [
    { count: checkCount('last', policy.last), bucker: always, last: -1, reason: 'last snapshot' },
    { count: checkCount('hourly', policy.hourly), bucker: ymdh, last: -1, reason: 'hourly snapshot' },
    { count: checkCount('daily', policy.daily), bucker: ymd, last: -1, reason: 'daily snapshot' },
    { count: checkCount('weekly', policy.weekly), bucker: yw, last: -1, reason: 'weekly snapshot' },
    { count: checkCount('monthly', policy.monthly), bucker: ym, last: -1, reason: 'monthly snapshot' },
    { count: checkCount('yearly', policy.yearly), bucker: y, last: -1, reason: 'yearly snapshot' },
  ];
  const parseOpt = (s: string | undefined): PolicyDuration | undefined => {
    if (s === undefined) return undefined;
    const d = parseDuration(s);
    return isZero(d) ? undefined : d;
  };
  const within = parseOpt(policy.within);
  const withinBuckets = [
    { dur: parseOpt(policy.withinHourly), bucker: ymdh, last: -1, reason: 'hourly within' },
    { dur: parseOpt(policy.withinDaily), bucker: ymd, last: -1, reason: 'daily within' },
    { dur: parseOpt(policy.withinWeekly), bucker: yw, last: -1, reason: 'weekly within' },
    { dur: parseOpt(policy.withinMonthly), bucker: ym, last: -1, reason: 'monthly within' },
    { dur: parseOpt(policy.withinYearly), bucker: y, last: -1, reason: 'yearly within' },
  ];

  if (isEmptyPolicy(policy)) return list.map(({ s }) => ({ snapshot: s, keep: true, reasons: ['policy is empty'] }));
  if (list.length === 0) return [];

  // The newest snapshot that is not in the future is the reference for every duration.
  const nowNs = BigInt(now.getTime()) * 1_000_000n;
  let latest: { s: S; ns: bigint } | undefined;
  for (const e of list) if (e.ns < nowNs && (latest === undefined || e.ns > latest.ns)) latest = e;
  const latestWall = latest ? wallClockOf(latest.s, tz) : undefined;
  /** The cut-off instant (ns) of a duration: snapshots strictly after it are within. */
  const cutoff = (d: PolicyDuration): bigint => {
    // With no usable reference (all in the future) restic measures from the zero time: all are within.
    if (!latest || !latestWall) return -(1n << 80n);
    const shiftedMs = latestWall.shift(-d.years, -d.months, -d.days);
    const subMs = latest.ns % 1_000_000n; // keep the reference's sub-millisecond part
    return BigInt(shiftedMs) * 1_000_000n + subMs - BigInt(d.hours) * 3_600_000_000_000n;
  };
  const withinCut = within ? cutoff(within) : undefined;
  const withinCuts = withinBuckets.map((b) => (b.dur ? cutoff(b.dur) : undefined));

  return list.map(({ s, ns }, nr): KeepDecision<S> => {
    const reasons: string[] = [];
    for (const l of policy.tags ?? []) {
      if (l.every((t) => (s.tags ?? []).includes(t))) reasons.push(`has tags ${l.join(',')}`);
    }
    if (within && withinCut !== undefined && ns > withinCut) reasons.push(`within ${formatDuration(within)}`);
    const wall = wallClockOf(s, tz);
    const oldest = nr === list.length - 1;
    for (const b of buckets) {
      if (b.count === 0) continue;
      const val = b.bucker(wall, nr);
      if (val !== b.last) {
        b.last = val;
        if (b.count > 0) b.count--;
        reasons.push(b.reason);
      } else if (oldest && keepOldest) {
        // Counts left at the oldest snapshot: keep it as well (restic >= 0.16).
        if (b.count > 0) b.count--;
        reasons.push(`oldest ${b.reason}`);
      }
    }
    withinBuckets.forEach((b, i) => {
      const cut = withinCuts[i];
      if (!b.dur || cut === undefined || !(ns > cut)) return;
      const val = b.bucker(wall, nr);
      if (val !== b.last) {
        b.last = val;
        reasons.push(`${b.reason} ${formatDuration(b.dur)}`);
      } else if (oldest && keepOldest) {
        // The oldest snapshot within the duration is kept too (restic >= 0.16).
        reasons.push(`oldest ${b.reason} ${formatDuration(b.dur)}`);
      }
    });
    return { snapshot: s, keep: reasons.length > 0, reasons };
  });
}

/** The key restic groups by: host, sorted paths and sorted tags, each only when selected. */
export function groupKey(s: { hostname?: string; paths: readonly string[]; tags?: readonly string[] }, by: GroupBy): string {
  return JSON.stringify({
    hostname: by.host ? (s.hostname ?? '') : '',
    paths: by.paths ? [...s.paths].sort() : null,
    tags: by.tags ? [...(s.tags ?? [])].sort() : null,
  });
}

/**
 * Splits snapshots into the groups a policy is applied to separately (restic's --group-by;
 * its default is host and paths). Keys are JSON of {hostname, paths, tags}; order of first
 * appearance.
 */
export function groupSnapshots<S extends { hostname?: string; paths: readonly string[]; tags?: readonly string[] }>(snaps: S[], by: GroupBy): Map<string, S[]> {
  const groups = new Map<string, S[]>();
  for (const s of snaps) {
    const k = groupKey(s, by);
    const g = groups.get(k);
    if (g) g.push(s);
    else groups.set(k, [s]);
  }
  return groups;
}
