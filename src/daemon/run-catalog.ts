/**
 * The run catalog: every run of every job the daemon starts or skips, in SQLite
 * (`<state_dir>/daemon.db`, through node:sqlite, no extra dependency). It answers the API
 * (runs, run detail), the watchdog (last success per source) and the scheduler (when each job
 * last started on schedule, to catch up missed slots after downtime).
 *
 * A new state directory (a DR host) starts with the history rebuilt from the repository's
 * snapshots: one `ok` backup run per snapshot, trigger `rebuild`, so the overview and the
 * watchdog know each source's last good backup before the first run here.
 *
 * Pauses (a job's, or `*` for all) are kept here too, so a restart does not resume what an
 * operator paused.
 *
 * Rows are written once when a run starts and once when it ends; a row still `running` at open
 * belongs to a daemon that died, and is closed as failed. Old rows are dropped at open.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { JobKind, SkipReason, Trigger } from './scheduler.ts';
import { nowDate } from '../util/clock.ts';

export type RunStatus = 'running' | 'ok' | 'partial' | 'failed' | 'skipped';

export interface RunRecord {
  id: number;
  job: string;
  kind: JobKind;
  target: string | null;
  trigger: Trigger | 'rebuild';
  status: RunStatus;
  attempt: number;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  bytes_read: number | null;
  bytes_added: number | null;
  snapshot_id: string | null;
  error: string | null;
  error_code: string | null;
  error_class: string | null;
  skip_reason: string | null;
  /** The run's report (docs/reports.md), when it wrote one. */
  report: unknown;
}

export interface RunEnd {
  status: Exclude<RunStatus, 'running' | 'skipped'>;
  at: Date;
  bytesRead?: number;
  bytesAdded?: number;
  snapshotId?: string;
  error?: string;
  errorCode?: string;
  errorClass?: string;
  report?: unknown;
}

