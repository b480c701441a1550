import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FixedClock } from '../util/clock.ts';
import { Watchdog } from './watchdog.ts';

const H = 3_600_000;

test('a source past its rpo alerts once as overdue, and once on recovery', () => {
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const w = new Watchdog(clock);
  const facts = (last?: Date) => ({ sources: [{ name: 'db', rpoMs: 2 * H, lastSuccess: last }, { name: 'files' }], drills: [] });
  const backup = new Date('2026-06-01T00:00:00Z');
  assert.deepEqual(w.evaluate(facts(backup)), []);
  clock.advance(3 * H);
  const [overdue, ...more] = w.evaluate(facts(backup));
  assert.equal(more.length, 0);
  assert.equal(overdue?.event, 'overdue');
  assert.equal(overdue?.title, 'db is overdue: last good backup 3h ago, rpo 2h');
  clock.advance(H);
  assert.deepEqual(w.evaluate(facts(backup)), [], 'still overdue: no second alert');
  const [recovery] = w.evaluate(facts(clock.now()));
  assert.equal(recovery?.event, 'recovery');
  assert.equal(recovery?.subject, 'rpo:db');
  assert.deepEqual(w.evaluate(facts(clock.now())), [], 'fine and staying fine: no alert on success');
});

test('never backed up is overdue one rpo after the daemon started; slow drills, old checks and stale locks alert', () => {
  const clock = new FixedClock('2026-06-01T00:00:00Z');
  const w = new Watchdog(clock);
  const facts = {
    sources: [{ name: 'db', rpoMs: H }],
    drills: [{ name: 'db', rtoMs: 10 * 60_000, lastRtoMs: 25 * 60_000, runId: 4 }],
    check: { maxAgeMs: 24 * H },
    locks: [{ holder: 'lifeboat@db1 (pid 4121)', ageMs: 7 * H }],
    staleLockMs: 6 * H,
  };
  assert.deepEqual(w.evaluate(facts).map((a) => a.subject), ['rto:db', 'lock']);
  clock.advance(2 * H);
  assert.deepEqual(w.evaluate(facts).map((a) => a.subject), ['rpo:db']);
  clock.advance(24 * H);
  const [check] = w.evaluate(facts);
  assert.equal(check?.subject, 'check-age');
  assert.equal(check?.title, 'the repository has not been checked');
  assert.deepEqual(w.conditions().map((c) => c.key).sort(), ['check-age', 'lock', 'rpo:db', 'rto:db']);
  const fixed = w.evaluate({ ...facts, drills: [{ name: 'db', rtoMs: 10 * 60_000, lastRtoMs: 60_000 }], locks: [], check: { maxAgeMs: 24 * H, lastOk: clock.now() } });
  assert.deepEqual(fixed.map((a) => [a.subject, a.event]), [['rto:db', 'recovery'], ['check-age', 'recovery'], ['lock', 'recovery']]);
});

test('a job failure alerts once until the job succeeds again; a primed failure recovers without a first alert', () => {
  const w = new Watchdog(new FixedClock('2026-06-01T00:00:00Z'));
  const detail = { event: 'failure' as const, title: 'backup of db failed', okTitle: 'backup of db recovered', message: 'wrong password or no key found' };
  assert.equal(w.set('job:backup:db', true, detail)?.event, 'failure');
  assert.equal(w.set('job:backup:db', true, detail), undefined);
  assert.equal(w.set('job:backup:db', false, { ...detail, message: 'ok' })?.event, 'recovery');
  w.prime('job:verify', detail);
  assert.equal(w.set('job:verify', true, detail), undefined);
  assert.equal(w.set('job:verify', false, detail)?.title, 'backup of db recovered');
});
