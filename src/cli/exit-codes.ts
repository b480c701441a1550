/**
 * The one place that maps errors to process exit codes. The codes are part of lifeboat's
 * interface (README, "Exit codes"); never renumber one.
 */
import { LifeboatError } from '../core/errors.ts';

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  partial: 3,
  locked: 10,
  integrity: 11,
  wrongPassword: 12,
  cancelled: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const byCode: Record<string, ExitCode> = {
  usage: ExitCode.usage,
  config: ExitCode.usage,
  repository_locked: ExitCode.locked,
  integrity: ExitCode.integrity,
  wrong_password: ExitCode.wrongPassword,
  partial_failure: ExitCode.partial,
  cancelled: ExitCode.cancelled,
};

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof LifeboatError) return byCode[err.code] ?? ExitCode.failure;
  return ExitCode.failure;
}
