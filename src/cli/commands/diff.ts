/** `lifeboat diff SNAPSHOT[:SUBFOLDER] SNAPSHOT[:SUBFOLDER]`: restic's diff, same lines and JSON. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { NotFoundError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot } from '../../repo/snapshot/snapshot.ts';
import type { Repository } from '../../repo/repository.ts';
import { diffTrees } from '../../repo/diff/snapshot-diff.ts';
import { TreeStore } from '../../repo/tree/tree-io.ts';
import { formatBytes } from '../output.ts';

export function registerDiff(program: Command, ctx: CliContext): void {
  program
    .command('diff')
    .description('show differences between two snapshots (+ added, - removed, M modified, T type changed, U metadata, ? bitrot)')
    .argument('<snapshot1>', 'snapshot ID (or prefix) or "latest", optionally with ":subfolder"')
    .argument('<snapshot2>', 'snapshot ID (or prefix) or "latest", optionally with ":subfolder"')
    .option('--metadata', 'print changes in metadata')
    .action(async (ref1: string, ref2: string, flags: { metadata?: boolean }) => {
      await withRepository(ctx, { lock: 'shared' }, async ({ repo }) => {
        const [a, b] = [await resolveTree(repo, ref1, ctx.signal), await resolveTree(repo, ref2, ctx.signal)];
        ctx.out.line(`comparing snapshot ${a.id.slice(0, 8)} to ${b.id.slice(0, 8)}:\n`);
        const stats = await diffTrees(repo, { name: ref1, tree: a.tree }, { name: ref2, tree: b.tree }, {
          metadata: flags.metadata,
          signal: ctx.signal,
          onChange: (c) => {
            if (ctx.out.quiet) return;
            ctx.out.result(c);
            ctx.out.line(`${c.modifier.padEnd(5)}${c.path}`);
          },
        });
        ctx.out.result(stats);
        const { added: ad, removed: rm } = stats;
        ctx.out.line();
        ctx.out.line(`Files:       ${pad(ad.files)} new, ${pad(rm.files)} removed, ${pad(stats.changed_files)} changed`);
        ctx.out.line(`Dirs:        ${pad(ad.dirs)} new, ${pad(rm.dirs)} removed`);
        ctx.out.line(`Others:      ${pad(ad.others)} new, ${pad(rm.others)} removed`);
        ctx.out.line(`Data Blobs:  ${pad(ad.data_blobs)} new, ${pad(rm.data_blobs)} removed`);
        ctx.out.line(`Tree Blobs:  ${pad(ad.tree_blobs)} new, ${pad(rm.tree_blobs)} removed`);
        ctx.out.line(`  Added:   ${formatBytes(ad.bytes)}`);
        ctx.out.line(`  Removed: ${formatBytes(rm.bytes)}`);
      });
    });
}

const pad = (n: number): string => String(n).padStart(5);

/** "ID[:sub/folder]" → the snapshot's ID and the tree of that folder. */
async function resolveTree(repo: Repository, ref: string, signal: AbortSignal): Promise<{ id: string; tree: string }> {
  const colon = ref.indexOf(':');
  const snap = await findSnapshot(repo, colon < 0 ? ref : ref.slice(0, colon), {}, { signal });
  let tree = snap.tree;
  const trees = new TreeStore(repo);
  for (const part of colon < 0 ? [] : ref.slice(colon + 1).split('/').filter(Boolean)) {
    const node = (await trees.load(tree, { signal })).nodes.find((n) => n.name === part);
    if (node?.type !== 'dir' || !node.subtree) {
      throw new NotFoundError(`snapshot ${snap.id.slice(0, 8)} has no directory ${ref.slice(colon + 1)}`, { hint: `run "lifeboat ls ${snap.id.slice(0, 8)}" to see its paths` });
    }
    tree = node.subtree;
  }
  return { id: snap.id, tree };
}
