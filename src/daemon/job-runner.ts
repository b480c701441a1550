/**
 * What each kind of job does, through the same use cases the CLI runs (app/stack.ts,
 * app/assurance.ts, app/maintenance.ts), so a scheduled backup is exactly `lifeboat backup
 * --only NAME`. Each returns the run's outcome for the catalog: status, sizes, the report, and
 * an error carrying its class when it failed.
 */
import { LifeboatError } from '../core/errors.ts';
import { drillStack, verifyStack } from '../app/assurance.ts';
import { checkStackRepository, copyStackTo, parseReadDataSubset, pruneStack } from '../app/maintenance.ts';
import { backupStack } from '../app/stack.ts';
import type { Stack, StackOptions } from '../app/stack.ts';
import type { JobSpec, RunResult } from './scheduler.ts';

export interface JobOutcome extends RunResult {
  readonly bytesRead?: number;
  readonly bytesAdded?: number;
  readonly snapshotId?: string;
  readonly report?: unknown;
}

const failed = (code: string, message: string, report: unknown): JobOutcome => ({ status: 'failed', error: new LifeboatError(code, message), report });

export async function runJob(stack: Stack, job: JobSpec, opts: StackOptions): Promise<JobOutcome> {
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
      if (report.status === 'failed') return { ...failed('backup_failed', s?.error ?? 'the backup failed', report), ...base };
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
  }
}
