/**
 * Backup schedules as lifeboat.yml writes them: a cron expression of five fields (minute,
 * hour, day of month, month, day of week, with `*`, lists, ranges, steps and the names
 * jan–dec and sun–sat, 0 or 7 for Sunday), one of the macros @yearly @annually @monthly
 * @weekly @daily @midnight @hourly, or `@every <duration>` (Go's duration syntax, as in
 * robfig/cron: `90m`, `1h30m`, `45s`; at least one second).
 *
 * A cron expression may start with `CRON_TZ=<IANA zone>` (or `TZ=`), as in robfig/cron, to run
 * in that zone's wall-clock time whatever the host's zone; `nextRun` also takes a default zone.
 * Across DST changes a zone follows Temporal's "compatible" rule: a start that falls in the
 * skipped hour runs that much later (02:30 → 03:30), one in the repeated hour runs once, at
 * its first occurrence.
 *
 * Pure: `parseSchedule` validates (throws RangeError with a message fit for `config check`)
 * and `nextRun` computes the next start, so the scheduler and the config check share one parser.
 * Cron's rule for two restricted day fields is kept: a day matches when either matches.
 */

export type Schedule =
  | { readonly kind: 'every'; readonly ms: number }
  | {
    readonly kind: 'cron';
    /** IANA zone of a `CRON_TZ=` prefix. */
    readonly timeZone?: string;
    readonly minutes: ReadonlySet<number>;
    readonly hours: ReadonlySet<number>;
    readonly days: ReadonlySet<number>;
    readonly months: ReadonlySet<number>;
    /** 0 = Sunday … 6 = Saturday (7 is folded into 0). */
    readonly weekdays: ReadonlySet<number>;
    /** Whether day of month / day of week were `*` (cron's OR rule applies only when neither is). */
    readonly daysAny: boolean;
    readonly weekdaysAny: boolean;
  };

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Names for the values from `min` on (months from 1, weekdays from 0). */
  readonly names?: readonly string[];
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 7, names: WEEKDAYS },
];

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration without a sign: `1h30m`, `90m`, `1.5h`, `250ms`. Milliseconds. */
export function parseGoDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) throw new RangeError(`"${s}" is not a duration like 90m, 1h30m or 45s (units h, m, s, ms)`);
    ms += Number(m[1]) * (GO_UNITS[m[2] as string] as number);
    at = re.lastIndex;
  }
  if (s === '') throw new RangeError('missing duration after @every (e.g. @every 1h30m)');
  return ms;
}

function valueOf(token: string, spec: FieldSpec): number {
  const lower = token.toLowerCase();
  const named = spec.names?.indexOf(lower) ?? -1;
  if (named >= 0) return named + (spec.name === 'month' ? 1 : 0);
  if (!/^\d+$/.test(token)) throw new RangeError(`${spec.name}: "${token}" is not a number${spec.names ? ` or a name (${spec.names[0]}–${spec.names.at(-1)})` : ''}`);
  const n = Number(token);
  if (n < spec.min || n > spec.max) throw new RangeError(`${spec.name}: ${n} is out of range ${spec.min}–${spec.max}`);
  return n;
}

