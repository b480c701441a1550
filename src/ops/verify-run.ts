/**
 * Verify: the stored backups checked without touching any live store. For each source's
 * latest (or chosen) snapshot, every artifact is read to its end and its SHA-256 compared with
 * the manifest, then the source's own semantic checks run (pg_restore --list, RDB CRC64,
 * SQLite integrity_check…). The repository check runs first, in the composition root.
 */
import { errorMessage } from '../core/errors.ts';
import type { ArtifactReader, Source, SourceContext } from '../core/source.ts';

export interface PlannedVerify {
  readonly source: Source;
  readonly snapshotId: string;
}

export interface VerifySourceResult {
  source: string;
  type: string;
  snapshot_id: string;
  status: 'ok' | 'failed';
  checks: string[];
  problems: string[];
  duration_ms: number;
}

export interface VerifyDeps {
  openReader(p: PlannedVerify): Promise<ArtifactReader>;
  context(source: Source): SourceContext;
  now(): number;
}

export async function verifyOne(p: PlannedVerify, deps: VerifyDeps): Promise<VerifySourceResult> {
  const t0 = deps.now();
  const checks: string[] = [];
  const problems: string[] = [];
  try {
    const reader = await deps.openReader(p);
    for (const a of reader.list()) {
      try {
        let n = 0;
        for await (const chunk of reader.open(a.name)) n += chunk.length;
        checks.push(`${a.name}: ${n} bytes, SHA-256 matches the manifest`);
      } catch (err) {
        problems.push(`${a.name}: ${errorMessage(err)}`);
      }
    }
    if (problems.length === 0 && p.source.verify) {
      const r = await p.source.verify(reader, deps.context(p.source));
      checks.push(...r.checks);
      problems.push(...r.problems);
    }
  } catch (err) {
    problems.push(errorMessage(err));
  }
  return {
    source: p.source.name,
    type: p.source.type,
    snapshot_id: p.snapshotId,
    status: problems.length === 0 ? 'ok' : 'failed',
    checks,
    problems,
    duration_ms: deps.now() - t0,
  };
}

/** What the repository check found, as a verify report states it. */
export interface RepositoryCheckSummary {
  ok: boolean;
  errors: number;
  warnings: number;
  packs_read: number;
  messages: string[];
}

/**
 * Verifies the planned sources one after the other (each reads its artifacts to their end) and
 * judges the run: ok only when the repository check and every source are.
 */
export async function runVerify(
  plan: readonly PlannedVerify[],
  check: RepositoryCheckSummary,
  deps: VerifyDeps,
  opts: { onSourceDone?: (r: VerifySourceResult) => void } = {},
): Promise<{ status: 'ok' | 'failed'; repository_check: RepositoryCheckSummary; sources: VerifySourceResult[] }> {
  const sources: VerifySourceResult[] = [];
  for (const p of plan) {
    const r = await verifyOne(p, deps);
    sources.push(r);
    opts.onSourceDone?.(r);
  }
  return { status: check.ok && sources.every((r) => r.status === 'ok') ? 'ok' : 'failed', repository_check: check, sources };
}
