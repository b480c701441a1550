/**
 * Restore planning: the chosen snapshot of each selected source, in the order given (the
 * config's dependency order), with its hooks, target and whether a safety snapshot comes
 * first. Nothing is touched; the plan is shown and confirmed before ops/restore-run runs it.
 */
import { UsageError } from '../core/errors.ts';
import type { SnapshotStore, StackSnapshot } from '../core/snapshot-store.ts';
import type { Source } from '../core/source.ts';
import type { PlannedRestore } from './restore-run.ts';
import { chooseSnapshots } from './snapshot-choice.ts';
import type { SnapshotRequest } from './snapshot-choice.ts';

/** A source that may be restored, as the config declares it. */
export interface RestoreCandidate {
  readonly source: Source;
  readonly dependsOn: readonly string[];
  readonly hooks?: PlannedRestore['hooks'];
  /** The config's `restore.to`. */
  readonly to?: string;
}

export interface RestoreRequest extends SnapshotRequest {
  /** An alternative target (`--to`); only for one source. */
  to?: string;
  /** Skip the pre-restore safety snapshot of in-place restores (`--no-safety-snapshot`). */
  noSafetySnapshot?: boolean;
}

export interface RestorePlan {
  items: PlannedRestore[];
  /** Selected sources without a snapshot to restore. */
  missing: string[];
  /** The chosen snapshots by ID, so the restore need not list the store again. */
  snapshots: ReadonlyMap<string, StackSnapshot>;
}

/** `candidates` are the selected sources in dependency order. */
export async function planRestore(store: SnapshotStore, candidates: readonly RestoreCandidate[], req: RestoreRequest, opts: { signal?: AbortSignal } = {}): Promise<RestorePlan> {
  if (req.to && candidates.length !== 1) throw new UsageError('--to needs exactly one source', { hint: 'add --only NAME' });
  const all = await store.list({ signal: opts.signal });
  const chosen = chooseSnapshots(all, candidates.map((c) => c.source.name), req);
  const items: PlannedRestore[] = [];
  const missing: string[] = [];
  for (const c of candidates) {
    const snap = chosen.get(c.source.name);
    if (!snap) {
      if (!req.snapshot) missing.push(c.source.name);
      continue;
    }
    const to = req.to ?? c.to;
    items.push({ source: c.source, snapshotId: snap.id, dependsOn: c.dependsOn, hooks: c.hooks, to, safetySnapshot: !to && !req.noSafetySnapshot });
  }
  return { items, missing, snapshots: new Map([...chosen.values()].map((s) => [s.id, s])) };
}