/** A snapshot as the rebuild needs it (the app layer lists them). */
export interface SnapshotFact {
  id: string;
  time: Date;
  source: string;
  /** A pre-restore safety snapshot: what a restore replaced, not a backup (not rebuilt as one). */
  isSafety?: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL, kind TEXT NOT NULL, target TEXT, trigger TEXT NOT NULL,
  status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1,
  started_at INTEGER NOT NULL, finished_at INTEGER, duration_ms INTEGER,
  bytes_read INTEGER, bytes_added INTEGER, snapshot_id TEXT,
  error TEXT, error_code TEXT, error_class TEXT, skip_reason TEXT, report TEXT
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job, started_at);
CREATE INDEX IF NOT EXISTS runs_kind_target ON runs (kind, target, status, started_at);
CREATE TABLE IF NOT EXISTS pauses (job TEXT PRIMARY KEY, since INTEGER NOT NULL);
`;

/** How long runs are kept in the catalog (their reports stay in the state dir's reports/). */
export const KEEP_DAYS = 400;

type Row = Record<string, string | number | null>;

const iso = (ms: unknown): string | null => (typeof ms === 'number' ? new Date(ms).toISOString() : null);

function toRecord(r: Row): RunRecord {
  return {
    id: r.id as number,
    job: r.job as string,
    kind: r.kind as JobKind,
    target: r.target as string | null,
    trigger: r.trigger as RunRecord['trigger'],
    status: r.status as RunStatus,
    attempt: r.attempt as number,
    started_at: iso(r.started_at) as string,
    finished_at: iso(r.finished_at),
    duration_ms: r.duration_ms as number | null,
    bytes_read: r.bytes_read as number | null,
    bytes_added: r.bytes_added as number | null,
    snapshot_id: r.snapshot_id as string | null,
    error: r.error as string | null,
    error_code: r.error_code as string | null,
    error_class: r.error_class as string | null,
    skip_reason: r.skip_reason as string | null,
    report: typeof r.report === 'string' ? JSON.parse(r.report) : null,
  };
}

export interface RunQuery {
  limit?: number;
  job?: string;
  kind?: JobKind;
  target?: string;
  /** Only runs that started before this ID (paging, newest first). */
  before?: number;
}

export class RunCatalog {
  readonly #db: DatabaseSync;
  readonly file: string;

  private constructor(db: DatabaseSync, file: string) {
    this.#db = db;
    this.file = file;
  }

  /** Opens (creating) `<stateDir>/daemon.db`; `:memory:` for tests. */
  static open(stateDir: string | ':memory:', now: Date = nowDate()): RunCatalog {
    let file: string = stateDir;
    if (stateDir !== ':memory:') {
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      file = path.join(stateDir, 'daemon.db');
    }
    const db = new DatabaseSync(file);
    // Run history is nobody else's business (errors name hosts, paths and databases).
    if (file !== ':memory:') chmodSync(file, 0o600);
    db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
    db.exec(SCHEMA);
    db.prepare("UPDATE runs SET status = 'failed', finished_at = ?, error = 'the daemon stopped while this run was going', error_code = 'interrupted' WHERE status = 'running'").run(now.getTime());
    // Bounded growth (an @every 30s job adds a million rows a year): skipped slots are kept
    // 30 days, runs 400 (the rebuilt history from snapshots stays: it is what the repository holds).
    db.prepare("DELETE FROM runs WHERE (status = 'skipped' AND started_at < ?) OR (trigger != 'rebuild' AND started_at < ?)").run(now.getTime() - 30 * 86_400_000, now.getTime() - KEEP_DAYS * 86_400_000);
    return new RunCatalog(db, file);
  }

  start(run: { job: string; kind: JobKind; target?: string; trigger: Trigger; attempt: number; at: Date }): number {
    const r = this.#db.prepare("INSERT INTO runs (job, kind, target, trigger, status, attempt, started_at) VALUES (?, ?, ?, ?, 'running', ?, ?)")
      .run(run.job, run.kind, run.target ?? null, run.trigger, run.attempt, run.at.getTime());
    return Number(r.lastInsertRowid);
  }

  finish(id: number, end: RunEnd): void {
    this.#db.prepare(`UPDATE runs SET status = ?, finished_at = ?, duration_ms = ? - started_at, bytes_read = ?, bytes_added = ?, snapshot_id = ?,
      error = ?, error_code = ?, error_class = ?, report = ? WHERE id = ?`).run(
      end.status, end.at.getTime(), end.at.getTime(), end.bytesRead ?? null, end.bytesAdded ?? null, end.snapshotId ?? null,
      end.error ?? null, end.errorCode ?? null, end.errorClass ?? null, end.report === undefined ? null : JSON.stringify(end.report), id,
    );
  }

  skipped(run: { job: string; kind: JobKind; target?: string; reason: SkipReason; at: Date }): number {
    const r = this.#db.prepare("INSERT INTO runs (job, kind, target, trigger, status, started_at, finished_at, duration_ms, skip_reason) VALUES (?, ?, ?, 'schedule', 'skipped', ?, ?, 0, ?)")
      .run(run.job, run.kind, run.target ?? null, run.at.getTime(), run.at.getTime(), run.reason);
    return Number(r.lastInsertRowid);
  }

  get(id: number): RunRecord | undefined {
    const r = this.#db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** Newest first; at most `limit` (default 100, at most 1000). */
  list(q: RunQuery = {}): RunRecord[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    const add = (clause: string, v: string | number | undefined): void => {
      if (v === undefined) return;
      where.push(clause);
      args.push(v);
    };
    add('job = ?', q.job);
    add('kind = ?', q.kind);
    add('target = ?', q.target);
    add('id < ?', q.before);
    const limit = Math.min(Math.max(1, q.limit ?? 100), 1000);
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC LIMIT ${limit}`;
    return (this.#db.prepare(sql).all(...args) as Row[]).map(toRecord);
  }

  /** The last run of a kind and target that ended `ok` (or `partial`, when allowed). */
  lastSuccess(kind: JobKind, target?: string): RunRecord | undefined {
    const r = this.#db.prepare(`SELECT * FROM runs WHERE kind = ? AND ${target === undefined ? 'target IS NULL' : 'target = ?'} AND status = 'ok' ORDER BY started_at DESC LIMIT 1`)
      .get(...(target === undefined ? [kind] : [kind, target])) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** The last run of a job that ended (not skipped, not running). */
  lastFinished(job: string): RunRecord | undefined {
    const r = this.#db.prepare("SELECT * FROM runs WHERE job = ? AND status IN ('ok', 'partial', 'failed') ORDER BY started_at DESC, id DESC LIMIT 1").get(job) as Row | undefined;
    return r ? toRecord(r) : undefined;
  }

  /** When the job last started on its schedule (what the scheduler catches up from). */
  lastScheduledStart(job: string): Date | undefined {
    const r = this.#db.prepare("SELECT MAX(started_at) AS t FROM runs WHERE job = ? AND trigger IN ('schedule', 'catch_up', 'rebuild')").get(job) as Row | undefined;
    return typeof r?.t === 'number' ? new Date(r.t) : undefined;
  }

  /** Runs per job and status, for the metrics' counters. */
  counts(): Array<{ job: string; kind: JobKind; target: string | null; status: RunStatus; n: number }> {
    return this.#db.prepare("SELECT job, kind, target, status, COUNT(*) AS n FROM runs WHERE trigger != 'rebuild' GROUP BY job, kind, target, status").all() as never;
  }

  /** Durations of the last `limit` finished runs per job (for the duration histogram). */
  durations(limit = 200): Array<{ job: string; kind: JobKind; duration_ms: number }> {
    return this.#db.prepare(`SELECT job, kind, duration_ms FROM (
      SELECT job, kind, duration_ms, ROW_NUMBER() OVER (PARTITION BY job ORDER BY id DESC) AS n FROM runs
      WHERE status IN ('ok', 'partial', 'failed') AND trigger != 'rebuild' AND duration_ms IS NOT NULL) WHERE n <= ?`).all(limit) as never;
  }

  /** Retries per job, by the error class of the failed attempt before each. */
  retries(): Array<{ job: string; reason: string; n: number }> {
    return this.#db.prepare(`SELECT r.job AS job, COALESCE((SELECT p.error_class FROM runs p WHERE p.job = r.job AND p.id < r.id AND p.status = 'failed' ORDER BY p.id DESC LIMIT 1), 'unknown') AS reason, COUNT(*) AS n
      FROM runs r WHERE r.trigger = 'retry' GROUP BY 1, 2`).all() as never;
  }

  /** The worst status per UTC day of a job's runs since `since` (skips ignored): the 30-day strip. */
  days(job: string, since: Date): Array<{ day: string; status: 'ok' | 'partial' | 'failed' }> {
    const rows = this.#db.prepare("SELECT started_at, status FROM runs WHERE job = ? AND started_at >= ? AND status IN ('ok', 'partial', 'failed')").all(job, since.getTime()) as Array<{ started_at: number; status: 'ok' | 'partial' | 'failed' }>;
    const rank = { ok: 0, partial: 1, failed: 2 };
    const byDay = new Map<string, 'ok' | 'partial' | 'failed'>();
    for (const r of rows) {
      const day = new Date(r.started_at).toISOString().slice(0, 10);
      const was = byDay.get(day);
      if (!was || rank[r.status] > rank[was]) byDay.set(day, r.status);
    }
    return [...byDay].sort(([a], [b]) => a.localeCompare(b)).map(([day, status]) => ({ day, status }));
  }

  /** Records a job as paused (`*`: every job) or resumed, so a restarted daemon keeps it so. */
  setPaused(job: string, paused: boolean, at: Date): void {
    if (paused) this.#db.prepare('INSERT OR IGNORE INTO pauses (job, since) VALUES (?, ?)').run(job, at.getTime());
    else this.#db.prepare('DELETE FROM pauses WHERE job = ?').run(job);
  }

  /** The paused jobs (`*` for all) and since when. */
  pauses(): Array<{ job: string; since: Date }> {
    return (this.#db.prepare('SELECT job, since FROM pauses ORDER BY job').all() as Array<{ job: string; since: number }>).map((r) => ({ job: r.job, since: new Date(r.since) }));
  }

  isEmpty(): boolean {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM runs').get() as { n: number }).n === 0;
  }

  /**
   * Fills an empty catalog from the repository's backups (a new state directory); returns
   * how many runs it recorded. Does nothing when the catalog has runs.
   */
  rebuildFromSnapshots(all: readonly SnapshotFact[]): number {
    if (!this.isEmpty()) return 0;
    const snapshots = all.filter((s) => !s.isSafety);
    const insert = this.#db.prepare("INSERT INTO runs (job, kind, target, trigger, status, started_at, finished_at, duration_ms, snapshot_id) VALUES (?, 'backup', ?, 'rebuild', 'ok', ?, ?, NULL, ?)");
    this.#db.exec('BEGIN');
    try {
      for (const s of snapshots) insert.run(`backup:${s.source}`, s.source, s.time.getTime(), s.time.getTime(), s.id);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return snapshots.length;
  }

  close(): void {
    this.#db.close();
  }
}
