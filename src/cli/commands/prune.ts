/** `lifeboat prune [--dry-run] [--max-unused N%]`: removes data no snapshot needs. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { LifeboatError, UsageError } from '../../core/errors.ts';
import { withRepository } from '../repo-access.ts';
import type { Repository } from '../../repo/repository.ts';
import { executePrune, planPrune } from '../../repo/pruner/pruner.ts';
import { formatBytes } from '../output.ts';

function parseMaxUnused(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v === 'unlimited') return 1;
  const m = /^(\d+(?:\.\d+)?)%$/.exec(v);
  if (!m) throw new UsageError(`--max-unused ${v}: expected a percentage like 5% or "unlimited"`);
  return Number(m[1]) / 100;
}

export async function runPrune(ctx: CliContext, repo: Repository, opts: { maxUnused?: string; dryRun?: boolean }): Promise<void> {
  if (!repo.storage.properties.canDelete) {
    throw new LifeboatError('append_only', `repository ${repo.location} does not allow deleting files (append-only)`, {
      hint: 'run prune with credentials that may delete, or against the server directly',
    });
  }
  if (repo.index.packCount === 0) await repo.loadIndex({ signal: ctx.signal });
  const plan = await planPrune(repo, { maxUnused: parseMaxUnused(opts.maxUnused), signal: ctx.signal });
  ctx.out.line(`used blobs: ${plan.usedBlobs}, unused blobs: ${plan.unusedBlobs} (${plan.duplicateBlobs} duplicates)`);
  ctx.out.line(`packs: ${plan.packsToDelete.length} to delete, ${plan.packsToRepack.length} to repack, ${plan.packsKept} kept, ${plan.unreferencedPacks.length} unreferenced`);
  ctx.out.line(`to free: ${formatBytes(plan.bytesToFree)} (repacking ${formatBytes(plan.bytesToRepack)})`);
  if (opts.dryRun) {
    ctx.out.result({ message_type: 'prune', dry_run: true, plan });
    return;
  }
  const r = await executePrune(repo, plan, { signal: ctx.signal, onProgress: (p) => ctx.out.progress(`${p.phase}: ${p.done}/${p.total}`) });
  ctx.out.clearProgress();
  ctx.out.result({ message_type: 'prune', dry_run: false, plan, result: r });
  ctx.out.line(`deleted ${r.packsDeleted} packs, wrote ${r.packsWritten}, freed ${formatBytes(r.bytesFreed)}`);
}

export function registerPrune(program: Command, ctx: CliContext): void {
  program
    .command('prune')
    .description('remove data that no snapshot references')
    .option('-n, --dry-run', 'only show what would be done')
    .option('--max-unused <percent>', 'tolerated unused space after pruning (default 5%)')
    .action(async (flags: { dryRun?: boolean; maxUnused?: string }) => {
      await withRepository(ctx, { lock: 'exclusive' }, async ({ repo }) => runPrune(ctx, repo, flags));
    });
}
