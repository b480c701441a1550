/**
 * The "am I safe?" view of each source, as the API returns it (and the dashboard shows it):
 * last good backup and its age against the rpo, the last run and its error, the next run, the
 * last drill's measured RTO and RPO, and a 30-day strip of daily results. Derived from the run
 * catalog, the scheduler and the watchdog; never a secret (the config's references are not
 * included, only schedule and targets).
 */
import type { Stack } from '../app/stack.ts';
import { parseDurationMs } from '../config/daemon-schema.ts';
import type { RunCatalog } from './run-catalog.ts';
import type { JobStatus } from './scheduler.ts';
import type { Watchdog } from './watchdog.ts';

export type SourceState = 'ok' | 'failed' | 'overdue' | 'never' | 'running';

export interface SourceView {
  name: string;
  type: string;
  state: SourceState;
  schedule: string | null;
  rpo_seconds: number | null;
  rto_seconds: number | null;
  last_backup: { at: string; snapshot_id: string | null; run_id: number; age_seconds: number } | null;
  last_run: { id: number; status: string; started_at: string; error: string | null } | null;
  next_run: string | null;
  running: boolean;
  /** A restore of this source is running (its state is then `running` too). */
  restoring: boolean;
  paused: boolean;
  last_drill: { run_id: number; at: string; status: string; rto_ms: number | null; rpo_ms: number | null } | null;
  /** Worst result per UTC day, the last 30 days (days without runs are absent). */
  history: Array<{ day: string; status: string }>;
}

interface DrillReportLike { sources?: Array<{ source: string; status: string; rto_ms?: number; rpo_ms?: number }> }

export function sourceViews(stack: Stack, catalog: RunCatalog, jobs: readonly JobStatus[], watchdog: Watchdog, now: Date): SourceView[] {
  const drills = catalog.list({ kind: 'drill', limit: 50 }).filter((r) => r.status === 'ok' || r.status === 'failed');
  const restoring = new Set(catalog.list({ kind: 'restore', limit: 1 }).find((r) => r.status === 'running')?.target?.split(',') ?? []);
  return stack.loaded.sources.map(({ name, config }) => {
    const jobId = `backup:${name}`;
    const job = jobs.find((j) => j.job.id === jobId);
    const ok = catalog.lastSuccess('backup', name);
    const last = catalog.lastFinished(jobId);
    const rpoMs = config.rpo ? parseDurationMs(config.rpo) : undefined;
    const age = ok ? now.getTime() - Date.parse(ok.started_at) : undefined;
    let drill: SourceView['last_drill'] = null;
    for (const d of drills) {
      const s = ((d.report as { report?: DrillReportLike } | null)?.report?.sources ?? []).find((x) => x.source === name);
      if (s) {
        drill = { run_id: d.id, at: d.started_at, status: s.status, rto_ms: s.rto_ms ?? null, rpo_ms: s.rpo_ms ?? null };
        break;
      }
    }
    let state: SourceState = 'ok';
    if (job?.running || restoring.has(name)) state = 'running';
    else if (last?.status === 'failed' || watchdog.isBad(`job:${jobId}`)) state = 'failed';
    else if (watchdog.isBad(`rpo:${name}`) || (rpoMs !== undefined && age !== undefined && age > rpoMs)) state = 'overdue';
    else if (!ok) state = 'never';
    return {
      name,
      type: config.type,
      state,
      schedule: config.schedule ?? null,
      rpo_seconds: rpoMs !== undefined ? rpoMs / 1000 : null,
      rto_seconds: config.rto ? parseDurationMs(config.rto) / 1000 : null,
      last_backup: ok ? { at: ok.started_at, snapshot_id: ok.snapshot_id, run_id: ok.id, age_seconds: Math.round((age as number) / 1000) } : null,
      last_run: last ? { id: last.id, status: last.status, started_at: last.started_at, error: last.error } : null,
      next_run: job?.nextRun?.toISOString() ?? null,
      running: job?.running ?? false,
      restoring: restoring.has(name),
      paused: job?.paused ?? false,
      last_drill: drill,
      history: catalog.days(jobId, new Date(now.getTime() - 30 * 86_400_000)),
    };
  });
}
