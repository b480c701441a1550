/**
 * The restore run: sources restored one at a time in dependency order (the plan is already
 * ordered), each between its restore hooks (stop dependents, start them again), then the
 * restored data's fingerprint compared with the one recorded at backup time; any difference
 * fails that source. A failed source stops the sources that depend on it.
 */
import { errorMessage } from '../core/errors.ts';
import { compareFingerprints } from '../core/source.ts';
import type { ArtifactReader, Fingerprint, RestoreOptions, Source, SourceContext } from '../core/source.ts';
import type { SourceRunResult } from './run-report.ts';

export interface PlannedRestore {
  readonly source: Source;
  readonly snapshotId: string;
  readonly dependsOn: readonly string[];
  readonly hooks?: { readonly before?: readonly string[]; readonly after?: readonly string[] };
  readonly to?: string;
}

export interface RestoreRunDeps {
  openReader(p: PlannedRestore): Promise<{ reader: ArtifactReader; fingerprint: Fingerprint }>;
  runHooks(commands: readonly string[], what: string, signal: AbortSignal): Promise<void>;
  context(source: Source): SourceContext;
  now(): number;
}

export async function runRestore(
  plan: readonly PlannedRestore[],
  deps: RestoreRunDeps,
  opts: { signal: AbortSignal; onSourceDone?: (r: SourceRunResult) => void },
): Promise<SourceRunResult[]> {
  const failed = new Set<string>();
  const results: SourceRunResult[] = [];
  for (const p of plan) {
    const { source } = p;
    const t0 = deps.now();
    const base = { source: source.name, type: source.type, snapshot_id: p.snapshotId };
    let r: SourceRunResult;
    const blocker = p.dependsOn.find((d) => failed.has(d));
    if (opts.signal.aborted) r = { ...base, status: 'skipped', error: 'cancelled', duration_ms: 0 };
    else if (blocker) r = { ...base, status: 'skipped', error: `not restored: it depends on ${blocker}, which failed`, duration_ms: 0 };
    else {
      try {
        const { reader, fingerprint } = await deps.openReader(p);
        const ropts: RestoreOptions = p.to ? { to: p.to } : {};
        if (p.hooks?.before?.length) await deps.runHooks(p.hooks.before, `${source.name}: before-restore hook`, opts.signal);
        try {
          await source.restore(reader, deps.context(source), { ...ropts, expected: fingerprint });
        } finally {
          if (p.hooks?.after?.length) await deps.runHooks(p.hooks.after, `${source.name}: after-restore hook`, opts.signal);
        }
        const actual = await source.fingerprint(deps.context(source), ropts);
        const diff = compareFingerprints(fingerprint, actual);
        r = diff.length === 0
          ? { ...base, status: 'ok', duration_ms: deps.now() - t0, fingerprint_diff: [] }
          : { ...base, status: 'failed', error: `restored data differs from the backup's fingerprint (${diff.length} differences; first: ${diff[0]})`, fingerprint_diff: diff, duration_ms: deps.now() - t0 };
      } catch (err) {
        r = { ...base, status: 'failed', error: errorMessage(err), duration_ms: deps.now() - t0 };
      }
    }
    if (r.status !== 'ok') failed.add(source.name);
    results.push(r);
    opts.onSourceDone?.(r);
  }
  return results;
}
