/**
 * The one place that maps errors to process exit codes. The codes are part of lifeboat's
 * interface (README, "Exit codes"); never renumber one.
 */
import { IntegrityError, LifeboatError, NotFoundError } from '../core/errors.ts';

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  partial: 3,
  /** `report`: a source is overdue, never backed up, or its last backup/verify/drill failed. */
  attention: 4,
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
  report_attention: ExitCode.attention,
  cancelled: ExitCode.cancelled,
};

/**
 * A pack file the index names is not in storage: the repository is damaged, whichever backend
 * said "not found" (only packs named by the index are ever read, so none is missing by design).
 */
export function isMissingPack(err: unknown): err is NotFoundError {
  return err instanceof NotFoundError && /^data\/[0-9a-f]{64}$/.test(String(err.data.file ?? ''));
}

/** A missing pack as the damage it is: integrity, with the next step. Other errors unchanged. */
export function asDamage(err: unknown): unknown {
  if (!isMissingPack(err)) return err;
  const pack = String(err.data.file).slice('data/'.length);
  return new IntegrityError(`pack ${pack.slice(0, 16)}… is missing from the repository, but the index names it (${err.message})`, {
    cause: err,
    data: { pack },
    hint: 'run "lifeboat check" to see which snapshots it affects; restore those files from another snapshot or a copy',
  });
}

export function exitCodeFor(err: unknown): ExitCode {
  if (isMissingPack(err)) return ExitCode.integrity;
  if (err instanceof LifeboatError) return byCode[err.code] ?? ExitCode.failure;
  return ExitCode.failure;
}
