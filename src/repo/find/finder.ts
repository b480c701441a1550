/**
 * Searching snapshots' trees, as restic's `find` does (cmd_find.go): nodes whose path matches
 * restic patterns (optionally within a modification-time window), or the places where given
 * data blobs and trees are referenced. Results come out one snapshot at a time.
 */
import type { CallOptions } from '../../storage/storage.ts';
import type { Repository } from '../repository.ts';
import type { Snapshot } from '../snapshot/snapshot.ts';
import type { TreeNode } from '../tree/node.ts';
import { TreeStore } from '../tree/tree-io.ts';
import { childMayMatch, matchPattern } from '../filter/restic-pattern.ts';
import type { PathPattern } from '../filter/restic-pattern.ts';
import { parseDate } from '../../util/time.ts';

/** A node visited by walkTree, with its absolute path and the tree that holds it. */
export interface VisitedNode {
  node: TreeNode;
  path: string;
  parentTree: string;
}

/**
 * Visits every node under `treeId` depth first, in name order; `visit` returns false to skip
 * a directory's contents.
 */
export async function walkTree(
  trees: TreeStore,
  treeId: string,
  visit: (v: VisitedNode) => boolean | Promise<boolean>,
  opts: CallOptions & { prefix?: string } = {},
): Promise<void> {
  const prefix = opts.prefix ?? '/';
  for (const node of (await trees.load(treeId, opts)).nodes) {
    const path = prefix === '/' ? `/${node.name}` : `${prefix}/${node.name}`;
    const descend = await visit({ node, path, parentTree: treeId });
    if (descend && node.type === 'dir' && node.subtree) await walkTree(trees, node.subtree, visit, { ...opts, prefix: path });
  }
}

export interface FindOptions extends CallOptions {
  /** A tree cache shared across the snapshots searched (most of their trees are the same). */
  trees?: TreeStore;
}

export interface NodeQuery {
  patterns: readonly PathPattern[];
  ignoreCase?: boolean;
  oldest?: Date;
  newest?: Date;
}

/** The nodes of one snapshot that match any pattern (and the mtime window). */
export async function findNodes(repo: Repository, snap: Snapshot, q: NodeQuery, opts: FindOptions = {}): Promise<VisitedNode[]> {
  const trees = opts.trees ?? new TreeStore(repo);
  const out: VisitedNode[] = [];
  await walkTree(
    trees,
    snap.tree,
    (v) => {
      const p = q.ignoreCase ? v.path.toLowerCase() : v.path;
      if (q.patterns.some((pat) => matchPattern(pat, p)) && inWindow(v.node, q)) out.push(v);
      return v.node.type === 'dir' && q.patterns.some((pat) => childMayMatch(pat, p));
    },
    opts,
  );
  return out;
}

function inWindow(n: TreeNode, q: NodeQuery): boolean {
  if (!q.oldest && !q.newest) return true;
  if (!n.mtime) return false;
  const t = parseDate(n.mtime).getTime();
  return (!q.oldest || t >= q.oldest.getTime()) && (!q.newest || t <= q.newest.getTime());
}

export interface ObjectHit {
  object_type: 'blob' | 'tree';
  id: string;
  path: string;
  parent_tree?: string;
  snapshot: string;
  time: string;
}

/**
 * Where the data blobs and trees with the given IDs (whole or short) are referenced in one
 * snapshot: a data blob by the file whose content lists it, a tree by the directory whose
 * subtree it is (a snapshot's root tree has no such directory, as in restic).
 */
export async function findObjects(
  repo: Repository,
  snap: Snapshot,
  ids: { blobs: readonly string[]; trees: readonly string[] },
  opts: FindOptions = {},
): Promise<ObjectHit[]> {
  const trees = opts.trees ?? new TreeStore(repo);
  const out: ObjectHit[] = [];
  // restic compares the whole ID or its 8-digit short form, no other prefix length.
  const matches = (given: readonly string[], id: string): boolean => given.some((p) => p === id || p === id.slice(0, 8));
  await walkTree(
    trees,
    snap.tree,
    (v) => {
      const n = v.node;
      if (n.type === 'file' && ids.blobs.length > 0) {
        const seen = new Set<string>();
        for (const id of n.content ?? []) {
          if (seen.has(id) || !matches(ids.blobs, id)) continue;
          seen.add(id);
          out.push({ object_type: 'blob', id, path: v.path, parent_tree: v.parentTree, snapshot: snap.id, time: snap.time });
        }
      }
      if (n.type === 'dir' && n.subtree && matches(ids.trees, n.subtree)) {
        out.push({ object_type: 'tree', id: n.subtree, path: v.path, snapshot: snap.id, time: snap.time });
      }
      return true;
    },
    opts,
  );
  return out;
}

/** Go's os.FileMode.String() ("drwxr-xr-x", "Lrwxrwxrwx", "-rw-r--r--"), as restic prints permissions. */
export function goModeString(mode: number): string {
  const types = 'dalTLDpSugct?';
  let s = '';
  for (let i = 0; i < types.length; i++) if ((mode >>> (31 - i)) & 1) s += types[i];
  if (s === '') s = '-';
  const rwx = 'rwxrwxrwx';
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? rwx[i] : '-';
  return s;
}

/** A node as restic's `find --json` prints a match: its path and permissions, no content. */
export function matchJSON(v: VisitedNode): Record<string, unknown> {
  const { name: _n, inode: _i, extended_attributes: _x, device: _d, content: _c, subtree: _s, error: _e, ...rest } = v.node;
  const out: Record<string, unknown> = { path: v.path, permissions: goModeString(v.node.mode ?? 0) };
  for (const [k, val] of Object.entries(rest)) {
    if (k === 'uid' || k === 'gid' || (val !== undefined && val !== '' && val !== 0)) out[k] = val;
  }
  return out;
}
