/**
 * `lifeboat ls SNAPSHOT [PATH]`: lists the files of a snapshot. `--json` prints restic's
 * lines: the snapshot (struct_type "snapshot"), then one per node with restic's fields.
 */
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
        const { id, date: _date, ...doc } = snap;
        ctx.out.result({ ...doc, id, short_id: id.slice(0, 8), struct_type: 'snapshot' });
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
          ctx.out.result(lsNode(n, p));
          if (flags.long) ctx.out.line(`${n.type.padEnd(7)} ${String(n.size ?? '').padStart(12)}  ${n.mtime ?? ''}  ${p}`);
          else ctx.out.line(p);
        };
        await walk(snap.tree, '/');
      });
    });
}

/** A node as restic's `ls --json` prints it (cmd_ls.go, lsNode): size and mode omitted when 0. */
function lsNode(n: TreeNode, p: string): Record<string, unknown> {
  return {
    name: n.name,
    type: n.type,
    path: p,
    uid: n.uid,
    gid: n.gid,
    size: n.size || undefined,
    mode: n.mode || undefined,
    permissions: goModeString(n.mode ?? 0),
    mtime: n.mtime,
    atime: n.atime,
    ctime: n.ctime,
    struct_type: 'node',
  };
}

/** Go's os.FileMode.String(): type letters "dalTLDpSugct?" by bit from 1<<31 down, then rwx. */
export function goModeString(mode: number): string {
  const letters = 'dalTLDpSugct?';
  let out = '';
  for (let i = 0; i < letters.length; i++) if ((mode >>> (31 - i)) & 1) out += letters[i];
  if (out === '') out = '-';
  const rwx = 'rwxrwxrwx';
  for (let i = 0; i < 9; i++) out += (mode >> (8 - i)) & 1 ? rwx[i] : '-';
  return out;
}
