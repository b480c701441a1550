/**
 * The daemon's metrics, by the names of docs/daemon.md (Prometheus conventions: base units,
 * `_total` counters, `_timestamp_seconds` times). Labels are bounded: job IDs, source names and
 * types, result words; never snapshot IDs, paths or error text.
 */
import { VERSION } from '../version.ts';
import { DURATION_BUCKETS } from './prometheus-text.ts';
import type { MetricFamily, Sample } from './prometheus-text.ts';
import type { RunCatalog } from './run-catalog.ts';
import type { JobStatus } from './scheduler.ts';

export interface MetricsInput {
  readonly catalog: RunCatalog;
  readonly jobs: readonly JobStatus[];
  readonly sources: ReadonlyArray<{ name: string; type: string }>;
  /** The repository as last probed (`reachable: false` when it could not be read); undefined: not probed. */
  readonly repository?: { sizeBytes: number; snapshots: number; lockAgeMs: number; reachable: boolean };
  readonly repositoryName: string;
  /** The last verify's per-source result. */
  readonly verify: ReadonlyArray<{ source: string; match: boolean }>;
  readonly sourceUp: ReadonlyMap<string, boolean>;
}

const RESULT: Record<string, string> = { ok: 'success', partial: 'warning', failed: 'failure', skipped: 'skipped' };
const secs = (iso: string | null | undefined): number => (iso ? Date.parse(iso) / 1000 : 0);

