/**
 * What every command receives: the output, the global options, the environment and a
 * cancellation signal tied to Ctrl-C. Commands never read process.argv or call process.exit.
 */
import type { Output } from './output.ts';

export interface GlobalOptions {
  json: boolean;
  debug: boolean;
  quiet: boolean;
  repo?: string;
  config?: string;
  passwordFile?: string;
  passwordCommand?: string;
  /** `--retry-lock`: how long to keep trying for a lock another process holds (ms; 0 = no retry). */
  retryLockMs: number;
}

export interface CliContext {
  readonly out: Output;
  readonly env: NodeJS.ProcessEnv;
  readonly signal: AbortSignal;
  /** The global options, read after parsing (they may appear after the command name). */
  globals(): GlobalOptions;
  /** Records the exit code a command wants when it did not throw (e.g. 3 for partial failure). */
  setExitCode(code: number): void;
  /** The top-level command being run (`backup`, `drill`, …), once parsing chose it. */
  commandName(): string | undefined;
}
