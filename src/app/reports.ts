/**
 * Run history in the state directory: every backup, restore, verify and drill run leaves
 * `reports/<kind>-<time>.json` and `reports/latest-<kind>.json` (written atomically). The
 * shapes are documented in docs/reports.md; `lifeboat report` reads the latest ones.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { VERSION } from '../version.ts';
import type { ReportEnvelope, ReportKind } from '../ops/run-report.ts';

export async function saveJsonReport(stateDir: string, kind: ReportKind, startedAt: string, report: unknown): Promise<string> {
  const dir = path.join(stateDir, 'reports');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${kind}-${startedAt.replace(/[:.]/g, '-')}.json`);
  const text = JSON.stringify(report, null, 2) + '\n';
  await writeFile(file, text);
  const latest = path.join(dir, `latest-${kind}.json`);
  await writeFile(`${latest}.tmp`, text);
  await rename(`${latest}.tmp`, latest);
  return file;
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
