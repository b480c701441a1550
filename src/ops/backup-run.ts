/**
 * The backup run: every selected source dumped into its own snapshot, several at once (up to
 * `concurrency`), one failure never stopping the others. Before/after hooks run around each
 * source's dump; once the before-hooks started, the after-hooks run whatever happens (failed
 * dump, failed before-hook, Ctrl-C; see after-hooks.ts). A cancelled run marks the sources it
 * did not finish as skipped, not failed: nothing is wrong with them.
 * Knows only interfaces: the composition root (app/) supplies how snapshots are written.
 */
import { errorMessage } from '../core/errors.ts';
import { failureClassOf } from '../core/failure-class.ts';
import type { FailureClass } from '../core/failure-class.ts';
import type { ArtifactSink, BackupOutcome, Source, SourceContext } from '../core/source.ts';
import { runAfterHooks } from './after-hooks.ts';
import type { HookRunner } from './after-hooks.ts';
import type { SourceRunResult } from './run-report.ts';

export interface PlannedSource {
  readonly source: Source;
  readonly hooks?: { readonly before?: readonly string[]; readonly after?: readonly string[] };
}

export interface SnapshotSession {
  readonly sink: ArtifactSink;
  commit(outcome: BackupOutcome): Promise<{ snapshotId: string; bytesRead: number; bytesAdded: number }>;
}

export interface BackupRunDeps {
  openSession(source: Source): SnapshotSession;
  runHooks: HookRunner;
  context(source: Source): SourceContext;
  now(): number;
  /** Time limit of after-hooks (default AFTER_HOOKS_TIMEOUT_MS). */
  afterHooksTimeoutMs?: number;
}

export interface BackupRunOptions {
  concurrency: number;
  signal: AbortSignal;
  onSourceDone?: (r: SourceRunResult) => void;
}

async function backupOne(p: PlannedSource, deps: BackupRunDeps, signal: AbortSignal): Promise<SourceRunResult> {
  const { source } = p;
  const t0 = deps.now();
  const base = { source: source.name, type: source.type };
  let committed: { snapshotId: string; bytesRead: number; bytesAdded: number } | undefined;
  let error: string | undefined;
  let errorClass: FailureClass | undefined;
  try {
    if (p.hooks?.before?.length) await deps.runHooks(p.hooks.before, `${source.name}: before-backup hook`, signal);
    const session = deps.openSession(source);
    const outcome = await source.backup(session.sink, deps.context(source));
    committed = await session.commit(outcome);
  } catch (err) {
    error = errorMessage(err);
    errorClass = failureClassOf(err);
  }
  if (p.hooks?.after?.length) {
    const hookError = await runAfterHooks(deps.runHooks, p.hooks.after, `${source.name}: after-backup hook`, deps.afterHooksTimeoutMs);
    if (hookError) error = error ? `${error}; ${hookError}` : `snapshot ${committed?.snapshotId.slice(0, 8)} saved, but ${hookError}`;
  }
  const duration_ms = deps.now() - t0;
  if (!committed) return signal.aborted ? { ...base, status: 'skipped', error: 'cancelled before it finished', duration_ms } : { ...base, status: 'failed', error, error_class: errorClass ?? 'other', duration_ms };
  const sizes = {
    snapshot_id: committed.snapshotId,
    bytes_read: committed.bytesRead,
    bytes_added: committed.bytesAdded,
    dedup_ratio: committed.bytesAdded > 0 ? committed.bytesRead / committed.bytesAdded : undefined,
  };
  return error ? { ...base, status: 'failed', ...sizes, error, duration_ms } : { ...base, status: 'ok', ...sizes, duration_ms };
}

/** Backs up every planned source; resolves with one result per source, in plan order. */
export async function runBackup(plan: readonly PlannedSource[], deps: BackupRunDeps, opts: BackupRunOptions): Promise<SourceRunResult[]> {
  const results = new Array<SourceRunResult>(plan.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < plan.length) {
      const i = next++;
      const p = plan[i] as PlannedSource;
      const r = opts.signal.aborted
        ? { source: p.source.name, type: p.source.type, status: 'skipped' as const, error: 'cancelled', duration_ms: 0 }
        : await backupOne(p, deps, opts.signal);
      results[i] = r;
      opts.onSourceDone?.(r);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, plan.length)) }, worker));
  return results;
}
