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
      await withRepository(ctx, { lock: 'exclusive' }, async ({ repo }) => runPrune(ctx, repo, flags)).catch(async (err: unknown) => {
        if (!(err instanceof LifeboatError && err.code === 'storage_full')) throw err;
        throw await fullDiskError(ctx, err);
      });
    });
}

/**
 * Prune on a full disk. It writes its lock, the repacked blobs and the new index before it
 * deletes anything (so an interrupted prune never leaves an index naming deleted packs); on
 * a full disk it cannot start, and the hint says how much room it needs.
 */
async function fullDiskError(ctx: CliContext, err: LifeboatError): Promise<LifeboatError> {
  // Best effort: the index size is the least prune writes; without it the hint has no figure.
  const indexBytes = await withRepository(ctx, { lock: 'none', loadIndex: false }, async ({ repo }) => {
    let n = 0;
    for await (const f of repo.storage.list('index', { signal: ctx.signal })) n += f.size;
    return n;
  }).catch(() => undefined);
  const room = indexBytes === undefined ? 'room for its lock and a new index' : `about ${formatBytes(indexBytes + 64 * 1024)} for its lock and new index`;
  const atLock = String(err.data.file ?? '').startsWith('locks/');
  return new LifeboatError('storage_full', `${err.message}; ${atLock ? 'prune cannot start' : 'prune stopped, the repository is consistent'}`, {
    cause: err,
    data: err.data,
    hint: `prune needs ${room} before it deletes anything, plus the size of the packs it repacks (--max-unused unlimited repacks fewer): ` +
      'free that on the disk outside the repository, then run prune again; "lifeboat unlock" and "lifeboat check --no-lock" work on a full disk',
  });
}
