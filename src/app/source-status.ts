/**
 * The state of each source of lifeboat.yml for `lifeboat report`: its last backup (from the
 * run reports in the state directory; from the repository's snapshots when this host has no
 * history, as on a fresh DR host), its age against its `rpo`, its last verify and drill, and
 * what needs attention. Every source of the file is listed, whatever the last run included:
 * a `backup --only x` run does not hide the others' history.
 */
import type { RunReport, SourceRunResult } from '../ops/run-report.ts';
import type { DrillReport, VerifyReport } from './assurance.ts';
import type { FailedRunReport } from './reports.ts';
import { reportsNewestFirst } from './reports.ts';

export interface SourceState {
  source: string;
  /** The last backup that included the source (ok or failed). */
  backup?: { status: SourceRunResult['status']; at: string; snapshot_id?: string; error?: string; from: 'state_dir' | 'repository'; host?: string };
  /** When the newest good backup finished (or its snapshot was taken). */
  last_ok_at?: string;
  rpo_ms?: number;
  /** Age of the newest good backup. */
  age_ms?: number;
  overdue: boolean;
  verify?: { status: string; at: string; problems: string[] };
  drill?: { status: string; at: string; rto_ms?: number; rpo_ms?: number; cause?: string };
  /** Why the source needs attention; empty when it does not. */
  attention: string[];
}

export interface StatusReport {
  sources: SourceState[];
  /** Runs that failed before reaching any source (wrong password, unreachable repository, …). */
  failed_runs: Array<{ kind: string; at: string; error: string }>;
}

/** What the repository says about a source when this host has no history of it. */
export interface RepositorySnapshot {
  id: string;
  time: Date;
  hostname?: string;
}

export interface StatusOptions {
  now: Date;
  /** The newest snapshot of each named source in the repository (asked only when needed). */
  latestSnapshots?: (names: string[]) => Promise<Map<string, RepositorySnapshot>>;
  /** Most report files read per kind. */
  limit?: number;
}

type AnyRunReport = RunReport | FailedRunReport;

const isFailedRun = (r: { status: string; sources?: unknown[] }): boolean => r.status === 'failed' && (r.sources?.length ?? 0) === 0;

/** Newest first until every name has what `want` picks, or the files run out. */
async function scan<R extends { sources?: Array<{ source: string }> }>(
  stateDir: string,
  kind: 'backup' | 'verify' | 'drill',
  limit: number,
  visit: (report: R) => boolean,
): Promise<R | undefined> {
  let newest: R | undefined;
  for await (const r of reportsNewestFirst<R>(stateDir, kind, limit)) {
    newest ??= r;
    if (visit(r)) break;
  }
  return newest;
}

export async function sourceStatuses(stateDir: string, sources: ReadonlyArray<{ name: string; rpoMs?: number }>, opts: StatusOptions): Promise<StatusReport> {
  const names = sources.map((s) => s.name);
  const limit = opts.limit ?? 1000;
  const lastRun = new Map<string, NonNullable<SourceState['backup']>>();
  const lastOk = new Map<string, string>();
  const failedRuns: StatusReport['failed_runs'] = [];

  const newestBackup = await scan<AnyRunReport>(stateDir, 'backup', limit, (r) => {
    for (const s of (r.sources ?? []) as SourceRunResult[]) {
      if (!names.includes(s.source) || s.status === 'skipped') continue;
      if (!lastRun.has(s.source)) lastRun.set(s.source, { status: s.status, at: r.finished_at, snapshot_id: s.snapshot_id, error: s.error, from: 'state_dir', host: r.hostname });
      if (s.status === 'ok' && !lastOk.has(s.source)) lastOk.set(s.source, r.finished_at);
    }
    return names.every((n) => lastOk.has(n));
  });
  if (newestBackup && isFailedRun(newestBackup)) failedRuns.push({ kind: 'backup', at: newestBackup.finished_at, error: (newestBackup as FailedRunReport).error });

  // A DR host (or a lost state directory): the repository's snapshots are the history.
  const unknown = names.filter((n) => !lastOk.has(n));
  if (unknown.length > 0 && opts.latestSnapshots) {
    for (const [name, snap] of await opts.latestSnapshots(unknown)) {
      const at = snap.time.toISOString();
      lastOk.set(name, at);
      if (!lastRun.has(name) || Date.parse(lastRun.get(name)?.at as string) < snap.time.getTime()) {
        lastRun.set(name, { status: 'ok', at, snapshot_id: snap.id, from: 'repository', host: snap.hostname });
      }
    }
  }

  const verify = new Map<string, SourceState['verify']>();
  const newestVerify = await scan<VerifyReport | FailedRunReport>(stateDir, 'verify', limit, (r) => {
    for (const s of (r as VerifyReport).sources ?? []) if (!verify.has(s.source)) verify.set(s.source, { status: s.status, at: r.finished_at, problems: s.problems });
    return names.every((n) => verify.has(n));
  });
  if (newestVerify && isFailedRun(newestVerify)) failedRuns.push({ kind: 'verify', at: newestVerify.finished_at, error: (newestVerify as FailedRunReport).error });

  const drill = new Map<string, SourceState['drill']>();
  const newestDrill = await scan<DrillReport | FailedRunReport>(stateDir, 'drill', limit, (r) => {
    for (const s of (r as DrillReport).sources ?? []) {
      if (s.status === 'skipped' || drill.has(s.source)) continue;
      drill.set(s.source, { status: s.status, at: r.finished_at, rto_ms: s.rto_ms, rpo_ms: s.rpo_ms, cause: s.cause });
    }
    return names.every((n) => drill.has(n));
  });
  if (newestDrill && isFailedRun(newestDrill)) failedRuns.push({ kind: 'drill', at: newestDrill.finished_at, error: (newestDrill as FailedRunReport).error });

  const states = sources.map(({ name, rpoMs }): SourceState => {
    const okAt = lastOk.get(name);
    const age = okAt !== undefined ? opts.now.getTime() - Date.parse(okAt) : undefined;
    const overdue = rpoMs !== undefined && (age === undefined || age > rpoMs);
    const b = lastRun.get(name);
    const v = verify.get(name);
    const d = drill.get(name);
    const attention: string[] = [];
    if (!b) attention.push('never backed up');
    else if (b.status === 'failed') attention.push(`last backup failed${b.error ? `: ${b.error}` : ''}`);
    if (overdue && okAt !== undefined) attention.push('overdue: the last good backup is older than its rpo');
    else if (overdue && b) attention.push('overdue: no good backup');
    if (v && v.status !== 'ok') attention.push('last verify failed');
    if (d && d.status !== 'pass') attention.push(`last drill failed${d.cause ? `: ${d.cause}` : ''}`);
    return { source: name, backup: b, last_ok_at: okAt, rpo_ms: rpoMs, age_ms: age, overdue, verify: v, drill: d, attention };
  });
  return { sources: states, failed_runs: failedRuns };
}
