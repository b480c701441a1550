/**
 * Rewriting a snapshot's tree with some nodes left out or replaced, as restic's walker
 * (internal/walker/rewriter.go) does for `rewrite` and `repair snapshots`. Only trees on the
 * way to a change are written again; every other tree and all data blobs are reused by ID,
 * so a rewrite adds a few tree blobs and no data. The file count and bytes of the new tree
 * are gathered for the snapshot's summary (restic sets total_files_processed and
 * total_bytes_processed from them).
 */
import type { CallOptions } from '../../storage/storage.ts';
import type { Repository } from '../repository.ts';
import { encodeTree } from '../tree/node.ts';
import type { Tree, TreeNode } from '../tree/node.ts';
import { TreeStore } from '../tree/tree-io.ts';
import { idOf } from '../../core/ids.ts';

/**
 * Decides a node's fate: the node itself (kept as is), a changed node, or undefined (left
 * out). Directories are decided before their contents are visited.
 */
export type NodeRewrite = (node: TreeNode, path: string) => TreeNode | undefined;

export interface RewriteResult {
  /** ID of the new root tree (the old one when nothing changed). */
  tree: string;
  files: number;
  bytes: number;
}

export interface TreeRewriterOptions {
  rewriteNode: NodeRewrite;
  /**
   * Called for a tree that cannot be loaded; returns the tree to use instead (repair
   * snapshots: an empty one), or throws (the default: the error propagates).
   */
  onTreeError?: (id: string, path: string, err: unknown) => Tree;
  /** Work out the new tree IDs without storing a tree (a dry run leaves nothing behind). */
  dryRun?: boolean;
}

export class TreeRewriter {
  readonly #repo: Repository;
  readonly #trees: TreeStore;
  readonly #opts: TreeRewriterOptions;
  /** Results by path and tree ID: a tree met twice at one path is rewritten once. */
  readonly #done = new Map<string, RewriteResult>();

  constructor(repo: Repository, opts: TreeRewriterOptions) {
    this.#repo = repo;
    this.#trees = new TreeStore(repo);
    this.#opts = opts;
  }

  /** Rewrites the tree `id` found at `path` ("/" for a snapshot's root). */
  async rewrite(id: string, path = '/', opts: CallOptions = {}): Promise<RewriteResult> {
    const key = `${path}\0${id}`;
    const hit = this.#done.get(key);
    if (hit) return hit;
    let tree: Tree;
    let replaced = false;
    try {
      tree = await this.#trees.load(id, opts);
    } catch (err) {
      if (!this.#opts.onTreeError) throw err;
      tree = this.#opts.onTreeError(id, path, err);
      replaced = true;
    }
    const nodes: TreeNode[] = [];
    let files = 0;
    let bytes = 0;
    for (const node of tree.nodes) {
      const p = path === '/' ? `/${node.name}` : `${path}/${node.name}`;
      const kept = this.#opts.rewriteNode(node, p);
      if (!kept) continue;
      if (kept.type === 'dir' && kept.subtree) {
        const sub = await this.rewrite(kept.subtree, p, opts);
        files += sub.files;
        bytes += sub.bytes;
        nodes.push(sub.tree === kept.subtree ? kept : { ...kept, subtree: sub.tree });
      } else {
        if (kept.type === 'file') {
          files++;
          bytes += kept.size ?? 0;
        }
        nodes.push(kept);
      }
    }
    const bytesOut = encodeTree({ nodes });
    let newId = idOf(bytesOut);
    // Unchanged trees keep their ID without a write (an old tree encoded by another writer may
    // differ in bytes but not in content: keep it as it is).
    const unchanged = !replaced && nodes.length === tree.nodes.length && nodes.every((n, i) => n === tree.nodes[i]);
    if (unchanged) newId = id;
    else if (!this.#opts.dryRun) await this.#repo.saveBlob('tree', bytesOut, newId);
    const result = { tree: newId, files, bytes };
    this.#done.set(key, result);
    return result;
  }
}
