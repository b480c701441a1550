/**
 * The SnapshotStore port over a repository: stack snapshots are restic snapshots tagged
 * `source:<name>` whose tree holds `/<source>/…` (docs/design.md, "Stack snapshots").
 */
import type { SnapshotStore, StackSnapshot } from '../../core/snapshot-store.ts';
import type { Repository } from '../repository.ts';
import { listSnapshots, loadSnapshot } from '../snapshot/snapshot.ts';
import type { Snapshot } from '../snapshot/snapshot.ts';
import { SnapshotReader } from './stack-reader.ts';
import { SnapshotWriter } from './stack-writer.ts';
import { toStackSnapshot } from './tags.ts';

export function createRepositorySnapshotStore(repo: Repository): SnapshotStore {
  // The snapshots listed last, so a reader need not load its snapshot file again.
  const listed = new Map<string, Snapshot>();
  return {
    location: repo.location,
    async list(opts = {}) {
      const out: StackSnapshot[] = [];
      for (const s of await listSnapshots(repo, { signal: opts.signal, onError: opts.onError ?? (() => undefined) })) {
        const stack = toStackSnapshot(s);
        if (!stack) continue;
        listed.set(s.id, s);
        out.push(stack);
      }
      return out;
    },
    openWriter(source, opts = {}) {
      return new SnapshotWriter(repo, source, opts.signal, opts.onProgress);
    },
    async openReader(snapshot, opts = {}) {
      const snap = listed.get(snapshot.id) ?? (await loadSnapshot(repo, snapshot.id, { signal: opts.signal }));
      return SnapshotReader.open(repo, snap, snapshot.source, opts.signal);
    },
    async forget(ids, opts = {}) {
      for (const id of ids) await repo.storage.remove({ type: 'snapshots', name: id }, { signal: opts.signal });
    },
  };
}
