/**
 * The one place that maps errors to process exit codes. The codes are part of lifeboat's
 * interface (README, "Exit codes"); never renumber one.
 *
 * They are restic's (0.17+, doc/075_scripting.rst), so a script written for restic reads
 * lifeboat's the same: 0, 1, 3, 10, 11, 12 and 130 mean what they mean there. restic's 2 is a
 * Go runtime error, which lifeboat cannot have; lifeboat uses it for usage and configuration
 * errors (a script treats both as "failed, do not retry"). Integrity damage has no restic code
 * (restic exits 1); lifeboat's 5 sits below restic's 10–12 block, which restic grows upward,
 * and clear of the shell's 126+ range.
 */
import { IntegrityError, LifeboatError, NotFoundError } from '../core/errors.ts';

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  partial: 3,
  /** `report`: a source is overdue, never backed up, or its last backup/verify/drill failed. */
  attention: 4,
  /** Damaged or missing data in the repository (lifeboat's own; restic says 1). */
  integrity: 5,
  /** No repository at the location (restic 0.17+). */
  noRepository: 10,
  /** The repository is locked by another process (restic 0.17+). */
  locked: 11,
  wrongPassword: 12,
  cancelled: 130,
  /** The reader of stdout went away (`| head`): 128 + SIGPIPE, what restic's shell reports. */
  brokenPipe: 141,
} as const;

/** The table `--help` ends with and the README shows. */
export const EXIT_CODE_HELP = `Exit codes (restic's, plus 2, 4 and 5):
  0    success
  1    failure (see the message)
  2    usage or configuration error
  3    partial: a backup could not read some files, or some sources failed
  4    report: a source needs attention
  5    integrity: damaged or missing data in the repository
  10   the repository does not exist
  11   the repository is locked (failed to lock)
  12   wrong password
  130  interrupted
  141  the reader of standard output went away (| head)`;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const byCode: Record<string, ExitCode> = {
  usage: ExitCode.usage,
  config: ExitCode.usage,
  repository_not_found: ExitCode.noRepository,
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
