/**
 * Skip-or-fail for tests that need installed binaries. A developer machine without MariaDB
 * skips those tests with a reason; CI sets REQUIRE_SERVERS=1 so a missing server is an error
 * (naming the package to install) instead of a silently green run.
 */
import { findBinary, installHint } from './binaries.ts';

export const requireServers: boolean = process.env.REQUIRE_SERVERS === '1';

/** What needBinaries needs from a context: node:test's TestContext has it. */
export interface Skippable {
  skip(message?: string): void;
}

/**
 * The skip reason when any binary is missing, false when all are installed; throws instead
 * under REQUIRE_SERVERS=1. Shaped for test options: `describe('x', { skip: missingBinaries('psql') }, ...)`.
 */
export function missingBinaries(...names: string[]): string | false {
  const missing = names.filter((n) => findBinary(n) === undefined);
  if (missing.length === 0) return false;
  const reason = `missing ${missing.join(', ')}; ${installHint(missing)}`;
  if (requireServers) throw new Error(`REQUIRE_SERVERS=1 but ${reason}`);
  return reason;
}

/**
 * True when every binary is installed. Otherwise skips the test (or, under REQUIRE_SERVERS=1,
 * throws) and returns false; the caller returns early: `if (!needBinaries(t, 'psql')) return;`
 */
export function needBinaries(t: Skippable, ...names: string[]): boolean {
  const reason = missingBinaries(...names);
  if (reason === false) return true;
  t.skip(reason);
  return false;
}
