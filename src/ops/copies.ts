/**
 * Offsite copies: every `copies:` target brought up to date with the snapshots of some
 * sources. One failed target never stops the others; it is reported with what it got before
 * it failed, and turns an ok backup run into a partial one. Cancellation ends the run.
 */
import { LifeboatError, errorMessage } from '../core/errors.ts';
import type { CopyOutcome, StackSnapshot } from '../core/snapshot-store.ts';
import type { RunReport } from './run-report.ts';

/** One `copies:` target after a sync: the run report's entry plus details. */
export interface CopyResult {
  repository: string;
  status: 'ok' | 'failed';
  copied: number;
  skipped: number;
  blobs_copied?: number;
  bytes_copied?: number;
  duration_ms: number;
  error?: string;
}

export interface CopyTargetRef {
  /** The index in `copies:` (for messages such as `copies[1].repository.password`). */
  readonly index: number;
  /** Where the target lives, without credentials. */
  readonly displayLocation: string;
}

export interface CopiesDeps {
  /** Copies `snapshots` into the target; `onSnapshot` is told of each as it lands. */
  copyTo(target: CopyTargetRef, snapshots: readonly StackSnapshot[], onSnapshot: (copied: boolean) => void): Promise<CopyOutcome>;
  log: { info(msg: string): void; warn(msg: string): void };
  now(): number;
}

export async function runCopies(targets: readonly CopyTargetRef[], snapshots: readonly StackSnapshot[], deps: CopiesDeps, signal: AbortSignal): Promise<CopyResult[]> {
  const results: CopyResult[] = [];
  for (const target of targets) {
    const started = deps.now();
    // Counted as they land, so a target that fails half-way still reports what it got.
    const done = { copied: 0, skipped: 0 };
    try {
      const r = await deps.copyTo(target, snapshots, (copied) => void (copied ? done.copied++ : done.skipped++));
      deps.log.info(`copy to ${r.repository}: ${r.copied} snapshot(s) copied, ${r.skipped} already there`);
      results.push({ repository: r.repository, status: 'ok', copied: r.copied, skipped: r.skipped, blobs_copied: r.blobsCopied, bytes_copied: r.bytesCopied, duration_ms: deps.now() - started });
    } catch (err) {
      if (signal.aborted) throw err;
      const message = errorMessage(err);
      deps.log.warn(`copy to ${target.displayLocation} failed: ${message}${err instanceof LifeboatError && err.hint ? ` (${err.hint})` : ''}`);
      results.push({ repository: target.displayLocation, status: 'failed', copied: done.copied, skipped: done.skipped, duration_ms: deps.now() - started, error: message });
    }
  }
  return results;
}

/** Puts copy results into a backup report; a failed copy turns an ok run into a partial one. */
export function addCopiesToReport(report: RunReport, results: readonly CopyResult[]): RunReport {
  report.copies = results.map((c) => ({ repository: c.repository, status: c.status, copied: c.copied, skipped: c.skipped, ...(c.error === undefined ? {} : { error: c.error }) }));
  if (report.status === 'ok' && results.some((c) => c.status === 'failed')) report.status = 'partial';
  return report;
}
