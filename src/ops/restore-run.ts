/**
 * The restore run: sources restored in dependency order (the plan is already ordered), several
 * at once (up to `concurrency`): a source starts once every source it depends on has finished,
 * so independent stores come back in parallel and the whole stack's RTO is that of its longest
 * chain, not the sum. For each source:
 *
 * 1. for an in-place restore, a safety snapshot of the live store (tag `pre-restore`), so a
 *    wrong restore is one `lifeboat restore --only NAME --snapshot ID` to undo. It is taken
 *    before the hooks run, while the store is certainly up (a before-hook may stop the store
 *    itself, as for redis `restore_mode: data_dir`), and when it fails nothing was stopped;
 * 2. its before-restore hooks (stop the application);
 * 3. the restore, then the restored data's fingerprint compared with the one recorded at
 *    backup time, before anything restarts (an application that writes on start would make
 *    a good restore look wrong);
 * 4. its after-restore hooks (start the application), always once a before-hook ran: after a
 *    failure and after a cancellation too, with their own time limit instead of the run's
 *    (already aborted) signal.
 *
 * A failed source stops the sources that depend on it. A failure after the live data was
 * touched says so, with the undo command.
 */
import { SourceError, errorMessage } from '../core/errors.ts';
import { compareFingerprints } from '../core/source.ts';
import type { ArtifactReader, Fingerprint, RestoreOptions, Source, SourceContext } from '../core/source.ts';
import { runAfterHooks } from './after-hooks.ts';
import type { HookRunner } from './after-hooks.ts';
import type { SourceRunResult } from './run-report.ts';

export interface PlannedRestore {
  readonly source: Source;
  readonly snapshotId: string;
  readonly dependsOn: readonly string[];
  readonly hooks?: { readonly before?: readonly string[]; readonly after?: readonly string[] };
  readonly to?: string;
  /** Back up the live store (tag `pre-restore`) before replacing it; only for in-place restores. */
  readonly safetySnapshot?: boolean;
}

export interface RestoreRunDeps {
  openReader(p: PlannedRestore): Promise<{ reader: ArtifactReader; fingerprint: Fingerprint }>;
  runHooks: HookRunner;
  /** Backs up the live store of `p.source` before it is replaced; resolves with the snapshot ID. */
  takeSafetySnapshot?(p: PlannedRestore): Promise<string>;
  context(source: Source): SourceContext;
  now(): number;
  /** Time limit of after-hooks (default AFTER_HOOKS_TIMEOUT_MS). */
  afterHooksTimeoutMs?: number;
}

/** The command that puts back what a restore replaced. */
export function undoCommand(source: string, safetySnapshotId: string): string {
  return `lifeboat restore --only ${source} --snapshot ${safetySnapshotId.slice(0, 8)}`;
}

