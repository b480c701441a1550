/**
 * Run history in the state directory: every backup, restore, verify and drill run leaves
 * `reports/<kind>-<time>.json` and `reports/latest-<kind>.json` (written atomically). The
 * shapes are documented in docs/reports.md; `lifeboat report` reads the latest ones.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { LifeboatError, errorMessage } from '../core/errors.ts';
import { VERSION } from '../version.ts';
import type { ReportEnvelope, ReportKind } from '../ops/run-report.ts';
import { nowDate } from '../util/clock.ts';

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
  const finished = nowDate();
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

/** The report of a run that failed before it could report on its sources (docs/reports.md). */
export interface FailedRunReport extends ReportEnvelope<ReportKind> {
  status: 'failed';
  /** One line: what failed, e.g. "wrong password or no key found". */
  error: string;
  error_code: string;
  sources: [];
}

/**
 * Records a run that failed before it wrote its own report (wrong password, unreachable
 * repository, a secret that cannot be read, …), so `lifeboat report` and monitoring see the
 * failure instead of the last good run. Nothing is written when the run already saved a report
 * at or after `started` (a failure after the run, such as exit 3, is in that report).
 */
export async function saveFailedRunReport(stateDir: string, kind: ReportKind, started: Date, repository: string, err: unknown): Promise<string | undefined> {
  const latest = await loadLatestReport<{ started_at?: string }>(stateDir, kind).catch(() => undefined);
  if (latest?.started_at !== undefined && Date.parse(latest.started_at) >= started.getTime()) return undefined;
  const report: FailedRunReport = {
    ...reportEnvelope(kind, started, repository),
    status: 'failed',
    error: errorMessage(err).split('\n')[0] as string,
    error_code: err instanceof LifeboatError ? err.code : 'internal',
    sources: [],
  };
  return saveJsonReport(stateDir, kind, report.started_at, report);
}

/**
 * The reports of one kind, newest first (file names sort by start time), read lazily so a
 * caller can stop once it has what it needs; at most `limit` files. Unreadable files are skipped.
 */
export async function* reportsNewestFirst<T>(stateDir: string, kind: ReportKind, limit = 1000): AsyncGenerator<T> {
  const dir = path.join(stateDir, 'reports');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const mine = names.filter((n) => n.startsWith(`${kind}-`) && n.endsWith('.json')).sort().reverse().slice(0, limit);
  for (const name of mine) {
    try {
      yield JSON.parse(await readFile(path.join(dir, name), 'utf8')) as T;
    } catch {
      // A half-written or hand-edited file: the next older report still tells the history.
    }
  }
}
