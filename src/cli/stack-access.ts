/**
 * Opening the stack (lifeboat.yml) for a command, with logging through the CLI output.
 *
 * The stack's modules (config schema, source adapters, run reports) are imported only when a
 * command runs in stack mode: a plain `backup PATH` or `restore ID --target DIR` does not
 * pay their load time and memory (about 25 MiB).
 */
import type { Stack, StackOptions } from '../app/stack.ts';
import { resolvePassword } from '../app/password.ts';
import type { CliContext } from './context.ts';
import type { ReportKind, SourceRunResult } from '../ops/run-report.ts';
import { UsageError, errorMessage } from '../core/errors.ts';
import { formatBytes, formatDuration } from './output.ts';
import { nowDate } from '../util/clock.ts';

export async function stackOptions(ctx: CliContext): Promise<StackOptions> {
  const g = ctx.globals();
  const log = { info: (m: string) => ctx.out.progress(m), warn: (m: string) => ctx.out.warn(m) };
  const opts: StackOptions = { configFile: g.config, env: ctx.env, signal: ctx.signal, log, retryLockMs: g.retryLockMs };
  if (g.repo) {
    opts.repoOverride = { location: g.repo, password: await resolvePassword({ passwordFile: g.passwordFile, passwordCommand: g.passwordCommand, env: ctx.env }) };
  }
  return opts;
}

/** The commands whose runs leave a report of their kind (docs/reports.md). */
const REPORTED: ReadonlySet<string> = new Set<ReportKind>(['backup', 'restore', 'verify', 'drill']);

/**
 * Runs `fn` with the stack of lifeboat.yml. A backup, restore, verify or drill that fails
 * before writing its report (wrong password, unreachable repository, unreadable secret) still
 * leaves one, saying why, so that `lifeboat report` never shows the last good run as current.
 */
export async function withStack<T>(ctx: CliContext, fn: (stack: Stack, opts: StackOptions) => Promise<T>): Promise<T> {
  const started = nowDate();
  const opts = await stackOptions(ctx);
  const { openStack } = await import('../app/stack.ts');
  const stack = await openStack(opts);
  try {
    return await fn(stack, opts);
  } catch (err) {
    const kind = ctx.commandName();
    // A mistyped flag is not a run; everything else that stops a run is recorded.
    if (kind !== undefined && REPORTED.has(kind) && !(err instanceof UsageError)) {
      const { saveFailedRunReport } = await import('../app/reports.ts');
      const { displayLocation } = await import('../app/copies.ts');
      await saveFailedRunReport(stack.loaded.stateDir, kind as ReportKind, started, displayLocation(stack.repositoryLocation()), err)
        .catch((saveErr: unknown) => ctx.out.warn(`could not save the report of the failed run in ${stack.loaded.stateDir}: ${errorMessage(saveErr)}`));
    }
    throw err;
  }
}

export function printResults(ctx: CliContext, results: readonly SourceRunResult[], kind: 'backup' | 'restore'): void {
  const rows = results.map((r) => [
    r.source,
    r.type,
    r.status === 'ok' ? 'ok' : r.status.toUpperCase(),
    r.snapshot_id?.slice(0, 8) ?? '',
    ...(kind === 'backup' ? [r.bytes_read !== undefined ? formatBytes(r.bytes_read) : '', r.bytes_added !== undefined ? formatBytes(r.bytes_added) : '', r.dedup_ratio ? `${r.dedup_ratio.toFixed(1)}x` : ''] : []),
    formatDuration(r.duration_ms),
    r.error ?? '',
  ]);
  const headers = ['Source', 'Type', 'Status', 'Snapshot', ...(kind === 'backup' ? ['Read', 'Added', 'Ratio'] : []), 'Time', 'Error'];
  ctx.out.table(headers, rows);
}
