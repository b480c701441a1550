/** `lifeboat cat config|snapshot ID|index ID|key ID|blob ID|tree ID|pack-header ID`: decrypted objects, for debugging. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { findSnapshot } from '../../repo/snapshot/snapshot.ts';

const KINDS = ['config', 'snapshot', 'index', 'key', 'blob', 'tree', 'pack-header', 'lock'] as const;

export function registerCat(program: Command, ctx: CliContext): void {
  program
    .command('cat')
    .description(`print a decrypted repository object (${KINDS.join(', ')})`)
    .argument('<kind>', 'what to print')
    .argument('[id]', 'object ID')
    .action(async (kind: string, id: string | undefined) => {
      if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown object kind "${kind}"`, { hint: `use one of: ${KINDS.join(', ')}` });
      if (kind !== 'config' && !id) throw new UsageError(`cat ${kind} needs an ID`);
      await withRepository(ctx, { lock: 'none', loadIndex: kind === 'blob' || kind === 'tree' }, async ({ repo }) => {
        const print = (v: unknown): void => ctx.out.raw(JSON.stringify(v, null, 2) + '\n');
        switch (kind) {
          case 'config':
            return print(repo.config);
          case 'snapshot': {
            const { id: _id, date: _d, ...doc } = await findSnapshot(repo, id as string, {}, { signal: ctx.signal });
            return print(doc);
          }
          case 'index':
            return print(await repo.loadUnpacked('index', id as string, { signal: ctx.signal }));
          case 'lock':
            return print(await repo.loadUnpacked('locks', id as string, { signal: ctx.signal }));
          case 'key':
            return ctx.out.raw((await repo.storage.load({ type: 'keys', name: id as string })).toString('utf8') + '\n');
          case 'tree':
            return ctx.out.raw(await repo.loadBlob('tree', id as string, { signal: ctx.signal }));
          case 'blob':
            return ctx.out.raw(await repo.loadBlob('data', id as string, { signal: ctx.signal }));
          case 'pack-header':
            return print(await repo.readPackHeader(id as string, undefined, { signal: ctx.signal }));
        }
      });
    });
}
