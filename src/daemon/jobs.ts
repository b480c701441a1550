/**
 * The daemon's jobs, read off lifeboat.yml: a backup per source, on its `schedule` (its own
 * or `defaults.schedule`; without one, only when asked), a copy per `copies[]` entry with one, and the repository-wide
 * `daemon.prune`, `daemon.verify`, `daemon.check` and `daemon.drill`, and with `daemon.allow_restore`
 * the unscheduled `restore`. Prune and restore need the repository to themselves.
 */
import type { LifeboatConfig } from '../config/schema.ts';
import { parseSchedule } from '../util/schedule.ts';
import type { JobSpec } from './scheduler.ts';

export function jobsFromConfig(config: LifeboatConfig, sources: ReadonlyArray<{ name: string; config: { schedule?: string } }>): JobSpec[] {
  const jobs: JobSpec[] = [];
  for (const s of sources) {
    // Every source has a job, so "back up now" works for one without a schedule too.
    jobs.push({ id: `backup:${s.name}`, kind: 'backup', target: s.name, schedule: s.config.schedule ? parseSchedule(s.config.schedule) : undefined, exclusive: false });
  }
  (config.copies ?? []).forEach((c, i) => {
    if (c.schedule) jobs.push({ id: `copy:${i}`, kind: 'copy', target: String(i), schedule: parseSchedule(c.schedule), exclusive: false });
  });
  const d = config.daemon;
  if (d?.prune) jobs.push({ id: 'prune', kind: 'prune', schedule: parseSchedule(d.prune.schedule), exclusive: true });
  if (d?.check) jobs.push({ id: 'check', kind: 'check', schedule: parseSchedule(d.check.schedule), exclusive: false });
  if (d?.verify) jobs.push({ id: 'verify', kind: 'verify', target: d.verify.only?.join(','), schedule: parseSchedule(d.verify.schedule), exclusive: false });
  if (d?.drill) jobs.push({ id: 'drill', kind: 'drill', target: d.drill.only?.join(','), schedule: parseSchedule(d.drill.schedule), exclusive: false });
  // Never scheduled: started by POST /api/v1/restores. It runs alone, as prune does, so no
  // backup reads a store while it is being replaced.
  if (d?.allow_restore === true) jobs.push({ id: 'restore', kind: 'restore', exclusive: true, noRetry: true });
  return jobs;
}
