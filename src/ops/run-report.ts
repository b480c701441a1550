/**
 * Run reports: the JSON every backup, restore and drill run leaves in the state directory
 * (`<state_dir>/reports/<kind>-<time>.json` and `<state_dir>/reports/latest-<kind>.json`).
 * The shape is stable and documented in docs/reports.md; human output summarises it.
 */
import type { FailureClass } from '../core/failure-class.ts';

export type ReportKind = 'backup' | 'restore' | 'verify' | 'drill' | 'synthetic';

/** The fields every run report starts with (docs/reports.md). */
export interface ReportEnvelope<K extends ReportKind> {
  kind: K;
  lifeboat_version: string;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  repository: string;
  hostname: string;
}

export type SourceStatus = 'ok' | 'failed' | 'skipped';

export interface SourceRunResult {
  source: string;
  type: string;
  status: SourceStatus;
  snapshot_id?: string;
  bytes_read?: number;
  bytes_added?: number;
  /** bytes_read / bytes_added: how much the repository's dedup and compression saved. */
  dedup_ratio?: number;
  duration_ms: number;
  error?: string;
  /** When a backup failed: what kind of failure (core/failure-class.ts), e.g. `transient` for a store that refused the connection. */
  error_class?: FailureClass;
  /** Fingerprint differences after a restore (empty when equal). */
  fingerprint_diff?: string[];
  artifacts?: Array<{ name: string; size: number; sha256: string }>;
  /** Restore only: the snapshot of the live data taken before it was replaced (tag `pre-restore`). */
  safety_snapshot_id?: string;
  /** Restore only: the command that puts the replaced data back. */
  undo?: string;
}

/**
 * Bytes one source's backup or restore moved so far: the CLI's progress line and `--json`
 * progress events, and the daemon's `run_progress` stream, all come from this.
 */
export interface SourceProgress {
  readonly source: string;
  readonly phase: 'backup' | 'restore';
  /** Read from the source (backup) or streamed back into it (restore). */
  readonly bytes: number;
  /** Backup only: what the repository did not have yet. */
  readonly bytes_added?: number;
  /** The expected total, when known: a restore's artifact sizes, a backup's previous size. */
  readonly total?: number;
}

export interface RunReport extends ReportEnvelope<'backup' | 'restore'> {
  status: 'ok' | 'partial' | 'failed';
  /** Set when the run was cancelled (SIGINT/SIGTERM): the sources it did not finish are `skipped`. */
  interrupted?: boolean;
  sources: SourceRunResult[];
  /** Offsite copies (`copies:` of lifeboat.yml) brought up to date after the backup. */
  copies?: Array<{ repository: string; status: 'ok' | 'failed'; copied: number; skipped?: number; error?: string }>;
}

/** An interrupted run is never `ok`: `partial` when some source finished, else `failed`. */
export function overallStatus(results: readonly SourceRunResult[], interrupted = false): RunReport['status'] {
  const failed = results.filter((r) => r.status === 'failed').length;
  if (interrupted) return results.some((r) => r.status === 'ok') ? 'partial' : 'failed';
  if (failed === 0) return 'ok';
  return failed === results.filter((r) => r.status !== 'skipped').length ? 'failed' : 'partial';
}
