/**
 * Retention: each source's `retention:` of lifeboat.yml applied to its own snapshots, grouped
 * by host as restic groups them, so two hosts backing up one source keep their own history.
 * Safety snapshots count as the source's snapshots (they age out like backups). A source
 * without retention keeps everything. Only snapshots are removed; prune frees their data.
 */
import type { SnapshotStore, StackSnapshot } from '../core/snapshot-store.ts';
import { applyPolicy, isEmptyPolicy } from './retention-policy.ts';
import type { ExpirePolicy } from './retention-policy.ts';

/** The `retention:` keys of lifeboat.yml. */
export interface Retention {
  keep_last?: number;
  keep_hourly?: number;
  keep_daily?: number;
  keep_weekly?: number;
  keep_monthly?: number;
  keep_yearly?: number;
  keep_within?: string;
}

export function policyFromRetention(r: Retention | undefined): ExpirePolicy {
  return { last: r?.keep_last, hourly: r?.keep_hourly, daily: r?.keep_daily, weekly: r?.keep_weekly, monthly: r?.keep_monthly, yearly: r?.keep_yearly, within: r?.keep_within };
}

/** What retention decided for one source (and host, when a policy applies). */
export interface RetentionDecision {
  source: string;
  /** null: the source has no retention and keeps everything. */
  policy: ExpirePolicy | null;
  keep: Array<{ id: string; reasons: string[] }>;
  remove: string[];
}

/** Decides, touching nothing. `sources` in config order; `now` is the clock's. */
export function planRetention(all: readonly StackSnapshot[], sources: ReadonlyArray<{ name: string; retention?: Retention }>, now: Date): RetentionDecision[] {
  const out: RetentionDecision[] = [];
  for (const { name, retention } of sources) {
    const mine = all.filter((s) => s.source === name);
    const policy = policyFromRetention(retention);
    if (isEmptyPolicy(policy)) {
      out.push({ source: name, policy: null, keep: mine.map((s) => ({ id: s.id, reasons: [] })), remove: [] });
      continue;
    }
    const byHost = new Map<string, StackSnapshot[]>();
    for (const s of mine) byHost.set(s.hostname ?? '', [...(byHost.get(s.hostname ?? '') ?? []), s]);
    for (const snaps of byHost.values()) {
      const decisions = applyPolicy(snaps, policy, now);
      out.push({
        source: name,
        policy,
        keep: decisions.filter((d) => d.keep).map((d) => ({ id: d.snapshot.id, reasons: d.reasons })),
        remove: decisions.filter((d) => !d.keep).map((d) => d.snapshot.id),
      });
    }
  }
  return out;
}

/** Plans and, unless `dryRun`, forgets what the plan removes. */
export async function runRetention(
  store: SnapshotStore,
  sources: ReadonlyArray<{ name: string; retention?: Retention }>,
  opts: { now: Date; dryRun?: boolean; signal?: AbortSignal },
): Promise<{ decisions: RetentionDecision[]; removed: string[] }> {
  const decisions = planRetention(await store.list({ signal: opts.signal }), sources, opts.now);
  const removed = decisions.flatMap((d) => d.remove);
  if (!opts.dryRun) await store.forget(removed, { signal: opts.signal });
  return { decisions, removed };
}
