/**
 * What each kind of job does, through the same use cases the CLI runs (app/stack.ts,
 * app/assurance.ts, app/maintenance.ts), so a scheduled backup is exactly `lifeboat backup
 * --only NAME`. Each returns the run's outcome for the catalog: status, sizes, the report, and
 * an error carrying its class when it failed.
 */
import { LifeboatError } from '../core/errors.ts';
import { drillStack, verifyStack } from '../app/assurance.ts';
import { checkStackRepository, copyStackTo, parseReadDataSubset, pruneStack } from '../app/maintenance.ts';
import { backupStack, planStackRestore, restoreStack } from '../app/stack.ts';
import type { Stack, StackOptions } from '../app/stack.ts';
import type { RestoreInput } from './restore-request.ts';
import type { JobSpec, RunResult } from './scheduler.ts';

export interface JobOutcome extends RunResult {
  readonly bytesRead?: number;
  readonly bytesAdded?: number;
  readonly snapshotId?: string;
  readonly report?: unknown;
}

const failed = (code: string, message: string, report: unknown): JobOutcome => ({ status: 'failed', error: new LifeboatError(code, message), report });

/** `input`: what the run was asked with (a restore's RestoreInput). */
export async function runJob(stack: Stack, job: JobSpec, opts: StackOptions, input?: unknown): Promise<JobOutcome> {
  const only = job.target ? job.target.split(',') : undefined;
  switch (job.kind) {
    case 'backup': {
      const report = await backupStack(stack, {
        ...opts,
        only,
        onSourceDone: (r) => opts.log.info(`${r.source}: ${r.status}${r.bytes_read !== undefined ? `, ${r.bytes_read} bytes read, ${r.bytes_added ?? 0} added` : ''} in ${r.duration_ms} ms${r.error ? `: ${r.error}` : ''}`),
      });
      const s = report.sources[0];
      const base = { report, bytesRead: s?.bytes_read, bytesAdded: s?.bytes_added, snapshotId: s?.snapshot_id };
      if (report.status === 'failed') {
        // The source's own failure class decides the retry (a server that refused the connection is retried).
        const error = new LifeboatError('backup_failed', s?.error ?? 'the backup failed', { data: { failure_class: s?.error_class } });
        return { status: 'failed', error, ...base };
      }
      return { status: report.status, ...base };
    }
    case 'copy': {
      const r = await copyStackTo(stack, Number(job.target), opts);
      return r.status === 'ok' ? { status: 'ok', report: r } : failed('copy_failed', `copy to ${r.repository}: ${r.error ?? 'failed'}`, r);
    }
    case 'verify':
    case 'drill': {
      const opened = await stack.openRepository('shared');
      try {
        if (job.kind === 'verify') {
          const report = await verifyStack(stack, opened, { ...opts, only });
          if (report.status === 'ok') return { status: 'ok', report };
          const bad = report.sources.filter((s) => s.status !== 'ok').map((s) => s.source);
          return failed('verify_failed', report.repository_check.ok ? `verify found problems in ${bad.join(', ')}` : `the repository check found ${report.repository_check.errors} error(s)`, report);
        }
        const report = await drillStack(stack, opened, { ...opts, only });
        if (report.status === 'pass') return { status: 'ok', report };
        const bad = report.sources.filter((s) => s.status === 'fail').map((s) => `${s.source}${s.cause ? ` (${s.cause})` : ''}`);
        return failed('drill_failed', `drill failed for ${bad.join(', ')}`, report);
      } finally {
        await opened.close();
      }
    }
    case 'check': {
      const subset = parseReadDataSubset(stack.loaded.config.daemon?.check?.read_data_subset);
      const r = await checkStackRepository(stack, { signal: opts.signal, readDataSubset: subset });
      return r.ok ? { status: 'ok', report: r } : failed('integrity', `the repository check found ${r.errors} error(s): ${r.messages[0] ?? ''}`, r);
    }
    case 'prune':
      return { status: 'ok', report: await pruneStack(stack, { signal: opts.signal }) };
    case 'restore':
      return restoreJob(stack, input as RestoreInput, opts);
  }
}

/** `lifeboat restore --only <sources> [--snapshot ID] --yes`: the same plan and run, safety snapshot first. */
async function restoreJob(stack: Stack, input: RestoreInput, opts: StackOptions): Promise<JobOutcome> {
  const opened = await stack.openRepository('shared');
  try {
    const plan = await planStackRestore(stack, opened, { only: [...input.sources], snapshot: input.snapshot === 'latest' ? undefined : input.snapshot });
    for (const m of plan.missing) opts.log.warn(`${m}: no snapshot to restore`);
    if (plan.items.length === 0) return failed('not_found', 'nothing to restore: no snapshot matches', null);
    opts.log.info(`restoring ${plan.items.map((p) => `${p.source.name} from ${p.snapshotId.slice(0, 8)}${p.to ? ` into ${p.to}` : ''}`).join(', ')}`);
    const report = await restoreStack(stack, opened, plan, {
      ...opts,
      onSourceDone: (r) => opts.log.info(`${r.source}: ${r.status} in ${r.duration_ms} ms${r.error ? `: ${r.error}` : ''}${r.undo ? `; the replaced data is in safety snapshot ${r.safety_snapshot_id?.slice(0, 8)} (undo: ${r.undo})` : ''}`),
    });
    const first = report.sources[0];
    const base = { report, snapshotId: plan.items[0]?.snapshotId, bytesRead: first?.bytes_read };
    const bad = report.sources.filter((r) => r.status !== 'ok');
    if (report.status === 'failed' || bad.length === report.sources.length) return { ...failed('restore_failed', `restore failed for ${bad.map((b) => `${b.source}${b.error ? ` (${b.error})` : ''}`).join(', ')}`, report), ...base };
    return { status: bad.length > 0 ? 'partial' : 'ok', ...base };
  } finally {
    await opened.close();
  }
}
