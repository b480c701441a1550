/**
 * The drill: each source's latest backup restored into a scratch target that never touches
 * production (a new database, a throwaway server, a temp dir), its fingerprint compared with
 * the one recorded at backup time, the restore timed (RTO) and the restored data's age taken
 * (RPO), both judged against the source's targets. A scratch target marked `readOnly` (a store
 * that cannot be restored elsewhere) only proves the backup reads back whole: mode `read`. The scratch target is always removed,
 * after a pass, a failure or a cancellation.
 */
import { errorMessage } from '../core/errors.ts';
import { compareFingerprints } from '../core/source.ts';
import type { ArtifactReader, Fingerprint, ScratchTarget, Source, SourceContext } from '../core/source.ts';

export interface PlannedDrill {
  readonly source: Source;
  readonly snapshotId: string;
  /** When the backup was taken (the restored data's point in time). */
  readonly snapshotTime: Date;
  readonly rtoMs?: number;
  readonly rpoMs?: number;
}

export interface DrillResult {
  source: string;
  type: string;
  status: 'pass' | 'fail' | 'skipped';
  snapshot_id: string;
  snapshot_time: string;
  scratch?: string;
  /** Restore duration into the scratch target, ms. */
  rto_ms?: number;
  rto_target_ms?: number;
  /** Age of the restored data when the drill started, ms. */
  rpo_ms: number;
  rpo_target_ms?: number;
  fingerprint_diff?: string[];
  /** What the drill could check: a real restore and fingerprint, or only a full read of the backup. */
  mode?: 'restore' | 'read';
  /** Why a `read` drill could not restore (the scratch target's own words). */
  note?: string;
  cleanup: 'done' | 'failed' | 'none';
  cause?: string;
}

export interface DrillDeps {
  openReader(p: PlannedDrill): Promise<{ reader: ArtifactReader; fingerprint: Fingerprint }>;
  context(source: Source): SourceContext;
  now(): number;
}

export async function drillOne(p: PlannedDrill, deps: DrillDeps, signal: AbortSignal): Promise<DrillResult> {
  const { source } = p;
  const startedAt = deps.now();
  const base: DrillResult = {
    source: source.name,
    type: source.type,
    status: 'fail',
    snapshot_id: p.snapshotId,
    snapshot_time: p.snapshotTime.toISOString(),
    rpo_ms: Math.max(0, startedAt - p.snapshotTime.getTime()),
    rpo_target_ms: p.rpoMs,
    rto_target_ms: p.rtoMs,
    cleanup: 'none',
  };
  if (!source.scratchTarget) return { ...base, status: 'skipped', cause: `a ${source.type} source has no scratch target to drill into` };
  if (signal.aborted) return { ...base, status: 'skipped', cause: 'cancelled' };
  let scratch: ScratchTarget | undefined;
  try {
    const { reader, fingerprint } = await deps.openReader(p);
    const ctx = deps.context(source);
    scratch = await source.scratchTarget(reader, ctx);
    base.scratch = scratch.description;
    const t0 = deps.now();
    await source.restore(reader, ctx, { to: scratch.to });
    base.rto_ms = deps.now() - t0;
    base.mode = scratch.readOnly ? 'read' : 'restore';
    if (scratch.readOnly) base.note = scratch.readOnly;
    const diff = scratch.readOnly ? [] : compareFingerprints(fingerprint, await source.fingerprint(ctx, { to: scratch.to }));
    base.fingerprint_diff = diff;
    const causes: string[] = [];
    if (diff.length > 0) causes.push(`restored data differs from the backup's fingerprint (${diff.length}; first: ${diff[0]})`);
    if (p.rtoMs !== undefined && base.rto_ms > p.rtoMs) causes.push(`restore took ${Math.round(base.rto_ms / 1000)}s, over the RTO target of ${Math.round(p.rtoMs / 1000)}s`);
    if (p.rpoMs !== undefined && base.rpo_ms > p.rpoMs) causes.push(`restored data is ${Math.round(base.rpo_ms / 60000)} min old, over the RPO target of ${Math.round(p.rpoMs / 60000)} min`);
    base.status = causes.length === 0 ? 'pass' : 'fail';
    if (causes.length > 0) base.cause = causes.join('; ');
  } catch (err) {
    base.status = 'fail';
    base.cause = errorMessage(err);
  } finally {
    if (scratch) {
      try {
        await scratch.cleanup();
        base.cleanup = 'done';
      } catch (err) {
        base.cleanup = 'failed';
        base.status = 'fail';
        base.cause = `${base.cause ? `${base.cause}; ` : ''}scratch target not removed: ${errorMessage(err)}`;
      }
    }
  }
  return base;
}

/** Drills the planned sources one after the other (scratch targets compete for the same servers). */
export async function runDrill(plan: readonly PlannedDrill[], deps: DrillDeps, opts: { signal: AbortSignal; onSourceDone?: (r: DrillResult) => void }): Promise<DrillResult[]> {
  const out: DrillResult[] = [];
  for (const p of plan) {
    const r = await drillOne(p, deps, opts.signal);
    out.push(r);
    opts.onSourceDone?.(r);
  }
  return out;
}

/** A drill passes only when every drilled source passed (a skipped one fails it: it proved nothing). */
export function drillVerdict(results: readonly DrillResult[]): 'pass' | 'fail' {
  return results.every((r) => r.status === 'pass') ? 'pass' : 'fail';
}