function parseField(text: string, spec: FieldSpec): Set<number> {
  const out = new Set<number>();
  for (const item of text.split(',')) {
    const [range, stepText, extra] = item.split('/');
    if (extra !== undefined || range === '' || range === undefined) throw new RangeError(`${spec.name}: "${item}" is not a value, range or step`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new RangeError(`${spec.name}: step "${stepText}" must be a whole number above 0`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [spec.min, spec.max];
    else if (range.includes('-')) {
      const [a, b, more] = range.split('-');
      if (more !== undefined || a === undefined || b === undefined) throw new RangeError(`${spec.name}: "${range}" is not a range like 1-5`);
      [lo, hi] = [valueOf(a, spec), valueOf(b, spec)];
      if (lo > hi) throw new RangeError(`${spec.name}: range ${range} goes backwards`);
    } else {
      lo = valueOf(range, spec);
      // `5/15` means from 5 to the end in steps of 15 (Vixie cron).
      hi = stepText !== undefined ? spec.max : lo;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** Throws RangeError unless `zone` is an IANA time zone this Node.js knows. */
export function checkTimeZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new RangeError(`unknown time zone "${zone}"; use an IANA name such as Europe/Berlin, America/New_York or UTC`);
  }
  return zone;
}

/** Parses a schedule; throws RangeError saying what is wrong and what is expected. */
export function parseSchedule(text: string): Schedule {
  let s = text.trim();
  let timeZone: string | undefined;
  const tz = /^(?:CRON_TZ|TZ)=(\S+)\s+/.exec(s);
  if (tz) {
    timeZone = checkTimeZone(tz[1] as string);
    s = s.slice(tz[0].length);
    if (s.startsWith('@every')) throw new RangeError('CRON_TZ= applies to cron expressions; @every is the same in every zone');
  }
  if (/^@every(\s|$)/i.test(s)) {
    const ms = parseGoDuration(s.slice('@every'.length).trim());
    if (ms < 1000) throw new RangeError(`@every ${s.slice(6).trim()}: the interval must be at least 1s`);
    return { kind: 'every', ms };
  }
  const expr = s.startsWith('@') ? MACROS[s.toLowerCase()] : s;
  if (expr === undefined) throw new RangeError(`unknown schedule "${s}"; use a cron expression, @hourly, @daily, @weekly, @monthly, @yearly or @every 1h30m`);
  const fields = expr.split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 5) {
    throw new RangeError(`"${s}" has ${fields.length} field${fields.length === 1 ? '' : 's'}; a cron expression has 5 (minute hour day-of-month month day-of-week), e.g. "30 2 * * *"`);
  }
  const [minutes, hours, days, months, weekdaysRaw] = fields.map((f, i) => parseField(f, FIELDS[i] as FieldSpec)) as Set<number>[];
  const weekdays = new Set([...(weekdaysRaw as Set<number>)].map((d) => d % 7));
  return {
    kind: 'cron',
    ...(timeZone ? { timeZone } : {}),
    minutes: minutes as Set<number>,
    hours: hours as Set<number>,
    days: days as Set<number>,
    months: months as Set<number>,
    weekdays,
    daysAny: fields[2]?.startsWith('*') ?? false,
    weekdaysAny: fields[4]?.startsWith('*') ?? false,
  };
}

type Cron = Extract<Schedule, { kind: 'cron' }>;

function dayMatches(s: Cron, d: Date): boolean {
  if (!s.months.has(d.getMonth() + 1)) return false;
  const dom = s.days.has(d.getDate());
  const dow = s.weekdays.has(d.getDay());
  if (s.daysAny || s.weekdaysAny) return dom && dow;
  return dom || dow;
}

/** As dayMatches, on a wall-clock time held in a Date's UTC fields. */
function wallDayMatches(s: Cron, d: Date): boolean {
  if (!s.months.has(d.getUTCMonth() + 1)) return false;
  const dom = s.days.has(d.getUTCDate());
  const dow = s.weekdays.has(d.getUTCDay());
  if (s.daysAny || s.weekdaysAny) return dom && dow;
  return dom || dow;
}

/**
 * The first start strictly after `after` (local time, to the minute). For `@every` that is
 * `after` plus the interval. Undefined when a cron expression can never match (e.g. 31 feb).
 */
export function nextRun(s: Schedule, after: Date, timeZone?: string): Date | undefined {
  if (s.kind === 'every') return new Date(after.getTime() + s.ms);
  const zone = s.timeZone ?? timeZone;
  if (zone !== undefined) return nextRunInZone(s, after, zone);
  const t = new Date(after.getTime());
  t.setSeconds(0, 0);
  t.setMinutes(t.getMinutes() + 1);
  // Eight years cover every leap-day and weekday combination.
  const limit = after.getTime() + 8 * 366 * 86_400_000;
  while (t.getTime() <= limit) {
    if (!dayMatches(s, t)) {
      t.setDate(t.getDate() + 1);
      t.setHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(t.getHours())) {
      t.setHours(t.getHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(t.getMinutes())) {
      t.setMinutes(t.getMinutes() + 1, 0, 0);
      continue;
    }
    return t;
  }
  return undefined;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock time in `zone` at `instant`, as a Date whose UTC fields are that time. */
function wallClock(instant: number, zone: string): number {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(zone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(instant))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year as number, (p.month as number) - 1, p.day, p.hour, p.minute, p.second) + (instant % 1000 + 1000) % 1000;
}

/**
 * The instant a wall-clock time of `zone` names: in a repeated hour the first one, in a
 * skipped hour the wall time shifted forward by the gap (Temporal's "compatible").
 */
export function instantOfWallClock(wall: number, zone: string): number {
  // Offsets a day apart bracket any transition (zones change at most once a day).
  const before = wallClock(wall - 86_400_000, zone) - (wall - 86_400_000);
  const after = wallClock(wall + 86_400_000, zone) - (wall + 86_400_000);
  const candidates = [wall - before, wall - after].sort((a, b) => a - b);
  for (const c of candidates) if (wallClock(c, zone) === wall) return c;
  // Skipped: the wall time with the offset from before the gap lands after it.
  return wall - before;
}

function nextRunInZone(s: Cron, after: Date, zone: string): Date | undefined {
  const t = new Date(wallClock(after.getTime(), zone));
  t.setUTCSeconds(0, 0);
  t.setUTCMinutes(t.getUTCMinutes() + 1);
  const limit = t.getTime() + 8 * 366 * 86_400_000;
  while (t.getTime() <= limit) {
    if (!wallDayMatches(s, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!s.hours.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!s.minutes.has(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    const at = instantOfWallClock(t.getTime(), zone);
    // The second pass through a repeated hour names instants already past: skip them.
    if (at > after.getTime()) return new Date(at);
    t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
  }
  return undefined;
}
