/**
 * `repair snapshots` (restic 0.16+): a snapshot whose trees or data blobs are missing or
 * damaged is rewritten so that everything it still references can be read: a file loses
 * the blobs that are gone (and its size is corrected), a directory whose tree cannot be
 * read becomes empty, a node of unknown type is dropped. A snapshot whose root tree cannot
 * be read is removed. What was lost is reported path by path.
 */
import type { CallOptions } from '../../storage/storage.ts';
import { Repository } from '../repository.ts';
import type { Snapshot, SnapshotDoc } from '../snapshot/snapshot.ts';
import { snapshotDocument } from '../snapshot/snapshot.ts';
import type { TreeNode } from '../tree/node.ts';
import { TreeRewriter } from '../rewriter/tree-rewriter.ts';
import { TreeStore } from '../tree/tree-io.ts';

const NODE_TYPES = new Set(['file', 'dir', 'symlink', 'dev', 'chardev', 'fifo', 'socket']);

export type SnapshotRepair =
  | { kind: 'unchanged' }
  | { kind: 'remove' }
  | { kind: 'rewrite'; doc: SnapshotDoc };

/** Works out the repaired document of one snapshot; writes only the trees it needs. */
export async function repairSnapshot(repo: Repository, snap: Snapshot, opts: CallOptions & { onLine?: (line: string) => void; dryRun?: boolean } = {}): Promise<SnapshotRepair> {
  const say = opts.onLine ?? (() => undefined);
  try {
    await new TreeStore(repo, 1).load(snap.tree, opts);
  } catch {
    // The cause is in the line: the snapshot holds nothing that can be read.
    say('  dir "/": not readable');
    return { kind: 'remove' };
  }
  const rewriter = new TreeRewriter(repo, {
    rewriteNode: (node, path) => repairNode(repo, node, path, say),
    onTreeError: (_id, path) => {
      say(`  dir "${path}": replaced with empty directory`);
      return { nodes: [] };
    },
    dryRun: opts.dryRun,
  });
  const r = await rewriter.rewrite(snap.tree, '/', opts);
  if (r.tree === snap.tree) return { kind: 'unchanged' };
  const doc = snapshotDocument(snap);
  doc.tree = r.tree;
  if (doc.summary) doc.summary = { ...doc.summary, total_files_processed: r.files, total_bytes_processed: r.bytes };
  return { kind: 'rewrite', doc };
}

function repairNode(repo: Repository, node: TreeNode, path: string, say: (l: string) => void): TreeNode | undefined {
  if (!NODE_TYPES.has(node.type)) {
    say(`  file "${path}": removed node with invalid type "${node.type as string}"`);
    return undefined;
  }
  if (node.type !== 'file') return node;
  const content: string[] = [];
  let size = 0;
  let missing = false;
  for (const id of node.content ?? []) {
    const loc = repo.index.lookup('data', id)[0];
    if (!loc) {
      missing = true;
      continue;
    }
    content.push(id);
    size += loc.uncompressedLength ?? loc.length - Repository.overhead;
  }
  if (missing) say(`  file "${path}": removed missing content`);
  else if (size !== (node.size ?? 0)) say(`  file "${path}": fixed incorrect size`);
  else return node;
  return { ...node, content, size };
}
