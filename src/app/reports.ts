/**
 * Run history in the state directory: every backup, restore, verify and drill run leaves
 * `reports/<kind>-<time>.json` and `reports/latest-<kind>.json` (written atomically). The
 * shapes are documented in docs/reports.md; `lifeboat report` reads the latest ones.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { LifeboatError, errorMessage } from '../core/errors.ts';
import { VERSION } from '../version.ts';
import type { ReportEnvelope, ReportKind } from '../ops/run-report.ts';

/**
 * Writes a report; a failure (a full or read-only state dir) is one LifeboatError naming the
 * file, and leaves no partial file behind.
 */
export async function saveJsonReport(stateDir: string, kind: ReportKind, startedAt: string, report: unknown): Promise<string> {
  const dir = path.join(stateDir, 'reports');
  const file = path.join(dir, `${kind}-${startedAt.replace(/[:.]/g, '-')}.json`);
  const text = JSON.stringify(report, null, 2) + '\n';
  const latest = path.join(dir, `latest-${kind}.json`);
  let at = file;
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(file, text);
    at = latest;
    await writeFile(`${latest}.tmp`, text);
    await rename(`${latest}.tmp`, latest);
    return file;
  } catch (err) {
    // best effort: a half-written report would read as damaged history
    if (at === file) await rm(file, { force: true }).catch(() => undefined);
    await rm(`${latest}.tmp`, { force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'no space left on device' : code === 'EDQUOT' ? 'disk quota exceeded' : errorMessage(err);
    throw new LifeboatError('report_not_saved', `cannot write run report ${at}: ${why}`, {
      cause: err,
      hint: code === 'ENOSPC' || code === 'EDQUOT' ? `free space on ${dir}` : `check that lifeboat may write to ${dir} (state_dir)`,
    });
  }
}

/**
 * saveJsonReport for a run whose outcome does not depend on its report: a backup that
 * succeeded stays a success when its report cannot be written, and the reason is a warning.
 */
export async function saveRunReport(stateDir: string, kind: ReportKind, startedAt: string, report: unknown, warn: (message: string) => void): Promise<string | undefined> {
  try {
    return await saveJsonReport(stateDir, kind, startedAt, report);
  } catch (err) {
    warn(err instanceof LifeboatError && err.hint ? `${err.message}; ${err.hint}` : errorMessage(err));
    return undefined;
  }
}

export async function loadLatestReport<T>(stateDir: string, kind: ReportKind): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path.join(stateDir, 'reports', `latest-${kind}.json`), 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The envelope of a run that started at `started` and ends now. */
export function reportEnvelope<K extends ReportKind>(kind: K, started: Date, repository: string): ReportEnvelope<K> {
  const finished = new Date();
  return {
    kind,
    lifeboat_version: VERSION,
    started_at: started.toISOString(),
    finished_at: finished.toISOString(),
    duration_ms: finished.getTime() - started.getTime(),
    repository,
    hostname: hostname(),
  };
}
