/**
 * Time, injectable. Schedules, retention and lock staleness read the time through a Clock so
 * tests can move it.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => nowDate() };

/** A clock tests set and advance by hand. */
export class FixedClock implements Clock {
  #t: number;
  constructor(start: Date | string | number) {
    this.#t = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#t);
  }
  advance(ms: number): void {
    this.#t += ms;
  }
}

/**
 * The wall clock, for code that is handed no Clock: durations, report times, file names.
 * The only place lifeboat reads it (a lint rule bans `Date.now()` and `new Date()` elsewhere),
 * so a test or a later injection point has one seam to move it.
 */
export function nowMs(): number {
  return Date.now();
}

export function nowDate(): Date {
  return new Date(nowMs());
}
