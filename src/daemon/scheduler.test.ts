import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FixedClock } from '../util/clock.ts';
import { parseSchedule } from '../util/schedule.ts';
import { AlreadyLockedError, LifeboatError, WrongPasswordError } from '../core/errors.ts';
import { Scheduler } from './scheduler.ts';
import type { JobSpec, RunResult, SchedulerHooks, SkipReason, Trigger } from './scheduler.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const job = (id: string, schedule: string, exclusive = false): JobSpec => ({ id, kind: id.startsWith('prune') ? 'prune' : 'backup', schedule: parseSchedule(schedule), exclusive });

interface Log {
  runs: Array<{ id: string; at: string; trigger: Trigger; attempt: number }>;
  skips: Array<{ id: string; at: string; reason: SkipReason }>;
  finished: Array<{ id: string; errorClass?: string; retryAt?: string }>;
}

function harness(jobs: JobSpec[], clock: FixedClock, run: (j: JobSpec, attempt: number) => Promise<RunResult> = async () => ({ status: 'ok' }), opts: { lastScheduledRun?: (id: string) => Date | undefined; maxJitterMs?: number; concurrency?: number; timeZone?: string } = {}) {
  const log: Log = { runs: [], skips: [], finished: [] };
  const hooks: SchedulerHooks = {
    run: (j, ctx) => {
      log.runs.push({ id: j.id, at: clock.now().toISOString(), trigger: ctx.trigger, attempt: ctx.attempt });
      return run(j, ctx.attempt);
    },
    onSkipped: (j, reason, at) => log.skips.push({ id: j.id, at: at.toISOString(), reason }),
    onFinished: (j, _ctx, r) => log.finished.push({ id: j.id, errorClass: r.errorClass, retryAt: r.retryAt?.toISOString() }),
  };
  const s = new Scheduler(jobs, hooks, { clock, concurrency: 2, ...opts });
  /** Moves the fake clock minute by minute (a wall-clock tick each), waiting for the runs started. */
  const step = async (ms: number, every = MIN): Promise<void> => {
    for (let t = 0; t < ms; t += every) {
      clock.advance(every);
      s.tick();
      await s.idle();
    }
  };
  return { s, log, step };
}

function deferred(): { promise: Promise<RunResult>; resolve: (r: RunResult) => void } {
  let resolve!: (r: RunResult) => void;
  const promise = new Promise<RunResult>((r) => (resolve = r));
  return { promise, resolve };
}

test('a day of fake time runs each job on its cadence, in its zone, and nothing more', async () => {
  const clock = new FixedClock('2026-03-07T05:00:00Z');
  const { log, step } = harness([
    job('backup:db', '@every 1h'),
    job('backup:cache', '0 */6 * * *'),
    job('verify', '0 3 * * *'),
    job('prune', '30 2 * * *', true),
  ], clock, undefined, { timeZone: 'America/New_York' });
  await step(27 * HOUR);
  const by = (id: string) => log.runs.filter((r) => r.id === id).map((r) => r.at);
  assert.equal(by('backup:db').length, 27);
  assert.equal(by('backup:db')[0], '2026-03-07T06:00:00.000Z');
  // New York wall clock: 06:00, 12:00, 18:00 EST on the 7th, then 00:00 EST and 06:00 EDT on the 8th (DST began at 02:00).
  assert.deepEqual(by('backup:cache'), ['2026-03-07T11:00:00.000Z', '2026-03-07T17:00:00.000Z', '2026-03-07T23:00:00.000Z', '2026-03-08T05:00:00.000Z']);
  // 03:00 is 08:00Z in EST, 07:00Z in EDT.
  assert.deepEqual(by('verify'), ['2026-03-07T08:00:00.000Z', '2026-03-08T07:00:00.000Z']);
  // 02:30 does not exist on the 8th: that day the prune runs once, at 03:30 EDT (also 07:30Z).
  assert.deepEqual(by('prune'), ['2026-03-07T07:30:00.000Z', '2026-03-08T07:30:00.000Z']);
  assert.ok(log.runs.every((r) => r.trigger === 'schedule'));
  assert.deepEqual(log.skips, []);
});

test('a job never overlaps itself: the slot that comes while it runs is skipped and recorded', async () => {
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const slow = deferred();
  let calls = 0;
  const { s, log } = harness([job('backup:db', '@every 1h')], clock, () => (++calls === 1 ? slow.promise : Promise.resolve({ status: 'ok' })));
  clock.advance(HOUR);
  s.tick();
  clock.advance(HOUR);
  s.tick();
  assert.deepEqual(log.skips, [{ id: 'backup:db', at: '2026-06-01T02:00:00.000Z', reason: 'overlap' }]);
  slow.resolve({ status: 'ok' });
  await s.idle();
  clock.advance(HOUR);
  s.tick();
  await s.idle();
  assert.deepEqual(log.runs.map((r) => r.at), ['2026-06-01T01:00:00.000Z', '2026-06-01T03:00:00.000Z']);
});

