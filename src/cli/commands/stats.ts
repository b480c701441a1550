/**
 * `lifeboat stats [SNAPSHOT…] [--mode M]`: restic's stats, with its modes and JSON totals
 * (cmd_stats.go):
 * - restore-size (default): every node of every snapshot counts as a file; total_size is the
 *   sum of file sizes, a hard-linked inode counted once per snapshot.
 * - files-by-contents: files unique by content, and their sizes.
 * - blobs-per-file: per path, each distinct data blob once: plaintext sizes and blob count.
 * - raw-data: the blobs the snapshots reference, once each: total_size is what they take in
 *   the repository (as restic >= 0.15; 0.14 summed plaintext sizes), with restic's
 *   compression fields on format version 2.
 */
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot, listSnapshots, matchesFilter } from '../../repo/snapshot/snapshot.ts';
import type { Snapshot } from '../../repo/snapshot/snapshot.ts';
import type { Repository } from '../../repo/repository.ts';
import { TreeStore } from '../../repo/tree/tree-io.ts';
import type { TreeNode } from '../../repo/tree/node.ts';
import { formatBytes } from '../output.ts';
import { addLatestFilterOptions, latestFilter } from './common.ts';
import type { LatestFilterFlags } from './common.ts';

const MODES = ['restore-size', 'files-by-contents', 'blobs-per-file', 'raw-data'] as const;
type Mode = (typeof MODES)[number];
/** Bytes a blob takes beyond its plaintext: restic's IV and MAC. */
const CRYPTO_OVERHEAD = 32;

function parseMode(v: string): Mode {
  if (!(MODES as readonly string[]).includes(v)) throw new InvalidArgumentError(`"${v}" is not a mode (${MODES.join(', ')})`);
  return v as Mode;
}

export function registerStats(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('stats')
    .description('count sizes of snapshots, as restic: restore size (default), unique contents, blobs per file, raw data')
    .argument('[snapshots...]', 'snapshot IDs or "latest" (default: all, after --host/--tag/--path)')
    .option('--mode <mode>', `counting mode: ${MODES.join(', ')}`, parseMode, 'restore-size');
  addLatestFilterOptions(cmd).action(async (refs: string[], flags: LatestFilterFlags & { mode: Mode }) => {
    await withRepository(ctx, { lock: 'none' }, async ({ repo }) => {
      const filter = latestFilter(flags);
      const snaps: Snapshot[] = refs.length > 0
        ? await Promise.all(refs.map((r) => findSnapshot(repo, r, filter, { signal: ctx.signal })))
        : (await listSnapshots(repo, { signal: ctx.signal, onError: (id, err) => ctx.out.warn(`snapshot ${id.slice(0, 8)} cannot be read: ${(err as Error).message}`) })).filter((s) => matchesFilter(s, filter));
      const stats = await countStats(repo, snaps, flags.mode);
      ctx.out.result(stats);
      ctx.out.line(`Stats in ${flags.mode} mode:`);
      ctx.out.line(`     Snapshots processed:  ${stats.snapshots_count}`);
      if (stats.total_file_count !== undefined) ctx.out.line(`        Total File Count:  ${stats.total_file_count}`);
      if (stats.total_blob_count !== undefined) ctx.out.line(`        Total Blob Count:  ${stats.total_blob_count}`);
      if (stats.total_uncompressed_size !== undefined) ctx.out.line(`Total Uncompressed Size:  ${formatBytes(stats.total_uncompressed_size)}`);
      ctx.out.line(`              Total Size:  ${formatBytes(stats.total_size)}`);
      if (stats.compression_ratio !== undefined) ctx.out.line(`       Compression Ratio:  ${stats.compression_ratio.toFixed(2)}x`);
    });
  });
}

export interface Stats {
  total_size: number;
  total_uncompressed_size?: number;
  compression_ratio?: number;
  compression_progress?: number;
  compression_space_saving?: number;
  total_file_count?: number;
  total_blob_count?: number;
  snapshots_count: number;
}

