/**
 * Metrics without the daemon, for cron users: the same families as /metrics, built from the
 * run reports the CLI leaves in the state directory (docs/reports.md) instead of the daemon's
 * catalog. `lifeboat metrics --textfile FILE` after each cron run feeds node_exporter's
 * textfile collector. The repository is not opened, so repository gauges are absent.
 */
import { reportsNewestFirst } from '../app/reports.ts';
import type { Stack } from '../app/stack.ts';
import { nextRun } from '../util/schedule.ts';
import { jobsFromConfig } from './jobs.ts';
import { collectMetrics } from './metrics.ts';
import type { MetricFamily } from './prometheus-text.ts';
import { RunCatalog } from './run-catalog.ts';
import type { JobKind } from './scheduler.ts';
import { nowDate } from '../util/clock.ts';

interface AnyReport {
  started_at: string;
  finished_at: string;
  status: string;
  error?: string;
  error_code?: string;
  sources?: Array<{ source: string; status: string; duration_ms?: number; bytes_read?: number; bytes_added?: number; snapshot_id?: string; error?: string }>;
}

const STATUS: Record<string, 'ok' | 'partial' | 'failed'> = { ok: 'ok', pass: 'ok', partial: 'partial', failed: 'failed', fail: 'failed' };

export async function metricsFromReports(stack: Stack, now: Date = nowDate()): Promise<MetricFamily[]> {
  const catalog = RunCatalog.open(':memory:');
  try {
    const names = stack.loaded.sources.map((s) => s.name);
    const rows: Array<{ job: string; kind: JobKind; target?: string; start: Date; end: Date; status: 'ok' | 'partial' | 'failed'; bytesRead?: number; bytesAdded?: number; snapshotId?: string; error?: string }> = [];
    for (const kind of ['backup', 'verify', 'drill'] as const) {
      for await (const r of reportsNewestFirst<AnyReport>(stack.loaded.stateDir, kind, 500)) {
        const start = new Date(r.started_at);
        const end = new Date(r.finished_at);
        if (kind !== 'backup') {
          rows.push({ job: kind, kind, start, end, status: STATUS[r.status] ?? 'failed', error: r.error });
          continue;
        }
        // A run that failed before any source (wrong password, …) failed for every source.
        const per = r.sources?.length ? r.sources : names.map((source) => ({ source, status: 'failed', error: r.error }));
        for (const s of per) {
          if (s.status === 'skipped' || !names.includes(s.source)) continue;
          rows.push({ job: `backup:${s.source}`, kind, target: s.source, start, end: 'duration_ms' in s && s.duration_ms !== undefined ? new Date(start.getTime() + s.duration_ms) : end, status: STATUS[s.status] ?? 'failed', bytesRead: 'bytes_read' in s ? s.bytes_read : undefined, bytesAdded: 'bytes_added' in s ? s.bytes_added : undefined, snapshotId: 'snapshot_id' in s ? s.snapshot_id : undefined, error: s.error });
        }
      }
    }
    rows.sort((a, b) => a.start.getTime() - b.start.getTime());
    for (const r of rows) {
      const id = catalog.start({ job: r.job, kind: r.kind, target: r.target, trigger: 'schedule', attempt: 1, at: r.start });
      catalog.finish(id, { status: r.status, at: r.end, bytesRead: r.bytesRead, bytesAdded: r.bytesAdded, snapshotId: r.snapshotId, error: r.error });
    }
    const tz = stack.loaded.config.daemon?.time_zone;
    const jobs = jobsFromConfig(stack.loaded.config, stack.loaded.sources).map((job) => {
      const next = job.schedule ? nextRun(job.schedule, now, tz) : undefined;
      return { job, running: false, queued: false, paused: false, ...(next ? { nextRun: next } : {}) };
    });
    return collectMetrics({
      catalog,
      jobs,
      sources: stack.loaded.sources.map((s) => ({ name: s.name, type: s.config.type })),
      repositoryName: stack.loaded.config.repository.url,
      verify: [],
      sourceUp: new Map(),
    });
  } finally {
    catalog.close();
  }
}
