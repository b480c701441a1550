/**
 * What a restore of one source from one snapshot would do, for the dashboard's preview: the
 * same plan `lifeboat restore --only <source> --snapshot <id> --dry-run` prints, plus the
 * snapshot's artifacts and sizes from its manifest. Reads only (a shared lock while it reads).
 * Hook commands are counted, not shown: a command line may carry a credential.
 */
import { NotFoundError } from '../core/errors.ts';
import { planStackRestore, snapshotStoreOf } from '../app/stack.ts';
import type { Stack } from '../app/stack.ts';

export interface RestorePreview {
  source: string;
  snapshot_id: string;
  time: string;
  host: string | null;
  /** Where it would go: null for in place (the live store is replaced). */
  to: string | null;
  safety_snapshot: boolean;
  depends_on: string[];
  hooks: { before: number; after: number };
  artifacts: Array<{ name: string; size: number }>;
  files: { count: number; bytes: number } | null;
  /** The command that runs this restore (it asks for confirmation). */
  command: string;
}

export async function restorePreview(stack: Stack, source: string, snapshot: string): Promise<RestorePreview> {
  const opened = await stack.openRepository('shared');
  try {
    const plan = await planStackRestore(stack, opened, { only: [source], snapshot });
    const item = plan.items[0];
    const snap = item && plan.snapshots.get(item.snapshotId);
    if (!item || !snap) throw new NotFoundError(`no snapshot ${snapshot} of ${source}`, { hint: 'GET /api/v1/sources/<name>/snapshots lists them' });
    const reader = await snapshotStoreOf(opened).openReader(snap);
    const m = reader.manifest;
    return {
      source,
      snapshot_id: snap.id,
      time: snap.date.toISOString(),
      host: snap.hostname ?? null,
      to: item.to ?? null,
      safety_snapshot: item.safetySnapshot === true,
      depends_on: [...item.dependsOn],
      hooks: { before: item.hooks?.before?.length ?? 0, after: item.hooks?.after?.length ?? 0 },
      artifacts: m.artifacts.map((a) => ({ name: a.name, size: a.size })),
      files: m.files ? { count: m.files.count, bytes: m.files.bytes } : null,
      command: `lifeboat restore --only ${source} --snapshot ${snap.id.slice(0, 8)}`,
    };
  } finally {
    await opened.close();
  }
}
