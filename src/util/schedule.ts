/**
 * Backup schedules as lifeboat.yml writes them: a cron expression of five fields (minute,
 * hour, day of month, month, day of week, with `*`, lists, ranges, steps and the names
 * jan–dec and sun–sat, 0 or 7 for Sunday), one of the macros @yearly @annually @monthly
 * @weekly @daily @midnight @hourly, or `@every <duration>` (Go's duration syntax, as in
 * robfig/cron: `90m`, `1h30m`, `45s`; at least one second).
 *
 * Pure: `parseSchedule` validates (throws RangeError with a message fit for `config check`)
 * and `nextRun` computes the next start, so the scheduler and the config check share one parser.
 * Cron's rule for two restricted day fields is kept: a day matches when either matches.
 */

export type Schedule =
  | { readonly kind: 'every'; readonly ms: number }
  | {
    readonly kind: 'cron';
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

/** Parses a schedule; throws RangeError saying what is wrong and what is expected. */
export function parseSchedule(text: string): Schedule {
  const s = text.trim();
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
    minutes: minutes as Set<number>,
    hours: hours as Set<number>,
    days: days as Set<number>,
    months: months as Set<number>,
    weekdays,
    daysAny: fields[2]?.startsWith('*') ?? false,
    weekdaysAny: fields[4]?.startsWith('*') ?? false,
  };
}

function dayMatches(s: Extract<Schedule, { kind: 'cron' }>, d: Date): boolean {
  if (!s.months.has(d.getMonth() + 1)) return false;
  const dom = s.days.has(d.getDate());
  const dow = s.weekdays.has(d.getDay());
  if (s.daysAny || s.weekdaysAny) return dom && dow;
  return dom || dow;
}

/**
 * The first start strictly after `after` (local time, to the minute). For `@every` that is
 * `after` plus the interval. Undefined when a cron expression can never match (e.g. 31 feb).
 */
export function nextRun(s: Schedule, after: Date): Date | undefined {
  if (s.kind === 'every') return new Date(after.getTime() + s.ms);
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