test('a repository-exclusive job queues behind running jobs, and later jobs queue behind it', async () => {
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const gates = new Map<string, ReturnType<typeof deferred>>();
  const { s, log } = harness([job('backup:a', '@every 1h'), job('prune', '@every 1h', true), job('backup:b', '@every 1h')], clock, (j) => {
    const d = deferred();
    gates.set(j.id, d);
    return d.promise;
  }, { concurrency: 4 });
  s.runNow('backup:a');
  s.runNow('prune');
  s.runNow('backup:b');
  assert.deepEqual(log.runs.map((r) => r.id), ['backup:a'], 'prune waits for a; b waits behind prune');
  gates.get('backup:a')?.resolve({ status: 'ok' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log.runs.map((r) => r.id), ['backup:a', 'prune']);
  gates.get('prune')?.resolve({ status: 'ok' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log.runs.map((r) => r.id), ['backup:a', 'prune', 'backup:b']);
  gates.get('backup:b')?.resolve({ status: 'ok' });
  await s.idle();
});

test('missed slots after downtime or sleep become one catch-up run; the cadence continues on its grid', async () => {
  const clock = new FixedClock('2026-06-01T12:00:00Z');
  // Last ran 10 hours ago (the daemon was down): one catch-up now, not ten.
  const { s, log, step } = harness([job('backup:db', '@every 1h'), job('verify', '0 3 * * *')], clock, undefined, {
    lastScheduledRun: (id) => (id === 'backup:db' ? new Date('2026-06-01T02:00:00Z') : new Date('2026-05-30T03:00:00Z')),
  });
  s.tick();
  await s.idle();
  assert.deepEqual(log.runs.map((r) => [r.id, r.trigger]), [['backup:db', 'catch_up'], ['verify', 'catch_up']]);
  await step(HOUR);
  assert.deepEqual(log.runs.slice(2).map((r) => [r.id, r.at, r.trigger]), [['backup:db', '2026-06-01T13:00:00.000Z', 'schedule']]);
  // The machine sleeps five hours (the clock jumps; one tick when it wakes): one catch-up run.
  clock.advance(5 * HOUR);
  s.tick();
  await s.idle();
  assert.deepEqual(log.runs.slice(3).map((r) => [r.id, r.at, r.trigger]), [['backup:db', '2026-06-01T18:00:00.000Z', 'catch_up']]);
  await step(HOUR);
  assert.deepEqual(log.runs.slice(4).map((r) => r.at), ['2026-06-01T19:00:00.000Z']);
});

test('retries follow the error class: none for a wrong password, a wait for a lock, backoff for the network', async () => {
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const errors: Record<string, () => Error> = {
    'backup:pw': () => new WrongPasswordError(),
    'backup:lock': () => new AlreadyLockedError('repository is locked exclusively by lifeboat@db1'),
    'backup:net': () => new LifeboatError('s3_error', 'connection reset', { retryable: true }),
  };
  const { log, step } = harness(Object.keys(errors).map((id) => job(id, '@every 2h')), clock, async (j) => ({ status: 'failed', error: (errors[j.id] as () => Error)() }), { concurrency: 3 });
  await step(2 * HOUR + 20 * MIN);
  const at = (id: string) => log.runs.filter((r) => r.id === id).map((r) => `${r.at.slice(11, 16)}#${r.attempt}`);
  assert.deepEqual(at('backup:pw'), ['02:00#1']);
  assert.equal(log.finished.find((f) => f.id === 'backup:pw')?.errorClass, 'fatal');
  assert.deepEqual(at('backup:lock'), ['02:00#1', '02:05#2', '02:10#3', '02:15#4', '02:20#5']);
  // After 30s (seen at the next minute's tick), 2m, then 8m; then no more.
  assert.deepEqual(at('backup:net'), ['02:00#1', '02:01#2', '02:03#3', '02:11#4']);
  assert.equal(log.finished.filter((f) => f.id === 'backup:net').at(-1)?.retryAt, undefined);
  await step(2 * HOUR);
  // The scheduled 04:00 run comes on time, not shifted by the retries.
  assert.deepEqual(at('backup:net'), ['02:00#1', '02:01#2', '02:03#3', '02:11#4', '04:00#1', '04:01#2', '04:03#3', '04:11#4']);
  assert.ok(at('backup:pw').includes('04:00#1') && at('backup:pw').length === 2);
});

test('run now and pause do not shift the cadence', async () => {
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const { s, log, step } = harness([job('backup:db', '@every 1h')], clock);
  await step(20 * MIN);
  assert.equal(s.runNow('backup:db'), true);
  await s.idle();
  await step(40 * MIN);
  s.pause('backup:db');
  await step(HOUR);
  s.resume('backup:db');
  await step(HOUR);
  assert.deepEqual(log.runs.map((r) => [r.at.slice(11, 16), r.trigger]), [['00:20', 'manual'], ['01:00', 'schedule'], ['03:00', 'schedule']]);
  assert.deepEqual(log.skips, [{ id: 'backup:db', at: '2026-06-01T02:00:00.000Z', reason: 'paused' }]);
  assert.equal(s.status()[0]?.nextRun?.toISOString(), '2026-06-01T04:00:00.000Z');
});

test('jitter is deterministic per job, bounded, and moves the runs by that amount', async () => {
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const jobs = [job('backup:a', '0 * * * *'), job('backup:b', '0 * * * *')];
  const { s, log, step } = harness(jobs, clock, undefined, { maxJitterMs: 10 * MIN });
  const again = harness(jobs, new FixedClock('2026-06-01T00:00:00Z'), undefined, { maxJitterMs: 10 * MIN }).s;
  const ja = s.jitterOf(jobs[0] as JobSpec);
  const jb = s.jitterOf(jobs[1] as JobSpec);
  assert.equal(again.jitterOf(jobs[0] as JobSpec), ja);
  assert.notEqual(ja, jb);
  assert.ok(ja >= 0 && ja < 10 * MIN && jb >= 0 && jb < 10 * MIN);
  await step(2 * HOUR, 1000);
  const first = log.runs.find((r) => r.id === 'backup:a');
  assert.equal(Date.parse(first?.at as string), Date.parse('2026-06-01T01:00:00Z') + Math.ceil(ja / 1000) * 1000);
  assert.equal(s.jitterOf(job('backup:c', '@every 10s')) < 1000, true, 'at most a tenth of an @every interval');
});
