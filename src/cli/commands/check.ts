/** `lifeboat check [--read-data | --read-data-subset N% | n/t]`: verifies the repository. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { IntegrityError, UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import { checkRepository } from '../../repo/checker/checker.ts';
import { expectBulkData } from '../../repo/bulk-data.ts';
import type { CheckOptions, Damage } from '../../repo/checker/checker.ts';
import { formatBytes, formatDuration } from '../output.ts';
import { nowMs } from '../../util/clock.ts';

export function parseSubset(v: string): NonNullable<CheckOptions['readDataSubset']> {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(v);
  if (pct) {
    const f = Number(pct[1]) / 100;
    if (!(f > 0 && f <= 1)) throw new UsageError(`--read-data-subset ${v}: percentage must be in (0, 100]`);
    return { fraction: f };
  }
  const nth = /^(\d+)\/(\d+)$/.exec(v);
  if (nth) {
    const n = Number(nth[1]);
    const of = Number(nth[2]);
    if (!(n >= 1 && n <= of)) throw new UsageError(`--read-data-subset ${v}: need 1 <= n <= t`);
    return { nth: [n, of] };
  }
  throw new UsageError(`--read-data-subset ${v}: expected a percentage (10%) or n/t (1/5)`);
}

function describe(d: Damage): string {
  let s = `${d.object}: ${d.message}`;
  if (d.snapshots?.length) s += `\n    needed by snapshot(s) ${d.snapshots.map((x) => x.slice(0, 8)).join(', ')}`;
  if (d.files?.length) s += `\n    files: ${d.files.join(', ')}${d.moreFiles ? ` and ${d.moreFiles} more` : ''}`;
  return s;
}

export function registerCheck(program: Command, ctx: CliContext): void {
  program
    .command('check')
    .description('check the repository for errors (structure; with --read-data every byte)')
    .option('--read-data', 'read and verify all data')
    .option('--read-data-subset <subset>', 'read a subset of packs: N% or n/t')
    .action(async (flags: { readData?: boolean; readDataSubset?: string }) => {
      const started = nowMs();
      const subset = flags.readDataSubset ? parseSubset(flags.readDataSubset) : undefined;
      if (flags.readData || subset) expectBulkData();
      await withRepository(ctx, { lock: 'shared', loadIndex: false }, async ({ repo }) => {
        const report = await checkRepository(repo, {
          readData: flags.readData,
          readDataSubset: subset,
          signal: ctx.signal,
          onProgress: (p) => ctx.out.progress(`${p.phase}: ${p.done}/${p.total}`),
        });
        ctx.out.clearProgress();
        ctx.out.result({ message_type: 'check', ...report, ok: report.errors.length === 0 });
        for (const w of report.warnings) ctx.out.warn(describe(w));
        ctx.out.line(`checked ${report.snapshots} snapshots, ${report.trees} trees, ${report.packs} packs, ${report.blobs} blobs` +
          (report.packsRead > 0 ? `; read ${report.packsRead} packs (${formatBytes(report.bytesRead)})` : '') + ` in ${formatDuration(nowMs() - started)}`);
        if (report.errors.length > 0) {
          for (const e of report.errors) ctx.out.line(`error: ${describe(e)}`);
          const first = report.errors[0] as Damage;
          throw new IntegrityError(`repository has ${report.errors.length} error(s); first: ${first.object}: ${first.message}`, {
            hint: 'restore what you can from unaffected snapshots; "lifeboat forget" the damaged snapshots and run a new backup',
            data: { errors: report.errors.length },
          });
        }
        ctx.out.line('no errors were found');
      });
    });
}