export function collectMetrics(m: MetricsInput): MetricFamily[] {
  const { catalog } = m;
  const gauge = (name: string, help: string, samples: Sample[]): MetricFamily => ({ name, help, type: 'gauge', samples });
  const counter = (name: string, help: string, samples: Sample[]): MetricFamily => ({ name, help, type: 'counter', samples });
  const lastSuccess: Sample[] = [];
  const lastRun: Sample[] = [];
  const status: Sample[] = [];
  for (const { job } of m.jobs) {
    const ok = catalog.lastSuccess(job.kind, job.target);
    if (ok) lastSuccess.push({ labels: { job: job.id }, value: secs(ok.finished_at ?? ok.started_at) });
    const last = catalog.lastFinished(job.id);
    if (last) {
      lastRun.push({ labels: { job: job.id, result: RESULT[last.status] as string }, value: secs(last.started_at) });
      status.push({ labels: { job: job.id }, value: last.status === 'ok' ? 2 : last.status === 'partial' ? 1 : 0 });
    }
  }
  const counts = catalog.counts();
  const durations = new Map<string, { kind: string; values: number[] }>();
  for (const d of catalog.durations()) {
    const e = durations.get(d.job) ?? { kind: d.kind, values: [] };
    e.values.push(d.duration_ms / 1000);
    durations.set(d.job, e);
  }
  const missed = new Map<string, number>();
  for (const c of counts) if (c.status === 'skipped') missed.set(c.job, (missed.get(c.job) ?? 0) + c.n);
  const lastBackups = m.sources.map((s) => ({ s, r: catalog.lastSuccess('backup', s.name) }));
  const check = catalog.lastSuccess('check') ?? catalog.lastSuccess('verify', undefined);
  const repo = { repo: m.repositoryName };
  const families: MetricFamily[] = [
    gauge('lifeboat_build_info', 'lifeboat version and repository format', [{ labels: { version: VERSION, repo_format: '2' }, value: 1 }]),
    gauge('lifeboat_job_last_success_timestamp_seconds', 'When the job last ended successfully (Unix time)', lastSuccess),
    gauge('lifeboat_job_last_run_timestamp_seconds', 'When the job last ran, by result', lastRun),
    gauge('lifeboat_job_next_run_timestamp_seconds', 'When the job runs next on its schedule', m.jobs.flatMap((j) => (j.nextRun ? [{ labels: { job: j.job.id }, value: j.nextRun.getTime() / 1000 }] : []))),
    gauge('lifeboat_job_status', 'Last result: 0 failure, 1 warning, 2 success', status),
    gauge('lifeboat_job_running', '1 while the job runs', m.jobs.map((j) => ({ labels: { job: j.job.id }, value: j.running ? 1 : 0 }))),
    counter('lifeboat_job_runs_total', 'Runs by result (skipped: overlap or paused)', counts.map((c) => ({ labels: { job: c.job, kind: c.kind, result: RESULT[c.status] ?? c.status }, value: c.n }))),
    { name: 'lifeboat_job_duration_seconds', help: 'Run durations (the last 200 runs per job)', type: 'histogram', buckets: DURATION_BUCKETS, samples: [...durations].map(([job, d]) => ({ labels: { job, kind: d.kind }, values: d.values })) },
    counter('lifeboat_job_missed_runs_total', 'Slots skipped because the job was still running or paused', m.jobs.map((j) => ({ labels: { job: j.job.id }, value: missed.get(j.job.id) ?? 0 }))),
    counter('lifeboat_job_retries_total', 'Retries by the class of the error retried (locked, transient)', catalog.retries().map((r) => ({ labels: { job: r.job, reason: r.reason }, value: r.n }))),
    gauge('lifeboat_backup_bytes_processed', 'Bytes read by the last good backup of each source', lastBackups.filter((b) => b.r?.bytes_read != null).map((b) => ({ labels: { source: b.s.name, source_kind: b.s.type }, value: b.r?.bytes_read as number }))),
    gauge('lifeboat_backup_bytes_added', 'Bytes added to the repository by the last good backup of each source', lastBackups.filter((b) => b.r?.bytes_added != null).map((b) => ({ labels: { source: b.s.name, source_kind: b.s.type }, value: b.r?.bytes_added as number }))),
    gauge('lifeboat_source_last_backup_timestamp_seconds', 'When each source\'s last good snapshot was taken', lastBackups.filter((b) => b.r).map((b) => ({ labels: { source: b.s.name, source_kind: b.s.type }, value: secs(b.r?.started_at) }))),
    gauge('lifeboat_source_up', '1 when the source\'s last backup run reached it, 0 when it failed', m.sources.filter((s) => m.sourceUp.has(s.name)).map((s) => ({ labels: { job: `backup:${s.name}`, source_kind: s.type }, value: m.sourceUp.get(s.name) ? 1 : 0 }))),
    gauge('lifeboat_verify_last_success_timestamp_seconds', 'When verify last passed', catalog.lastSuccess('verify') ? [{ labels: { job: 'verify' }, value: secs(catalog.lastSuccess('verify')?.finished_at) }] : []),
    gauge('lifeboat_verify_fingerprint_match', '1 when the last verify of the source found its backup whole and as recorded', m.verify.map((v) => ({ labels: { job: 'verify', source: v.source }, value: v.match ? 1 : 0 }))),
  ];
  if (m.repository) families.push(gauge('lifeboat_repo_up', '1 when the daemon could read the repository at its last probe', [{ labels: repo, value: m.repository.reachable ? 1 : 0 }]));
  if (m.repository?.reachable) {
    families.push(
      gauge('lifeboat_repo_size_bytes', 'Bytes of pack files in the repository', [{ labels: repo, value: m.repository.sizeBytes }]),
      gauge('lifeboat_repo_snapshots', 'Snapshots in the repository', [{ labels: repo, value: m.repository.snapshots }]),
      gauge('lifeboat_repo_lock_age_seconds', 'Age of the oldest lock in the repository (0: none)', [{ labels: repo, value: m.repository.lockAgeMs / 1000 }]),
    );
  }
  if (check) families.push(gauge('lifeboat_repo_check_last_success_timestamp_seconds', 'When a check or verify of the repository last passed', [{ labels: repo, value: secs(check.finished_at) }]));
  return families;
}
