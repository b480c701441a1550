/** `lifeboat list blobs|packs|index|snapshots|keys|locks`: the IDs of one object type, as restic lists them. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { UsageError } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import type { FileType } from '../../storage/storage.ts';
import { withRepository } from '../repo-access.ts';

const FILE_TYPES: Record<string, FileType> = { packs: 'data', index: 'index', snapshots: 'snapshots', keys: 'keys', locks: 'locks' };
const KINDS = ['blobs', ...Object.keys(FILE_TYPES)];

export function registerList(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description(`list the IDs of objects in the repository (${KINDS.join(', ')})`)
    .argument('<type>', 'what to list')
    .action(async (kind: string) => {
      if (!KINDS.includes(kind)) throw new UsageError(`cannot list "${kind}"`, { hint: `use one of: ${KINDS.join(', ')}` });
      // Plain lines in --json mode too, as restic prints them: scripts pipe them into other commands.
      const print = (line: string): void => ctx.out.raw(line + '\n');
      const lock = kind === 'locks' ? 'none' : 'shared';
      await withRepository(ctx, { lock, loadIndex: kind === 'blobs' }, async ({ repo }) => {
        if (kind === 'blobs') {
          for (const b of repo.index.blobs()) print(`${b.type} ${b.id}`);
          return;
        }
        for await (const f of repo.storage.list(FILE_TYPES[kind] as FileType, { signal: ctx.signal })) if (isId(f.name)) print(f.name);
      });
    });
}
