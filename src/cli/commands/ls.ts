/** `lifeboat ls SNAPSHOT [PATH]`: lists the files of a snapshot. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot } from '../../repo/snapshot/snapshot.ts';
import { TreeStore } from '../../repo/tree/tree-io.ts';
import type { TreeNode } from '../../repo/tree/node.ts';
import { addLatestFilterOptions, latestFilter } from './common.ts';
import type { LatestFilterFlags } from './common.ts';

export function registerLs(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('ls')
    .description('list files in a snapshot')
    .argument('<snapshot>', 'snapshot ID (or prefix) or "latest"')
    .argument('[path]', 'only under this path', '/')
    .option('-l, --long', 'show mode, size and time');
  addLatestFilterOptions(cmd)
    .action(async (ref: string, prefix: string, flags: LatestFilterFlags & { long?: boolean }) => {
      await withRepository(ctx, { lock: 'none' }, async ({ repo }) => {
        const snap = await findSnapshot(repo, ref, latestFilter(flags), { signal: ctx.signal });
        const trees = new TreeStore(repo);
        const want = prefix.replace(/\/+$/, '') || '/';
        ctx.out.line(`snapshot ${snap.id.slice(0, 8)} of [${snap.paths.join(' ')}] at ${snap.time}:`);
        const walk = async (treeId: string, dir: string): Promise<void> => {
          const tree = await trees.load(treeId, { signal: ctx.signal });
          for (const n of tree.nodes) {
            const p = dir === '/' ? `/${n.name}` : `${dir}/${n.name}`;
            const inside = p === want || p.startsWith(want === '/' ? '/' : `${want}/`);
            const above = want.startsWith(`${p}/`);
            if (inside) print(n, p);
            if (n.type === 'dir' && n.subtree && (inside || above)) await walk(n.subtree, p);
          }
        };
        const print = (n: TreeNode, p: string): void => {
          ctx.out.result({ struct_type: 'node', name: n.name, type: n.type, path: p, size: n.size, mode: n.mode, mtime: n.mtime, uid: n.uid, gid: n.gid });
          if (flags.long) ctx.out.line(`${n.type.padEnd(7)} ${String(n.size ?? '').padStart(12)}  ${n.mtime ?? ''}  ${p}`);
          else ctx.out.line(p);
        };
        await walk(snap.tree, '/');
      });
    });
}
