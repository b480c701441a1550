/** `lifeboat check [--read-data | --read-data-subset N% | n/t]`: verifies the repository. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { IntegrityError, LifeboatError, UsageError } from '../../core/errors.ts';
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

/**
 * What to do about the damage found. Forgetting a snapshot throws away everything it still
 * holds, so it is advised only when the snapshot file itself cannot be read; missing or
 * damaged data is first looked for in a copy, and a new backup stores the current state.
 */
export function damageHint(errors: readonly Damage[]): string {
  if (errors.every((e) => e.kind === 'snapshot')) {
    return 'the snapshot file(s) above cannot be read: that backup is lost; "lifeboat forget" it and run a new backup';
  }
  if (errors.every((e) => e.kind === 'missing_index_entry')) {
    return 'the data is there but no index lists it: "restic repair index" (restic 0.16+, "restic rebuild-index" before) rebuilds the index; nothing needs to be forgotten';
  }
  return 'run a new backup so the current state is stored again; restore what the listed snapshots need from a copy of the repository ' +
    '("lifeboat copy" target or offsite copy) if there is one; forget a snapshot only once its data is known to be gone for good';
}

/** A lock that cannot be written: the repository's disk is full, read-only or not ours to write. */
function isUnwritableAtLock(err: unknown): boolean {
  return err instanceof LifeboatError && (err.code === 'storage_full' || err.code === 'permission_denied') && String(err.data.file ?? '').startsWith('locks/');
}

export function registerCheck(program: Command, ctx: CliContext): void {
  program
    .command('check')
    .description('check the repository for errors (structure; with --read-data every byte)')
    .option('--read-data', 'read and verify all data')
    .option('--read-data-subset <subset>', 'read a subset of packs: N% or n/t')
    .option('--no-lock', 'do not lock the repository (when it cannot be locked: full disk, read-only; a backup running meanwhile may show as damage)')
    .action(async (flags: { readData?: boolean; readDataSubset?: string; lock: boolean }) => {
      const started = nowMs();
      const subset = flags.readDataSubset ? parseSubset(flags.readDataSubset) : undefined;
      if (flags.readData || subset) expectBulkData();
      // Exclusive, as restic's check: a backup in progress has packs not yet indexed and an
      // index not yet complete, which would read as damage.
      await withRepository(ctx, { lock: flags.lock ? 'exclusive' : 'none', loadIndex: false }, async ({ repo }) => {
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
            hint: damageHint(report.errors),
            data: { errors: report.errors.length },
          });
        }
        ctx.out.line('no errors were found');
      }).catch((err: unknown) => {
        if (!isUnwritableAtLock(err)) throw err;
        const e = err as LifeboatError;
        throw new LifeboatError(e.code, e.message, {
          cause: e,
          data: e.data,
          hint: `${e.hint ?? 'make the repository writable'}; or check without a lock: "lifeboat check --no-lock" (while no backup or prune runs)`,
        });
      });
    });
}
