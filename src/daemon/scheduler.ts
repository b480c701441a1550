/**
 * The daemon's scheduler: when each job runs, driven by a wall-clock tick.
 *
 * Every `tick()` reads the clock and compares it with each job's next slot, so a machine that
 * slept or a daemon that was down simply finds slots in the past: however many were missed,
 * they become one run (trigger `catch_up`), and the cadence continues from the schedule, not
 * from the late run. No long timer is ever armed (timers stop while a laptop sleeps).
 *
 * - A job never overlaps itself: a slot that comes while it runs (or waits) is recorded as
 *   skipped (`overlap`). A paused job's slots are recorded as skipped (`paused`).
 * - Jobs that need the repository to themselves (prune) queue: they start when nothing else
 *   runs, and nothing starts while one waits or runs. Others run up to `concurrency` at once.
 * - A failed run is retried by its error class (error-class.ts): at once never, locked after a
 *   wait, transient with backoff. A retry does not move the next slot.
 * - `runNow` and `pause` do not shift the cadence either: slots come from the schedule alone.
 * - Jitter is deterministic (a hash of the job ID), so restarts keep a job's slots where they were.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../util/clock.ts';
import { nextRun } from '../util/schedule.ts';
import type { Schedule } from '../util/schedule.ts';
import { classifyError, DEFAULT_RETRY, retryDelay } from './error-class.ts';
import type { ErrorClass, RetryPolicy } from './error-class.ts';

export type JobKind = 'backup' | 'copy' | 'prune' | 'verify' | 'check' | 'drill' | 'restore';
export type Trigger = 'schedule' | 'catch_up' | 'manual' | 'retry';
export type SkipReason = 'overlap' | 'paused';

export interface JobSpec {
  /** Stable and unique: `backup:<source>`, `copy:<n>`, `prune`, `verify`, `check`, `drill`. */
  readonly id: string;
  readonly kind: JobKind;
  /** The source name of a backup, the copy's index, the sources of a drill. */
  readonly target?: string;
  /** None: the job runs only when asked (`runNow`), e.g. a source without a schedule. */
  readonly schedule?: Schedule;
  /** Needs the repository to itself: queues behind every other job, and they behind it. */
  readonly exclusive: boolean;
  /** Never retried, whatever the error (a restore: replacing live data again is the operator's call). */
  readonly noRetry?: boolean;
}

export interface RunContext {
  readonly trigger: Trigger;
  readonly attempt: number;
  readonly signal: AbortSignal;
  /** What `runNow` was given for this run (a restore's sources and snapshot). */
  readonly input?: unknown;
}

/** What a run ended with; `error` when it failed (a thrown error is turned into this). */
export interface RunResult {
  readonly status: 'ok' | 'partial' | 'failed';
  readonly error?: unknown;
}

export interface SchedulerHooks {
  /** Does the job's work. Throwing counts as a failed run. */
  run(job: JobSpec, ctx: RunContext): Promise<RunResult>;
  onSkipped?(job: JobSpec, reason: SkipReason, at: Date): void;
  onFinished?(job: JobSpec, ctx: RunContext, result: RunResult & { errorClass?: ErrorClass; retryAt?: Date; startedAt: Date; finishedAt: Date }): void;
}

export interface SchedulerOptions {
  readonly clock: Clock;
  readonly timeZone?: string;
  /** The largest jitter added to a slot (an `@every` job's is at most a tenth of its interval). */
  readonly maxJitterMs?: number;
  readonly concurrency?: number;
  readonly retry?: RetryPolicy;
  /** When each job last started on schedule (from the run catalog), so missed slots are caught up. */
  readonly lastScheduledRun?: (jobId: string) => Date | undefined;
}

interface JobState {
  readonly job: JobSpec;
  /** The un-jittered slot the job is waiting for, and the same with jitter. */
  slot: number;
  due: number;
  paused: boolean;
  running?: { ctx: RunContext; controller: AbortController; done: Promise<void> };
  queued?: { trigger: Trigger; attempt: number; input?: unknown };
  retry?: { at: number; attempt: number };
}