async function restoreOne(p: PlannedRestore, deps: RestoreRunDeps, signal: AbortSignal): Promise<SourceRunResult> {
  const { source } = p;
  const t0 = deps.now();
  const base: SourceRunResult = { source: source.name, type: source.type, status: 'failed', snapshot_id: p.snapshotId, duration_ms: 0 };
  let touched = false;
  let verified = false;
  const finish = (r: Partial<SourceRunResult>): SourceRunResult => ({ ...base, ...r, duration_ms: deps.now() - t0 });
  const errors: string[] = [];
  let diff: string[] | undefined;
  let hooksStarted = false;
  try {
    const { reader, fingerprint } = await deps.openReader(p);
    const ropts: RestoreOptions = p.to ? { to: p.to } : {};
    if (p.safetySnapshot && !p.to && deps.takeSafetySnapshot) {
      base.safety_snapshot_id = await deps.takeSafetySnapshot(p).catch((err: unknown) => {
        throw new SourceError(`safety snapshot of the live data failed, so nothing was restored: ${errorMessage(err)}; fix that, or restore with --no-safety-snapshot if the live data is gone or not worth keeping`);
      });
      base.undo = undoCommand(source.name, base.safety_snapshot_id);
    }
    if (signal.aborted) throw new SourceError('cancelled before the restore started');
    hooksStarted = true;
    if (p.hooks?.before?.length) await deps.runHooks(p.hooks.before, `${source.name}: before-restore hook`, signal);
    if (signal.aborted) throw new SourceError('cancelled before the restore started');
    touched = true;
    await source.restore(reader, deps.context(source), { ...ropts, expected: fingerprint });
    diff = compareFingerprints(fingerprint, await source.fingerprint(deps.context(source), ropts));
    if (diff.length > 0) errors.push(`restored data differs from the backup's fingerprint (${diff.length} differences; first: ${diff[0]})`);
    else verified = true;
  } catch (err) {
    errors.push(errorMessage(err));
  }
  if (hooksStarted && p.hooks?.after?.length) {
    const hookError = await runAfterHooks(deps.runHooks, p.hooks.after, `${source.name}: after-restore hook`, deps.afterHooksTimeoutMs);
    if (hookError) errors.push(verified ? `restored and verified, but ${hookError}` : hookError);
  }
  if (errors.length === 0) return finish({ status: 'ok', fingerprint_diff: [] });
  if (!touched && signal.aborted) return finish({ status: 'skipped', error: 'cancelled' });
  let error = errors.join('; ');
  if (touched && !verified) {
    error += base.undo
      ? `; the live data may already be changed; to undo, run "${base.undo}"`
      : p.to ? '' : '; the live data may already be changed, and no safety snapshot was taken';
  }
  return finish({ status: 'failed', error, ...(diff ? { fingerprint_diff: diff } : {}) });
}

export async function runRestore(
  plan: readonly PlannedRestore[],
  deps: RestoreRunDeps,
  opts: { signal: AbortSignal; concurrency?: number; onSourceDone?: (r: SourceRunResult) => void },
): Promise<SourceRunResult[]> {
  const limit = Math.max(1, opts.concurrency ?? 1);
  const inPlan = new Set(plan.map((p) => p.source.name));
  const failed = new Set<string>();
  const finished = new Set<string>();
  const results = new Array<SourceRunResult>(plan.length);
  const started = new Array<boolean>(plan.length).fill(false);
  const running = new Map<number, Promise<void>>();

  const settle = (i: number, r: SourceRunResult): void => {
    const name = (plan[i] as PlannedRestore).source.name;
    if (r.status !== 'ok') failed.add(name);
    finished.add(name);
    results[i] = r;
    opts.onSourceDone?.(r);
  };
  /** The first source not started whose dependencies in the plan have all finished. */
  const nextReady = (): number => plan.findIndex((p, i) => !started[i] && p.dependsOn.every((d) => !inPlan.has(d) || finished.has(d)));

  for (;;) {
    let i = nextReady();
    while (i >= 0 && running.size < limit) {
      const p = plan[i] as PlannedRestore;
      started[i] = true;
      const base = { source: p.source.name, type: p.source.type, snapshot_id: p.snapshotId };
      const blocker = p.dependsOn.find((d) => failed.has(d));
      if (opts.signal.aborted) settle(i, { ...base, status: 'skipped', error: 'cancelled', duration_ms: 0 });
      else if (blocker) settle(i, { ...base, status: 'skipped', error: `not restored: it depends on ${blocker}, which failed`, duration_ms: 0 });
      else {
        const at = i;
        running.set(at, restoreOne(p, deps, opts.signal).then((r) => {
          running.delete(at);
          settle(at, r);
        }));
      }
      i = nextReady();
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  // Only a plan out of dependency order could leave one unstarted: never a silent hole.
  plan.forEach((p, i) => {
    if (!started[i]) settle(i, { source: p.source.name, type: p.source.type, snapshot_id: p.snapshotId, status: 'skipped', error: 'not restored: its dependencies never finished', duration_ms: 0 });
  });
  return results;
}
