/**
 * After-hooks restart what before-hooks stopped, so once a before-hook of a source ran, every
 * after-hook of it runs: after a failed dump or restore, after a failed before-hook, and after
 * a cancellation. They get their own time limit rather than the run's signal (which is aborted
 * on Ctrl-C, and would kill them at once), and one failing does not stop the next.
 */
import { errorMessage } from '../core/errors.ts';

/** Runs hook commands one by one; rejects on the first that fails. */
export type HookRunner = (commands: readonly string[], what: string, signal: AbortSignal) => Promise<void>;

/** How long the after-hooks of one source may take together. */
export const AFTER_HOOKS_TIMEOUT_MS = 10 * 60_000;

/** Runs every after-hook; resolves with what went wrong (one line), or undefined. */
export async function runAfterHooks(run: HookRunner, commands: readonly string[], what: string, timeoutMs = AFTER_HOOKS_TIMEOUT_MS): Promise<string | undefined> {
  const signal = AbortSignal.timeout(timeoutMs);
  const problems: string[] = [];
  for (const cmd of commands) {
    if (signal.aborted) {
      problems.push(`${what} "${cmd}" not run: the after-hooks took longer than ${Math.round(timeoutMs / 1000)}s`);
      continue;
    }
    try {
      await run([cmd], what, signal);
    } catch (err) {
      problems.push(signal.aborted ? `${what} "${cmd}" stopped after ${Math.round(timeoutMs / 1000)}s` : errorMessage(err));
    }
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}
