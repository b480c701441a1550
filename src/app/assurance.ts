/**
 * Verify and drill for the stack of lifeboat.yml: composition of ops/verify-run and
 * ops/drill-run with the repository, the sources and the state directory.
 */
import { NotFoundError } from '../core/errors.ts';
import type { Source } from '../core/source.ts';
import { checkRepository } from '../repo/checker/checker.ts';
import type { CheckOptions } from '../repo/checker/checker.ts';
import type { StackSnapshot, StackSnapshotReader } from '../core/snapshot-store.ts';
import { chooseSnapshots } from '../ops/snapshot-choice.ts';
import { parseDurationMs } from '../sources/source-kit.ts';
import { drillVerdict, runDrill } from '../ops/drill-run.ts';
import type { DrillResult, PlannedDrill } from '../ops/drill-run.ts';
import { runVerify } from '../ops/verify-run.ts';
import type { RepositoryCheckSummary, VerifySourceResult } from '../ops/verify-run.ts';
import type { OpenedRepository } from './open-repository.ts';
import { reportEnvelope, saveRunReport } from './reports.ts';
import type { ReportEnvelope } from '../ops/run-report.ts';
import { contextFor, selectSources, snapshotStoreOf } from './stack.ts';
import type { Stack, StackOptions } from './stack.ts';
import { nowDate, nowMs } from '../util/clock.ts';

export interface VerifyReport extends ReportEnvelope<'verify'> {
  status: 'ok' | 'failed';
  repository_check: RepositoryCheckSummary;
  sources: VerifySourceResult[];
}

export interface DrillReport extends ReportEnvelope<'drill'> {
  status: 'pass' | 'fail';
  sources: DrillResult[];
}

/** Which snapshots a verify or drill works on: by ID, else the latest (at a time, of some hosts). */
export interface SnapshotChoice {
  only?: string[];
  snapshot?: string;
  at?: Date;
  hosts?: string[];
}

async function pick(stack: Stack, opened: OpenedRepository, c: SnapshotChoice): Promise<Array<{ name: string; snap: StackSnapshot }>> {
  const names = selectSources(stack, c.only);
  const chosen = chooseSnapshots(await snapshotStoreOf(opened).list(), names, { snapshot: c.snapshot, at: c.at, hosts: c.hosts });
  return names.filter((n) => chosen.has(n)).map((n) => ({ name: n, snap: chosen.get(n) as StackSnapshot }));
}

export async function verifyStack(
  stack: Stack,
  opened: OpenedRepository,
  opts: StackOptions & SnapshotChoice & { check?: CheckOptions; onSourceDone?: (r: VerifySourceResult) => void },
): Promise<VerifyReport> {
  const started = nowDate();
  const check = await checkRepository(opened.repo, { ...opts.check, signal: opts.signal });
  const targets = await pick(stack, opened, opts);
  const plan = targets.map(({ name, snap }) => ({ source: stack.sources.get(name)?.source as Source, snapshotId: snap.id, snap }));
  const run = await runVerify(plan, {
    ok: check.errors.length === 0,
    errors: check.errors.length,
    warnings: check.warnings.length,
    packs_read: check.packsRead,
    messages: [...check.errors, ...check.warnings].slice(0, 50).map((d) => `${d.severity}: ${d.object}: ${d.message}`),
  }, {
    openReader: (p) => snapshotStoreOf(opened).openReader((plan.find((x) => x.snapshotId === p.snapshotId) as (typeof plan)[number]).snap, { signal: opts.signal }),
    context: (s) => contextFor(s, opts),
    now: () => nowMs(),
  }, { onSourceDone: opts.onSourceDone });
  const report: VerifyReport = { ...reportEnvelope('verify', started, opened.repo.location), ...run };
  await saveRunReport(stack.loaded.stateDir, 'verify', report.started_at, report, opts.log.warn);
  return report;
}

export async function drillStack(
  stack: Stack,
  opened: OpenedRepository,
  opts: StackOptions & SnapshotChoice & {
    onSourceDone?: (r: DrillResult) => void;
    /** Told the chosen snapshots before the drill starts (the CLI shows each one's host and time). */
    onPlan?: (targets: ReadonlyArray<{ name: string; snap: StackSnapshot }>) => void;
  },
): Promise<DrillReport> {
  const started = nowDate();
  const targets = await pick(stack, opened, opts);
  opts.onPlan?.(targets);
  if (targets.length === 0) throw new NotFoundError('nothing to drill: no source has a snapshot yet', { hint: 'run "lifeboat backup" first' });
  const readers = new Map<string, StackSnapshotReader>();
  const plan: PlannedDrill[] = targets.map(({ name, snap }) => {
    const { source, config } = stack.sources.get(name) as { source: Source; config: { rto?: string; rpo?: string } };
    return {
      source,
      snapshotId: snap.id,
      snapshotTime: snap.date,
      rtoMs: config.rto ? parseDurationMs(config.rto) : undefined,
      rpoMs: config.rpo ? parseDurationMs(config.rpo) : undefined,
    };
  });
  const results = await runDrill(plan, {
    openReader: async (p) => {
      const snap = targets.find((t) => t.snap.id === p.snapshotId)?.snap as StackSnapshot;
      const reader = readers.get(p.snapshotId) ?? (await snapshotStoreOf(opened).openReader(snap, { signal: opts.signal }));
      readers.set(p.snapshotId, reader);
      return { reader, fingerprint: reader.manifest.fingerprint as Record<string, unknown> };
    },
    context: (s) => contextFor(s, opts),
    now: () => nowMs(),
  }, { signal: opts.signal, onSourceDone: opts.onSourceDone });
  const report: DrillReport = {
    ...reportEnvelope('drill', started, opened.repo.location),
    status: drillVerdict(results),
    sources: results,
  };
  await saveRunReport(stack.loaded.stateDir, 'drill', report.started_at, report, opts.log.warn);
  return report;
}
