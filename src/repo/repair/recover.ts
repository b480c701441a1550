/**
 * `recover` (restic's): trees in the index that no snapshot and no other tree references are
 * the roots of lost snapshots (a snapshot file deleted by mistake or by a crash); they are
 * gathered under one new tree, one directory per root named by its short ID, for a new
 * snapshot of "/recover" tagged "recovered".
 */
import { errorMessage } from '../../core/errors.ts';
import type { CallOptions } from '../../storage/storage.ts';
import { formatDate } from '../../util/time.ts';
import type { Repository } from '../repository.ts';
import { currentUser } from '../repository.ts';
import { listSnapshots, saveSnapshot } from '../snapshot/snapshot.ts';
import { GO_MODE_DIR } from '../tree/node.ts';
import type { TreeNode } from '../tree/node.ts';
import { TreeStore } from '../tree/tree-io.ts';
import { nowDate } from '../../util/clock.ts';

export interface RecoverReport {
  roots: string[];
  /** Trees that could not be read (their subtrees may show up as roots). */
  unreadable: Array<{ id: string; error: string }>;
}

/** The index must be loaded. */
export async function findUnreferencedRoots(repo: Repository, opts: CallOptions = {}): Promise<RecoverReport> {
  const referenced = new Map<string, boolean>();
  for (const b of repo.index.blobs()) if (b.type === 'tree') referenced.set(b.id, false);
  const trees = new TreeStore(repo, 1);
  const unreadable: RecoverReport['unreadable'] = [];
  for (const id of [...referenced.keys()]) {
    try {
      for (const n of (await trees.load(id, opts)).nodes) if (n.type === 'dir' && n.subtree) referenced.set(n.subtree, true);
    } catch (err) {
      unreadable.push({ id, error: errorMessage(err) });
    }
  }
  for (const s of await listSnapshots(repo, { ...opts, onError: () => undefined })) referenced.set(s.tree, true);
  const roots = [...referenced].filter(([, seen]) => !seen).map(([id]) => id).sort();
  return { roots, unreadable };
}

/** Writes the tree of the roots and a snapshot of it; returns the snapshot's ID. */
export async function saveRecoverSnapshot(repo: Repository, roots: readonly string[], meta: { programVersion?: string; now?: Date } = {}, opts: CallOptions = {}): Promise<string> {
  const now = meta.now ?? nowDate();
  const stamp = formatDate(now);
  const u = currentUser();
  const nodes: TreeNode[] = roots.map((id) => ({
    name: id.slice(0, 8), type: 'dir', mode: (GO_MODE_DIR | 0o755) >>> 0, mtime: stamp, atime: stamp, ctime: stamp, uid: 0, gid: 0, content: null, subtree: id,
  }));
  const tree = await new TreeStore(repo).save({ nodes });
  await repo.flush(opts);
  return saveSnapshot(repo, {
    time: stamp, tree, paths: ['/recover'], hostname: u.hostname, username: u.username, uid: u.uid, gid: u.gid, tags: ['recovered'], program_version: meta.programVersion,
  }, opts);
}
