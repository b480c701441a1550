/**
 * Differences between two snapshots' trees, as restic's `diff` reports them (cmd_diff.go):
 * one change per path ("+" added, "-" removed, "M" content modified, "T" type changed, "U"
 * metadata changed (only when asked), "?" content changed with identical metadata: likely
 * bitrot), and statistics of the files, dirs, blobs and bytes only one side has.
 */
import type { CallOptions } from '../../storage/storage.ts';
import { Repository } from '../repository.ts';
import { compareNames } from '../tree/node.ts';
import type { TreeNode } from '../tree/node.ts';
import { TreeStore } from '../tree/tree-io.ts';
import type { BlobType } from '../pack/pack-format.ts';

export interface DiffChange {
  message_type: 'change';
  path: string;
  modifier: string;
}

export interface DiffStat {
  files: number;
  dirs: number;
  others: number;
  data_blobs: number;
  tree_blobs: number;
  /** Plaintext bytes of those blobs. */
  bytes: number;
}

export interface DiffStatistics {
  message_type: 'statistics';
  source_snapshot: string;
  target_snapshot: string;
  changed_files: number;
  added: DiffStat;
  removed: DiffStat;
}

export interface DiffOptions extends CallOptions {
  /** Report metadata-only changes ("U"), restic's --metadata. */
  metadata?: boolean;
  onChange: (c: DiffChange) => void;
}

const emptyStat = (): DiffStat => ({ files: 0, dirs: 0, others: 0, data_blobs: 0, tree_blobs: 0, bytes: 0 });

/** Compares the trees `before` and `after`; the snapshot names go into the statistics as given. */
export async function diffTrees(
  repo: Repository,
  before: { name: string; tree: string },
  after: { name: string; tree: string },
  opts: DiffOptions,
): Promise<DiffStatistics> {
  const trees = new TreeStore(repo);
  const load = async (id: string): Promise<TreeNode[]> => (await trees.load(id, { signal: opts.signal })).nodes;
  const stats: DiffStatistics = { message_type: 'statistics', source_snapshot: before.name, target_snapshot: after.name, changed_files: 0, added: emptyStat(), removed: emptyStat() };
  const blobsBefore = new Set<string>([`t${before.tree}`]);
  const blobsAfter = new Set<string>([`t${after.tree}`]);
  const blobsCommon = new Set<string>();
  const change = (path: string, modifier: string): void => opts.onChange({ message_type: 'change', path, modifier });

  const addBlobs = (set: Set<string>, n: TreeNode): void => {
    if (n.type === 'file') for (const id of n.content ?? []) set.add(`d${id}`);
    else if (n.type === 'dir' && n.subtree) set.add(`t${n.subtree}`);
  };
  const count = (s: DiffStat, n: TreeNode): void => {
    if (n.type === 'file') s.files++;
    else if (n.type === 'dir') s.dirs++;
    else s.others++;
  };
  const printDir = async (mode: string, s: DiffStat, set: Set<string>, prefix: string, id: string): Promise<void> => {
    for (const n of await load(id)) {
      const name = join(prefix, n.name) + (n.type === 'dir' ? '/' : '');
      change(name, mode);
      count(s, n);
      addBlobs(set, n);
      if (n.type === 'dir' && n.subtree) await printDir(mode, s, set, name, n.subtree);
    }
  };
  const collectDir = async (id: string): Promise<void> => {
    for (const n of await load(id)) {
      addBlobs(blobsCommon, n);
      if (n.type === 'dir' && n.subtree) await collectDir(n.subtree);
    }
  };
  const diffTree = async (prefix: string, id1: string, id2: string): Promise<void> => {
    for (const [n1, n2] of pairByName(await load(id1), await load(id2))) {
      if (n1) addBlobs(blobsBefore, n1);
      if (n2) addBlobs(blobsAfter, n2);
      if (n1 && n2) {
        let name = join(prefix, n1.name);
        let mod = '';
        if (n1.type !== n2.type) mod += 'T';
        if (n2.type === 'dir') name += '/';
        if (n1.type === 'file' && n2.type === 'file' && !sameList(n1.content, n2.content)) {
          mod += 'M';
          stats.changed_files++;
          if (nodesEqual({ ...n1, content: null }, { ...n2, content: null })) mod += '?';
        } else if (opts.metadata && !nodesEqual(n1, n2)) mod += 'U';
        if (mod) change(name, mod);
        if (n1.type === 'dir' && n2.type === 'dir' && n1.subtree && n2.subtree) {
          if (n1.subtree === n2.subtree) await collectDir(n1.subtree);
          else await diffTree(name, n1.subtree, n2.subtree);
        }
      } else if (n1) {
        const name = join(prefix, n1.name) + (n1.type === 'dir' ? '/' : '');
        change(name, '-');
        count(stats.removed, n1);
        if (n1.type === 'dir' && n1.subtree) await printDir('-', stats.removed, blobsBefore, name, n1.subtree);
      } else if (n2) {
        const name = join(prefix, n2.name) + (n2.type === 'dir' ? '/' : '');
        change(name, '+');
        count(stats.added, n2);
        if (n2.type === 'dir' && n2.subtree) await printDir('+', stats.added, blobsAfter, name, n2.subtree);
      }
    }
  };
  await diffTree('/', before.tree, after.tree);

  const size = (key: string): number => {
    const loc = repo.index.lookup((key[0] === 't' ? 'tree' : 'data') as BlobType, key.slice(1))[0];
    return loc ? (loc.uncompressedLength ?? loc.length - Repository.overhead) : 0;
  };
  const tally = (s: DiffStat, mine: Set<string>, other: Set<string>): void => {
    for (const key of mine) {
      if (other.has(key) || blobsCommon.has(key)) continue;
      if (key[0] === 't') s.tree_blobs++;
      else s.data_blobs++;
      s.bytes += size(key);
    }
  };
  tally(stats.removed, blobsBefore, blobsAfter);
  tally(stats.added, blobsAfter, blobsBefore);
  return stats;
}

function join(prefix: string, name: string): string {
  return prefix.endsWith('/') ? prefix + name : `${prefix}/${name}`;
}

/** Walks two name-sorted node lists side by side (restic's DualTreeIterator). */
function* pairByName(a: readonly TreeNode[], b: readonly TreeNode[]): Generator<[TreeNode | undefined, TreeNode | undefined]> {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    const c = x && y ? compareNames(x.name, y.name) : x ? -1 : 1;
    if (c === 0) {
      yield [x, y];
      i++;
      j++;
    } else if (c < 0) {
      yield [x, undefined];
      i++;
    } else {
      yield [undefined, y];
      j++;
    }
  }
}

function sameList(a: readonly string[] | null | undefined, b: readonly string[] | null | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** restic's Node.Equals: every field, key order and empty values aside. */
export function nodesEqual(a: TreeNode, b: TreeNode): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined && x !== null && x !== '' && x !== 0 && !(Array.isArray(x) && x.length === 0));
    return `{${entries.sort(([k1], [k2]) => (k1 < k2 ? -1 : 1)).map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
