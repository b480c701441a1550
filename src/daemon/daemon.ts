/**
 * `lifeboat daemon`: the one process a team runs beside its stack. It composes the scheduler
 * (when), the job runner (what: the CLI's own use cases), the run catalog (what happened), the
 * watchdog (what is wrong) and the notifications (who hears of it), and answers the HTTP API
 * and /metrics (server/).
 *
 * Failures before any job starts are watched too: the repository is probed every few minutes
 * (read-only, no lock); a probe that cannot open it (unreachable, wrong password, a secret that
 * cannot be read) is a `repository` failure alert, and its recovery another.
 */
import { errorMessage, LifeboatError, NotFoundError, UsageError } from '../core/errors.ts';
import { probeRepository } from '../app/maintenance.ts';
import type { RepositoryProbe } from '../app/maintenance.ts';
import { saveFailedRunReport } from '../app/reports.ts';
import { displayLocation } from '../app/copies.ts';
import type { Stack, StackOptions } from '../app/stack.ts';
import { parseDurationMs } from '../config/daemon-schema.ts';
import type { Clock } from '../util/clock.ts';
import { nowDate, nowMs, systemClock } from '../util/clock.ts';
import { jobsFromConfig } from './jobs.ts';
import { runJob } from './job-runner.ts';
import type { JobOutcome } from './job-runner.ts';
import { collectMetrics } from './metrics.ts';
import { createChannels, makeAlert, notify } from './notify/notifier.ts';
import type { AlertEvent, Channel } from './notify/notifier.ts';
import type { Fetch } from './notify/http-channels.ts';
import type { MetricFamily } from './prometheus-text.ts';
import { RunCatalog } from './run-catalog.ts';
import type { RunQuery, RunRecord } from './run-catalog.ts';
import { Scheduler } from './scheduler.ts';
import type { JobSpec, JobStatus, RunContext } from './scheduler.ts';
import { Watchdog } from './watchdog.ts';
import type { Condition } from './watchdog.ts';
import { ProgressMeter } from '../ops/progress-meter.ts';
import type { ProgressEvent } from '../ops/progress-meter.ts';
import type { SourceProgress } from '../ops/run-report.ts';
import { restorePreview } from './restore-preview.ts';
import { confirmationFor, parseRestoreRequest, RestoreRefusedError } from './restore-request.ts';
import type { RestoreInput } from './restore-request.ts';
import type { RestorePreview } from './restore-preview.ts';
import { sourceViews } from './views.ts';
import type { SourceView } from './views.ts';

export interface DaemonOptions {
  readonly stack: Stack;
  /** The daemon's own env, log and signal; each run gets a signal of its own under it. */
  readonly stackOptions: StackOptions;
  readonly clock?: Clock;
  readonly fetch?: Fetch;
  /** Real-time interval of the scheduler's tick (default 1s) and of the watchdog (default 30s). */
  readonly tickMs?: number;
  readonly watchMs?: number;
  /** How often the repository is probed (default 5 minutes). */
  readonly probeMs?: number;
  /** What a job does (default job-runner.ts; tests put a fake here). */
  readonly runJob?: typeof runJob;
}

interface LiveRun {
  readonly id: number;
  readonly job: string;
  readonly lines: string[];
}

const MAX_LOG_LINES = 200;

/** What `subscribe` streams (the API's /api/v1/events, the dashboard's live view). */
export type DaemonEvent =
  | { type: 'run_started'; run_id: number; job: string; trigger: string; attempt: number; at: string }
  | { type: 'run_log'; run_id: number; job: string; line: string }
  /** A source's bytes, rate and ETA while a backup runs (at most once a second per source; docs/reports.md). */
  | { type: 'run_progress'; run_id: number; job: string; progress: ProgressEvent }
  | { type: 'run_finished'; run_id: number; job: string; status: string; error: string | null; retry_at: string | null; at: string }
  | { type: 'alert'; alert: AlertEvent };

