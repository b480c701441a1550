/** `lifeboat stats`: sizes of the repository, restic's "raw-data" and "restore-size" modes. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withRepository } from '../repo-access.ts';
import { listSnapshots } from '../../repo/snapshot/snapshot.ts';
import { TreeStore } from '../../repo/tree/tree-io.ts';
import { formatBytes } from '../output.ts';

export function registerStats(program: Command, ctx: CliContext): void {
  program
    .command('stats')
    .description('show repository sizes: stored (raw) and restore size of all snapshots')
    .action(async () => {
      await withRepository(ctx, { lock: 'none' }, async ({ repo }) => {
        const snaps = await listSnapshots(repo, { signal: ctx.signal, onError: () => undefined });
        let packBytes = 0;
        let packs = 0;
        for await (const f of repo.storage.list('data', { signal: ctx.signal })) {
          packBytes += f.size;
          packs++;
        }
        let blobs = 0;
        let uncompressed = 0;
        let stored = 0;
        for (const b of repo.index.blobs()) {
          blobs++;
          stored += b.length;
          uncompressed += b.uncompressedLength ?? b.length - 32;
        }
        const trees = new TreeStore(repo);
        let restoreSize = 0;
        let files = 0;
        const walk = async (id: string): Promise<void> => {
          for (const n of (await trees.load(id)).nodes) {
            if (n.type === 'file') {
              files++;
              restoreSize += n.size ?? 0;
            } else if (n.type === 'dir' && n.subtree) await walk(n.subtree);
          }
        };
        for (const s of snaps) await walk(s.tree);
        const ratio = stored > 0 ? uncompressed / stored : 1;
        const dedup = uncompressed > 0 ? restoreSize / uncompressed : 1;
        const result = { snapshots_count: snaps.length, total_file_count: files, total_restore_size: restoreSize, total_uncompressed_size: uncompressed, total_size: packBytes, total_blob_count: blobs, total_pack_count: packs, compression_ratio: ratio, dedup_ratio: dedup };
        ctx.out.result(result);
        ctx.out.line(`Snapshots:            ${snaps.length}`);
        ctx.out.line(`Restore size:         ${formatBytes(restoreSize)} in ${files} files`);
        ctx.out.line(`Unique data:          ${formatBytes(uncompressed)} in ${blobs} blobs (dedup ${dedup.toFixed(2)}x)`);
        ctx.out.line(`Stored:               ${formatBytes(packBytes)} in ${packs} packs (compression ${ratio.toFixed(2)}x)`);
      });
    });
}
