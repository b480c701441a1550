/**
 * The one place that maps errors to HTTP answers (as cli/exit-codes.ts does to exit codes):
 * classes and codes to statuses, and a JSON body `{ error: { code, message, hint } }` with the
 * error's one-line message (never a stack, never a secret).
 */
import { ConfigError, errorMessage, LifeboatError, NotFoundError, UsageError } from '../core/errors.ts';
import { RestoreRefusedError } from '../daemon/restore-request.ts';

/** An error the API raises about the request itself. */
export class HttpError extends LifeboatError {
  readonly status: number;
  constructor(status: number, code: string, message: string, hint?: string) {
    super(code, message, { hint });
    this.status = status;
  }
}

export function httpStatusFor(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof RestoreRefusedError) return err.code === 'restore_disabled' ? 403 : err.code === 'confirmation_mismatch' ? 400 : 409;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof UsageError || err instanceof ConfigError) return 400;
  if (err instanceof LifeboatError && err.code === 'repository_locked') return 409;
  return 500;
}

export function errorBody(err: unknown): { error: { code: string; message: string; hint?: string } } {
  const code = err instanceof LifeboatError ? err.code : 'internal';
  const message = errorMessage(err).split('\n')[0] as string;
  const hint = err instanceof LifeboatError ? err.hint : undefined;
  return { error: { code, message, ...(hint ? { hint } : {}) } };
}