export class Daemon {
  readonly stack: Stack;
  readonly catalog: RunCatalog;
  readonly watchdog: Watchdog;
  readonly channels: readonly Channel[];
  readonly #opts: DaemonOptions;
  readonly #clock: Clock;
  readonly #scheduler: Scheduler;
  readonly #runIds = new WeakMap<RunContext, number>();
  readonly #live = new Map<number, LiveRun>();
  readonly #alerts: AlertEvent[] = [];
  readonly #sourceUp = new Map<string, boolean>();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #listeners = new Set<(e: DaemonEvent) => void>();
  #probe: (RepositoryProbe & { at: number }) | undefined;
  #probeError: string | undefined;
  #lastProbeAt = 0;
  #watchTimer: NodeJS.Timeout | undefined;

  constructor(opts: DaemonOptions) {
    this.#opts = opts;
    this.stack = opts.stack;
    this.#clock = opts.clock ?? systemClock;
    this.catalog = RunCatalog.open(opts.stack.loaded.stateDir, this.#clock.now());
    this.watchdog = new Watchdog(this.#clock);
    this.channels = createChannels(opts.stack.loaded.config.notifications ?? [], { secrets: opts.stack.secrets, fetch: opts.fetch });
    const d = opts.stack.loaded.config.daemon;
    const jobs = jobsFromConfig(opts.stack.loaded.config, opts.stack.loaded.sources);
    // A job whose last run failed is still failing after a restart: no second alert for it.
    for (const job of jobs) {
      if (job.kind === 'restore') continue;
      const last = this.catalog.lastFinished(job.id);
      if (last?.status === 'failed') this.watchdog.prime(`job:${job.id}`, this.#failureDetail(job, last.error ?? 'failed', last.id, last.error_code ?? undefined));
    }
    this.#scheduler = new Scheduler(jobs, {
      run: (job, ctx) => this.#run(job, ctx),
      onSkipped: (job, reason, at) => {
        this.catalog.skipped({ job: job.id, kind: job.kind, target: job.target, reason, at });
        opts.stackOptions.log.info(`${job.id}: slot at ${at.toISOString()} skipped (${reason === 'overlap' ? 'the previous run is still going' : 'paused'})`);
      },
      onFinished: (job, ctx, r) => this.#finished(job, ctx, r as JobOutcome & typeof r),
    }, {
      clock: this.#clock,
      timeZone: d?.time_zone,
      maxJitterMs: d?.jitter ? parseDurationMs(d.jitter) : 0,
      concurrency: d?.concurrency ?? 1,
      lastScheduledRun: (id) => this.catalog.lastScheduledStart(id),
    });
    // Paused before a restart: still paused (a job since removed from lifeboat.yml is forgotten).
    for (const p of this.catalog.pauses()) {
      if (p.job === '*') this.#scheduler.pauseAll(true);
      else if (this.#scheduler.has(p.job)) this.#scheduler.pause(p.job);
      else this.catalog.setPaused(p.job, false, this.#clock.now());
    }
  }

  /** Rebuilds the history of a new state directory from the repository, then starts ticking. */
  async start(): Promise<void> {
    await this.watch();
    if (this.catalog.isEmpty() && this.#probe) {
      const n = this.catalog.rebuildFromSnapshots(this.#probe.snapshots);
      if (n > 0) this.#opts.stackOptions.log.info(`run history rebuilt from ${n} snapshot(s) in the repository`);
    }
    this.#scheduler.tick();
    this.#scheduler.start(this.#opts.tickMs ?? 1000);
    this.#watchTimer = setInterval(() => void this.#track(this.#watchLogged()), this.#opts.watchMs ?? 30_000);
  }

  /** Stops scheduling; running jobs are cancelled and finish their clean-up; alerts in flight are sent. */
  async stop(): Promise<void> {
    if (this.#watchTimer) clearInterval(this.#watchTimer);
    await this.#scheduler.stop();
    await Promise.allSettled([...this.#pending]);
    this.catalog.close();
  }

  /** Ticks the scheduler once (tests on a fake clock). */
  tick(): void {
    this.#scheduler.tick();
  }

  async idle(): Promise<void> {
    await this.#scheduler.idle();
    await Promise.allSettled([...this.#pending]);
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  subscribe(listener: (e: DaemonEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(e: DaemonEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // A listener (a client connection) that throws must not break the run it watches.
      }
    }
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p)).catch(() => undefined);
    return p;
  }

  #describe(job: JobSpec): string {
    switch (job.kind) {
      case 'backup': return `backup of ${job.target}`;
      case 'restore': return `restore of ${job.target ?? 'sources'}`;
      case 'copy': return `copy to ${displayLocation(this.stack.loaded.config.copies?.[Number(job.target)]?.repository.url ?? '?')}`;
      default: return job.target ? `${job.kind} of ${job.target}` : job.kind;
    }
  }

  #failureDetail(job: JobSpec, message: string, runId?: number, code?: string) {
    return {
      event: 'failure' as const,
      title: `${this.#describe(job)} failed`,
      okTitle: `${this.#describe(job)} is ok again`,
      message,
      source: job.kind === 'backup' ? job.target : undefined,
      run_id: runId,
      error_code: code,
    };
  }

  async #run(spec: JobSpec, ctx: RunContext): Promise<JobOutcome> {
    const started = this.#clock.now();
    // A restore's run names what it restores (its job has no target of its own).
    const job = spec.kind === 'restore' && ctx.input ? { ...spec, target: (ctx.input as RestoreInput).sources.join(',') } : spec;
    const id = this.catalog.start({ job: job.id, kind: job.kind, target: job.target, trigger: ctx.trigger, attempt: ctx.attempt, at: started });
    this.#runIds.set(ctx, id);
    const live: LiveRun = { id, job: job.id, lines: [] };
    this.#live.set(id, live);
    this.#emit({ type: 'run_started', run_id: id, job: job.id, trigger: ctx.trigger, attempt: ctx.attempt, at: started.toISOString() });
    const push = (line: string): void => {
      const stamped = `${nowDate().toISOString()} ${line}`;
      live.lines.push(stamped);
      if (live.lines.length > MAX_LOG_LINES) live.lines.shift();
      this.#emit({ type: 'run_log', run_id: id, job: job.id, line: stamped });
    };
    const base = this.#opts.stackOptions;
    const log = {
      info: (m: string) => (push(m), base.log.info(`${job.id}: ${m}`)),
      warn: (m: string) => (push(`warning: ${m}`), base.log.warn(`${job.id}: ${m}`)),
    };
    base.log.info(`${job.id}: started (${ctx.trigger}${ctx.attempt > 1 ? `, attempt ${ctx.attempt}` : ''})`);
    void this.#track(this.#send(makeAlert({ event: 'start', subject: `job:${job.id}`, title: `${this.#describe(job)} started`, message: `trigger ${ctx.trigger}`, source: job.kind === 'backup' ? job.target : undefined, run_id: id }, started)));
    const meter = new ProgressMeter();
    const onSourceProgress = (p: SourceProgress): void => {
      // Wall time, not the scheduler's clock: a rate is bytes per real second.
      const { event } = meter.update(p, nowMs());
      if (event) this.#emit({ type: 'run_progress', run_id: id, job: job.id, progress: event });
    };
    try {
      return await (this.#opts.runJob ?? runJob)(this.stack, job, { ...base, signal: AbortSignal.any([ctx.signal, base.signal]), log, onSourceProgress }, ctx.input);
    } catch (err) {
      // A run that fails before its own report (wrong password, no repository, a secret) leaves one, as the CLI's do.
      if (job.kind === 'backup' || job.kind === 'verify' || job.kind === 'drill') {
        await saveFailedRunReport(this.stack.loaded.stateDir, job.kind, started, displayLocation(this.stack.repositoryLocation()), err)
          .catch((e: unknown) => base.log.warn(`could not save the report of the failed run: ${errorMessage(e)}`));
      }
      throw err;
    }
  }

  #finished(spec: JobSpec, ctx: RunContext, r: JobOutcome & { errorClass?: string; retryAt?: Date; finishedAt: Date }): void {
    const job = spec.kind === 'restore' && ctx.input ? { ...spec, target: (ctx.input as RestoreInput).sources.join(',') } : spec;
    const id = this.#runIds.get(ctx) as number;
    const live = this.#live.get(id);
    this.#live.delete(id);
    const message = r.error === undefined ? undefined : errorMessage(r.error).split('\n')[0];
    const code = r.error instanceof LifeboatError ? r.error.code : r.error === undefined ? undefined : 'internal';
    this.catalog.finish(id, {
      status: r.status, at: r.finishedAt, bytesRead: r.bytesRead, bytesAdded: r.bytesAdded, snapshotId: r.snapshotId,
      error: message, errorCode: code, errorClass: r.errorClass,
      report: { report: r.report ?? null, log: live?.lines ?? [], ...(r.retryAt ? { retry_at: r.retryAt.toISOString() } : {}) },
    });
    this.#emit({ type: 'run_finished', run_id: id, job: job.id, status: r.status, error: message ?? null, retry_at: r.retryAt?.toISOString() ?? null, at: r.finishedAt.toISOString() });
    const log = this.#opts.stackOptions.log;
    if (r.status === 'failed') log.warn(`${job.id}: failed: ${message}${r.retryAt ? `; retrying at ${r.retryAt.toISOString()} (${r.errorClass})` : ''}`);
    else log.info(`${job.id}: ${r.status}`);
    // The repository changed: the next watch round probes it again (snapshots, size).
    if (job.kind === 'backup' || job.kind === 'prune' || job.kind === 'copy' || job.kind === 'restore') this.#lastProbeAt = 0;
    if (job.kind === 'restore') {
      // Every restore is news (live data was replaced, or a restore failed): one `restore` alert
      // each time, not a watchdog condition that stays bad until the next restore.
      const what = `${this.#describe(job)}${r.snapshotId ? ` from ${r.snapshotId.slice(0, 8)}` : ''}`;
      const title = r.status === 'ok' ? `${what} done` : r.status === 'partial' ? `${what} partly failed` : `${what} failed`;
      void this.#track(this.#send(makeAlert({ event: 'restore', subject: 'restore', title, message: message ?? `run ${id}: restored and verified`, run_id: id, error_code: code }, r.finishedAt)));
      return;
    }
    if (job.kind === 'backup' && job.target) this.#sourceUp.set(job.target, r.status !== 'failed' || r.errorClass === 'fatal' || r.errorClass === 'locked');
    // A failure waiting for its retry is not alerted yet: the retry may fix it.
    if (r.status === 'failed' && r.retryAt) return;
    const bad = r.status !== 'ok';
    const alert = this.watchdog.set(`job:${job.id}`, bad, bad
      ? this.#failureDetail(job, r.status === 'partial' ? `partly failed: ${this.#partialWhy(r.report)}` : message ?? 'failed', id, code)
      : { ...this.#failureDetail(job, `run ${id} ok`, id), event: 'failure' });
    if (alert) void this.#track(this.#send(alert));
    if (r.status === 'ok') void this.#track(this.#send(makeAlert({ event: 'success', subject: `job:${job.id}`, title: `${this.#describe(job)} ok`, message: `run ${id}`, source: job.kind === 'backup' ? job.target : undefined, run_id: id }, r.finishedAt)));
    if (job.kind === 'drill' || job.kind === 'check' || job.kind === 'verify') void this.#track(this.#watchLogged({ probe: false }));
  }

  #partialWhy(report: unknown): string {
    const copies = (report as { copies?: Array<{ repository: string; status: string; error?: string }> } | undefined)?.copies ?? [];
    const failed = copies.filter((c) => c.status === 'failed');
    return failed.length ? failed.map((c) => `copy to ${c.repository}: ${c.error ?? 'failed'}`).join('; ') : 'see the run report';
  }

  async #send(alert: AlertEvent): Promise<void> {
    if (alert.event !== 'start' && alert.event !== 'success') {
      this.#emit({ type: 'alert', alert });
      this.#alerts.push(alert);
      if (this.#alerts.length > 100) this.#alerts.shift();
      this.#opts.stackOptions.log.warn(`alert ${alert.event}: ${alert.title}`);
    }
    for (const r of await notify(this.channels, alert)) {
      if (!r.ok) this.#opts.stackOptions.log.warn(r.error as string);
    }
  }

  /** watch() from a timer: an unexpected error is logged, and the next round tries again. */
  async #watchLogged(opts?: { probe?: boolean }): Promise<void> {
    try {
      await this.watch(opts);
    } catch (err) {
      this.#opts.stackOptions.log.warn(`watchdog: ${errorMessage(err)}`);
    }
  }

  /** Probes the repository when due, evaluates the watchdog and sends the alerts of its transitions. */
  async watch(opts: { probe?: boolean } = {}): Promise<void> {
    const now = this.#clock.now().getTime();
    if (opts.probe !== false && (this.#lastProbeAt === 0 || now - this.#lastProbeAt >= (this.#opts.probeMs ?? 300_000))) {
      this.#lastProbeAt = now;
      try {
        this.#probe = { ...(await probeRepository(this.stack, { signal: this.#opts.stackOptions.signal, env: this.#opts.stackOptions.env, now: new Date(now) })), at: now };
        this.#probeError = undefined;
      } catch (err) {
        this.#probe = undefined;
        this.#probeError = errorMessage(err).split('\n')[0];
      }
      const where = displayLocation(this.stack.repositoryLocation());
      const alert = this.watchdog.set('repository', this.#probeError !== undefined, {
        event: 'failure',
        title: `repository ${where} cannot be opened`,
        okTitle: `repository ${where} can be opened again`,
        message: this.#probeError ?? 'the repository opens',
      });
      if (alert) await this.#send(alert);
    }
    const d = this.stack.loaded.config.daemon;
    const lastDrill = this.catalog.list({ kind: 'drill', limit: 20 }).find((r) => r.status !== 'skipped' && r.status !== 'running');
    const drillSources = ((lastDrill?.report as { report?: { sources?: Array<{ source: string; rto_ms?: number }> } } | null)?.report?.sources) ?? [];
    const lastCheck = [this.catalog.lastSuccess('check'), this.catalog.lastSuccess('verify', d?.verify?.only?.join(','))]
      .map((r) => (r?.finished_at ? Date.parse(r.finished_at) : 0)).reduce((a, b) => Math.max(a, b), 0);
    const wantsCheck = d?.max_check_age !== undefined || d?.check !== undefined || d?.verify !== undefined;
    const alerts = this.watchdog.evaluate({
      sources: this.stack.loaded.sources.map((s) => {
        const last = this.catalog.lastSuccess('backup', s.name);
        return { name: s.name, rpoMs: s.config.rpo ? parseDurationMs(s.config.rpo) : undefined, lastSuccess: last ? new Date(last.started_at) : undefined };
      }),
      drills: drillSources.map((r) => {
        const rto = this.stack.loaded.sources.find((s) => s.name === r.source)?.config.rto;
        return { name: r.source, rtoMs: rto ? parseDurationMs(rto) : undefined, lastRtoMs: r.rto_ms, runId: lastDrill?.id };
      }),
      check: wantsCheck ? { lastOk: lastCheck ? new Date(lastCheck) : undefined, maxAgeMs: parseDurationMs(d?.max_check_age ?? '8d') } : undefined,
      locks: this.#probe?.locks,
      staleLockMs: parseDurationMs(d?.stale_lock_after ?? '6h'),
    });
    for (const a of alerts) await this.#send(a);
  }

  // ---- what the API and the dashboard read ----

  jobs(): JobStatus[] {
    return this.#scheduler.status();
  }

  sources(): SourceView[] {
    return sourceViews(this.stack, this.catalog, this.jobs(), this.watchdog, this.#clock.now());
  }

  runs(q: RunQuery): RunRecord[] {
    return this.catalog.list(q);
  }

  /** A run; while it runs, with the log lines so far. */
  run(id: number): (RunRecord & { log?: string[] }) | undefined {
    const r = this.catalog.get(id);
    if (!r) return undefined;
    const live = this.#live.get(id);
    return live ? { ...r, log: [...live.lines] } : r;
  }

  /** One source's snapshots as of the last repository probe, newest first (no repository access). */
  snapshots(source: string): { snapshots: Array<{ id: string; time: string; safety: boolean }>; probed_at: string | null } {
    const mine = (this.#probe?.snapshots ?? []).filter((s) => s.source === source).sort((a, b) => b.time.getTime() - a.time.getTime());
    return { snapshots: mine.map((s) => ({ id: s.id, time: s.time.toISOString(), safety: s.isSafety })), probed_at: this.#probe ? new Date(this.#probe.at).toISOString() : null };
  }

  restorePreview(source: string, snapshot: string): Promise<RestorePreview> {
    return restorePreview(this.stack, source, snapshot);
  }

  conditions(): Condition[] {
    return this.watchdog.conditions();
  }

  alerts(): AlertEvent[] {
    return [...this.#alerts].reverse();
  }

  hasJob(id: string): boolean {
    return this.#scheduler.has(id);
  }

  /**
   * Runs a source's backup now (its schedule unchanged). A source without a schedule gets an
   * ad-hoc job. False when one is already running or queued.
   */
  runNow(jobId: string): boolean {
    if (jobId === 'restore') throw new UsageError('a restore is started with POST /api/v1/restores, which needs its confirmation');
    return this.#scheduler.runNow(jobId);
  }

  /**
   * Starts a guarded restore (restore-request.ts): refused unless `daemon.allow_restore` is
   * set, the confirmation repeats the sources and snapshot, no backup of those sources runs
   * or waits, and no other restore does. It queues as prune does, and runs alone.
   */
  requestRestore(body: unknown): { job: 'restore'; sources: readonly string[]; snapshot: string } {
    if (!this.#scheduler.has('restore')) {
      throw new RestoreRefusedError('restore_disabled', 'restores from the daemon are disabled (daemon.allow_restore is not set)', 'set daemon: { allow_restore: true } in lifeboat.yml, or run "lifeboat restore" on the host');
    }
    const input: RestoreInput = parseRestoreRequest(body);
    for (const name of input.sources) {
      if (!this.#scheduler.has(`backup:${name}`)) throw new NotFoundError(`no source named "${name}"`, { hint: 'GET /api/v1/sources lists them' });
    }
    // The last probe's snapshot list: refuse an ID that is not there now rather than after the queue.
    if (input.snapshot !== 'latest' && this.#probe && !this.#probe.snapshots.some((s) => s.source === input.sources[0] && s.id.startsWith(input.snapshot))) {
      throw new NotFoundError(`no snapshot ${input.snapshot} of ${input.sources[0]}`, { hint: `GET /api/v1/sources/${input.sources[0]}/snapshots lists them` });
    }
    const jobs = this.jobs();
    const busy = input.sources.filter((n) => jobs.some((j) => j.job.id === `backup:${n}` && (j.running || j.queued)));
    if (busy.length > 0) {
      throw new RestoreRefusedError('backup_running', `a backup of ${busy.join(', ')} is running or waiting; a restore now would race it`, 'wait for it to finish (GET /api/v1/jobs), then ask again');
    }
    if (!this.#scheduler.runNow('restore', input)) {
      throw new RestoreRefusedError('restore_running', 'another restore is running or waiting', 'watch it in GET /api/v1/runs?kind=restore');
    }
    this.#opts.stackOptions.log.warn(`restore of ${confirmationFor(input)} requested through the API`);
    return { job: 'restore', sources: input.sources, snapshot: input.snapshot };
  }

  /** Pauses a job, or every job (`*`), until resumed, across restarts; its slots stay where they are. */
  pause(jobId: string): void {
    if (jobId === '*') this.#scheduler.pauseAll(true);
    else this.#scheduler.pause(jobId);
    this.catalog.setPaused(jobId, true, this.#clock.now());
  }

  resume(jobId: string): void {
    if (jobId === '*') this.#scheduler.pauseAll(false);
    else this.#scheduler.resume(jobId);
    this.catalog.setPaused(jobId, false, this.#clock.now());
  }

  /** Whether every job is paused at once (`pause('*')`). */
  allPaused(): boolean {
    return this.#scheduler.allPaused;
  }

  metrics(): MetricFamily[] {
    const lastVerify = this.catalog.list({ kind: 'verify', limit: 10 }).find((r) => r.status === 'ok' || r.status === 'failed');
    const verifySources = ((lastVerify?.report as { report?: { sources?: Array<{ source: string; status: string }> } } | null)?.report?.sources) ?? [];
    return collectMetrics({
      catalog: this.catalog,
      jobs: this.jobs(),
      sources: this.stack.loaded.sources.map((s) => ({ name: s.name, type: s.config.type })),
      repository: this.#probe
        ? { reachable: true, sizeBytes: this.#probe.sizeBytes, snapshots: this.#probe.snapshotCount, lockAgeMs: Math.max(0, ...this.#probe.locks.map((l) => l.ageMs)) }
        : { reachable: false, sizeBytes: 0, snapshots: 0, lockAgeMs: 0 },
      repositoryName: displayLocation(this.stack.repositoryLocation()),
      verify: verifySources.map((s) => ({ source: s.source, match: s.status === 'ok' })),
      sourceUp: this.#sourceUp,
    });
  }
}
