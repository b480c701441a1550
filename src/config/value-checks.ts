/**
 * Checks of values whose syntax a schema type cannot say well: `keep_within` (restic's
 * calendar duration) and `schedule` (cron or @every). They run after the schema, on the
 * parsed config, and return problems placed by key path like every other config problem.
 */
import { checkTimeZone, parseSchedule } from '../util/schedule.ts';
import type { ConfigProblem, KeyPath } from './config-issues.ts';
import type { LifeboatConfig } from './schema.ts';

/**
 * restic's `--keep-within` duration (internal/restic/duration.go): numbers each followed by
 * `y` (years), `m` (months), `d` (days) or `h` (hours), in any order, e.g. `1y2m3d4h`.
 * restic's forget refuses negative parts; an empty value would keep nothing, so it is refused.
 * Returns why `s` is not one, or undefined.
 */
export function resticDurationProblem(s: string): string | undefined {
  if (s.trim() === '') return 'must not be empty; write a duration like 7d, 6m or 1y2m3d4h';
  if (/^(\d+[ymdh])+$/.test(s)) return undefined;
  if (/-\d/.test(s)) return `"${s}": negative durations are not allowed`;
  const unit = /^\d+([^\d])/.exec(s.replace(/^(\d+[ymdh])+/, ''))?.[1];
  const why = unit !== undefined ? `unknown unit "${unit}"` : 'every number needs a unit';
  return `"${s}" is not a restic duration (${why}); use y (years), m (months), d (days) and h (hours), e.g. 30d or 1y6m`;
}

const WITHIN_KEYS = ['keep_within'] as const;

/** Problems of keep_within and schedule anywhere they can be written. */
export function checkValues(config: LifeboatConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const retention = (r: Record<string, unknown> | undefined, at: KeyPath): void => {
    for (const key of WITHIN_KEYS) {
      const v = r?.[key];
      const why = typeof v === 'string' ? resticDurationProblem(v) : undefined;
      if (why !== undefined) problems.push({ path: [...at, key], message: why });
    }
  };
  const schedule = (v: unknown, at: KeyPath): void => {
    if (typeof v !== 'string') return;
    try {
      parseSchedule(v);
    } catch (err) {
      problems.push({ path: at, message: (err as Error).message });
    }
  };
  retention(config.defaults?.retention, ['defaults', 'retention']);
  schedule(config.defaults?.schedule, ['defaults', 'schedule']);
  for (const [name, s] of Object.entries(config.sources)) {
    retention(s.retention, ['sources', name, 'retention']);
    schedule(s.schedule, ['sources', name, 'schedule']);
  }
  (config.copies ?? []).forEach((c, i) => schedule(c.schedule, ['copies', i, 'schedule']));
  for (const job of ['prune', 'verify', 'check', 'drill'] as const) schedule(config.daemon?.[job]?.schedule, ['daemon', job, 'schedule']);
  const zone = config.daemon?.time_zone;
  if (zone !== undefined) {
    try {
      checkTimeZone(zone);
    } catch (err) {
      problems.push({ path: ['daemon', 'time_zone'], message: (err as Error).message });
    }
  }
  return problems;
}
