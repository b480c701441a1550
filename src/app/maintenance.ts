/**
 * Repository-wide use cases of the stack beyond backup/verify/drill, for the daemon's
 * schedules: check (reading a subset of the data), retention then prune, and a read-only probe
 * of the repository's health (snapshots, size, locks) for the watchdog, the metrics and the
 * catalog's rebuild. The CLI's `check`, `forget` and `prune` do the same steps with their own
 * output; these return plain results.
 */
import { LifeboatError } from '../core/errors.ts';
import { checkRepository } from '../repo/checker/checker.ts';
import type { CheckOptions } from '../repo/checker/checker.ts';
import { runRetention } from '../ops/retention.ts';
import { describeLock, listLocks } from '../repo/lock/lock.ts';
import { executePrune, planPrune } from '../repo/pruner/pruner.ts';
import { listSnapshots } from '../repo/snapshot/snapshot.ts';
import { openRepositoryAt } from './open-repository.ts';
import { PRE_RESTORE_TAG, snapshotStoreOf } from './stack.ts';
import type { Stack, StackOptions } from './stack.ts';
import { syncCopies } from './copies.ts';
import type { CopyResult } from './copies.ts';
import { nowDate } from '../util/clock.ts';

export interface RepositoryProbe {
  /** `isSafety`: a pre-restore snapshot of what a restore replaced, not a backup. */
  snapshots: Array<{ id: string; time: Date; source: string; isSafety: boolean }>;
  snapshotCount: number;
  /** Sum of the pack files' sizes. */
  sizeBytes: number;
  locks: Array<{ holder: string; ageMs: number; exclusive: boolean }>;
}

/** Reads the repository without locking it: snapshots by source, pack bytes, locks. */
export async function probeRepository(stack: Stack, opts: { signal: AbortSignal; env: NodeJS.ProcessEnv; now?: Date }): Promise<RepositoryProbe> {
  const password = await stack.secrets(stack.loaded.config.repository.password, 'repository.password');
  const opened = await openRepositoryAt(stack.repositoryLocation(), password, { lock: 'none', loadIndex: false, signal: opts.signal, env: opts.env });
  try {
    const now = opts.now ?? nowDate();
    const all = await listSnapshots(opened.repo, { signal: opts.signal, onError: () => undefined });
    const snapshots = all.flatMap((s) => {
      const tag = (s.tags ?? []).find((t) => t.startsWith('source:'));
      return tag ? [{ id: s.id, time: s.date, source: tag.slice('source:'.length), isSafety: (s.tags ?? []).includes(PRE_RESTORE_TAG) }] : [];
    });
    let sizeBytes = 0;
    for await (const f of opened.repo.storage.list('data', { signal: opts.signal })) sizeBytes += f.size;
    const locks = (await listLocks(opened.repo, opts.signal)).map(({ lock }) => ({
      holder: describeLock(lock, now),
      ageMs: Math.max(0, now.getTime() - Date.parse(lock.time)),
      exclusive: lock.exclusive,
    }));
    return { snapshots, snapshotCount: all.length, sizeBytes, locks };
  } finally {
    await opened.close();
  }
}

export interface CheckSummary {
  ok: boolean;
  errors: number;
  warnings: number;
  packs_read: number;
  messages: string[];
}

/** `lifeboat check [--read-data-subset …]` of the stack's repository (shared lock). */
export async function checkStackRepository(stack: Stack, opts: { signal: AbortSignal; readDataSubset?: CheckOptions['readDataSubset'] }): Promise<CheckSummary> {
  const opened = await stack.openRepository('shared');
  try {
    const r = await checkRepository(opened.repo, { readDataSubset: opts.readDataSubset, signal: opts.signal });
    const summary: CheckSummary = {
      ok: r.errors.length === 0,
      errors: r.errors.length,
      warnings: r.warnings.length,
      packs_read: r.packsRead,
      messages: [...r.errors, ...r.warnings].slice(0, 50).map((d) => `${d.severity}: ${d.object}: ${d.message}`),
    };
    return summary;
  } finally {
    await opened.close();
  }
}

/** `5%` → fraction, `2/7` → nth; undefined for none. */
export function parseReadDataSubset(v: string | undefined): CheckOptions['readDataSubset'] {
  if (v === undefined) return undefined;
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(v);
  if (pct) return { fraction: Number(pct[1]) / 100 };
  const [n, of] = v.split('/').map(Number);
  return { nth: [n as number, of as number] };
}

export interface PruneSummary {
  removed_snapshots: number;
  packs_deleted: number;
  bytes_freed: number;
}

/**
 * `lifeboat forget --prune` with lifeboat.yml: each source's retention on its own snapshots
 * (grouped by host, as restic), then prune; under the exclusive lock.
 */
export async function pruneStack(stack: Stack, opts: { signal: AbortSignal; now?: Date }): Promise<PruneSummary> {
  const opened = await stack.openRepository('exclusive');
  try {
    const { repo } = opened;
    if (!repo.storage.properties.canDelete) {
      throw new LifeboatError('append_only', `repository ${repo.location} does not allow deleting files (append-only)`, { hint: 'run prune with credentials that may delete' });
    }
    // The same retention as `lifeboat forget` (ops/retention): per source, grouped by host.
    const sources = [...stack.sources].map(([name, { config }]) => ({ name, retention: config.retention }));
    const { removed } = await runRetention(snapshotStoreOf(opened), sources, { now: opts.now ?? nowDate(), signal: opts.signal });
    if (repo.index.packCount === 0) await repo.loadIndex({ signal: opts.signal });
    const plan = await planPrune(repo, { signal: opts.signal });
    const r = await executePrune(repo, plan, { signal: opts.signal });
    return { removed_snapshots: removed.length, packs_deleted: r.packsDeleted, bytes_freed: r.bytesFreed };
  } finally {
    await opened.close();
  }
}

/** Brings the `copies[index]` target up to date with every source's snapshots (shared lock). */
export async function copyStackTo(stack: Stack, index: number, opts: StackOptions): Promise<CopyResult> {
  const copy = stack.loaded.config.copies?.[index];
  if (!copy) throw new LifeboatError('usage', `there is no copies[${index}] in ${stack.loaded.file}`);
  const one = { ...stack, loaded: { ...stack.loaded, config: { ...stack.loaded.config, copies: [copy] } } };
  const opened = await stack.openRepository('shared');
  try {
    const [r] = await syncCopies(one, opened, { ...opts, sources: [...stack.sources.keys()] });
    return r as CopyResult;
  } finally {
    await opened.close();
  }
}