export interface JobStatus {
  readonly job: JobSpec;
  /** Undefined for a job without a schedule. */
  readonly nextRun?: Date;
  readonly running: boolean;
  readonly queued: boolean;
  readonly paused: boolean;
  readonly retryAt?: Date;
}

export class Scheduler {
  readonly #opts: SchedulerOptions;
  readonly #hooks: SchedulerHooks;
  readonly #jobs = new Map<string, JobState>();
  /** Jobs waiting to start, in the order they became due. */
  #queue: JobState[] = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Every job paused at once (maintenance), on top of each job's own pause. */
  #allPaused = false;

  constructor(jobs: readonly JobSpec[], hooks: SchedulerHooks, opts: SchedulerOptions) {
    this.#opts = opts;
    this.#hooks = hooks;
    const now = opts.clock.now().getTime();
    for (const job of jobs) {
      if (this.#jobs.has(job.id)) throw new RangeError(`two jobs are named ${job.id}`);
      const last = opts.lastScheduledRun?.(job.id)?.getTime();
      // With history, the slot after the last run (possibly long past: caught up on the first
      // tick); without, the first slot from now.
      const slot = this.#nextSlot(job, last ?? now);
      this.#jobs.set(job.id, { job, slot, due: slot + this.jitterOf(job), paused: false });
    }
  }

  /** Deterministic jitter of a job, in ms. */
  jitterOf(job: JobSpec): number {
    let max = this.#opts.maxJitterMs ?? 0;
    if (job.schedule?.kind === 'every') max = Math.min(max, job.schedule.ms / 10);
    if (max <= 0) return 0;
    const h = createHash('sha256').update(job.id).digest().readUInt32BE(0);
    return Math.floor((h / 0x1_0000_0000) * max);
  }

  /**
   * The first slot after `after`. (A late tick keeps an `@every` job on its grid: #everyAfter.)
   */
  #nextSlot(job: JobSpec, after: number): number {
    const s = job.schedule;
    if (s === undefined) return Number.POSITIVE_INFINITY;
    if (s.kind === 'every') return after + s.ms;
    return nextRun(s, new Date(after), this.#opts.timeZone)?.getTime() ?? Number.POSITIVE_INFINITY;
  }

  /** Starts ticking every `intervalMs` of real time (the daemon; tests call tick() themselves). */
  start(intervalMs = 1000): void {
    this.#timer = setInterval(() => this.tick(), intervalMs);
  }

  /** Looks at the clock: queues what is due, records skips, starts what may start. */
  tick(): void {
    if (this.#stopped) return;
    const now = this.#opts.clock.now().getTime();
    for (const st of this.#jobs.values()) {
      if (now >= st.due) {
        // Every slot up to now is this one run: count whether more than one was missed.
        const following = this.#nextSlot(st.job, st.slot);
        const trigger: Trigger = following + this.jitterOf(st.job) <= now ? 'catch_up' : 'schedule';
        st.slot = st.job.schedule?.kind === 'every' ? this.#everyAfter(st, now) : this.#nextSlot(st.job, now);
        st.due = st.slot + this.jitterOf(st.job);
        if (st.paused || this.#allPaused) this.#hooks.onSkipped?.(st.job, 'paused', new Date(now));
        else if (st.running || st.queued) this.#hooks.onSkipped?.(st.job, 'overlap', new Date(now));
        else {
          // A scheduled run replaces a pending retry: it is the newer attempt.
          st.retry = undefined;
          this.#enqueue(st, trigger, 1);
        }
      }
      if (st.retry && now >= st.retry.at && !st.running && !st.queued && !st.paused && !this.#allPaused) {
        const attempt = st.retry.attempt;
        st.retry = undefined;
        this.#enqueue(st, 'retry', attempt);
      }
    }
    this.#dispatch();
  }

  /** The first grid slot of an `@every` job after `now`. */
  #everyAfter(st: JobState, now: number): number {
    const ms = (st.job.schedule as { ms: number }).ms;
    let t = st.slot;
    while (t <= now) t += ms;
    return t;
  }

  #enqueue(st: JobState, trigger: Trigger, attempt: number, input?: unknown): void {
    st.queued = { trigger, attempt, input };
    this.#queue.push(st);
  }

  #dispatch(): void {
    const limit = this.#opts.concurrency ?? 1;
    const running = [...this.#jobs.values()].filter((s) => s.running);
    while (this.#queue.length > 0 && !this.#stopped) {
      const st = this.#queue[0] as JobState;
      const busy = running.length;
      if (st.job.exclusive ? busy > 0 : busy >= limit || running.some((r) => r.job.exclusive)) return;
      this.#queue.shift();
      running.push(st);
      this.#start(st);
    }
  }

  #start(st: JobState): void {
    const q = st.queued as { trigger: Trigger; attempt: number; input?: unknown };
    st.queued = undefined;
    const controller = new AbortController();
    const ctx: RunContext = { trigger: q.trigger, attempt: q.attempt, signal: controller.signal, ...(q.input !== undefined ? { input: q.input } : {}) };
    const startedAt = this.#opts.clock.now();
    const done = (async () => {
      let result: RunResult;
      try {
        result = await this.#hooks.run(st.job, ctx);
      } catch (err) {
        result = { status: 'failed', error: err };
      }
      const finishedAt = this.#opts.clock.now();
      let extra: { errorClass?: ErrorClass; retryAt?: Date } = {};
      if (result.status === 'failed') {
        const errorClass = classifyError(result.error);
        const delay = controller.signal.aborted || st.job.noRetry ? undefined : retryDelay(errorClass, q.attempt, this.#opts.retry ?? DEFAULT_RETRY);
        if (delay !== undefined) st.retry = { at: finishedAt.getTime() + delay, attempt: q.attempt + 1 };
        extra = { errorClass, ...(delay !== undefined ? { retryAt: new Date(finishedAt.getTime() + delay) } : {}) };
      }
      st.running = undefined;
      try {
        this.#hooks.onFinished?.(st.job, ctx, { ...result, ...extra, startedAt, finishedAt });
      } finally {
        this.#dispatch();
      }
    })();
    st.running = { ctx, controller, done };
  }

  /**
   * Runs a job as soon as the repository allows, outside its schedule (its slots stay where
   * they are). False when it is already running or waiting to. `input` reaches the run's context.
   */
  runNow(jobId: string, input?: unknown): boolean {
    const st = this.#get(jobId);
    if (st.running || st.queued) return false;
    this.#enqueue(st, 'manual', 1, input);
    this.#dispatch();
    return true;
  }

  pause(jobId: string): void {
    this.#get(jobId).paused = true;
  }

  resume(jobId: string): void {
    this.#get(jobId).paused = false;
  }

  /** Pauses (or resumes) every job at once; each job's own pause stays as it was. */
  pauseAll(paused: boolean): void {
    this.#allPaused = paused;
  }

  get allPaused(): boolean {
    return this.#allPaused;
  }

  has(jobId: string): boolean {
    return this.#jobs.has(jobId);
  }

  status(): JobStatus[] {
    return [...this.#jobs.values()].map((s) => ({
      job: s.job,
      ...(Number.isFinite(s.due) ? { nextRun: new Date(s.due) } : {}),
      running: s.running !== undefined,
      queued: s.queued !== undefined,
      paused: s.paused || this.#allPaused,
      ...(s.retry ? { retryAt: new Date(s.retry.at) } : {}),
    }));
  }

  /** Resolves when no job runs (tests step the fake clock and wait for the runs it started). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.#jobs.values()].map((s) => s.running?.done).filter((d) => d !== undefined);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /**
   * Stops ticking and starting; running jobs are cancelled through their signal and finish
   * their own clean-up (after-hooks, lock release) before this resolves.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#queue = [];
    for (const s of this.#jobs.values()) {
      s.queued = undefined;
      s.running?.controller.abort(new Error('the daemon is stopping'));
    }
    await this.idle();
  }

  #get(jobId: string): JobState {
    const st = this.#jobs.get(jobId);
    if (!st) throw new RangeError(`no job ${jobId}`);
    return st;
  }
}