/** Counts `snaps` in `mode`, walking their trees; shared subtrees are read once per snapshot. */
export async function countStats(repo: Repository, snaps: readonly Snapshot[], mode: Mode): Promise<Stats> {
  const trees = new TreeStore(repo);
  let size = 0;
  let files = 0;
  let blobCount = 0;
  const uniqueFiles = new Set<string>();
  const fileBlobs = new Map<string, Set<string>>();
  const treeBlobs = new Set<string>();
  const dataBlobs = new Set<string>();
  const plainSize = (type: 'data' | 'tree', id: string): number => {
    const at = repo.index.lookup(type, id)[0];
    return at ? (at.uncompressedLength ?? at.length - CRYPTO_OVERHEAD) : 0;
  };
  const visit = (n: TreeNode, p: string, inodes: Set<string>): void => {
    if (mode === 'raw-data') {
      for (const b of n.content ?? []) dataBlobs.add(b);
    } else if (mode === 'restore-size') {
      files++;
      const key = `${n.device_id ?? 0}:${n.inode ?? 0}`;
      if (!n.inode || !inodes.has(key)) {
        inodes.add(key);
        size += n.size ?? 0;
      }
    } else {
      // Unique by content: every node without content (dirs, links, empty files) is one "file".
      const id = (n.content ?? []).join('');
      if (uniqueFiles.has(id)) return;
      uniqueFiles.add(id);
      if (mode === 'files-by-contents') {
        size += n.size ?? 0;
        files++;
        return;
      }
      for (const b of n.content ?? []) {
        let seen = fileBlobs.get(p);
        if (!seen) {
          seen = new Set();
          fileBlobs.set(p, seen);
          files++;
        }
        if (seen.has(b)) continue;
        seen.add(b);
        size += plainSize('data', b);
        blobCount++;
      }
    }
  };
  for (const s of snaps) {
    const inodes = new Set<string>();
    treeBlobs.add(s.tree);
    const walk = async (id: string, dir: string): Promise<void> => {
      for (const n of (await trees.load(id)).nodes) {
        const p = `${dir}${n.name}`;
        visit(n, p, inodes);
        if (n.type === 'dir' && n.subtree) {
          treeBlobs.add(n.subtree);
          await walk(n.subtree, `${p}/`);
        }
      }
    };
    await walk(s.tree, '/');
  }
  if (mode === 'restore-size' || mode === 'files-by-contents') return { total_size: size, total_file_count: files, snapshots_count: snaps.length };
  if (mode === 'blobs-per-file') return { total_size: size, total_file_count: files, total_blob_count: blobCount, snapshots_count: snaps.length };
  return rawData(repo, treeBlobs, dataBlobs, snaps.length);
}

/** raw-data: stored and uncompressed sizes of the referenced blobs, as restic >= 0.15. */
function rawData(repo: Repository, trees: Set<string>, data: Set<string>, snapshots: number): Stats {
  let total = 0;
  let uncompressed = 0;
  let compressed = 0;
  let compressedPlain = 0;
  let count = 0;
  const v2 = repo.config.version >= 2;
  for (const [type, ids] of [['tree', trees], ['data', data]] as const) {
    for (const id of ids) {
      const at = repo.index.lookup(type, id)[0];
      if (!at) continue;
      count++;
      total += at.length;
      const plain = (at.uncompressedLength ?? at.length - CRYPTO_OVERHEAD) + CRYPTO_OVERHEAD;
      uncompressed += plain;
      if (at.uncompressedLength !== undefined) {
        compressed += at.length;
        compressedPlain += plain;
      }
    }
  }
  const out: Stats = { total_size: total, total_blob_count: count, snapshots_count: snapshots };
  if (!v2) return out;
  out.total_uncompressed_size = uncompressed;
  if (compressed > 0) out.compression_ratio = compressedPlain / compressed;
  if (uncompressed > 0) {
    out.compression_progress = (compressedPlain / uncompressed) * 100;
    out.compression_space_saving = (1 - total / uncompressed) * 100;
  }
  return { total_size: out.total_size, total_uncompressed_size: out.total_uncompressed_size, compression_ratio: out.compression_ratio, compression_progress: out.compression_progress, compression_space_saving: out.compression_space_saving, total_blob_count: count, snapshots_count: snapshots };
}
