/**
 * `lifeboat verify [--only …] [--snapshot …] [--read-data | --read-data-subset N%]`: the
 * repository check plus per-source checks of the latest (or given) snapshots, without
 * touching any live store.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { IntegrityError } from '../../core/errors.ts';
import { verifyStack } from '../../app/assurance.ts';
import { withStack } from '../stack-access.ts';
import { formatDuration } from '../output.ts';
import { parseSubset } from './check.ts';
import { addChoiceOptions, parseAt } from './snapshot-choice.ts';

export function registerVerify(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('verify')
    .description('check the repository and each source\'s latest backup (artifacts, dumps, RDBs) without touching live stores')
    .option('--only <sources>', 'only these sources (comma separated)')
    .option('--snapshot <id>', 'verify this snapshot instead of the latest')
    .option('--read-data', 'also read and verify every pack of the repository')
    .option('--read-data-subset <subset>', 'read a subset of packs: N% or n/t');
  addChoiceOptions(cmd)
    .action(async (flags: { only?: string; snapshot?: string; readData?: boolean; readDataSubset?: string; at?: string; host: string[] }) => {
      const subset = flags.readDataSubset ? parseSubset(flags.readDataSubset) : undefined;
      const at = flags.at !== undefined ? parseAt(flags.at) : undefined;
      await withStack(ctx, async (stack, opts) => {
        const opened = await stack.openRepository('shared');
        try {
          const only = flags.only?.split(',').map((s) => s.trim()).filter(Boolean);
          const r = await verifyStack(stack, opened, { ...opts, only, snapshot: flags.snapshot, at, hosts: flags.host, check: { readData: flags.readData, readDataSubset: subset }, onSourceDone: (s) => ctx.out.progress(`${s.source}: ${s.status}`) });
          ctx.out.clearProgress();
          ctx.out.result(r);
          const rc = r.repository_check;
          ctx.out.line(`repository: ${rc.ok ? 'ok' : `${rc.errors} error(s)`}${rc.warnings ? `, ${rc.warnings} warning(s)` : ''}${rc.packs_read ? `, ${rc.packs_read} packs read` : ''}`);
          for (const m of rc.messages) ctx.out.line(`  ${m}`);
          ctx.out.table(
            ['Source', 'Type', 'Snapshot', 'Status', 'Checks', 'Problems'],
            r.sources.map((s) => [s.source, s.type, s.snapshot_id.slice(0, 8), s.status === 'ok' ? 'ok' : 'FAILED', s.checks.length, s.problems.join('; ')]),
          );
          ctx.out.line(`verified ${r.sources.length} source(s) in ${formatDuration(r.duration_ms)}`);
          if (r.status !== 'ok') {
            const bad = r.sources.filter((s) => s.status !== 'ok').map((s) => s.source);
            throw new IntegrityError(`verify failed${rc.ok ? '' : ': the repository has errors'}${bad.length ? ` (sources: ${bad.join(', ')})` : ''}`, { hint: 'see the problems listed above' });
          }
        } finally {
          await opened.close();
        }
      });
    });
}
