/**
 * The watchdog: conditions that are either fine or not (a job's last run failed, a source's
 * last good backup is older than its `rpo`, a drill's restore took longer than `rto`, the last
 * good check is too old, a repository lock is stale), and alerts on their transitions only:
 * `failure` or `overdue` when one goes bad, `recovery` when it is fine again, nothing while it
 * stays as it was. So a failing nightly job alerts once, not every night, and a success after
 * a failure is the only success that alerts.
 *
 * Pure apart from the clock: the daemon feeds it facts (from the run catalog and the
 * repository) and sends what it returns.
 */
import type { Clock } from '../util/clock.ts';
import { formatAge } from './format-age.ts';
import type { AlertEvent } from './notify/alert.ts';
import { makeAlert } from './notify/notifier.ts';

export interface ConditionDetail {
  /** What it is when bad: `failure` (something failed) or `overdue` (something is too old). */
  readonly event: 'failure' | 'overdue';
  readonly title: string;
  readonly message: string;
  /** The title of the recovery alert. */
  readonly okTitle: string;
  readonly source?: string;
  readonly run_id?: number;
  readonly error_code?: string;
}

export interface Condition extends ConditionDetail {
  readonly key: string;
  readonly since: string;
}

/** What the periodic evaluation looks at. */
export interface WatchFacts {
  readonly sources: ReadonlyArray<{ name: string; rpoMs?: number; lastSuccess?: Date }>;
  readonly drills: ReadonlyArray<{ name: string; rtoMs?: number; lastRtoMs?: number; runId?: number }>;
  /** The last good check or verify, when one is expected (`maxAgeMs`). */
  readonly check?: { lastOk?: Date; maxAgeMs: number };
  /** Locks in the repository, with their age. */
  readonly locks?: ReadonlyArray<{ holder: string; ageMs: number }>;
  readonly staleLockMs?: number;
}

export class Watchdog {
  readonly #clock: Clock;
  /** Since when the daemon watches: a source never backed up is overdue only one rpo after it. */
  readonly #startedAt: number;
  readonly #bad = new Map<string, Condition>();

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#startedAt = clock.now().getTime();
  }

  /**
   * Sets a condition; returns the alert of a transition (bad: failure/overdue; fine again:
   * recovery), or undefined when nothing changed.
   */
  set(key: string, bad: boolean, detail: ConditionDetail): AlertEvent | undefined {
    const now = this.#clock.now();
    const was = this.#bad.get(key);
    if (bad) {
      this.#bad.set(key, { ...detail, key, since: was?.since ?? now.toISOString() });
      if (was) return undefined;
      return makeAlert({ event: detail.event, subject: key, title: detail.title, message: detail.message, source: detail.source, run_id: detail.run_id, error_code: detail.error_code }, now);
    }
    if (!was) return undefined;
    this.#bad.delete(key);
    return makeAlert({ event: 'recovery', subject: key, title: detail.okTitle, message: `${detail.message} (was: ${was.message})`, source: detail.source, run_id: detail.run_id }, now);
  }

  /** Marks a condition bad without an alert (restored from the catalog at start-up). */
  prime(key: string, detail: ConditionDetail): void {
    this.#bad.set(key, { ...detail, key, since: this.#clock.now().toISOString() });
  }

  /** The conditions that are bad now, oldest first. */
  conditions(): Condition[] {
    return [...this.#bad.values()].sort((a, b) => a.since.localeCompare(b.since));
  }

  isBad(key: string): boolean {
    return this.#bad.has(key);
  }

  /** Evaluates the periodic conditions; returns the alerts of their transitions. */
  evaluate(f: WatchFacts): AlertEvent[] {
    const now = this.#clock.now().getTime();
    const out: Array<AlertEvent | undefined> = [];
    for (const s of f.sources) {
      if (s.rpoMs === undefined) continue;
      const since = s.lastSuccess?.getTime() ?? this.#startedAt;
      const age = now - since;
      const what = s.lastSuccess ? `last good backup ${formatAge(age)} ago` : `no good backup in the ${formatAge(age)} the daemon has watched`;
      out.push(this.set(`rpo:${s.name}`, age > s.rpoMs, {
        event: 'overdue', source: s.name,
        title: `${s.name} is overdue: ${what}, rpo ${formatAge(s.rpoMs)}`,
        okTitle: `${s.name} is within its rpo again`,
        message: `${what} (rpo ${formatAge(s.rpoMs)})`,
      }));
    }
    for (const d of f.drills) {
      if (d.rtoMs === undefined || d.lastRtoMs === undefined) continue;
      out.push(this.set(`rto:${d.name}`, d.lastRtoMs > d.rtoMs, {
        event: 'failure', source: d.name, run_id: d.runId,
        title: `drill of ${d.name} took ${formatAge(d.lastRtoMs)}, over its rto of ${formatAge(d.rtoMs)}`,
        okTitle: `drill of ${d.name} is within its rto again`,
        message: `restore took ${formatAge(d.lastRtoMs)} (rto ${formatAge(d.rtoMs)})`,
      }));
    }
    if (f.check) {
      const since = f.check.lastOk?.getTime() ?? this.#startedAt;
      const age = now - since;
      out.push(this.set('check-age', age > f.check.maxAgeMs, {
        event: 'overdue',
        title: f.check.lastOk ? `the repository was last checked ${formatAge(age)} ago` : 'the repository has not been checked',
        okTitle: 'the repository was checked',
        message: `last good check or verify ${f.check.lastOk ? `${formatAge(age)} ago` : 'never'} (limit ${formatAge(f.check.maxAgeMs)})`,
      }));
    }
    if (f.locks && f.staleLockMs !== undefined) {
      const stale = f.locks.filter((l) => l.ageMs > (f.staleLockMs as number));
      const oldest = stale.sort((a, b) => b.ageMs - a.ageMs)[0];
      out.push(this.set('lock', oldest !== undefined, {
        event: 'failure',
        title: oldest ? `the repository has been locked by ${oldest.holder} for ${formatAge(oldest.ageMs)}` : 'no stale repository lock',
        okTitle: 'the stale repository lock is gone',
        message: oldest ? 'run "lifeboat unlock" if that process is gone' : 'no lock older than the limit',
      }));
    }
    return out.filter((a) => a !== undefined);
  }
}
